"""Which model-server instances answer for each endpoint, and which one takes the next request.

The reconciler replaces an endpoint's variants and instances as a whole; the invocation path
only reads them, so it takes no lock. An instance keeps its object (and so its count of
requests in flight and its health) across replacements while its address is unchanged.

A request goes to a variant drawn by weight (or the one it names), then to the variant's
healthy instance with the fewest requests in flight; ties rotate, so sequential traffic still
reaches every instance. During an update an endpoint has two fleets, the old config's and the
new one's, whose variants may share names: each is its own entry, weighted by the share of
traffic its fleet gets. An instance dropped from the table is remembered while it still has
requests in flight, so the reconciler can wait for them before it stops the process.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from modelyard.controllers.shadows import ShadowStats
from modelyard.controllers.traffic import TrafficWindow, summarize

Address = tuple[str, int]
AFFINITY_SLACK = 4  # requests in flight a model's own instance may have beyond the least busy


class Instance:
    __slots__ = ("address", "variant", "outstanding", "healthy", "traffic", "pool")

    def __init__(self, address: Address, variant: str) -> None:
        self.address = address
        self.variant = variant
        self.outstanding = 0  # requests sent and not yet answered
        self.healthy = True  # False once a health check or a connection says it is not
        self.traffic = TrafficWindow()
        self.pool: _Variant | None = None  # the variant entry it is in now


@dataclass(frozen=True)
class VariantRoute:
    """What the reconciler says of one variant: its weight and its ready instances."""

    name: str
    weight: float
    addresses: list[Address]
    fleet: str = ""  # the config it serves: during an update, two fleets share variant names
    max_concurrency: int | None = None  # a serverless variant's cap on requests in flight
    shadow: float = 0.0  # a shadow variant: the percentage of requests it gets a copy of


@dataclass
class _Variant:
    name: str
    fleet: str
    weight: float
    instances: list[Instance]
    turn: int = 0  # where the next tie-break starts
    max_concurrency: int | None = None
    shadow: float = 0.0

    def in_flight(self) -> int:
        return sum(i.outstanding for i in self.instances)

    def least_loaded(
        self, exclude: Iterable[Instance] = (), key: str | None = None
    ) -> Instance | None:
        count = len(self.instances)
        if count == 0:
            return None
        if key is not None and count > 1:
            return self._with_affinity(exclude, key)
        self.turn = start = (self.turn + 1) % count
        best: Instance | None = None
        for offset in range(count):
            instance = self.instances[(start + offset) % count]
            if not instance.healthy or instance in exclude:
                continue
            if best is None or instance.outstanding < best.outstanding:
                best = instance
                if best.outstanding == 0:
                    break
        return best

    def _with_affinity(self, exclude: Iterable[Instance], key: str) -> Instance | None:
        """The instance a multi-model request's model hashes to (rendezvous hashing: the
        same instance for the same model while the instances stay, so models are loaded
        once), unless it is AFFINITY_SLACK requests busier than the least busy one."""
        least = self.least_loaded(exclude)
        if least is None:
            return None
        encoded = key.encode()
        preferred = max(
            (i for i in self.instances if i.healthy and i not in exclude),
            key=lambda i: zlib.crc32(encoded + b"@%d" % i.address[1] + i.address[0].encode()),
        )
        if preferred.outstanding <= least.outstanding + AFFINITY_SLACK:
            return preferred
        return least


@dataclass
class _Endpoint:
    variants: list[_Variant] = field(default_factory=list)
    shadows: list[_Variant] = field(default_factory=list)

    def named(self, name: str) -> list[_Variant]:
        return [v for v in self.variants if v.name == name and not v.shadow]


def _draw(
    variants: list[_Variant], exclude: Iterable[Instance], key: str | None = None
) -> Instance | None:
    """An instance of a variant drawn by weight; a variant with nothing healthy left passes
    its share to the others."""
    if len(variants) == 1:
        (only,) = variants
        return only.least_loaded(exclude, key) if only.weight > 0 else None
    candidates = [v for v in variants if v.weight > 0]
    while candidates:
        draw = random.random() * sum(v.weight for v in candidates)
        chosen = candidates[-1]
        for variant in candidates:
            draw -= variant.weight
            if draw < 0:
                chosen = variant
                break
        instance = chosen.least_loaded(exclude, key)
        if instance is not None:
            return instance
        candidates.remove(chosen)
    return None


class RoutingTable:
    def __init__(self, max_outstanding: int = 128) -> None:
        # Requests one instance may have in flight before its variant counts as full (429).
        self.max_outstanding = max_outstanding
        self._routes: dict[str, _Endpoint] = {}
        self._known: frozenset[str] = frozenset()
        self._warming: frozenset[str] = frozenset()
        self._retired: dict[Address, Instance] = {}  # out of the table, requests in flight
        self._demanded: set[str] = set()
        self._capture: dict[str, dict[str, Any]] = {}
        self.shadow_stats: dict[tuple[str, str], ShadowStats] = {}
        self.on_demand: Callable[[], None] = lambda: None  # the reconciler's wake

    def replace(
        self,
        ready: dict[str, list[VariantRoute]],
        known: set[str],
        warming: set[str] | None = None,
        capture: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        previous = {i.address: i for i in self.all_instances()}
        previous.update(self._retired)
        routes: dict[str, _Endpoint] = {}
        for name, variants in ready.items():
            endpoint = _Endpoint()
            old = self._routes.get(name)
            turns = {(v.fleet, v.name): v.turn for v in old.variants} if old else {}
            for route in variants:
                instances = []
                for address in route.addresses:
                    instance = previous.pop(address, None)
                    if instance is None or instance.variant != route.name:
                        instance = Instance(address, route.name)
                    instances.append(instance)
                pool = _Variant(
                    route.name,
                    route.fleet,
                    route.weight,
                    instances,
                    turns.get((route.fleet, route.name), 0),
                    route.max_concurrency,
                    route.shadow,
                )
                for instance in instances:
                    instance.pool = pool
                endpoint.variants.append(pool)
            endpoint.shadows = [v for v in endpoint.variants if v.shadow]
            routes[name] = endpoint
        self._retired = {a: i for a, i in previous.items() if i.outstanding > 0}
        self._routes = routes
        self._known = frozenset(known)
        self._warming = frozenset(warming or ())
        self._capture = capture or {}

    def shadows(self, endpoint: str) -> list[_Variant]:
        """The shadow variants that get copies of the endpoint's requests."""
        entry = self._routes.get(endpoint)
        return entry.shadows if entry else []

    def comparisons(self, endpoint: str) -> dict[str, dict[str, Any]]:
        """Each shadow variant's answers against production's, since the server started."""
        return {
            variant: stats.summary()
            for (name, variant), stats in list(self.shadow_stats.items())
            if name == endpoint
        }

    def capture(self, endpoint: str) -> dict[str, Any] | None:
        """The endpoint's DataCaptureConfig, if it captures."""
        return self._capture.get(endpoint)

    def pick(
        self,
        endpoint: str,
        variant: str | None = None,
        exclude: Iterable[Instance] = (),
        model: str | None = None,
    ) -> Instance | None:
        """The instance to send the next request to; None when none is ready and healthy.

        `variant` names the one to use (SageMaker's TargetVariant); otherwise a variant is
        drawn by weight among those with a healthy instance left. `model` is a multi-model
        request's TargetModel, which keeps to the instances that have it loaded.
        """
        entry = self._routes.get(endpoint)
        if entry is None:
            return None
        if variant is not None:
            named = entry.named(variant)
            if len(named) > 1:  # the same variant in the old and the new fleet
                return _draw(named, exclude, model) or _draw(
                    [_Variant(v.name, v.fleet, 1.0, v.instances) for v in named], exclude, model
                )
            return named[0].least_loaded(exclude, model) if named else None
        return _draw(entry.variants, exclude, model)

    def endpoints(self) -> list[str]:
        return list(self._routes)

    def variants(self, endpoint: str) -> list[str]:
        entry = self._routes.get(endpoint)
        return list(dict.fromkeys(v.name for v in entry.variants if not v.shadow)) if entry else []

    def instances(self, endpoint: str) -> list[Instance]:
        entry = self._routes.get(endpoint)
        return [i for v in entry.variants for i in v.instances] if entry else []

    def all_instances(self) -> list[Instance]:
        return [i for name in self._routes for i in self.instances(name)]

    def in_flight(self, address: Address) -> int:
        """Requests an instance (in the table or just dropped from it) has not answered."""
        found = self._retired.get(address) or self.instance(address)
        return found.outstanding if found else 0

    def instance(self, address: Address) -> Instance | None:
        for instance in self.all_instances():
            if instance.address == address:
                return instance
        return None

    def live(self, endpoint: str, seconds: float = 60.0) -> dict[str, dict[str, float | int]]:
        """Each variant's traffic over the last `seconds` (both fleets', during an update)."""
        since = time.monotonic() - seconds
        buckets: dict[str, list] = {}
        for instance in self.instances(endpoint):
            buckets.setdefault(instance.variant, []).extend(instance.traffic.since(since))
        return {variant: summarize(found, seconds) for variant, found in buckets.items()}

    def load(self, endpoint: str, variant: str, recent: float) -> tuple[int, int, int]:
        """A variant's requests in flight, invocations in the last minute, and invocations in
        the last `recent` seconds: what its autoscaling reads."""
        now = time.monotonic()
        instances = [i for i in self.instances(endpoint) if i.variant == variant]
        minute = [b for i in instances for b in i.traffic.since(now - 60)]
        last = int(now - recent)
        return (
            sum(i.outstanding for i in instances),
            sum(b.count for b in minute),
            sum(b.count for b in minute if b.second >= last),
        )

    def knows(self, endpoint: str) -> bool:
        return endpoint in self._known

    def warming(self, endpoint: str) -> bool:
        """InService, but its instances are (re)starting: requests wait instead of failing."""
        return endpoint in self._warming

    def full(self, instance: Instance) -> bool:
        """Taking one more request would exceed the instance's or its variant's limit."""
        if instance.outstanding >= self.max_outstanding:
            return True
        pool = instance.pool
        return bool(pool and pool.max_concurrency and pool.in_flight() >= pool.max_concurrency)

    # -- demand for endpoints with no instance ---------------------------------------------
    def demand(self, endpoint: str) -> None:
        """A request waits for an endpoint that has no instance ready (scaled to zero)."""
        if endpoint not in self._demanded:
            self._demanded.add(endpoint)
            self.on_demand()

    def take_demands(self) -> set[str]:
        demanded, self._demanded = self._demanded, set()
        return demanded
