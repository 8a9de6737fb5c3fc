"""Which model-server instances answer for each endpoint, and which one takes the next request.

The reconciler replaces an endpoint's variants and instances as a whole; the invocation path
only reads them, so it takes no lock. An instance keeps its object (and so its count of
requests in flight and its health) across replacements while its address is unchanged.

A request goes to a variant drawn by weight (or the one it names), then to the variant's
healthy instance with the fewest requests in flight; ties rotate, so sequential traffic still
reaches every instance.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

Address = tuple[str, int]


class Instance:
    __slots__ = ("address", "variant", "outstanding", "healthy", "served")

    def __init__(self, address: Address, variant: str) -> None:
        self.address = address
        self.variant = variant
        self.outstanding = 0  # requests sent and not yet answered
        self.healthy = True  # False once a health check or a connection says it is not
        self.served = 0


@dataclass(frozen=True)
class VariantRoute:
    """What the reconciler says of one variant: its weight and its ready instances."""

    name: str
    weight: float
    addresses: list[Address]


@dataclass
class _Variant:
    name: str
    weight: float
    instances: list[Instance]
    turn: int = 0  # where the next tie-break starts

    def least_loaded(self, exclude: Iterable[Instance] = ()) -> Instance | None:
        count = len(self.instances)
        if count == 0:
            return None
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


@dataclass
class _Endpoint:
    variants: dict[str, _Variant] = field(default_factory=dict)


class RoutingTable:
    def __init__(self, max_outstanding: int = 128) -> None:
        # Requests one instance may have in flight before its variant counts as full (429).
        self.max_outstanding = max_outstanding
        self._routes: dict[str, _Endpoint] = {}
        self._known: frozenset[str] = frozenset()
        self._warming: frozenset[str] = frozenset()

    def replace(
        self,
        ready: dict[str, list[VariantRoute]],
        known: set[str],
        warming: set[str] | None = None,
    ) -> None:
        previous = {
            instance.address: instance
            for endpoint in self._routes.values()
            for variant in endpoint.variants.values()
            for instance in variant.instances
        }
        routes: dict[str, _Endpoint] = {}
        for name, variants in ready.items():
            endpoint = _Endpoint()
            old = self._routes.get(name)
            for route in variants:
                instances = []
                for address in route.addresses:
                    instance = previous.get(address)
                    if instance is None or instance.variant != route.name:
                        instance = Instance(address, route.name)
                    instances.append(instance)
                turn = old.variants[route.name].turn if old and route.name in old.variants else 0
                endpoint.variants[route.name] = _Variant(route.name, route.weight, instances, turn)
            routes[name] = endpoint
        self._routes = routes
        self._known = frozenset(known)
        self._warming = frozenset(warming or ())

    def pick(
        self, endpoint: str, variant: str | None = None, exclude: Iterable[Instance] = ()
    ) -> Instance | None:
        """The instance to send the next request to; None when none is ready and healthy.

        `variant` names the one to use (SageMaker's TargetVariant); otherwise a variant is
        drawn by weight among those with a healthy instance left.
        """
        entry = self._routes.get(endpoint)
        if entry is None:
            return None
        if variant is not None:
            chosen = entry.variants.get(variant)
            return chosen.least_loaded(exclude) if chosen else None
        variants = entry.variants
        if len(variants) == 1:
            (only,) = variants.values()
            return only.least_loaded(exclude) if only.weight > 0 else None
        candidates = [v for v in variants.values() if v.weight > 0]
        while candidates:
            total = sum(v.weight for v in candidates)
            draw = random.random() * total
            for chosen in candidates:
                draw -= chosen.weight
                if draw < 0:
                    break
            instance = chosen.least_loaded(exclude)
            if instance is not None:
                return instance
            candidates.remove(chosen)  # nothing healthy there: the others take its share
        return None

    def variants(self, endpoint: str) -> list[str]:
        entry = self._routes.get(endpoint)
        return list(entry.variants) if entry else []

    def instances(self, endpoint: str) -> list[Instance]:
        entry = self._routes.get(endpoint)
        if entry is None:
            return []
        return [i for v in entry.variants.values() for i in v.instances]

    def all_instances(self) -> list[Instance]:
        return [i for name in self._routes for i in self.instances(name)]

    def knows(self, endpoint: str) -> bool:
        return endpoint in self._known

    def warming(self, endpoint: str) -> bool:
        """InService, but its instances are (re)starting: requests wait instead of failing."""
        return endpoint in self._warming

    def full(self, instance: Instance) -> bool:
        return instance.outstanding >= self.max_outstanding
