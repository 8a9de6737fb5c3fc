"""How a job process tells the control plane what it is doing: over HTTP, with its own token.

Nothing the job reports waits on the control plane. Metrics are buffered, status changes are
queued with the time they happened, and one background thread sends whatever has piled up in
a single request: shortly after a status change, otherwise every FLUSH_EVERY_SECONDS. So a
per-round metric costs the training loop an append, and a short job's Downloading, Training
and Uploading cost it nothing at all (they often travel together). Every send is retried for
a while, so a server restart in the middle of a job loses nothing. At the end, `close()`
sends the rest, or `detach()` hands it back (a job process writes it into its result).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx

RETRY_FOR_SECONDS = 120.0
FLUSH_EVERY_SECONDS = 1.0
COALESCE_SECONDS = 0.05


def now() -> str:
    return datetime.now(UTC).isoformat()


class Reporter:
    def __init__(self, control_url: str, job_name: str, token: str) -> None:
        self._client = httpx.Client(
            base_url=control_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
            # Loading the CA bundle costs 20-30 ms of a job's start; plain HTTP needs none.
            verify=not control_url.startswith("http://"),
        )
        self._path = f"/api/v1/training-jobs/{job_name}/report"
        self._buffer: list[dict[str, Any]] = []
        self._statuses: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread = threading.Thread(target=self._send_loop, name="reporter", daemon=True)
        self._thread.start()

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        value = float(value)
        if not math.isfinite(value):
            # JSON has no NaN or infinity; a diverged metric is logged, never fatal to the job.
            print(
                f"[modelyard] metric {name} is {value} at step {step}; not recorded",
                file=sys.stderr,
                flush=True,
            )
            return
        point = {"name": name, "value": value, "step": step, "timestamp": now()}
        with self._lock:
            self._buffer.append(point)

    def status(self, secondary_status: str, message: str = "") -> None:
        """Queue a status change (stamped now) and have it sent at once, without waiting."""
        with self._lock:
            self._statuses.append(
                {"secondary_status": secondary_status, "status_message": message,
                 "timestamp": now()}
            )  # fmt: skip
        self._kick.set()

    def flush(self) -> None:
        """Send everything queued now, in this thread."""
        with self._send_lock:
            body = self._take()
            if body:
                self._send(body)

    def detach(self) -> dict[str, Any]:
        """Stop sending and hand back what is still queued (a report body, empty when there
        is nothing), for the caller to deliver another way: a job process leaves it in
        result.json, which the control plane reads when the process has ended."""
        self._stop.set()
        self._kick.set()
        self._thread.join(timeout=5)
        with self._send_lock:  # a send under way finishes first, so nothing goes twice
            body = self._take()
        self._client.close()
        return body

    def close(self) -> None:
        self._stop.set()
        self._kick.set()
        self._thread.join(timeout=5)
        self.flush()
        self._client.close()

    def _take(self) -> dict[str, Any]:
        with self._lock:
            points, self._buffer = self._buffer, []
            statuses, self._statuses = self._statuses, []
        return {
            **({"statuses": statuses} if statuses else {}),
            **({"metrics": points} if points else {}),
        }

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            if self._kick.wait(FLUSH_EVERY_SECONDS):
                # A status change rarely comes alone (Downloading, then Training a moment
                # later): wait a little for what follows, to send it all in one request.
                self._stop.wait(COALESCE_SECONDS)
            if self._stop.is_set():
                return  # close() sends the rest itself; detach() hands it back
            self._kick.clear()
            self.flush()

    def _send(self, body: dict[str, Any]) -> None:
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        delay = 0.2
        while True:
            try:
                response = self._client.post(self._path, json=body)
                if response.status_code < 500:
                    if response.status_code >= 400:
                        print(
                            f"[modelyard] report rejected: {response.text}",
                            file=sys.stderr,
                            flush=True,
                        )
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                print(
                    "[modelyard] could not reach the control plane; a report was dropped",
                    file=sys.stderr,
                    flush=True,
                )
                return
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
