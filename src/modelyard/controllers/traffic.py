"""What an instance answered lately: per-second buckets of counts, errors and latencies.

The invocation proxy records every answer on the instance that gave it (a few hundred
nanoseconds); the reconciler reads the buckets of a fleet to judge a deployment's alarms, and
descriptions read them for live request rates and latencies. Only the last HORIZON_SECONDS
are kept, and at most LATENCY_SAMPLES latencies a second, so memory stays bounded at any rate.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable

HORIZON_SECONDS = 600
LATENCY_SAMPLES = 200  # per second and instance: enough for a p99 over a minute


class Bucket:
    __slots__ = ("second", "count", "errors_4xx", "errors_5xx", "latencies")

    def __init__(self, second: int) -> None:
        self.second = second
        self.count = 0
        self.errors_4xx = 0
        self.errors_5xx = 0
        self.latencies: list[float] = []  # seconds


class TrafficWindow:
    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: deque[Bucket] = deque(maxlen=HORIZON_SECONDS)

    def record(self, status: int, seconds: float, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        buckets = self._buckets
        if not buckets or buckets[-1].second != second:
            buckets.append(Bucket(second))
        bucket = buckets[-1]
        bucket.count += 1
        if status >= 500:
            bucket.errors_5xx += 1
        elif status >= 400:
            bucket.errors_4xx += 1
        if len(bucket.latencies) < LATENCY_SAMPLES:
            bucket.latencies.append(seconds)

    def since(self, start: float) -> list[Bucket]:
        """The buckets from `start` (a time.monotonic() value) on."""
        first = int(start)
        return [b for b in list(self._buckets) if b.second >= first]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def statistic(buckets: Iterable[Bucket], metric: str, name: str) -> float | None:
    """SageMaker-like statistics over buckets: Invocation5XXErrors / Invocation4XXErrors
    (per request 0 or 1: Sum counts them, Average is the rate), InvocationErrorRate (5xx
    share), ModelLatency (microseconds, as SageMaker reports it). None without traffic."""
    buckets = list(buckets)
    count = sum(b.count for b in buckets)
    if count == 0:
        return None
    if metric == "ModelLatency":
        latencies = [s * 1e6 for b in buckets for s in b.latencies]
        if name.startswith("p"):
            return percentile(latencies, float(name[1:]))
        if name == "Maximum":
            return max(latencies)
        if name == "Sum":
            return sum(latencies)
        return sum(latencies) / len(latencies)
    if metric == "InvocationErrorRate":
        return sum(b.errors_5xx for b in buckets) / count
    errors = sum(b.errors_5xx if metric == "Invocation5XXErrors" else b.errors_4xx for b in buckets)
    if name == "Sum":
        return float(errors)
    if name == "Maximum":
        return 1.0 if errors else 0.0
    return errors / count  # Average, and a percentile of 0/1 values is close enough to it


def summarize(buckets: list[Bucket], seconds: float) -> dict[str, float | int]:
    """Request rate, latency percentiles and errors of `buckets`, spread over `seconds`."""
    latencies = [s for b in buckets for s in b.latencies]
    return {
        "invocations_per_second": round(sum(b.count for b in buckets) / seconds, 3),
        "latency_p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "latency_p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "errors_4xx": sum(b.errors_4xx for b in buckets),
        "errors_5xx": sum(b.errors_5xx for b in buckets),
    }
