"""The REST routes of every kind of job, made from its declaration (`modelyard.kinds`):
create, list, describe, stop and logs at /api/v1/<collection>, plus metrics where the kind
reports them. Training jobs also take their processes' reports, for every kind of job.

No `from __future__ import annotations` here: FastAPI reads the request and response models
from the annotations of functions made inside `kind_router`, so they must be real classes.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from modelyard.api.auth import bearer_token, platform, require_admin
from modelyard.kinds import JobKind, job_kinds
from modelyard.schemas.common import Page
from modelyard.schemas.training import JobReport, LogChunk, MetricPointOut


def kind_router(kind: JobKind) -> APIRouter:
    router = APIRouter(prefix=f"/api/v1/{kind.collection}", tags=[kind.nouns])
    admin = [Depends(require_admin)]
    create_model: Any = kind.create
    description_model: Any = kind.description
    summary_model: Any = kind.summary
    key = kind.name.replace("-", "_")

    def create(body: create_model, request: Request) -> description_model:  # type: ignore[valid-type]
        return platform(request).jobs.create(kind.name, body)

    def list_jobs(
        request: Request,
        status: str | None = None,
        name_contains: str | None = None,
        max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
        next_token: str | None = None,
    ) -> Page[summary_model]:  # type: ignore[valid-type]
        return platform(request).jobs.list(  # type: ignore[no-any-return]
            kind.name, status, name_contains, max_results, next_token
        )

    def describe(name: str, request: Request) -> description_model:  # type: ignore[valid-type]
        return platform(request).jobs.describe(kind.name, name)

    def stop(name: str, request: Request) -> description_model:  # type: ignore[valid-type]
        return platform(request).jobs.stop(kind.name, name)

    def logs(name: str, request: Request, offset: Annotated[int, Query(ge=0)] = 0) -> LogChunk:
        return platform(request).jobs.logs(kind.name, name, offset)

    router.add_api_route(
        "", create, methods=["POST"], status_code=201, dependencies=admin,
        name=f"create_{key}_job", summary=f"Create a {kind.noun}",
    )  # fmt: skip
    router.add_api_route(
        "", list_jobs, methods=["GET"], dependencies=admin, name=f"list_{key}_jobs",
        summary=f"List {kind.nouns}, newest first",
    )  # fmt: skip
    router.add_api_route(
        "/{name}", describe, methods=["GET"], dependencies=admin, name=f"describe_{key}_job",
        summary=f"Describe a {kind.noun}",
    )  # fmt: skip
    router.add_api_route(
        "/{name}/stop", stop, methods=["POST"], dependencies=admin, name=f"stop_{key}_job",
        summary=f"Stop a {kind.noun}",
    )  # fmt: skip
    if kind.runtime is not None:
        router.add_api_route(
            "/{name}/logs", logs, methods=["GET"], dependencies=admin,
            name=f"{key}_job_logs", summary=f"Read a {kind.noun}'s log",
        )  # fmt: skip
    if kind.has_metrics:

        def metrics(
            name: str, request: Request, metric_name: str | None = None
        ) -> list[MetricPointOut]:
            return platform(request).jobs.metrics(kind.name, name, metric_name)

        router.add_api_route(
            "/{name}/metrics", metrics, methods=["GET"], dependencies=admin,
            name=f"{key}_job_metrics", summary=f"A {kind.noun}'s metric time series",
        )  # fmt: skip
    if kind.children is not None:
        child_model: Any = kind.child_summary or dict[str, Any]

        def children(
            name: str,
            request: Request,
            sort_by: str = "CreationTime",
            sort_order: str = "Descending",
            status_equals: str | None = None,
        ) -> list[child_model]:  # type: ignore[valid-type]
            return platform(request).jobs.children(
                kind.name, name, sort_by=sort_by, sort_order=sort_order, status=status_equals
            )

        router.add_api_route(
            f"/{{name}}/{kind.children}", children, methods=["GET"], dependencies=admin,
            name=f"{key}_job_children", summary=f"The jobs a {kind.noun} started",
        )  # fmt: skip
    if kind.update is not None:
        update_model: Any = kind.update

        def update(name: str, body: update_model, request: Request) -> description_model:  # type: ignore[valid-type]
            return platform(request).jobs.update(kind.name, name, body)

        router.add_api_route(
            "/{name}", update, methods=["PATCH"], dependencies=admin, name=f"update_{key}_job",
            summary=f"Change a running {kind.noun}",
        )  # fmt: skip
    return router


def require_job_token(name: str, request: Request) -> None:
    platform(request).jobs.authorize_job(name, bearer_token(request))


reports = APIRouter(prefix="/api/v1/training-jobs", tags=["training jobs"])


@reports.post("/{name}/report", status_code=204, dependencies=[Depends(require_job_token)])
def report_from_job(name: str, body: JobReport, request: Request) -> None:
    """Called by a job's own process (of any kind) with its job token, not the admin token."""
    platform(request).jobs.report(name, body)


def routers() -> list[APIRouter]:
    return [kind_router(kind) for kind in job_kinds().values()] + [reports]
