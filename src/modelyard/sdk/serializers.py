"""Request serializers with the SageMaker Python SDK v2 names and behaviour.

A serializer turns what a caller passes to `Predictor.predict` into a request body and names
its Content-Type (`CONTENT_TYPE`). Accepted inputs, for the tabular serializers:

- numpy arrays (1-D = one row, 2-D = rows), pandas DataFrames (values only: no index, no
  header) and Series (one row);
- lists / tuples: of numbers = one row, of lists = rows;
- str / bytes: already a body, passed through unchanged;
- file-like objects (anything with `read()`): read and passed through.

Like SageMaker's, CSV and JSON serializers return str and the NumPy serializer returns bytes;
pandas is imported only when a DataFrame is actually passed.
"""

from __future__ import annotations

import abc
import csv
import io
import json
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "BaseSerializer",
    "SimpleBaseSerializer",
    "CSVSerializer",
    "JSONSerializer",
    "JSONLinesSerializer",
    "NumpySerializer",
    "IdentitySerializer",
    "StringSerializer",
]


class BaseSerializer(abc.ABC):
    """Abstract base: `serialize(data)` and the `CONTENT_TYPE` of what it returns."""

    @abc.abstractmethod
    def serialize(self, data: Any) -> Any:
        """Serialize data into a request body (str or bytes)."""

    @property
    @abc.abstractmethod
    def CONTENT_TYPE(self) -> str:  # noqa: N802 - SageMaker's name
        """The MIME type of the data sent to the inference endpoint."""


class SimpleBaseSerializer(BaseSerializer):
    """A serializer whose content type is set at construction (SageMaker's helper base)."""

    def __init__(self, content_type: str = "application/json") -> None:
        if not isinstance(content_type, str):
            raise ValueError(
                f"content_type must be a string specifying the MIME type of the data sent in "
                f"requests: e.g. 'application/json', 'text/csv', etc. Got {content_type!r}"
            )
        self.content_type = content_type

    @property
    def CONTENT_TYPE(self) -> str:  # noqa: N802
        return self.content_type


def _is_dataframe(data: Any) -> bool:
    # Checked by name so pandas is never imported for the common cases.
    return type(data).__name__ == "DataFrame" and hasattr(data, "to_numpy")


def _is_series(data: Any) -> bool:
    return type(data).__name__ == "Series" and hasattr(data, "to_numpy")


def _passthrough(data: Any) -> tuple[bool, Any]:
    """str / bytes are a finished body; a file-like object is read."""
    if isinstance(data, (str, bytes, bytearray, memoryview)):
        return True, bytes(data) if isinstance(data, (bytearray, memoryview)) else data
    read = getattr(data, "read", None)
    if callable(read):
        return True, read()
    return False, None


def _to_jsonable(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        return data.tolist()
    if isinstance(data, np.generic):
        return data.item()
    if _is_dataframe(data) or _is_series(data):
        return data.to_numpy().tolist()
    return data


def _json_default(value: Any) -> Any:
    converted = _to_jsonable(value)
    if converted is value:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return converted


def _format_values(values: np.ndarray) -> list[str]:
    """One row of numbers as text: shortest round-trip form for the array's own precision."""
    if values.dtype.kind == "f" and values.dtype.itemsize < 8:
        return [str(v) for v in values]  # numpy scalars print float32 shortest ("0.1")
    if values.dtype.kind in "biuf":
        return [str(v) for v in values.tolist()]
    return [str(v) for v in values]


class CSVSerializer(SimpleBaseSerializer):
    """Rows as comma-separated lines (no header, no index), joined with newlines."""

    def __init__(self, content_type: str = "text/csv") -> None:
        super().__init__(content_type=content_type)

    def serialize(self, data: Any) -> Any:
        done, body = _passthrough(data)
        if done:
            return body
        if _is_dataframe(data):
            data = data.to_numpy()
        elif _is_series(data):
            data = data.to_numpy()
        if isinstance(data, np.ndarray):
            return self._serialize_array(data)
        if isinstance(data, dict):
            raise ValueError("CSVSerializer cannot serialize a dict; pass rows of values")
        if _is_sequence(data):
            rows = list(data)
            if not rows:
                raise ValueError("Cannot serialize empty array")
            if _is_row_sequence(rows[0]):
                return "\n".join(self._serialize_row(row) for row in rows)
            return self._serialize_row(rows)
        raise ValueError(f"Unable to handle input format: {type(data).__name__}")

    def _serialize_array(self, array: np.ndarray) -> str:
        if array.size == 0:
            raise ValueError("Cannot serialize empty array")
        if array.ndim <= 1:
            return ",".join(_format_values(array.reshape(-1)))
        rows = array.reshape(array.shape[0], -1)
        if rows.dtype.kind in "biuf":
            if rows.dtype.kind == "f" and rows.dtype.itemsize < 8:
                return "\n".join(",".join(_format_values(row)) for row in rows)
            return "\n".join(",".join(map(str, row)) for row in rows.tolist())
        return "\n".join(self._serialize_row(row) for row in rows)

    def _serialize_row(self, row: Any) -> str:
        if isinstance(row, str):
            return row
        if isinstance(row, bytes):
            return row.decode("utf-8")
        if isinstance(row, np.ndarray):
            if row.size == 0:
                raise ValueError("Cannot serialize empty array")
            row = row.reshape(-1)
            if row.dtype.kind in "biuf":
                return ",".join(_format_values(row))
        if not hasattr(row, "__len__"):
            raise ValueError(f"Unable to handle input format: {type(row).__name__}")
        if len(row) == 0:
            raise ValueError("Cannot serialize empty array")
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=",", lineterminator="\n").writerow(
            _to_jsonable(v) for v in row
        )
        return buffer.getvalue().rstrip("\r\n")


