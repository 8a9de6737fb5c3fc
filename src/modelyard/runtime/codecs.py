"""Request decoding and response encoding for the SageMaker inference contract.

`decode(body, content_type)` turns a request body into a 2-D float32 array of feature rows;
`encode(prediction, accept, request_content_type)` turns a `Prediction` into (body, content type).

Request content types (parameters such as charset are ignored; a missing one means text/csv):

    text/csv               rows of numbers, no header; an empty field is a missing value (NaN)
    application/json       [[..], [..]] | [..] | {"instances": [[..] | {"features": [..]}, ..]}
                           | {"features": [..]}
    application/jsonlines  one [..] or {"features": [..]} per line
    application/x-npy      a .npy file (1-D = one row, 2-D = rows), never pickled

Response types: application/json ({"predictions": records}, or the algorithm's own key such
as pca's "projections"), application/jsonlines (one record a line), text/csv (one line per row
of prediction.array) and application/x-npy. With no Accept (or */*) the answer is text/csv for
a text/csv request and application/json otherwise, as SageMaker's built-in algorithms do.

A single-row CSV request is the hot path: it is parsed with bytes.split and float() (a few
microseconds); bodies over LARGE_CSV_BYTES go through pyarrow's multithreaded CSV reader.
Every malformed body raises `InvalidRequest` with a message naming the row and column.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from typing import Any

import numpy as np

from modelyard.algorithms.base import Prediction
from modelyard.errors import InvalidRequest, NotAcceptable, UnsupportedMediaType

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"

CONTENT_TYPES: tuple[str, ...] = (CSV, JSON, JSONLINES, NPY)
"""What `decode` reads."""
ACCEPT_TYPES: tuple[str, ...] = (JSON, JSONLINES, CSV, NPY)
"""What `encode` writes."""

_ALIASES = {
    CSV: CSV,
    "text/x-csv": CSV,
    "application/csv": CSV,
    JSON: JSON,
    "text/json": JSON,
    JSONLINES: JSONLINES,
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/json-lines": JSONLINES,
    "application/x-ndjson": JSONLINES,
    NPY: NPY,
    "application/npy": NPY,
}

LARGE_CSV_BYTES = 64 * 1024
"""CSV bodies at least this big are parsed by pyarrow (its fixed cost is ~0.2 ms)."""

_MAX_SHOWN = 40  # characters of a bad value quoted in an error message


def media_type(content_type: str | None) -> str | None:
    """The canonical media type of a Content-Type / Accept item, or None if unknown.

    Parameters (`; charset=utf-8`) and case are ignored; aliases (application/x-jsonlines,
    application/jsonl, ...) map to the canonical name.
    """
    if not content_type:
        return CSV
    found = _ALIASES.get(content_type)
    if found is not None:
        return found
    return _ALIASES.get(content_type.split(";", 1)[0].strip().lower())


def _accepted(types: tuple[str, ...]) -> str:
    return ", ".join(types)


# --------------------------------------------------------------------------------------------
# decoding


def decode(body: bytes, content_type: str | None = None) -> np.ndarray:
    """Decode a request body into a 2-D float32 array (rows x features)."""
    kind = media_type(content_type)
    if kind == CSV:
        return decode_csv(body)
    if kind == JSON:
        return decode_json(body)
    if kind == JSONLINES:
        return decode_jsonlines(body)
    if kind == NPY:
        return decode_npy(body)
    raise UnsupportedMediaType(
        f"unsupported content type {content_type!r}; accepted: {_accepted(CONTENT_TYPES)}",
        {"content_type": content_type, "accepted": list(CONTENT_TYPES)},
    )


def _empty() -> InvalidRequest:
    return InvalidRequest("the request body is empty; expected at least one row of features")


def _shown(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = text.strip()
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return text


def _not_a_number(value: Any, row: int, column: int) -> InvalidRequest:
    return InvalidRequest(
        f"could not parse '{_shown(value)}' as a number in row {row}, column {column}",
        {"row": row, "column": column},
    )


def _ragged(row: int, got: int, expected: int) -> InvalidRequest:
    return InvalidRequest(
        f"row {row} has {got} value{'' if got == 1 else 's'}, expected {expected} (as in row 1)",
        {"row": row, "values": got, "expected": expected},
    )


def decode_csv(body: bytes) -> np.ndarray:
    """Rows of comma-separated numbers, no header; an empty field is NaN."""
    if len(body) >= LARGE_CSV_BYTES:
        array = _csv_pyarrow(body)
        if array is not None:
            return array
        # pyarrow refused the body: the exact Python parser below names the bad row/column.
    # Fast path: one line of well-formed numbers (float() accepts bytes and surrounding space).
    if b"\n" not in body.rstrip(b"\r\n"):
        line = body.strip()
        if not line:
            raise _empty()
        try:
            return np.array([list(map(float, line.split(b",")))], dtype=np.float32)
        except ValueError:
            pass
    rows: list[list[float]] = []
    append = rows.append
    try:
        for line in body.splitlines():
            if line.strip():
                append(list(map(float, line.split(b","))))
        if not rows:
            raise _empty()
        return np.array(rows, dtype=np.float32)
    except ValueError:
        return _csv_slow(body)


def _csv_slow(body: bytes) -> np.ndarray:
    """Field-by-field parse: empty fields become NaN, anything else bad is reported exactly."""
    rows: list[list[float]] = []
    width = -1
    number = 0
    for line in body.splitlines():
        if not line.strip():
            continue
        number += 1
        values: list[float] = []
        for column, field in enumerate(line.split(b","), start=1):
            if not field.strip():
                values.append(float("nan"))
                continue
            try:
                values.append(float(field))
            except ValueError:
                raise _not_a_number(field, number, column) from None
        if width < 0:
            width = len(values)
        elif len(values) != width:
            raise _ragged(number, len(values), width)
        rows.append(values)
    if not rows:
        raise _empty()
    return np.array(rows, dtype=np.float32)


def _csv_pyarrow(body: bytes) -> np.ndarray | None:
    """Parse a large CSV body with pyarrow as float32 columns; None if pyarrow refuses it."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    start = 0
    while body[start : start + 1] in (b"\n", b"\r", b" ", b"\t"):
        start += 1
    end = body.find(b"\n", start)
    if end < 0:
        end = len(body)
    width = body.count(b",", start, end) + 1
    names = [str(i) for i in range(width)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(quote_char=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.float32() for name in names},
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException, ValueError):
        return None
    if table.num_rows == 0:
        return None
    out = np.empty((table.num_rows, table.num_columns), dtype=np.float32)
    for i, column in enumerate(table.columns):
        out[:, i] = column.to_numpy()
    return out


