"""Request decoding and response encoding of the SageMaker inference contract."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from modelyard.algorithms.base import Prediction
from modelyard.errors import InvalidRequest, NotAcceptable, UnsupportedMediaType
from modelyard.runtime import codecs
from modelyard.runtime.codecs import decode, encode, negotiate

ROWS = np.array([[1.5, -2.0, 3.25], [4.0, 5.5, 0.125]], dtype=np.float32)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def prediction(array: np.ndarray | None = None) -> Prediction:
    array = np.array([0.25, 0.75], dtype=np.float32) if array is None else array
    records = [{"score": float(v)} for v in np.asarray(array).reshape(len(array), -1)[:, 0]]
    return Prediction(records=records, array=array)


def assert_rows(array: np.ndarray, expected: np.ndarray) -> None:
    assert array.dtype == np.float32
    assert array.ndim == 2
    np.testing.assert_array_equal(array, expected)


# --- decode: csv ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"1.5,-2,3.25",
        b"1.5,-2,3.25\n",
        b"1.5,-2,3.25\r\n",
        b" 1.5, -2 ,3.25 \n\n",
        b"\n1.5,-2,3.25",
    ],
)
def test_csv_single_row(body: bytes) -> None:
    assert_rows(decode(body, "text/csv"), ROWS[:1])


@pytest.mark.parametrize(
    "body",
    [
        b"1.5,-2,3.25\n4,5.5,0.125",
        b"1.5,-2,3.25\r\n4,5.5,0.125\r\n",
        b"1.5,-2,3.25\n\n4,5.5,0.125\n",
    ],
)
def test_csv_many_rows(body: bytes) -> None:
    assert_rows(decode(body, "text/csv"), ROWS)


def test_csv_content_type_parameters_case_and_missing() -> None:
    assert_rows(decode(b"1.5,-2,3.25", "Text/CSV; charset=utf-8"), ROWS[:1])
    assert_rows(decode(b"1.5,-2,3.25", None), ROWS[:1])
    assert_rows(decode(b"1.5,-2,3.25", ""), ROWS[:1])


def test_csv_empty_fields_are_nan_and_special_values_parse() -> None:
    array = decode(b"1,,3\n4,5,\n", "text/csv")
    assert array.shape == (2, 3)
    assert np.isnan(array[0, 1]) and np.isnan(array[1, 2])
    special = decode(b"nan,inf,-inf,1e3", "text/csv")
    assert np.isnan(special[0, 0]) and special[0, 1] == np.inf and special[0, 3] == 1000


def test_csv_bad_value_names_row_and_column() -> None:
    with pytest.raises(InvalidRequest) as err:
        decode(b"1,2,3,abc", "text/csv")
    assert err.value.message == "could not parse 'abc' as a number in row 1, column 4"
    with pytest.raises(InvalidRequest) as err:
        decode(b"1,2,3\n\n4,x y,6\n", "text/csv")
    assert err.value.message == "could not parse 'x y' as a number in row 2, column 2"
    assert err.value.details == {"row": 2, "column": 2}


def test_csv_ragged_rows() -> None:
    with pytest.raises(InvalidRequest) as err:
        decode(b"1,2,3\n4,5\n", "text/csv")
    assert err.value.message == "row 2 has 2 values, expected 3 (as in row 1)"
    with pytest.raises(InvalidRequest, match="row 3 has 1 value, expected 2"):
        decode(b"1,2\n3,4\n5\n", "text/csv")


@pytest.mark.parametrize("body", [b"", b"\n", b"  \r\n\n"])
def test_csv_empty_body(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="the request body is empty"):
        decode(body, "text/csv")


def test_csv_large_body_uses_the_bulk_parser_and_matches() -> None:
    rng = np.random.default_rng(0)
    expected = (rng.random((4000, 30)) * 100).astype(np.float32)
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in expected).encode()
    assert len(body) >= codecs.LARGE_CSV_BYTES
    assert_rows(decode(body + b"\r\n", "text/csv"), expected)
    with_gap = body.replace(b"\n", b",\n", 1)  # row 1 gets an empty 31st field
    with pytest.raises(InvalidRequest, match="row 2 has 30 values, expected 31"):
        decode(with_gap, "text/csv")


def test_csv_large_body_errors_are_as_precise_as_small() -> None:
    row = ",".join(["1.25"] * 30)
    body = "\n".join([row] * 3000 + [row.replace("1.25", "oops", 1)]).encode()
    assert len(body) >= codecs.LARGE_CSV_BYTES
    with pytest.raises(InvalidRequest) as err:
        decode(body, "text/csv")
    assert err.value.message == "could not parse 'oops' as a number in row 3001, column 1"
    leading_blank = b"\n\n" + "\n".join([row] * 3000).encode()
    assert decode(leading_blank, "text/csv").shape == (3000, 30)


# --- decode: json / jsonlines / npy -----------------------------------------------------------


@pytest.mark.parametrize(
    "payload, expected",
    [
        ([[1.5, -2, 3.25], [4, 5.5, 0.125]], ROWS),
        ([1.5, -2, 3.25], ROWS[:1]),
        ({"instances": [[1.5, -2, 3.25], [4, 5.5, 0.125]]}, ROWS),
        ({"instances": [{"features": [1.5, -2, 3.25]}, {"features": [4, 5.5, 0.125]}]}, ROWS),
        ({"instances": [{"features": [1.5, -2, 3.25]}, [4, 5.5, 0.125]]}, ROWS),
        ({"features": [1.5, -2, 3.25]}, ROWS[:1]),
        ([{"features": [1.5, -2, 3.25]}], ROWS[:1]),
        ({"instances": [{"data": {"features": {"values": [1.5, -2, 3.25]}}}]}, ROWS[:1]),
        (
            {
                "instances": [
                    {"data": {"features": {"keys": [0, 2], "values": [1.5, 3.25], "shape": [3]}}}
                ]
            },
            np.array([[1.5, 0, 3.25]], dtype=np.float32),
        ),
    ],
)
def test_json_shapes(payload: object, expected: np.ndarray) -> None:
    assert_rows(decode(json.dumps(payload).encode(), "application/json"), expected)


def test_json_null_is_nan_and_numeric_strings_parse() -> None:
    array = decode(b'[[1, null, "2.5"]]', "application/json; charset=utf-8")
    assert array[0, 0] == 1 and np.isnan(array[0, 1]) and array[0, 2] == 2.5


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "the request body is not valid JSON: "),
        (b"[]", "the request body is empty"),
        (b'{"instances": []}', "the request body is empty"),
        (b"", "the request body is empty"),
        (b'"text"', "a JSON body must be a list of rows"),
        (b'{"rows": [[1]]}', 'a JSON object body needs "instances"'),
        (b'{"instances": 3}', '"instances" must be a list of rows'),
        (b'[[1, 2, 3], [1, "abc", 3]]', "could not parse 'abc' as a number in row 2, column 2"),
        (b'[1, 2, "abc", 4]', "could not parse 'abc' as a number in row 1, column 3"),
        (b"[[1, 2, 3], [4, 5]]", "row 2 has 2 values, expected 3 (as in row 1)"),
        (b"[[1, [2], 3]]", "could not parse '[2]' as a number in row 1, column 2"),
        (b'{"instances": [{"x": [1]}]}', 'row 1 is an object without "features"'),
        (b'{"instances": [{"features": 3}]}', 'row 1: "features" must be a list of numbers'),
        (b'{"instances": ["a"]}', "row 1 must be a list of numbers"),
        (b"[[]]", "row 1 has no values"),
    ],
)
def test_json_errors(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        decode(body, "application/json")
    assert err.value.message.startswith(message), err.value.message


def test_jsonlines() -> None:
    body = b'[1.5, -2, 3.25]\n\n{"features": [4, 5.5, 0.125]}\n'
    assert_rows(decode(body, "application/jsonlines"), ROWS)
    assert_rows(decode(body.replace(b"\n", b"\r\n"), "application/x-jsonlines"), ROWS)
    with pytest.raises(InvalidRequest, match="^line 2 is not valid JSON"):
        decode(b"[1, 2]\n[1, oops]\n", "application/jsonlines")
    with pytest.raises(InvalidRequest, match="row 2 has 1 value, expected 2"):
        decode(b"[1, 2]\n[3]\n", "application/jsonlines")
    with pytest.raises(InvalidRequest, match="the request body is empty"):
        decode(b"\n \n", "application/jsonlines")


def test_npy() -> None:
    assert_rows(decode(npy(ROWS), "application/x-npy"), ROWS)
    assert_rows(decode(npy(ROWS[0].astype(np.float64)), "application/x-npy"), ROWS[:1])
    assert_rows(
        decode(npy(np.array([[1, 2]], dtype=np.int64)), "application/x-npy"),
        np.array([[1, 2]], dtype=np.float32),
    )


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not npy", "could not read the body as a .npy array: it does not start"),
        (npy(ROWS)[:20], "could not read the body as a .npy array"),
        (npy(np.array([{"a": 1}], dtype=object)), "could not read the body as a .npy array"),
        (npy(np.zeros((2, 2, 2))), "a .npy body must be 1-D (one row) or 2-D (rows)"),
        (npy(np.array([["a", "b"]])), "a .npy body must hold numbers"),
        (npy(np.zeros((0, 3))), "the request body is empty"),
        (b"", "the request body is empty"),
    ],
)
def test_npy_errors(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        decode(body, "application/x-npy")
    assert err.value.message.startswith(message), err.value.message


def test_unsupported_content_type_lists_the_accepted_ones() -> None:
    with pytest.raises(UnsupportedMediaType) as err:
        decode(b"1,2", "text/plain")
    assert err.value.status_code == 415
    assert err.value.message == (
        "unsupported content type 'text/plain'; accepted: text/csv, application/json, "
        "application/jsonlines, application/x-npy"
    )


# --- encode -----------------------------------------------------------------------------------


def test_encode_json() -> None:
    body, content_type = encode(prediction(), "application/json")
    assert content_type == "application/json"
    assert json.loads(body) == {"predictions": [{"score": 0.25}, {"score": 0.75}]}


def test_encode_json_converts_numpy_values_in_records() -> None:
    pred = Prediction(
        records=[{"label": np.int64(1), "probs": np.array([0.5, 0.5])}], array=np.array([1])
    )
    body, _ = encode(pred, "application/json")
    assert json.loads(body) == {"predictions": [{"label": 1, "probs": [0.5, 0.5]}]}


def test_encode_jsonlines() -> None:
    body, content_type = encode(prediction(), "application/jsonlines")
    assert content_type == "application/jsonlines"
    assert body == b'{"score":0.25}\n{"score":0.75}\n'
    assert encode(Prediction(records=[], array=np.array([])), "application/jsonlines")[0] == b""


def test_encode_csv_1d_and_2d() -> None:
    body, content_type = encode(prediction(), "text/csv")
    assert (body, content_type) == (b"0.25\n0.75\n", "text/csv")
    two = Prediction(records=[{}, {}], array=np.array([[0.1, 0.9], [0.6, 0.4]]))
    assert encode(two, "text/csv")[0] == b"0.1,0.9\n0.6,0.4\n"
    labels = Prediction(records=[{}], array=np.array([3], dtype=np.int64))
    assert encode(labels, "text/csv")[0] == b"3\n"


def test_encode_csv_float32_round_trips_exactly() -> None:
    values = np.array([0.1, 1 / 3, 123456.789], dtype=np.float32)
    body, _ = encode(Prediction(records=[{}] * 3, array=values), "text/csv")
    np.testing.assert_array_equal(decode(body, "text/csv")[:, 0], values)


def test_encode_npy() -> None:
    array = np.array([[0.1, 0.9], [0.6, 0.4]], dtype=np.float32)
    body, content_type = encode(Prediction(records=[{}, {}], array=array), "application/x-npy")
    assert content_type == "application/x-npy"
    loaded = np.load(io.BytesIO(body), allow_pickle=False)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize(
    "accept, request_type, expected",
    [
        (None, "text/csv", "text/csv"),
        (None, "application/json", "application/json"),
        (None, "application/x-npy", "application/json"),
        (None, None, "application/json"),
        ("", "text/csv", "text/csv"),
        ("*/*", "text/csv", "text/csv"),
        ("*/*", "application/jsonlines", "application/json"),
        ("text/csv", "application/json", "text/csv"),
        ("application/json; charset=utf-8", "text/csv", "application/json"),
        ("APPLICATION/JSONLINES", None, "application/jsonlines"),
        ("application/x-jsonlines", None, "application/jsonlines"),
        ("text/html, application/x-npy", None, "application/x-npy"),
        ("application/json;q=0.5, text/csv;q=0.9", None, "text/csv"),
        ("text/csv;q=0.1, application/jsonlines", None, "application/jsonlines"),
        ("application/json;q=0, text/csv", None, "text/csv"),
        ("image/png, */*;q=0.1", "text/csv", "text/csv"),
        ("text/*", "application/json", "text/csv"),
        ("application/*", "text/csv", "application/json"),
        ("text/csv; charset=utf-8; q=0.8, application/x-npy; q=0.7", None, "text/csv"),
    ],
)
def test_negotiate(accept: str | None, request_type: str | None, expected: str) -> None:
    assert negotiate(accept, request_type) == expected


@pytest.mark.parametrize(
    "accept",
    ["text/html", "image/png, text/plain;q=0.5", "application/json;q=0", "application/xml"],
)
def test_not_acceptable_lists_the_accepted_types(accept: str) -> None:
    with pytest.raises(NotAcceptable) as err:
        encode(prediction(), accept)
    assert err.value.status_code == 406
    assert err.value.message == (
        f"cannot answer in {accept!r}; accepted: application/json, application/jsonlines, "
        "text/csv, application/x-npy"
    )


def test_encode_defaults_follow_the_request_type() -> None:
    assert encode(prediction(), None, "text/csv")[1] == "text/csv"
    assert encode(prediction(), "*/*", "application/json")[1] == "application/json"
    assert encode(prediction(), None)[1] == "application/json"


@pytest.mark.parametrize(
    "accept", ["application/json", "application/jsonlines", "text/csv", "application/x-npy"]
)
@pytest.mark.parametrize(
    "content_type", ["text/csv", "application/json", "application/jsonlines", "application/x-npy"]
)
def test_every_pair_round_trips(content_type: str, accept: str) -> None:
    bodies = {
        "text/csv": b"1.5,-2,3.25\n4,5.5,0.125\n",
        "application/json": json.dumps(ROWS.tolist()).encode(),
        "application/jsonlines": b"[1.5,-2,3.25]\n[4,5.5,0.125]\n",
        "application/x-npy": npy(ROWS),
    }
    features = decode(bodies[content_type], content_type)
    assert_rows(features, ROWS)
    sums = features.sum(axis=1)
    body, out_type = encode(prediction(sums), accept, content_type)
    assert out_type == accept
    if accept == "application/json":
        got = [r["score"] for r in json.loads(body)["predictions"]]
    elif accept == "application/jsonlines":
        got = [json.loads(line)["score"] for line in body.splitlines()]
    elif accept == "text/csv":
        got = decode(body, "text/csv")[:, 0].tolist()
    else:
        got = np.load(io.BytesIO(body)).tolist()
    np.testing.assert_array_equal(np.array(got, dtype=np.float32), sums)