def _is_sequence(data: Any) -> bool:
    return isinstance(data, (list, tuple)) or (
        hasattr(data, "__iter__")
        and hasattr(data, "__len__")
        and not isinstance(data, (str, bytes, dict))
    )


def _is_row_sequence(item: Any) -> bool:
    return isinstance(item, (list, tuple, np.ndarray)) or _is_series(item)


class JSONSerializer(SimpleBaseSerializer):
    """JSON: numpy arrays become lists (1-D = one row), DataFrames their rows of values."""

    def __init__(self, content_type: str = "application/json") -> None:
        super().__init__(content_type=content_type)

    def serialize(self, data: Any) -> Any:
        done, body = _passthrough(data)
        if done:
            return body
        if isinstance(data, dict):
            return json.dumps({k: _to_jsonable(v) for k, v in data.items()}, default=_json_default)
        return json.dumps(_to_jsonable(data), default=_json_default)


class JSONLinesSerializer(SimpleBaseSerializer):
    """One JSON value per line: a row per line for arrays, DataFrames and lists of rows."""

    def __init__(self, content_type: str = "application/jsonlines") -> None:
        super().__init__(content_type=content_type)

    def serialize(self, data: Any) -> Any:
        done, body = _passthrough(data)
        if done:
            return body
        data = _to_jsonable(data)
        if isinstance(data, dict):
            return json.dumps(data, default=_json_default)
        if not isinstance(data, Iterable):
            raise ValueError(f"Unable to handle input format: {type(data).__name__}")
        items = list(data)
        if items and not isinstance(items[0], (list, tuple, dict, np.ndarray)):
            items = [items]  # a flat list of numbers is one row
        return "\n".join(json.dumps(_to_jsonable(item), default=_json_default) for item in items)


class NumpySerializer(SimpleBaseSerializer):
    """The .npy format (np.save, never pickled); bytes and file-like bodies pass through."""

    def __init__(self, dtype: Any = None, content_type: str = "application/x-npy") -> None:
        super().__init__(content_type=content_type)
        self.dtype = dtype

    def serialize(self, data: Any) -> Any:
        if isinstance(data, np.ndarray):
            if data.size == 0:
                raise ValueError("Cannot serialize empty array.")
            return self._serialize_array(data)
        done, body = _passthrough(data)
        if done and not isinstance(body, str):
            return body
        if _is_dataframe(data) or _is_series(data):
            data = data.to_numpy()
        return self._serialize_array(np.array(data, self.dtype))

    def _serialize_array(self, array: np.ndarray) -> bytes:
        if self.dtype is not None and array.dtype != np.dtype(self.dtype):
            array = array.astype(self.dtype)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()


class IdentitySerializer(SimpleBaseSerializer):
    """Sends the data as it is (bytes or str), under the given content type."""

    def __init__(self, content_type: str = "application/octet-stream") -> None:
        super().__init__(content_type=content_type)

    def serialize(self, data: Any) -> Any:
        return data


class StringSerializer(SimpleBaseSerializer):
    """Encodes a str as bytes (SageMaker's StringSerializer)."""

    def __init__(self, encoding: str = "utf-8", content_type: str = "text/plain") -> None:
        super().__init__(content_type=content_type)
        self.encoding = encoding

    def serialize(self, data: Any) -> bytes:
        if isinstance(data, bytes):
            return data
        if not isinstance(data, str):
            raise ValueError(f"StringSerializer only supports str, got {type(data).__name__}")
        return data.encode(self.encoding)
