"""GET /metrics: the server's counters and gauges in Prometheus' text format (prometheus-client).

Counted as they happen: every invocation by endpoint, variant and status code, its latency
through the proxy, and each model server's setup time (started → answering /ping: SageMaker's
ModelSetupTime). Read when scraped: instances by endpoint, variant and status, requests in
flight, and jobs by kind and status (with how many wait for CPU slots). Then every model
server's own /metrics (`modelyard_model_server_*`: its requests, latency and, on a multi-model
endpoint, its model cache), with endpoint, variant and instance labels added, so one scrape
target shows the whole tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from modelyard.services.inventory import instance_counts, job_counts

if TYPE_CHECKING:
    from modelyard.api.instances import Answer
    from modelyard.control_plane import Platform

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    60,
)
SETUP_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)


class _State:
    """The gauges, read from the database and the routing table at each scrape."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def collect(self) -> Iterator[Metric]:
        instances = GaugeMetricFamily(
            "modelyard_endpoint_instances",
            "Model-server instances by endpoint, variant and status.",
            labels=["endpoint", "variant", "status"],
        )
        jobs = GaugeMetricFamily(
            "modelyard_jobs", "Jobs by kind and status.", labels=["kind", "status"]
        )
        queued = GaugeMetricFamily(
            "modelyard_jobs_queued", "Jobs waiting for CPU slots, by kind.", labels=["kind"]
        )
        for endpoint, variant, status, count in instance_counts(self.platform.db):
            instances.add_metric([endpoint, variant, status], count)
        by_status: dict[tuple[str, str], int] = {}
        waiting: dict[str, int] = {}
        for kind, status, secondary, count in job_counts(self.platform.db):
            by_status[(kind, status)] = by_status.get((kind, status), 0) + count
            if status == "InProgress" and secondary == "Pending":
                waiting[kind] = waiting.get(kind, 0) + count
        for (kind, status), count in by_status.items():
            jobs.add_metric([kind, status], count)
        for kind, count in waiting.items():
            queued.add_metric([kind], count)
        in_flight = GaugeMetricFamily(
            "modelyard_invocations_in_flight",
            "Requests sent to an endpoint's instances and not yet answered.",
            labels=["endpoint"],
        )
        backlog = GaugeMetricFamily(
            "modelyard_async_backlog",
            "Asynchronous requests queued or in progress, by endpoint.",
            labels=["endpoint"],
        )
        for name, count in self.platform.async_invocations.backlog().items():
            backlog.add_metric([name], count)
        routes = self.platform.routes
        for name in routes.endpoints():
            in_flight.add_metric([name], sum(i.outstanding for i in routes.instances(name)))
        yield from (instances, jobs, queued, in_flight, backlog)


class Metrics:
    def __init__(self, platform: Platform) -> None:
        self.registry = CollectorRegistry()
        self._invocations = Counter(
            "modelyard_invocations",
            "Invocations by endpoint, variant (empty: refused before one was chosen) and code.",
            ["endpoint", "variant", "code"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "modelyard_invocation_latency_seconds",
            "Time from a request's arrival at the proxy to its answer.",
            ["endpoint", "variant"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._setup = Histogram(
            "modelyard_model_setup_seconds",
            "From starting a model server to its first answer to /ping (ModelSetupTime).",
            ["endpoint", "variant"],
            buckets=SETUP_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_State(platform))
        # Label lookups cost more than the increments: keep each series' children.
        self._children: dict[tuple[str, str, int], tuple[object, object]] = {}

    def invoked(self, endpoint: str, variant: str, status: int, seconds: float) -> None:
        key = (endpoint, variant, status)
        children = self._children.get(key)
        if children is None:
            if len(self._children) > 10000:  # unknown names invented by callers: stay bounded
                self._children.clear()
            children = self._children[key] = (
                self._invocations.labels(endpoint, variant, str(status)),
                self._latency.labels(endpoint, variant),
            )
        counter, histogram = children
        counter.inc()  # type: ignore[attr-defined]
        histogram.observe(seconds)  # type: ignore[attr-defined]

    def model_setup(self, endpoint: str, variant: str, seconds: float) -> None:
        self._setup.labels(endpoint, variant).observe(seconds)

    def render(self, instances: list[Answer] = ()) -> bytes:  # type: ignore[assignment]
        """The control plane's metrics, then the model servers' answers to /metrics."""
        text = generate_latest(self.registry)
        if instances:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Instances(instances))
            text += generate_latest(registry)
        return text


class _Instances:
    """Model servers' metrics, merged by name, each sample labelled with where it came from."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for answer in self.answers:
            where = {
                "endpoint": answer.endpoint,
                "variant": answer.variant,
                "instance": answer.instance,
            }
            try:
                families = list(text_string_to_metric_families(answer.body.decode()))
            except (ValueError, UnicodeDecodeError):
                continue  # not a model server of ours: nothing to show
            for family in families:
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                into.samples.extend(
                    Sample(s.name, {**s.labels, **where}, s.value, s.timestamp, s.exemplar)
                    for s in family.samples
                )
        yield from merged.values()
