"""How a job process tells the control plane what it is doing: over HTTP, with its own token.

Metrics are buffered and sent in batches by a background thread so that a per-round metric
costs the training loop an append, not a round trip. Every send is retried for a while, so a
server restart in the middle of a job loses nothing.
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
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, name="metrics", daemon=True)
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
        point = {
            "name": name,
            "value": float(value),
            "step": step,
            "timestamp": datetime.now(UTC).isoformat(),
        }
        with self._lock:
            self._buffer.append(point)

    def status(self, secondary_status: str, message: str = "") -> None:
        self._send(
            {
                "secondary_status": secondary_status,
                "status_message": message,
                "metrics": self._take(),
            }
        )

    def flush(self) -> None:
        points = self._take()
        if points:
            self._send({"metrics": points})

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
        self._client.close()

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            points, self._buffer = self._buffer, []
        return points

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_EVERY_SECONDS):
            self.flush()

    def _send(self, body: dict[str, Any]) -> None:
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        delay = 0.2
        with self._send_lock:
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
