"""The control plane's ASGI app: FastAPI for the REST API, a bare handler for invocations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import select

from modelyard._version import __version__
from modelyard.api import errors
from modelyard.api.invocations import InvocationsProxy
from modelyard.api.routers import (
    algorithms,
    async_invocations,
    endpoint_configs,
    endpoints,
    jobs,
    models,
    monitoring_schedules,
    objects,
    system,
)
from modelyard.control_plane import Platform
from modelyard.store.models import Endpoint

ROUTERS = (
    system,
    objects,
    models,
    endpoint_configs,
    endpoints,
    async_invocations,
    monitoring_schedules,
    algorithms,
)


def create_app(platform: Platform) -> InvocationsProxy:
    proxy: InvocationsProxy

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        platform.start()
        proxy.start()
        try:
            yield
        finally:
            await proxy.close()
            platform.stop()

    app = FastAPI(
        title="modelyard",
        version=__version__,
        description="Self-hosted machine learning: train, deploy and predict. Every /api/v1 "
        "route needs 'Authorization: Bearer <token>'. Invocations: POST "
        "/endpoints/{name}/invocations (SageMaker's runtime path).",
        lifespan=lifespan,
    )
    app.state.platform = platform
    errors.install(app)
    for router in jobs.routers():
        app.include_router(router)
    for module in ROUTERS:
        app.include_router(module.router)

    def endpoint_exists(name: str) -> bool:
        with platform.db.session() as session:
            return session.scalar(select(Endpoint.id).where(Endpoint.name == name)) is not None

    proxy = InvocationsProxy(
        app,
        platform.routes,
        platform.admin_token,
        endpoint_exists,
        timeout=platform.settings.invocation_timeout_seconds,
        on_answer=platform.metrics.invoked,
        capture=platform.capture,
    )
    proxy.fastapi = app  # type: ignore[attr-defined]
    return proxy
