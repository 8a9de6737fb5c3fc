"""The process of a baseline job and of a monitoring job (Model Monitor's data quality).

A baseline job reads its dataset (CSV, with or without a header row, or JSON), and writes
statistics.json and constraints.json. A monitoring job reads an endpoint's capture files for
its data window, turns each captured request into rows of the baseline's columns, and writes
their statistics.json and constraint_violations.json (`modelyard.data_quality` computes both).
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from modelyard.data_quality import statistics, suggest_constraints, violations
from modelyard.errors import InvalidRequest
from modelyard.runtime.layout import JobLayout
from modelyard.runtime.reporter import Reporter
from modelyard.storage import ObjectStore, parse_s3_uri

Log = Callable[[str], None]


def run_job(
    layout: JobLayout, spec: dict[str, Any], reporter: Reporter, log: Log
) -> dict[str, Any]:
    from modelyard.runtime.store import job_store

    store = job_store(spec["storage_url"])
    if spec["task"] == "baseline":
        return baseline(store, spec, reporter, log)
    return monitor(store, spec, reporter, log)


# -- baseline ---------------------------------------------------------------------------------
def baseline(
    store: ObjectStore, spec: dict[str, Any], reporter: Reporter, log: Log
) -> dict[str, Any]:
    reporter.status("Downloading", "Reading the baseline dataset")
    table = read_dataset(store, spec["baseline_dataset"], spec["dataset_format"], log)
    reporter.status("Training", "Computing statistics and suggesting constraints")
    stats = statistics(table)
    constraints = suggest_constraints(stats)
    log(f"{stats['dataset']['item_count']} rows, {len(table)} columns: {', '.join(table)}")
    reporter.status("Uploading", "Writing statistics.json and constraints.json")
    uris = upload(store, spec["output_s3_uri"], {"statistics": stats, "constraints": constraints})
    return {**uris, "item_count": stats["dataset"]["item_count"], "features": list(table)}


def objects(store: ObjectStore, uri: str) -> list[str]:
    """The keys an s3:// URI names: the object itself, or everything under the prefix."""
    bucket, key = parse_s3_uri(uri)
    if key and not key.endswith("/"):
        try:
            store.head_object(bucket, key)
            return [key]
        except Exception:  # noqa: BLE001 - not an object: a prefix
            key += "/"
    return sorted(o.key for o in store.iter_all(bucket, key) if not o.key.endswith("/"))


def read_dataset(
    store: ObjectStore, uri: str, dataset_format: dict[str, Any], log: Log
) -> dict[str, list[Any]]:
    bucket, _ = parse_s3_uri(uri)
    keys = objects(store, uri)
    if not keys:
        raise InvalidRequest(f"the baseline dataset {uri} holds no objects")
    rows: list[list[Any]] = []
    names: list[str] = []
    for key in keys:
        text = store.get_bytes(bucket, key).decode("utf-8-sig")
        if "csv" in dataset_format:
            found = [r for r in csv.reader(io.StringIO(text)) if r]
            if dataset_format["csv"].get("header", True) and found:
                names = names or [n.strip() for n in found[0]]
                found = found[1:]
            rows.extend(found)
        else:
            for record in json_records(text, dataset_format["json"].get("lines", True)):
                if isinstance(record, dict):
                    for name in record:
                        if name not in names:
                            names.append(name)
                    rows.append([record.get(n) for n in names])
                else:
                    rows.append(list(record) if isinstance(record, list) else [record])
        log(f"read s3://{bucket}/{key}")
    return as_table(rows, names)


def json_records(text: str, lines: bool) -> Iterator[Any]:
    if lines:
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)
        return
    value = json.loads(text)
    yield from value if isinstance(value, list) else [value]


def as_table(rows: list[list[Any]], names: list[str]) -> dict[str, list[Any]]:
    """Rows as columns: named by `names`, then `_c<i>` (SageMaker's names without a header);
    a short row's missing cells are missing values."""
    width = max((len(r) for r in rows), default=len(names))
    columns = [*names[:width], *(f"_c{i}" for i in range(len(names), width))]
    return {
        name: [row[i] if i < len(row) else None for row in rows] for i, name in enumerate(columns)
    }


# -- monitoring -------------------------------------------------------------------------------
def monitor(
    store: ObjectStore, spec: dict[str, Any], reporter: Reporter, log: Log
) -> dict[str, Any]:
    reporter.status("Downloading", "Reading the baseline and the captured data")
    baseline_stats = read_json(store, spec["statistics"])
    constraints = read_json(store, spec["constraints"])
    start = _time(spec.get("data_window_start"))
    end = _time(spec.get("data_window_end"))
    records = list(captured(store, spec["captured_data"], start, end))
    window = f"from {start or 'the first'} to {end or 'the last'}"
    if not records:
        raise InvalidRequest(
            f"no captured requests under {spec['captured_data']} in the data window ({window})"
        )
    names = [f["name"] for f in constraints["features"]]
    position = spec.get("output_columns_position", "START")
    rows = [row for record in records for row in rows_of(record, len(names), position)]
    log(f"{len(records)} captured requests ({len(rows)} rows) {window}")
    reporter.status("Training", "Checking the captured data against the baseline")
    table = as_table(rows, names)
    stats = statistics(table)
    found = violations(table, baseline_stats, constraints)
    for violation in found:
        log(f"{violation['constraint_check_type']} on {violation['feature_name']}: "
            f"{violation['description']}")  # fmt: skip
    log(f"{len(found)} violation(s)")
    reporter.status("Uploading", "Writing statistics.json and constraint_violations.json")
    uris = upload(
        store,
        spec["output_s3_uri"],
        {"statistics": stats, "constraint_violations": {"violations": found}},
    )
    return {**uris, "records": len(records), "rows": len(rows), "violations": found}


