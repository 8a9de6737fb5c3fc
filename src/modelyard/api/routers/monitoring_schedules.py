from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from modelyard.api.auth import platform, require_admin
from modelyard.schemas.common import Page
from modelyard.schemas.monitoring import CreateMonitoringSchedule, MonitoringScheduleDescription

router = APIRouter(
    prefix="/api/v1/monitoring-schedules",
    tags=["monitoring schedules"],
    dependencies=[Depends(require_admin)],
)


@router.post("", status_code=201)
def create_schedule(
    body: CreateMonitoringSchedule, request: Request
) -> MonitoringScheduleDescription:
    return platform(request).monitoring_schedules.create(body)


@router.get("")
def list_schedules(
    request: Request,
    name_contains: str | None = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_token: str | None = None,
) -> Page[MonitoringScheduleDescription]:
    return platform(request).monitoring_schedules.list(name_contains, max_results, next_token)


@router.get("/{name}")
def describe_schedule(name: str, request: Request) -> MonitoringScheduleDescription:
    return platform(request).monitoring_schedules.describe(name)


@router.get("/{name}/executions")
def list_executions(
    name: str,
    request: Request,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_token: str | None = None,
) -> Page[Any]:
    """The schedule's monitoring jobs."""
    return platform(request).monitoring_schedules.executions(name, max_results, next_token)


@router.post("/{name}/stop")
def stop_schedule(name: str, request: Request) -> MonitoringScheduleDescription:
    return platform(request).monitoring_schedules.stop(name)


@router.post("/{name}/start")
def start_schedule(name: str, request: Request) -> MonitoringScheduleDescription:
    return platform(request).monitoring_schedules.start(name)


@router.delete("/{name}", status_code=204)
def delete_schedule(name: str, request: Request) -> Response:
    platform(request).monitoring_schedules.delete(name)
    return Response(status_code=204)
