"""SageMaker-SDK-shaped serializers and deserializers, and their round trips via the codecs."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from modelyard.algorithms.base import Prediction
from modelyard.runtime.codecs import decode, encode
from modelyard.sdk.deserializers import (
    BaseDeserializer,
    BytesDeserializer,
    CSVDeserializer,
    JSONDeserializer,
    JSONLinesDeserializer,
    NumpyDeserializer,
    PandasDeserializer,
    StreamDeserializer,
    StringDeserializer,
)
from modelyard.sdk.serializers import (
    BaseSerializer,
    CSVSerializer,
    IdentitySerializer,
    JSONLinesSerializer,
    JSONSerializer,
    NumpySerializer,
    StringSerializer,
)

ROWS = np.array([[1.5, -2.0, 3.25], [4.0, 5.5, 0.125]], dtype=np.float32)


def test_content_types_and_accepts() -> None:
    assert CSVSerializer().CONTENT_TYPE == "text/csv"
    assert JSONSerializer().CONTENT_TYPE == "application/json"
    assert JSONLinesSerializer().CONTENT_TYPE == "application/jsonlines"
    assert NumpySerializer().CONTENT_TYPE == "application/x-npy"
    assert IdentitySerializer().CONTENT_TYPE == "application/octet-stream"
    assert IdentitySerializer("text/csv").CONTENT_TYPE == "text/csv"
    assert CSVDeserializer().ACCEPT == "text/csv"
    assert JSONDeserializer().ACCEPT == "application/json"
    assert JSONLinesDeserializer().ACCEPT == "application/jsonlines"
    assert NumpyDeserializer().ACCEPT == "application/x-npy"
    assert BytesDeserializer().ACCEPT == "*/*"
    assert StringDeserializer().ACCEPT == "application/json"
    assert PandasDeserializer().ACCEPT == ("text/csv", "application/json")
    with pytest.raises(ValueError, match="content_type must be a string"):
        CSVSerializer(content_type=3)  # type: ignore[arg-type]


def test_bases_are_abstract() -> None:
    with pytest.raises(TypeError):
        BaseSerializer()  # type: ignore[abstract]
    with pytest.raises(TypeError):
        BaseDeserializer()  # type: ignore[abstract]


# --- CSV --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, expected",
    [
        (ROWS, "1.5,-2.0,3.25\n4.0,5.5,0.125"),
        (ROWS[0], "1.5,-2.0,3.25"),
        (np.array([0.1, 0.2], dtype=np.float32), "0.1,0.2"),
        (np.array([[1, 2], [3, 4]]), "1,2\n3,4"),
        ([1.5, -2, 3.25], "1.5,-2,3.25"),
        ((1, 2), "1,2"),
        ([[1, 2], [3, 4]], "1,2\n3,4"),
        ([(1, 2), [3, 4]], "1,2\n3,4"),
        ([np.array([1, 2]), np.array([3, 4])], "1,2\n3,4"),
        ([np.float64(0.5), np.int64(2)], "0.5,2"),
        (["a", "b,c"], 'a,"b,c"'),
        ("1,2,3", "1,2,3"),
        (b"1,2,3", b"1,2,3"),
        (io.BytesIO(b"1,2\n3,4"), b"1,2\n3,4"),
        (io.StringIO("1,2"), "1,2"),
    ],
)
def test_csv_serializer(data: object, expected: object) -> None:
    assert CSVSerializer().serialize(data) == expected


def test_csv_serializer_dataframe_and_series_values_only() -> None:
    frame = pd.DataFrame({"a": [1.5, 4.0], "b": [-2.0, 5.5]}, index=["x", "y"])
    assert CSVSerializer().serialize(frame) == "1.5,-2.0\n4.0,5.5"
    assert CSVSerializer().serialize(frame.iloc[0]) == "1.5,-2.0"


@pytest.mark.parametrize("data", [[], np.array([]), [[]]])
def test_csv_serializer_rejects_empty(data: object) -> None:
    with pytest.raises(ValueError, match="Cannot serialize empty array"):
        CSVSerializer().serialize(data)


def test_csv_serializer_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="Unable to handle input format"):
        CSVSerializer().serialize(3.5)
    with pytest.raises(ValueError):
        CSVSerializer().serialize({"a": 1})


# --- JSON / JSON Lines ------------------------------------------------------------------------


def test_json_serializer() -> None:
    s = JSONSerializer()
    assert json.loads(s.serialize(ROWS)) == ROWS.tolist()
    assert json.loads(s.serialize(ROWS[0])) == ROWS[0].tolist()
    assert json.loads(s.serialize([1, 2])) == [1, 2]
    assert json.loads(s.serialize({"instances": ROWS})) == {"instances": ROWS.tolist()}
    assert json.loads(s.serialize({"features": [np.float32(1.5)]})) == {"features": [1.5]}
    assert json.loads(s.serialize(pd.DataFrame(ROWS))) == ROWS.tolist()
    assert s.serialize('{"a": 1}') == '{"a": 1}'
    assert s.serialize(b"[1]") == b"[1]"
    assert s.serialize(io.BytesIO(b"[2]")) == b"[2]"


def test_jsonlines_serializer() -> None:
    s = JSONLinesSerializer()
    assert s.serialize(ROWS) == "[1.5, -2.0, 3.25]\n[4.0, 5.5, 0.125]"
    assert s.serialize([1, 2]) == "[1, 2]"
    assert s.serialize([{"features": [1]}, {"features": [2]}]) == (
        '{"features": [1]}\n{"features": [2]}'
    )
    assert s.serialize(pd.DataFrame(ROWS)).splitlines()[1] == "[4.0, 5.5, 0.125]"
    assert s.serialize("[1]\n[2]") == "[1]\n[2]"


# --- NumPy / identity / string ----------------------------------------------------------------


def test_numpy_serializer() -> None:
    body = NumpySerializer().serialize(ROWS)
    np.testing.assert_array_equal(np.load(io.BytesIO(body)), ROWS)
    body = NumpySerializer(dtype="float64").serialize([[1, 2], [3, 4]])
    loaded = np.load(io.BytesIO(body))
    assert loaded.dtype == np.float64 and loaded.tolist() == [[1, 2], [3, 4]]
    np.testing.assert_array_equal(
        np.load(io.BytesIO(NumpySerializer().serialize(pd.DataFrame(ROWS)))), ROWS
    )
    npy = NumpySerializer().serialize(ROWS)
    assert NumpySerializer().serialize(npy) == npy
    assert NumpySerializer().serialize(io.BytesIO(npy)) == npy
    with pytest.raises(ValueError, match="Cannot serialize empty array"):
        NumpySerializer().serialize(np.array([]))


def test_identity_and_string_serializers() -> None:
    assert IdentitySerializer().serialize(b"\x00\x01") == b"\x00\x01"
    assert StringSerializer().serialize("héllo") == "héllo".encode()
    with pytest.raises(ValueError):
        StringSerializer().serialize(3)


# --- deserializers ----------------------------------------------------------------------------


def test_csv_deserializer_returns_lists_of_strings() -> None:
    assert CSVDeserializer().deserialize(b"0.25\n0.75\n", "text/csv") == [["0.25"], ["0.75"]]
    assert CSVDeserializer().deserialize(io.BytesIO(b"1,2\r\n3,4"), "text/csv") == [
        ["1", "2"],
        ["3", "4"],
    ]


def test_simple_deserializers() -> None:
    assert BytesDeserializer().deserialize(b"abc", "x/y") == b"abc"
    assert StringDeserializer().deserialize(io.BytesIO("é".encode()), "text/plain") == "é"
    assert JSONDeserializer().deserialize(b'{"a": [1]}', "application/json") == {"a": [1]}
    assert JSONLinesDeserializer().deserialize(b'{"a": 1}\n\n[2]\n', "application/jsonlines") == [
        {"a": 1},
        [2],
    ]
    stream, content_type = StreamDeserializer().deserialize(b"xyz", "text/plain")
    assert stream.read() == b"xyz" and content_type == "text/plain"


def test_deserializer_closes_streams() -> None:
    stream = io.BytesIO(b"[1]")
    assert JSONDeserializer().deserialize(stream, "application/json") == [1]
    assert stream.closed


def test_numpy_deserializer() -> None:
    d = NumpyDeserializer()
    buffer = io.BytesIO()
    np.save(buffer, ROWS)
    np.testing.assert_array_equal(d.deserialize(buffer.getvalue(), "application/x-npy"), ROWS)
    np.testing.assert_array_equal(
        d.deserialize(b"1.5,-2,3.25\n4,5.5,0.125\n", "text/csv; charset=utf-8"), ROWS
    )
    np.testing.assert_array_equal(
        d.deserialize(b"[[1, 2], [3, 4]]", "application/json"), [[1, 2], [3, 4]]
    )
    np.testing.assert_array_equal(
        d.deserialize(b"[1, 2]\n[3, 4]\n", "application/jsonlines"), [[1, 2], [3, 4]]
    )
    as_float32 = NumpyDeserializer(dtype="float32").deserialize(b"1,2", "text/csv")
    assert as_float32.dtype == np.float32
    with pytest.raises(ValueError, match="cannot read content type text/html"):
        d.deserialize(b"<p>", "text/html")
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        d.deserialize(pickled.getvalue(), "application/x-npy")


def test_pandas_deserializer() -> None:
    frame = PandasDeserializer().deserialize(b"a,b\n1,2\n3,4\n", "text/csv")
    assert list(frame.columns) == ["a", "b"] and frame.shape == (2, 2)
    headerless = PandasDeserializer(header=None).deserialize(b"0.25\n0.75\n", "text/csv")
    assert headerless[0].tolist() == [0.25, 0.75]
    records = PandasDeserializer().deserialize(
        b'{"predictions": [{"score": 0.25}, {"score": 0.75}]}', "application/json"
    )
    assert records["score"].tolist() == [0.25, 0.75]
    plain = PandasDeserializer().deserialize(b'{"a": [1, 2]}', "application/json")
    assert plain["a"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="cannot read content type"):
        PandasDeserializer().deserialize(b"x", "application/x-npy")


# --- round trips through the server's codecs --------------------------------------------------


@pytest.mark.parametrize(
    "serializer", [CSVSerializer(), JSONSerializer(), JSONLinesSerializer(), NumpySerializer()]
)
@pytest.mark.parametrize("data", [ROWS, ROWS.tolist(), pd.DataFrame(ROWS)])
def test_serializers_feed_the_decoder(serializer: BaseSerializer, data: object) -> None:
    body = serializer.serialize(data)
    if isinstance(body, str):
        body = body.encode()
    np.testing.assert_array_equal(decode(body, serializer.CONTENT_TYPE), ROWS)


def test_single_row_round_trips() -> None:
    for serializer in (CSVSerializer(), JSONSerializer(), JSONLinesSerializer(), NumpySerializer()):
        body = serializer.serialize(ROWS[0])
        body = body.encode() if isinstance(body, str) else body
        np.testing.assert_array_equal(decode(body, serializer.CONTENT_TYPE), ROWS[:1])


def test_deserializers_read_the_encoder() -> None:
    scores = np.array([0.25, 0.75], dtype=np.float32)
    pred = Prediction(records=[{"score": 0.25}, {"score": 0.75}], array=scores)
    body, ct = encode(pred, JSONDeserializer().ACCEPT)
    assert JSONDeserializer().deserialize(body, ct) == {"predictions": pred.records}
    body, ct = encode(pred, JSONLinesDeserializer().ACCEPT)
    assert JSONLinesDeserializer().deserialize(body, ct) == pred.records
    body, ct = encode(pred, CSVDeserializer().ACCEPT)
    assert CSVDeserializer().deserialize(body, ct) == [["0.25"], ["0.75"]]
    body, ct = encode(pred, NumpyDeserializer().ACCEPT)
    np.testing.assert_array_equal(NumpyDeserializer().deserialize(body, ct), scores)
    body, ct = encode(pred, "text/csv")
    np.testing.assert_array_equal(NumpyDeserializer().deserialize(body, ct), scores)
    body, ct = encode(pred, "application/json")
    assert PandasDeserializer().deserialize(body, ct)["score"].tolist() == [0.25, 0.75]
