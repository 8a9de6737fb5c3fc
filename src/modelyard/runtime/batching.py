"""Adaptive batching for a built-in model: requests that arrive together are predicted together.

A request's rows join the pending batch, and the batch is predicted one turn of the event
loop later, so every request that arrived in the same turn (under load, all the connections
that became readable at once) goes in the same call to the model: one predict of 32 rows
costs little more than one of 1. Only when the last batch held more than one request (there
is concurrency to gather) does the next one also wait up to `max_wait_ms` for more.

A request that is the only one the server holds (`in_flight`, the server's count of requests
read and not yet answered, which counts every request of a turn before the first of them
runs) has no one to wait for: it is predicted at once, so concurrency 1 pays nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

Predict = Callable[[np.ndarray], Any]  # rows -> Prediction (records, array, key)


def split(prediction: Any, sizes: list[int]) -> list[Any]:
    """One Prediction per request, in order, from the batch's."""
    parts, start = [], 0
    kind = type(prediction)
    for size in sizes:
        end = start + size
        parts.append(
            kind(
                records=prediction.records[start:end],
                array=prediction.array[start:end],
                key=prediction.key,
            )
        )
        start = end
    return parts


class Batcher:
    def __init__(
        self,
        predict: Predict,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        in_flight: Callable[[], int] | None = None,
    ):
        self.predict_rows = predict
        self.in_flight = in_flight
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self._pending: list[tuple[np.ndarray, asyncio.Future[Any]]] = []
        self._rows = 0
        self._scheduled = False
        self._last_batch = 1  # requests in the last batch: was there concurrency to gather?
        self.batches = 0
        self.requests = 0

    async def predict(self, features: np.ndarray) -> Any:
        if not self._pending and self.in_flight is not None and self.in_flight() <= 1:
            self._last_batch = 1
            self.batches += 1
            self.requests += 1
            return self.predict_rows(features)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((features, future))
        self._rows += len(features)
        if self._rows >= self.max_batch_size:
            self._run()
        elif not self._scheduled:
            self._scheduled = True
            if self._last_batch > 1 and self.max_wait > 0:
                loop.call_later(self.max_wait, self._run)
            else:
                loop.call_soon(self._run)
        return await future

    def _run(self) -> None:
        self._scheduled = False
        pending, self._pending, self._rows = self._pending, [], 0
        if not pending:
            return
        self._last_batch = len(pending)
        self.batches += 1
        self.requests += len(pending)
        try:
            if len(pending) == 1:
                parts = [self.predict_rows(pending[0][0])]
            else:
                rows = np.concatenate([features for features, _ in pending])
                parts = split(self.predict_rows(rows), [len(f) for f, _ in pending])
        except Exception as exc:  # noqa: BLE001 - every request of the batch hears why
            for _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), part in zip(pending, parts, strict=True):
            if not future.done():
                future.set_result(part)
