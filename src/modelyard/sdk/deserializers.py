"""Response deserializers with the SageMaker Python SDK v2 names and behaviour.

A deserializer turns a response body into a Python object; `ACCEPT` is what it asks the
endpoint for. `deserialize(stream, content_type)` takes the body as bytes (or, like SageMaker's
botocore stream, anything with `read()`; a `close()` is called when present). Content types
are compared without their parameters (`text/csv; charset=utf-8` is text/csv). pandas is
imported only by `PandasDeserializer`.
"""

from __future__ import annotations

import abc
import csv
import io
import json
from typing import Any

import numpy as np

__all__ = [
    "BaseDeserializer",
    "SimpleBaseDeserializer",
    "StringDeserializer",
    "BytesDeserializer",
    "CSVDeserializer",
    "StreamDeserializer",
    "NumpyDeserializer",
    "JSONDeserializer",
    "JSONLinesDeserializer",
    "PandasDeserializer",
]


def _read(stream: Any) -> bytes:
    if isinstance(stream, bytes):
        return stream
    if isinstance(stream, (bytearray, memoryview)):
        return bytes(stream)
    if isinstance(stream, str):
        return stream.encode("utf-8")
    try:
        data = stream.read()
    finally:
        close = getattr(stream, "close", None)
        if callable(close):
            close()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class BaseDeserializer(abc.ABC):
    """Abstract base: `deserialize(stream, content_type)` and the `ACCEPT` it asks for."""

    @abc.abstractmethod
    def deserialize(self, stream: Any, content_type: str) -> Any:
        """Deserialize a response body of the given content type."""

    @property
    @abc.abstractmethod
    def ACCEPT(self) -> str | tuple[str, ...]:  # noqa: N802 - SageMaker's name
        """The content type(s) expected from the inference endpoint."""


class SimpleBaseDeserializer(BaseDeserializer):
    """A deserializer whose Accept is set at construction (SageMaker's helper base)."""

    def __init__(self, accept: str | tuple[str, ...] = "*/*") -> None:
        self.accept = accept

    @property
    def ACCEPT(self) -> str | tuple[str, ...]:  # noqa: N802
        return self.accept


class StringDeserializer(SimpleBaseDeserializer):
    """The body decoded as text."""

    def __init__(
        self, encoding: str = "UTF-8", accept: str | tuple[str, ...] = "application/json"
    ) -> None:
        super().__init__(accept=accept)
        self.encoding = encoding

    def deserialize(self, stream: Any, content_type: str | None = None) -> str:
        return _read(stream).decode(self.encoding)


class BytesDeserializer(SimpleBaseDeserializer):
    """The body as bytes."""

    def __init__(self, accept: str | tuple[str, ...] = "*/*") -> None:
        super().__init__(accept=accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> bytes:
        return _read(stream)


class StreamDeserializer(SimpleBaseDeserializer):
    """(a binary stream over the body, its content type), for callers that read it themselves."""

    def __init__(self, accept: str | tuple[str, ...] = "*/*") -> None:
        super().__init__(accept=accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> tuple[Any, str | None]:
        if isinstance(stream, (bytes, bytearray, memoryview)):
            stream = io.BytesIO(bytes(stream))
        return stream, content_type


class CSVDeserializer(SimpleBaseDeserializer):
    """CSV into a list of rows, each a list of str (as SageMaker returns it)."""

    def __init__(self, encoding: str = "utf-8", accept: str | tuple[str, ...] = "text/csv") -> None:
        super().__init__(accept=accept)
        self.encoding = encoding

    def deserialize(self, stream: Any, content_type: str | None = None) -> list[list[str]]:
        text = _read(stream).decode(self.encoding)
        return [row for row in csv.reader(io.StringIO(text), delimiter=",") if row]


class JSONDeserializer(SimpleBaseDeserializer):
    """JSON into Python objects."""

    def __init__(self, accept: str | tuple[str, ...] = "application/json") -> None:
        super().__init__(accept=accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> Any:
        return json.loads(_read(stream))


class JSONLinesDeserializer(SimpleBaseDeserializer):
    """JSON Lines into a list with one Python object per non-blank line."""

    def __init__(self, accept: str | tuple[str, ...] = "application/jsonlines") -> None:
        super().__init__(accept=accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> list[Any]:
        return [json.loads(line) for line in _read(stream).splitlines() if line.strip()]


class NumpyDeserializer(SimpleBaseDeserializer):
    """CSV, JSON or .npy / .npz into a numpy array (never unpickled unless allow_pickle)."""

    def __init__(
        self,
        dtype: Any = None,
        accept: str | tuple[str, ...] = "application/x-npy",
        allow_pickle: bool = False,
    ) -> None:
        super().__init__(accept=accept)
        self.dtype = dtype
        self.allow_pickle = allow_pickle

    def deserialize(self, stream: Any, content_type: str | None = None) -> Any:
        data = _read(stream)
        media = _media(content_type)
        if media == "text/csv":
            return np.genfromtxt(io.BytesIO(data), delimiter=",", dtype=self.dtype)
        if media == "application/json":
            return np.array(json.loads(data), dtype=self.dtype)
        if media in ("application/jsonlines", "application/x-jsonlines"):
            rows = [json.loads(line) for line in data.splitlines() if line.strip()]
            return np.array(rows, dtype=self.dtype)
        if media == "application/x-npy":
            array = np.load(io.BytesIO(data), allow_pickle=self.allow_pickle)
            return array if self.dtype is None else array.astype(self.dtype)
        if media == "application/x-npz":
            with np.load(io.BytesIO(data), allow_pickle=self.allow_pickle) as archive:
                return {name: archive[name] for name in archive.files}
        raise ValueError(f"{type(self).__name__} cannot read content type {content_type}.")


class PandasDeserializer(SimpleBaseDeserializer):
    """CSV or JSON into a pandas DataFrame.

    CSV goes through pandas.read_csv with `header` (SageMaker's default "infer" takes the first
    line as column names; pass header=None for the header-less CSV endpoints answer with).
    A JSON {"predictions": [records]} body becomes one row per record.
    """

    def __init__(
        self,
        accept: str | tuple[str, ...] = ("text/csv", "application/json"),
        header: Any = "infer",
    ) -> None:
        super().__init__(accept=accept)
        self.header = header

    def deserialize(self, stream: Any, content_type: str | None = None) -> Any:
        import pandas as pd

        data = _read(stream)
        media = _media(content_type)
        if media == "text/csv":
            return pd.read_csv(io.BytesIO(data), header=self.header)
        if media == "application/json":
            parsed = json.loads(data)
            if isinstance(parsed, dict) and isinstance(parsed.get("predictions"), list):
                return pd.DataFrame(parsed["predictions"])
            return pd.read_json(io.StringIO(data.decode("utf-8")))
        if media in ("application/jsonlines", "application/x-jsonlines"):
            return pd.read_json(io.StringIO(data.decode("utf-8")), lines=True)
        raise ValueError(f"{type(self).__name__} cannot read content type {content_type}.")
