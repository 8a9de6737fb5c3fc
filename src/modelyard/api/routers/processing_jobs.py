from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from modelyard.api.auth import platform, require_admin
from modelyard.schemas.common import Page
from modelyard.schemas.processing import (
    CreateProcessingJob,
    LogChunk,
    ProcessingJobDescription,
    ProcessingJobSummary,
)

router = APIRouter(
    prefix="/api/v1/processing-jobs",
    tags=["processing jobs"],
    dependencies=[Depends(require_admin)],
)


@router.post("", status_code=201)
def create_processing_job(body: CreateProcessingJob, request: Request) -> ProcessingJobDescription:
    return platform(request).processing_jobs.create(body)


@router.get("")
def list_processing_jobs(
    request: Request,
    status: str | None = None,
    name_contains: str | None = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_token: str | None = None,
) -> Page[ProcessingJobSummary]:
    return platform(request).processing_jobs.list(status, name_contains, max_results, next_token)


@router.get("/{name}")
def describe_processing_job(name: str, request: Request) -> ProcessingJobDescription:
    return platform(request).processing_jobs.describe(name)


@router.post("/{name}/stop")
def stop_processing_job(name: str, request: Request) -> ProcessingJobDescription:
    return platform(request).processing_jobs.stop(name)  # type: ignore[return-value]


@router.get("/{name}/logs")
def processing_job_logs(
    name: str, request: Request, offset: Annotated[int, Query(ge=0)] = 0
) -> LogChunk:
    return platform(request).processing_jobs.logs(name, offset)
