"""A model server's own metrics, served at its GET /metrics in Prometheus' text format.

The request path only bumps plain numbers (a dict entry and a bucket: well under a
microsecond); prometheus-client is imported when the metrics are first scraped, so a model
server does not pay its ~100 ms import before its first answer. The control plane's /metrics
scrapes every instance and adds the endpoint, variant and instance labels.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
PREFIX = "modelyard_model_server_"


class Histogram:
    """Counts per bucket (cumulated only when rendered) and a sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        cumulated, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            cumulated.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return cumulated


class ServerMetrics:
    """Requests by status code, their latency inside the model server, and its setup time;
    a multi-model server adds its model cache's counters (see runtime.multi_model)."""

    def __init__(self) -> None:
        self.codes: dict[int, int] = {}
        self.latency = Histogram(LATENCY_BUCKETS)
        self.setup_seconds: float | None = None
        self.cache: Any = None  # a ModelCache, on a multi-model server

    def observe(self, status: int, seconds: float) -> None:
        codes = self.codes
        codes[status] = codes.get(status, 0) + 1
        self.latency.observe(seconds)

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        return generate_latest(registry)


class _Collector:
    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        metrics = self.metrics
        requests = CounterMetricFamily(
            PREFIX + "requests", "Invocations answered, by status code.", labels=["code"]
        )
        for code, count in sorted(metrics.codes.items()):
            requests.add_metric([str(code)], count)
        yield requests
        yield HistogramMetricFamily(
            PREFIX + "request_seconds",
            "Time from a request's body to its answer, inside the model server.",
            buckets=metrics.latency.buckets(),
            sum_value=metrics.latency.total,
        )
        if metrics.setup_seconds is not None:
            yield GaugeMetricFamily(
                PREFIX + "setup_seconds",
                "From the process's start to serving: loading the model (ModelSetupTime).",
                value=metrics.setup_seconds,
            )
        cache = metrics.cache
        if cache is None:
            return
        yield GaugeMetricFamily(
            PREFIX + "loaded_models", "Models loaded now (LoadedModelCount).", value=len(cache)
        )
        yield GaugeMetricFamily(
            PREFIX + "memory_bytes", "The process's resident memory.", value=cache.memory_bytes()
        )
        for name, help_text, counts in (
            ("model_loads", "Models loaded, by target model.", cache.loads),
            ("model_evictions", "Models evicted to make room, by target model.", cache.evictions),
        ):
            family = CounterMetricFamily(PREFIX + name, help_text, labels=["target_model"])
            for target, count in sorted(counts.items()):
                family.add_metric([target], count)
            yield family
        yield CounterMetricFamily(
            PREFIX + "model_cache_hits",
            "Requests whose model was loaded already (ModelCacheHit).",
            value=cache.hits,
        )
        yield HistogramMetricFamily(
            PREFIX + "model_load_seconds",
            "Downloading and loading a model on first use (ModelLoadingWaitTime).",
            buckets=cache.load_seconds.buckets(),
            sum_value=cache.load_seconds.total,
        )
