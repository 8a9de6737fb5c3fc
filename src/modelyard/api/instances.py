"""Asking every model-server instance of the routing table the same question at once: their
/metrics (relabelled into the control plane's own /metrics) and a multi-model instance's
/models. An instance that does not answer within the timeout is left out, never waited for."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from modelyard.controllers.routing import RoutingTable

TIMEOUT = 2.0


@dataclass(frozen=True)
class Answer:
    endpoint: str
    variant: str
    instance: str  # host:port
    body: bytes


async def ask_instances(
    routes: RoutingTable, path: str, endpoint: str | None = None
) -> list[Answer]:
    """Each instance's 200 answer to GET path (of one endpoint, or of all)."""
    names = [endpoint] if endpoint is not None else routes.endpoints()
    targets = [(name, i) for name in names for i in routes.instances(name) if i.healthy]
    if not targets:
        return []
    # Plain HTTP to the instances: no TLS context to build (it costs ~40 ms of CPU a client).
    async with httpx.AsyncClient(timeout=TIMEOUT, verify=False) as client:

        async def ask(name: str, host: str, port: int, variant: str) -> Answer | None:
            try:
                response = await client.get(f"http://{host}:{port}{path}")
            except httpx.HTTPError:
                return None
            if response.status_code != 200:
                return None
            return Answer(name, variant, f"{host}:{port}", response.content)

        answers = await asyncio.gather(*(ask(name, *i.address, i.variant) for name, i in targets))
    return [a for a in answers if a is not None]
