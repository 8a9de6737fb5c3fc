"""Which model-server instances answer for each endpoint, read on every invocation.

The reconciler replaces the whole table at once; readers only ever see a complete table, so
the hot path takes no lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

Address = tuple[str, int]


class RoutingTable:
    def __init__(self) -> None:
        self._routes: dict[str, tuple[list[Address], Iterator[int]]] = {}
        self._known: frozenset[str] = frozenset()
        self._warming: frozenset[str] = frozenset()

    def replace(
        self, ready: dict[str, list[Address]], known: set[str], warming: set[str] | None = None
    ) -> None:
        current = self._routes
        routes = {}
        for name, urls in ready.items():
            old = current.get(name)
            # Keep the round-robin position when nothing changed, so balance is even.
            routes[name] = old if old and old[0] == urls else (urls, itertools.count())
        self._routes = routes
        self._known = frozenset(known)
        self._warming = frozenset(warming or ())

    def pick(self, endpoint: str) -> Address | None:
        """An instance (host, port), round robin; None when the endpoint has none ready."""
        entry = self._routes.get(endpoint)
        if entry is None:
            return None
        urls, counter = entry
        return urls[next(counter) % len(urls)]

    def instances(self, endpoint: str) -> list[Address]:
        entry = self._routes.get(endpoint)
        return list(entry[0]) if entry else []

    def knows(self, endpoint: str) -> bool:
        return endpoint in self._known

    def warming(self, endpoint: str) -> bool:
        """InService, but its instances are (re)starting: requests wait instead of failing."""
        return endpoint in self._warming
