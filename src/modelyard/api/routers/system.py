from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from modelyard._version import __version__
from modelyard.api.auth import platform, require_admin
from modelyard.api.instances import ask_instances

router = APIRouter(tags=["system"])


@router.get("/ping")
def ping() -> dict[str, str]:
    """Liveness, without a token: how the SDK and CLI find out whether a server runs."""
    return {"status": "ok", "service": "modelyard", "version": __version__}


@router.get("/api/v1/info", dependencies=[Depends(require_admin)])
def info(request: Request) -> dict[str, Any]:
    p = platform(request)
    return {
        "version": __version__,
        "url": p.control_url,
        "home": str(p.settings.resolved_home),
        "database": p.db.engine.url.render_as_string(hide_password=True),
        "storage": p.storage_url if "@" not in p.storage_url else "(hidden)",
        "default_bucket": p.default_bucket,
        "cpu_slots": p.settings.cpu_slots,
        "compute": p.settings.compute,
    }


@router.get("/metrics", dependencies=[Depends(require_admin)])
async def metrics(request: Request) -> Response:
    """Prometheus' text format: invocations, latencies, instances, setup times, jobs, and
    every model server's own metrics."""
    p = platform(request)
    answers = await ask_instances(p.routes, "/metrics")
    text = await asyncio.to_thread(p.metrics.render, answers)  # it reads the database
    return Response(text, media_type=CONTENT_TYPE_LATEST)
