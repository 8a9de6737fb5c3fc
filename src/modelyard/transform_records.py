"""Records of a batch transform, as SageMaker treats them: split, filter, batch, join.

Pure functions over bytes: the transform job's process (`runtime.transform`) does the I/O.
A CSV record is a list of fields for the JSONPath filters (`$[1:]` drops the first column); a
JSON record is its parsed value. Joining follows SageMaker's `JoinSource: Input`: a CSV answer
is appended to its input line; a JSON answer is added to its input object as
`SageMakerOutput` (an input that is not an object becomes `SageMakerInput`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from modelyard.errors import InvalidRequest

JSON_LINES = ("application/jsonlines", "application/x-jsonlines")


def media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """JSON or JSON Lines: each record is one JSON value."""
    return media(content_type) in ("application/json", *JSON_LINES)


@dataclass(frozen=True)
class Batch:
    first_line: int  # 1-based line of the object where its first record is
    records: list[bytes]  # or, when raw, one chunk of whole lines cut from the object
    raw: bool = False

    @property
    def body(self) -> bytes:
        if self.raw:
            return self.records[0]
        return b"\n".join(self.records) + b"\n" if self.records else b""


def split_lines(body: bytes) -> list[bytes]:
    """An object's records, one per line (a final newline, and blank lines, are no records)."""
    return [line for line in body.splitlines() if line.strip()]


def batches(records: list[bytes], strategy: str, max_payload_bytes: int) -> Iterator[Batch]:
    """SingleRecord: one record a request. MultiRecord: as many consecutive records as fit in
    max_payload_bytes (0: all of them); a record bigger than that alone is an error."""
    start, size, current = 0, 0, []
    for index, record in enumerate(records):
        if max_payload_bytes and len(record) + 1 > max_payload_bytes:
            raise InvalidRequest(
                f"line {index + 1} is {len(record) + 1} bytes, more than MaxPayloadInMB "
                f"allows ({max_payload_bytes} bytes)",
                {"line": index + 1},
            )
        full = max_payload_bytes and size + len(record) + 1 > max_payload_bytes
        if current and (strategy == "SingleRecord" or full):
            yield Batch(start + 1, current)
            start, size, current = index, 0, []
        current.append(record)
        size += len(record) + 1
    if current:
        yield Batch(start + 1, current)


def chunks(body: bytes, max_payload_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(first line, bytes) of consecutive whole lines up to max_payload_bytes each (0: all):
    MultiRecord's batches cut straight from the object, without splitting it into records."""
    start, line, size = 0, 1, len(body)
    while start < size:
        end = size
        if max_payload_bytes and size - start > max_payload_bytes:
            end = body.rfind(b"\n", start, start + max_payload_bytes) + 1
            if end <= start:
                raise InvalidRequest(
                    f"line {line} is more than MaxPayloadInMB allows ({max_payload_bytes} bytes)",
                    {"line": line},
                )
        chunk = body[start:end]
        yield line, chunk
        line += chunk.count(b"\n")
        start = end


def raw_batches(body: bytes, max_payload_bytes: int) -> tuple[list[Batch], int]:
    """An object's chunks as raw batches, and how many records (lines) they hold, counted
    from the chunks' first lines rather than by another scan of the whole object."""
    planned = [Batch(line, [chunk], raw=True) for line, chunk in chunks(body, max_payload_bytes)]
    if not planned:
        return [], 0
    return planned, planned[-1].first_line - 1 + count_lines(planned[-1].body)


def has_blank_lines(body: bytes) -> bool:
    # Looking for a "\r" first is a fraction of the cost of looking for "\n\r\n".
    return (
        body.startswith((b"\n", b"\r")) or b"\n\n" in body or (b"\r" in body and b"\n\r\n" in body)
    )


def count_lines(body: bytes) -> int:
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


@cache
def _path(expression: str) -> Any:
    from jsonpath_ng.ext import parse

    try:
        return parse(expression)
    except Exception as exc:  # noqa: BLE001 - jsonpath-ng raises several kinds
        raise InvalidRequest(f"bad JSONPath {expression!r}: {exc}") from None


def check_filter(expression: str, field: str) -> None:
    try:
        _path(expression)
    except InvalidRequest as exc:
        raise InvalidRequest(f"{field}: {exc.message}", {"field": field}) from None


def apply_filter(expression: str, value: Any) -> Any:
    """JSONPath on a record: one match is its value, a slice or a union a list of values."""
    if expression == "$":
        return value
    matches = [m.value for m in _path(expression).find(value)]
    many = len(matches) != 1 or any(c in expression for c in ":,*")
    return matches if many else matches[0]


def parse_record(record: bytes, content_type: str | None) -> Any:
    text = record.decode("utf-8")
    if is_json(content_type):
        return json.loads(text)
    return [_number(field) for field in next(csv.reader([text]))]


def format_record(value: Any, content_type: str | None) -> bytes:
    if is_json(content_type):
        return json.dumps(value, separators=(",", ":")).encode()
    fields = value if isinstance(value, list) else [value]
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        [json.dumps(f) if isinstance(f, dict | list) else f for f in fields]
    )
    return out.getvalue().encode()


def _number(field: str) -> Any:
    try:
        number = float(field)
    except ValueError:
        return field
    return int(number) if number.is_integer() and "." not in field and "e" not in field else number


def answers(body: bytes, accept: str | None, count: int) -> list[bytes]:
    """A batch's answer as one answer per record: a line each (CSV, JSON Lines), or the items
    of the JSON answer's list (`{"predictions": [...]}` or a bare list)."""
    if is_json(accept) and media(accept) not in JSON_LINES:
        value = json.loads(body)
        if isinstance(value, dict) and len(value) == 1:
            value = next(iter(value.values()))
        items = value if isinstance(value, list) else [value]
        found = [json.dumps(item, separators=(",", ":")).encode() for item in items]
    else:
        found = split_lines(body)
    if len(found) != count:
        raise InvalidRequest(
            f"the model answered {len(found)} records for a request of {count}; joining or "
            "filtering answers needs one answer per record"
        )
    return found


def join(record: bytes, answer: bytes, content_type: str | None, accept: str | None) -> bytes:
    """SageMaker's JoinSource=Input: the input record with its answer."""
    if is_json(content_type):
        value = json.loads(record)
        output = json.loads(answer) if is_json(accept) else answer.decode()
        joined = (
            {**value, "SageMakerOutput": output}
            if isinstance(value, dict)
            else {"SageMakerInput": value, "SageMakerOutput": output}
        )
        return json.dumps(joined, separators=(",", ":")).encode()
    if is_json(accept):
        return record + b"," + format_record(json.loads(answer), "text/csv")
    return record + b"," + answer