def _json_value(text: bytes | str, where: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{where} is not valid JSON: {exc}") from None


def decode_json(body: bytes) -> np.ndarray:
    """SageMaker's JSON shapes: rows, one row, {"instances": [...]}, {"features": [...]}."""
    if not body.strip():
        raise _empty()
    data = _json_value(body, "the request body")
    if isinstance(data, list):
        if not data:
            raise _empty()
        if isinstance(data[0], (list, dict)):
            rows: list[Any] = data
        else:
            rows = [data]  # a single row of numbers
    elif isinstance(data, dict):
        if "instances" in data:
            rows = data["instances"]
            if not isinstance(rows, list):
                raise InvalidRequest('"instances" must be a list of rows')
        elif "features" in data:
            rows = [data]
        else:
            raise InvalidRequest(
                'a JSON object body needs "instances" (a list of rows) or "features" (one row); '
                f"got keys {sorted(data)[:10]}"
            )
    else:
        raise InvalidRequest(
            "a JSON body must be a list of rows, one row of numbers, "
            '{"instances": [...]} or {"features": [...]}'
        )
    if not rows:
        raise _empty()
    return _rows_to_array([_instance(item, number) for number, item in enumerate(rows, 1)])


def _instance(item: Any, number: int) -> Any:
    """One JSON row: a list of numbers, {"features": [...]}, or SageMaker's nested
    {"data": {"features": {"values": [...]}}}; a bare number is a one-feature row."""
    if isinstance(item, list):
        return item
    if isinstance(item, dict):
        if "features" in item:
            features = item["features"]
        elif isinstance(item.get("data"), dict) and "features" in item["data"]:
            features = item["data"]["features"]
        else:
            raise InvalidRequest(
                f'row {number} is an object without "features"; give a list of numbers '
                'or {"features": [...]}',
                {"row": number},
            )
        if isinstance(features, dict) and "values" in features:
            return _dense(features, number)
        if not isinstance(features, list):
            raise InvalidRequest(
                f'row {number}: "features" must be a list of numbers', {"row": number}
            )
        return features
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return [item]
    raise InvalidRequest(
        f'row {number} must be a list of numbers or {{"features": [...]}}, got {_shown(item)}',
        {"row": number},
    )


def _dense(features: dict[str, Any], number: int) -> list[Any]:
    """{"values": [...]} (dense) or {"keys": [...], "values": [...], "shape": [n]} (sparse)."""
    values = features["values"]
    keys = features.get("keys")
    if keys is None:
        return values if isinstance(values, list) else [values]
    shape = features.get("shape")
    try:
        size = int(shape[0]) if shape else max(keys) + 1
        row = [0.0] * size
        for key, value in zip(keys, values, strict=True):
            row[int(key)] = value
    except (TypeError, ValueError, IndexError):
        raise InvalidRequest(
            f'row {number}: sparse "features" need matching "keys" and "values" within "shape"',
            {"row": number},
        ) from None
    return row


def _rows_to_array(rows: list[Any]) -> np.ndarray:
    try:
        array = np.array(rows, dtype=np.float32)
    except (ValueError, TypeError):
        array = None
    if array is not None and array.ndim == 2 and array.shape[1] > 0:
        return array
    # Find and name the first problem.
    width = -1
    for number, row in enumerate(rows, 1):
        if not isinstance(row, list):
            raise InvalidRequest(
                f"row {number} must be a list of numbers, got {_shown(row)}", {"row": number}
            )
        for column, value in enumerate(row, 1):
            if value is None:
                continue  # a missing value, NaN
            if not isinstance(value, (int, float, str)):
                raise _not_a_number(json.dumps(value), number, column)
            try:
                float(value)
            except ValueError:
                raise _not_a_number(value, number, column) from None
        if width < 0:
            width = len(row)
            if width == 0:
                raise InvalidRequest(f"row {number} has no values", {"row": number})
        elif len(row) != width:
            raise _ragged(number, len(row), width)
    raise InvalidRequest("the rows could not be read as a table of numbers")


def decode_jsonlines(body: bytes) -> np.ndarray:
    """One JSON row ([..] or {"features": [..]}) per line; blank lines are skipped."""
    items: list[Any] = []
    for number, line in enumerate(body.splitlines(), 1):
        if line.strip():
            items.append(_json_value(line, f"line {number}"))
    if not items:
        raise _empty()
    return _rows_to_array([_instance(item, number) for number, item in enumerate(items, 1)])


def decode_npy(body: bytes) -> np.ndarray:
    """A .npy file (np.save); never unpickled. 1-D is one row."""
    if not body:
        raise _empty()
    if not body.startswith(b"\x93NUMPY"):
        raise InvalidRequest(
            "could not read the body as a .npy array: it does not start with the .npy magic "
            "(\\x93NUMPY); send the bytes np.save writes"
        )
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidRequest(f"could not read the body as a .npy array: {exc}") from None
    if array.ndim == 1:
        array = array.reshape(1, -1)
    elif array.ndim != 2:
        raise InvalidRequest(
            f"a .npy body must be 1-D (one row) or 2-D (rows), got shape {array.shape}"
        )
    if array.dtype.kind not in "biuf":
        raise InvalidRequest(f"a .npy body must hold numbers, got dtype {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise _empty()
    return array.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# encoding


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# One encoder, built once: json.dumps with keyword arguments builds a new one every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default)
_encode_json = _ENCODER.encode


def _parse_accept(accept: str) -> list[tuple[float, int, str]]:
    items: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.partition(";")
        media = media.strip().lower()
        if not media:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            items.append((-q, position, media))
    items.sort()
    return items


@lru_cache(maxsize=256)
def negotiate(accept: str | None, request_content_type: str | None = None) -> str:
    """The response media type for an Accept header (q-values and wildcards honoured).

    Missing or */*: text/csv when the request was text/csv, else application/json.
    `request_content_type` None means unknown (answer JSON by default).
    """
    request = media_type(request_content_type) if request_content_type else None
    default = CSV if request == CSV else JSON
    if not accept or not accept.strip():
        return default
    direct = _ALIASES.get(accept)
    if direct is not None:
        return direct
    for _, _, media in _parse_accept(accept):
        if media == "*/*" or media == "*":
            return default
        if media == "text/*":
            return CSV
        if media == "application/*":
            return JSON
        found = _ALIASES.get(media)
        if found is not None:
            return found
    raise NotAcceptable(
        f"cannot answer in {accept!r}; accepted: {_accepted(ACCEPT_TYPES)}",
        {"accept": accept, "accepted": list(ACCEPT_TYPES)},
    )


def encode(
    prediction: Prediction, accept: str | None = None, request_content_type: str | None = None
) -> tuple[bytes, str]:
    """Encode a prediction for the Accept header; returns (body, content type)."""
    kind = negotiate(accept, request_content_type)
    if kind == JSON:
        return _encode_json({prediction.key: prediction.records}).encode(), JSON
    if kind == CSV:
        return encode_csv(prediction.array), CSV
    if kind == JSONLINES:
        lines = [_encode_json(record) for record in prediction.records]
        return ("\n".join(lines) + "\n").encode() if lines else b"", JSONLINES
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(prediction.array), allow_pickle=False)
    return buffer.getvalue(), NPY


def encode_csv(array: np.ndarray) -> bytes:
    """One line per row; the values of a 2-D row comma-joined (shortest round-trip repr)."""
    array = np.asarray(array)
    if array.ndim == 0:
        array = array.reshape(1)
    values = array.tolist()
    if array.ndim == 1:
        return ("\n".join(map(str, values)) + "\n").encode()
    if array.ndim > 2:
        values = array.reshape(array.shape[0], -1).tolist()
    return ("\n".join([",".join(map(str, row)) for row in values]) + "\n").encode()
