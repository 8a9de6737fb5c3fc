from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from modelyard.api.auth import bearer_token, platform, require_admin
from modelyard.schemas.common import Page
from modelyard.schemas.training import (
    CreateTrainingJob,
    JobReport,
    LogChunk,
    MetricPointOut,
    TrainingJobDescription,
    TrainingJobSummary,
)

router = APIRouter(prefix="/api/v1/training-jobs", tags=["training jobs"])
admin = [Depends(require_admin)]


@router.post("", status_code=201, dependencies=admin)
def create_training_job(body: CreateTrainingJob, request: Request) -> TrainingJobDescription:
    return platform(request).training_jobs.create(body)


@router.get("", dependencies=admin)
def list_training_jobs(
    request: Request,
    status: str | None = None,
    name_contains: str | None = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_token: str | None = None,
) -> Page[TrainingJobSummary]:
    return platform(request).training_jobs.list(status, name_contains, max_results, next_token)


@router.get("/{name}", dependencies=admin)
def describe_training_job(name: str, request: Request) -> TrainingJobDescription:
    return platform(request).training_jobs.describe(name)


@router.post("/{name}/stop", dependencies=admin)
def stop_training_job(name: str, request: Request) -> TrainingJobDescription:
    return platform(request).training_jobs.stop(name)


@router.get("/{name}/logs", dependencies=admin)
def training_job_logs(
    name: str, request: Request, offset: Annotated[int, Query(ge=0)] = 0
) -> LogChunk:
    return platform(request).training_jobs.logs(name, offset)


@router.get("/{name}/metrics", dependencies=admin)
def training_job_metrics(
    name: str, request: Request, metric_name: str | None = None
) -> list[MetricPointOut]:
    return platform(request).training_jobs.metrics(name, metric_name)


def require_job_token(name: str, request: Request) -> None:
    platform(request).training_jobs.authorize_job(name, bearer_token(request))


@router.post("/{name}/report", status_code=204, dependencies=[Depends(require_job_token)])
def report_from_job(name: str, body: JobReport, request: Request) -> None:
    """Called by the job's own process with its job token (not the admin token)."""
    platform(request).training_jobs.report(name, body)
