"""Adaptive batching: requests that arrive together share one predict; each gets its rows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from modelyard.algorithms.base import Prediction
from modelyard.runtime.batching import Batcher


def doubling(calls: list[int]):  # type: ignore[no-untyped-def]
    def predict(rows: np.ndarray) -> Prediction:
        calls.append(len(rows))
        values = rows[:, 0] * 2
        return Prediction(records=[{"score": float(v)} for v in values], array=values)

    return predict


def test_requests_that_arrive_together_share_one_predict() -> None:
    calls: list[int] = []
    batcher = Batcher(doubling(calls), max_batch_size=64)

    async def main() -> list[Prediction]:
        rows = [np.array([[float(i)]] * (1 + i % 3)) for i in range(10)]
        return await asyncio.gather(*(batcher.predict(r) for r in rows))

    answers = asyncio.run(main())
    assert calls == [sum(1 + i % 3 for i in range(10))]  # one predict for all of them
    for i, answer in enumerate(answers):
        assert answer.array.tolist() == [2.0 * i] * (1 + i % 3)
        assert [r["score"] for r in answer.records] == [2.0 * i] * (1 + i % 3)


def test_a_lone_request_goes_at_once_and_a_full_batch_does_not_wait() -> None:
    calls: list[int] = []
    batcher = Batcher(doubling(calls), max_batch_size=4, max_wait_ms=10_000)

    async def main() -> None:
        assert (await batcher.predict(np.ones((1, 1)))).array.tolist() == [2.0]
        # 6 rows at once: the first 4 fill a batch that runs at once, the rest after
        await asyncio.gather(*(batcher.predict(np.ones((1, 1))) for _ in range(6)))

    asyncio.run(asyncio.wait_for(main(), timeout=5))  # a 10 s wait would time out here
    assert calls[0] == 1 and sum(calls) == 7 and max(calls) == 4


def test_a_failed_predict_fails_every_request_of_its_batch() -> None:
    def broken(rows: np.ndarray) -> Prediction:
        raise ValueError("model exploded")

    batcher = Batcher(broken)

    async def main() -> list[object]:
        return await asyncio.gather(
            *(batcher.predict(np.ones((1, 1))) for _ in range(3)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, ValueError) for r in results)
    with pytest.raises(ValueError, match="exploded"):
        asyncio.run(batcher.predict(np.ones((1, 1))))


def test_the_only_request_in_flight_is_predicted_without_waiting_a_turn() -> None:
    calls: list[int] = []
    in_flight = [1]
    batcher = Batcher(doubling(calls), in_flight=lambda: in_flight[0])
    step = batcher.predict(np.ones((2, 1)))
    with pytest.raises(StopIteration) as done:  # finished on its first step: it never waited
        step.send(None)
    assert done.value.value.array.tolist() == [2.0, 2.0] and calls == [2]

    in_flight[0] = 5  # others were read with it: they are gathered as before

    async def main() -> list[Prediction]:
        return await asyncio.gather(*(batcher.predict(np.ones((1, 1))) for _ in range(5)))

    assert len(asyncio.run(main())) == 5 and calls == [2, 5]