def captured(
    store: ObjectStore, prefix: str, start: datetime | None, end: datetime | None
) -> Iterator[dict[str, Any]]:
    """Capture records under <prefix><variant>/yyyy/mm/dd/hh/, inside [start, end)."""
    bucket, key_prefix = parse_s3_uri(prefix)
    for info in store.iter_all(bucket, key_prefix):
        hour = _hour_of(info.key[len(key_prefix) :])
        if hour is not None and (
            (start is not None and hour + timedelta(hours=1) <= start)
            or (end is not None and hour >= end)
        ):
            continue
        for line in store.get_bytes(bucket, info.key).decode().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            at = _time((record.get("eventMetadata") or {}).get("inferenceTime"))
            if at is not None and (
                (start is not None and at < start) or (end is not None and at >= end)
            ):
                continue
            yield record


def _hour_of(relative: str) -> datetime | None:
    parts = relative.split("/")  # variant, yyyy, mm, dd, hh, file
    if len(parts) < 6:
        return None
    try:
        year, month, day, hour = (int(p) for p in parts[1:5])
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def rows_of(record: dict[str, Any], columns: int, position: str) -> list[list[Any]]:
    """A captured request's rows; the model's answer for each row takes the label's place
    (first, or last) when the baseline has exactly one column more than the request."""
    data = record.get("captureData") or {}
    inputs = _decode(data.get("endpointInput"))
    if inputs and len(inputs[0]) == columns - 1:
        outputs = _answers(data.get("endpointOutput"))
        if outputs is not None and len(outputs) == len(inputs):
            if position == "END":
                return [[*row, out] for row, out in zip(inputs, outputs, strict=True)]
            return [[out, *row] for row, out in zip(inputs, outputs, strict=True)]
    return inputs


def _payload(side: dict[str, Any] | None) -> tuple[str, str] | None:
    """(content type, text) of one side of a capture record."""
    if not side or "data" not in side:
        return None
    text = side["data"]
    if side.get("encoding") == "BASE64":
        text = base64.b64decode(text).decode("utf-8", "replace")
    return side.get("observedContentType", "text/csv").split(";")[0].strip().lower(), text


def _decode(side: dict[str, Any] | None) -> list[list[Any]]:
    payload = _payload(side)
    if payload is None:
        return []
    content_type, text = payload
    if "json" not in content_type:
        return [row for row in csv.reader(io.StringIO(text)) if row]
    rows: list[list[Any]] = []
    values = (
        [json.loads(line) for line in text.splitlines() if line.strip()]
        if "jsonlines" in content_type
        else [json.loads(text)]
    )
    for value in values:
        if isinstance(value, dict) and "instances" in value:
            value = value["instances"]  # SageMaker's {"instances": [...]} request
        elif isinstance(value, dict) and "features" in value:
            value = [value["features"]]
        if isinstance(value, list) and value and not isinstance(value[0], list | dict):
            value = [value]  # one row
        for row in value if isinstance(value, list) else [value]:
            if isinstance(row, dict):
                row = row.get("features", list(row.values()))
            rows.append(row if isinstance(row, list) else [row])
    return rows


def _answers(side: dict[str, Any] | None) -> list[Any] | None:
    """One value per row from the model's answer (its label or score), if it has that shape."""
    payload = _payload(side)
    if payload is None:
        return None
    content_type, text = payload
    if "json" not in content_type:
        return [row[0] for row in csv.reader(io.StringIO(text)) if row]
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and "predictions" in value:
        value = value["predictions"]
    if not isinstance(value, list):
        return None
    answers = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("predicted_label", item.get("score"))
        if isinstance(item, list | dict):
            return None  # class probabilities: not one value
        answers.append(item)
    return answers


def read_json(store: ObjectStore, uri: str) -> dict[str, Any]:
    bucket, key = parse_s3_uri(uri)
    try:
        value = json.loads(store.get_bytes(bucket, key))
    except ValueError as exc:
        raise InvalidRequest(f"{uri} is not JSON: {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("features"), list):
        raise InvalidRequest(f"{uri} is not a Model Monitor statistics or constraints file")
    return value


def upload(store: ObjectStore, prefix: str, files: dict[str, Any]) -> dict[str, str]:
    bucket, key = parse_s3_uri(prefix)
    uris = {}
    for name, value in files.items():
        object_key = f"{key.rstrip('/')}/{name}.json".lstrip("/")
        body = json.dumps(value, indent=1, allow_nan=False).encode()
        store.put_object(bucket, object_key, body, content_type="application/json")
        uris[name] = f"s3://{bucket}/{object_key}"
        print(f"[modelyard] {name}.json: {uris[name]}", flush=True)
    return uris
