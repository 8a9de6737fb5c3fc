"""Data capture: requests and answers as JSON Lines, in SageMaker's layout and keys.

The invocation proxy hands each sampled exchange to `CaptureWriter.record` (a queue put,
nothing else on the answer's path). A writer thread gathers what arrived, encodes it and
writes one object per endpoint, variant and hour each FLUSH_SECONDS:

    <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl

one line per exchange: {"captureData": {"endpointInput": {...}, "endpointOutput": {...}},
"eventMetadata": {"eventId", "inferenceId"?, "inferenceTime"}, "eventVersion": "0"}, each
side with observedContentType, mode and data, the data as text for the configured CSV and
JSON content types and base64 for anything else.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelyard.storage.base import ObjectStore
from modelyard.storage.uri import parse_s3_uri

logger = logging.getLogger("modelyard.capture")

FLUSH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Exchange:
    endpoint: str
    variant: str
    config: dict[str, Any]  # the DataCaptureConfig
    at: float  # time.time() of the request
    inference_id: str | None
    input_type: str
    input: bytes
    output_type: str
    output: bytes


def _side(mode: str, content_type: str, data: bytes, config: dict[str, Any]) -> dict[str, Any]:
    header = config.get("capture_content_type_header") or {}
    base = content_type.split(";")[0].strip().lower()
    if base in header.get("csv_content_types", ["text/csv"]):
        encoding, text = "CSV", data.decode("utf-8", errors="replace")
    elif base in header.get("json_content_types", ["application/json"]):
        encoding, text = "JSON", data.decode("utf-8", errors="replace")
    else:
        encoding, text = "BASE64", base64.b64encode(data).decode()
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def capture_line(exchange: Exchange) -> str:
    modes = {o["capture_mode"] for o in exchange.config.get("capture_options", [])}
    data: dict[str, Any] = {}
    if "Input" in modes:
        data["endpointInput"] = _side("INPUT", exchange.input_type, exchange.input, exchange.config)
    if "Output" in modes:
        data["endpointOutput"] = _side(
            "OUTPUT", exchange.output_type, exchange.output, exchange.config
        )
    when = datetime.fromtimestamp(exchange.at, UTC)
    metadata: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
    }
    if exchange.inference_id:
        metadata["inferenceId"] = exchange.inference_id
    return json.dumps({"captureData": data, "eventMetadata": metadata, "eventVersion": "0"})


class CaptureWriter:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[Exchange | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
        self.written = 0  # exchanges written so far (for tests and /metrics)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def record(self, exchange: Exchange) -> None:
        self._queue.put(exchange)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=FLUSH_SECONDS)
            except queue.Empty:
                continue
            if first is None:
                return
            batch, deadline = [first], time.monotonic() + FLUSH_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if item is None:
                    self._write(batch)
                    return
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[Exchange]) -> None:
        files: dict[tuple[str, str], list[str]] = {}
        for exchange in batch:
            bucket, prefix = parse_s3_uri(exchange.config["destination_s3_uri"])
            when = datetime.fromtimestamp(exchange.at, UTC)
            folder = "/".join(
                part.strip("/")
                for part in (
                    prefix,
                    exchange.endpoint,
                    exchange.variant,
                    when.strftime("%Y/%m/%d/%H"),
                )
                if part.strip("/")
            )
            files.setdefault((bucket, folder), []).append(capture_line(exchange))
        stamp = datetime.now(UTC)
        for (bucket, folder), lines in files.items():
            name = f"{stamp:%M-%S}-{stamp.microsecond // 1000:03d}-{uuid.uuid4().hex[:8]}.jsonl"
            try:
                self.store.put_bytes(
                    bucket,
                    f"{folder}/{name}",
                    ("\n".join(lines) + "\n").encode(),
                    "application/jsonl",
                )
                self.written += len(lines)
            except Exception:  # noqa: BLE001 - capture must never take the server down
                logger.exception("could not write %d captured exchanges to %s", len(lines), bucket)
