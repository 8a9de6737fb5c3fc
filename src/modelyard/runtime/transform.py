"""A batch transform job's process: model servers up, every input object through them, out.

`runtime.job` runs it (`run_job`). It starts `instance_count` model servers (the same
`runtime.serving` an endpoint runs; a built-in's are forked from this process, whose
libraries the job launcher has loaded: `runtime.forked`) on free loopback ports and keeps
`instance_count × max_concurrent_transforms` requests in flight across them, objects in key
order, each object's batches in parallel and its answers written in input order to `<key>.out`.

A request the model refuses is retried record by record to find the records at fault: the job
then fails naming the object, the line and the model server's own message, or, with a
dead-letter path, writes those records aside (`<key>.failed`, JSON Lines with the line and the
reason) and goes on. Progress (objects, records, bytes) is reported as job metrics.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from modelyard import transform_records as rec
from modelyard.errors import InvalidRequest, ModelyardError
from modelyard.runtime.forked import ForkedProcess
from modelyard.runtime.layout import JobLayout, log_tail
from modelyard.runtime.reporter import Reporter
from modelyard.runtime.script_mode import free_port

START_TIMEOUT_SECONDS = 180.0
REQUEST_TIMEOUT_SECONDS = 600.0


# An object's batches and its record count; None when the object is sent whole.
Plan = tuple[list[rec.Batch], int] | None


class RecordRefused(InvalidRequest):
    """The model server refused a request: its status and message (a ClientError, as the
    record is at fault, not the platform)."""


@dataclass
class Progress:
    objects: int = 0
    objects_done: int = 0
    records_done: int = 0
    bytes_done: int = 0
    records_failed: int = 0
    outputs: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "outputs"}

    def report(self, reporter: Reporter) -> None:
        for name, value in self.counts().items():
            reporter.metric(f"transform:{name}", float(value), step=self.objects_done)


def run_job(
    layout: JobLayout, spec: dict[str, Any], reporter: Reporter, log: Callable[[str], None]
) -> dict[str, Any]:
    from modelyard.runtime.store import job_store

    began = time.monotonic()
    count = int(spec["transform_resources"]["instance_count"])
    # Started first: their start is the longest step before the first request, and the
    # rest (listing, reading and planning the first object) happens while they start.
    servers = [ModelServer(layout, spec, i) for i in range(count)]
    try:
        store = job_store(spec["storage_url"])
        reporter.status("Downloading", "Listing the input objects")
        keys = input_keys(store, spec["transform_input"]["s3_uri"])
        progress = Progress(objects=len(keys))
        progress.report(reporter)
        log(f"{len(keys)} input object(s) under {spec['transform_input']['s3_uri']}")
        reporter.status("Starting", f"Starting {count} model server(s)")

        def ready() -> None:
            # One client for every ping: making one costs more CPU than the ping itself,
            # taken from the model servers starting beside it. Plain HTTP on loopback.
            with httpx.Client(timeout=1.0, verify=False) as http:
                for server in servers:
                    server.wait_ready(http)
            log(
                f"{count} model server(s) ready after {time.monotonic() - began:.2f}s: "
                + ", ".join(s.url for s in servers)
            )
            reporter.status("Training", "Transforming")  # the phase SageMaker calls InProgress

        def answered() -> None:
            # Every answer is in and nothing else will be asked: a graceful shutdown (a
            # fifth of a second of uvicorn's) would only make the job wait.
            for server in servers:
                server.kill()

        transformer = Transformer(spec, store, servers, progress, reporter, log)
        asyncio.run(transformer.run(keys, ready, answered))
    finally:
        for server in servers:  # all told at once: each takes a moment to shut down
            server.terminate()
        for server in servers:
            server.wait()
    # No last flush: what is still unsent goes with the job's result (runtime.job).
    if progress.records_failed:
        log(
            f"{progress.records_failed} record(s) refused, written to {spec['dead_letter_s3_path']}"
        )
    return {"outputs": progress.outputs, "progress": progress.counts()}


def input_keys(store: Any, uri: str) -> list[tuple[str, str, str]]:
    """(bucket, key, key relative to the prefix) of every object the input names."""
    from modelyard.storage import parse_s3_uri

    bucket, prefix = parse_s3_uri(uri)
    found, token = [], None
    while True:
        page = store.list_objects(bucket, prefix=prefix, token=token)
        found += [o.key for o in page.objects if not o.key.endswith("/")]
        token = page.next_token
        if not token:
            break
    if not found:
        raise InvalidRequest(f"transform_input: nothing stored at {uri}")
    if found == [prefix]:  # the URI names one object
        return [(bucket, prefix, prefix.rsplit("/", 1)[-1])]
    base = prefix if prefix.endswith("/") or not prefix else prefix + "/"
    return [(bucket, k, k[len(base) :] if k.startswith(base) else k) for k in sorted(found)]


class ModelServer:
    """One model server process on a free loopback port, its output in the job's dir."""

    def __init__(self, layout: JobLayout, spec: dict[str, Any], index: int) -> None:
        model = spec["model"]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = layout.root / f"model-server-{index + 1}.log"
        # As an endpoint serves it: a built-in algorithm, or the user's inference code.
        served = ["--algorithm", model["algorithm"]] if model.get("algorithm") else [
            "--framework", model.get("framework") or "python",
            *(["--entry-point", model["entry_point"]] if model.get("entry_point") else []),
            *(["--source-dir", model["source_dir"]] if model.get("source_dir") else []),
        ]  # fmt: skip
        args = [
            "--model-data", model["model_data"], *served,
            "--port", str(self.port), "--work-dir", str(layout.root / f"server-{index + 1}"),
            "--storage-url", spec["storage_url"], "--envs-dir", str(layout.root / "envs"),
            "--max-body-mb", str(max(6, int(spec["max_payload_in_mb"]) * 2 or 1024)),
        ]  # fmt: skip
        extra_env = {**model.get("environment", {}), **spec.get("environment", {})}
        env = {**server_environ(), **extra_env}
        self.process: subprocess.Popen[bytes] | ForkedProcess
        if model.get("algorithm") and not extra_env:
            # A built-in with the job's own environment: forked, its libraries already loaded.
            # The user's code (its requirements may pin other versions of what is loaded
            # here) and variables a library reads when loaded get a fresh interpreter.
            from modelyard.runtime import serving

            self.process = ForkedProcess(serving.main, args, env, self.log_path)
            return
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "modelyard.runtime.serving", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def wait_ready(self, http: httpx.Client) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelyardError(
                    f"the model server exited with code {self.process.returncode} before it "
                    f"answered; its last lines:\n{log_tail(self.log_path, 15)}"
                )
            try:
                if http.get(f"{self.url}/ping").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise ModelyardError(f"the model server did not answer /ping in {START_TIMEOUT_SECONDS}s")

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def wait(self) -> None:
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Transformer:
    def __init__(
        self,
        spec: dict[str, Any],
        store: Any,
        servers: list[ModelServer],
        progress: Progress,
        reporter: Reporter,
        log: Callable[[str], None],
    ) -> None:
        self.spec, self.store, self.progress = spec, store, progress
        self.reporter, self.log = reporter, log
        source, output = spec["transform_input"], spec["transform_output"]
        self.content_type = source["content_type"]
        self.accept = output.get("accept") or self.content_type
        self.split = source["split_type"] == "Line"
        processing = spec["data_processing"]
        self.input_filter = processing["input_filter"]
        self.output_filter = processing["output_filter"]
        self.join = processing["join_source"] == "Input"
        # Answers are taken apart record by record only when something needs them so.
        self.per_record = self.split and (self.join or self.output_filter != "$")
        self.lines = output["assemble_with"] == "Line"
        self.urls = itertools.cycle([f"{s.url}/invocations" for s in servers])
        self.slots = asyncio.Semaphore(len(servers) * int(spec["max_concurrent_transforms"]))
        self.max_payload = int(spec["max_payload_in_mb"]) * 1024 * 1024

    async def run(
        self,
        keys: list[tuple[str, str, str]],
        ready: Callable[[], None],
        answered: Callable[[], None] = lambda: None,
    ) -> None:
        """Transform every object; the next one is read while this one is transformed, the
        first while the model servers start (`ready` waits for them; `answered` is called
        once the model servers have answered for the last object)."""

        def fetch(index: int) -> asyncio.Future[tuple[bytes, Plan]]:
            bucket, key, _ = keys[index]
            return asyncio.ensure_future(asyncio.to_thread(self.fetch, bucket, key))

        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        async with httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_SECONDS, limits=limits, verify=False
        ) as client:
            self.client = client
            pending = fetch(0)
            await asyncio.to_thread(ready)
            for index, (bucket, key, relative) in enumerate(keys):
                started = time.monotonic()
                uri = f"s3://{bucket}/{key}"
                body, plan = await pending
                if index + 1 < len(keys):
                    pending = fetch(index + 1)
                out, refused, count = await self.transform_object(uri, body, plan)
                if index + 1 == len(keys):
                    answered()
                target = self.write(
                    relative, out, ".out", self.spec["transform_output"]["s3_output_path"]
                )
                if refused:
                    self.write_dead_letters(relative, refused)
                self.progress.objects_done += 1
                self.progress.records_done += count
                self.progress.bytes_done += len(body)
                self.progress.outputs.append(target)
                self.progress.report(self.reporter)
                self.log(f"{uri}: {count} record(s), {len(body)} bytes -> {target} "
                         f"({time.monotonic() - started:.2f}s)")  # fmt: skip

    def fetch(self, bucket: str, key: str) -> tuple[bytes, Plan]:
        """An object and its batches: in a thread, so that the scans over the object overlap
        the model servers' start (the first object) or the previous object's requests."""
        body = self.store.get_bytes(bucket, key)
        return body, self.plan(f"s3://{bucket}/{key}", body)

    def plan(self, uri: str, body: bytes) -> Plan:
        """The object's batches and how many records they hold (None: the object is one)."""
        if not self.split:
            return None
        try:
            if self.raw_chunks(body):
                return rec.raw_batches(body, self.max_payload)
            lines = rec.split_lines(body)
            planned = rec.batches(lines, self.spec["batch_strategy"], self.max_payload)
            return list(planned), len(lines)
        except InvalidRequest as exc:
            raise InvalidRequest(f"{uri} {exc.message}") from None

    async def transform_object(
        self, uri: str, body: bytes, plan: Plan
    ) -> tuple[bytes, list[dict[str, Any]], int]:
        """The object's output, the records refused (for the dead letters) and how many."""
        if plan is None:
            if self.max_payload and len(body) > self.max_payload:
                raise InvalidRequest(
                    f"{uri} is {len(body)} bytes, more than MaxPayloadInMB allows; split it "
                    "into records with split_type Line, or raise max_payload_in_mb"
                )
            answer = await self.invoke(body)
            if isinstance(answer, RecordRefused):
                raise RecordRefused(f"{uri}: the model server answered {answer.message}")
            return answer, [], 1
        planned, count = plan
        results = await asyncio.gather(*(self.transform_batch(uri, b) for b in planned))
        refused = [r for _, bad in results for r in bad]
        parts = [part for part, _ in results]
        if self.per_record:
            kept = [line for part in parts for line in part]
            out = b"\n".join(kept) + b"\n" if kept else b""
        elif self.lines:  # each answer on lines of its own
            out = b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts if p)
        else:
            out = b"".join(parts)
        return out, refused, count

    def raw_chunks(self, body: bytes) -> bool:
        """MultiRecord batches can be cut from the object as they are, whole lines, when no
        record needs looking at: no filter, no join, no blank line to drop."""
        return (
            self.spec["batch_strategy"] == "MultiRecord"
            and not self.per_record
            and self.input_filter == "$"
            and not rec.has_blank_lines(body)
        )

    async def transform_batch(self, uri: str, batch: rec.Batch) -> tuple[Any, list[dict[str, Any]]]:
        answer = await self.invoke(batch.body if batch.raw else self.request_body(batch.records))
        if not isinstance(answer, RecordRefused):
            return self.assemble(batch.records, answer), []
        # Find the records at fault: each one alone (a raw chunk taken apart first).
        if batch.raw:
            batch = rec.Batch(batch.first_line, rec.split_lines(batch.body))
        kept: list[bytes] = []
        refused: list[dict[str, Any]] = []
        raw = b""
        for offset, record in enumerate(batch.records):
            alone = await self.invoke(self.request_body([record]))
            line = batch.first_line + offset
            if isinstance(alone, RecordRefused):
                if not self.spec.get("dead_letter_s3_path"):
                    raise RecordRefused(
                        f"{uri} line {line}: the model server answered {alone.message}",
                        {"object": uri, "line": line},
                    )
                refused.append({"line": line, "record": record.decode("utf-8", "replace"),
                                "reason": alone.message})  # fmt: skip
                continue
            if self.per_record:
                kept += self.assemble([record], alone)
            else:
                raw += alone if not self.lines or alone.endswith(b"\n") else alone + b"\n"
        return (kept if self.per_record else raw), refused

    def request_body(self, records: list[bytes]) -> bytes:
        if self.input_filter != "$":
            records = [
                rec.format_record(
                    rec.apply_filter(self.input_filter, rec.parse_record(r, self.content_type)),
                    self.content_type,
                )
                for r in records
            ]
        return b"\n".join(records) + b"\n"

    def assemble(self, records: list[bytes], answer: bytes) -> Any:
        """Per record: answers split, joined to their input and filtered; else the raw answer."""
        if not self.per_record:
            return answer
        out = []
        for record, one in zip(
            records, rec.answers(answer, self.accept, len(records)), strict=True
        ):
            value = rec.join(record, one, self.content_type, self.accept) if self.join else one
            if self.output_filter != "$":
                kind = self.content_type if self.join else self.accept
                value = rec.format_record(
                    rec.apply_filter(self.output_filter, rec.parse_record(value, kind)), kind
                )
            out.append(value)
        return out

    async def invoke(self, body: bytes) -> bytes | RecordRefused:
        async with self.slots:
            response = await self.client.post(
                next(self.urls),
                content=body,
                headers={"Content-Type": self.content_type, "Accept": self.accept},
            )
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            return RecordRefused(f"{response.status_code}: {message}")
        return response.content

    def write(self, relative: str, data: bytes, suffix: str, base: str) -> str:
        from modelyard.storage import parse_s3_uri

        uri = f"{base.rstrip('/')}/{relative}{suffix}"
        bucket, key = parse_s3_uri(uri)
        self.store.put_object(bucket, key, data, content_type=self.accept)
        return uri

    def write_dead_letters(self, relative: str, refused: list[dict[str, Any]]) -> None:
        self.progress.records_failed += len(refused)
        lines = "".join(json.dumps(r) + "\n" for r in refused).encode()
        self.write(relative, lines, ".failed", self.spec["dead_letter_s3_path"])


def server_environ() -> dict[str, str]:
    """The job's environment, less its token: the model server reports nothing itself."""
    return {k: v for k, v in os.environ.items() if k != "MODELYARD_JOB_TOKEN"}
