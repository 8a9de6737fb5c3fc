"""Baseline and monitoring jobs (Model Monitor's data quality): what a request names, and
how a job is described. The computing is `runtime.monitoring`'s."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from modelyard.compute.instance_types import job_cpus
from modelyard.errors import InvalidRequest
from modelyard.kinds.baseline import BaselineJobDescription, BaselineJobSummary, CreateBaselineJob
from modelyard.kinds.monitoring import (
    CreateMonitoringJob,
    MonitoringJobDescription,
    MonitoringJobSummary,
)
from modelyard.schemas.training import Channel
from modelyard.services.jobs import Jobs, KindLogic, NewJob
from modelyard.services.stored import require_bucket, require_input, require_object
from modelyard.storage import join_s3_uri
from modelyard.store.models import Endpoint, EndpointConfig, Job


class BaselineLogic(KindLogic):
    def prepare(self, jobs: Jobs, request: CreateBaselineJob) -> NewJob:
        require_input(jobs.store, Channel(channel="baseline_dataset", uri=request.baseline_dataset))
        output = request.output_s3_uri or join_s3_uri(
            jobs.default_bucket, f"monitoring/baselines/{request.name}"
        )
        require_bucket(jobs.store, "output_s3_uri", output)
        return NewJob(
            name=request.name,
            spec={
                "task": "baseline",
                "baseline_dataset": request.baseline_dataset,
                "dataset_format": request.dataset_format.model_dump(
                    by_alias=True, exclude_none=True
                ),
                "output_s3_uri": output.rstrip("/"),
            },
            instance_type=request.instance_type,
            cpus=job_cpus(request.instance_type, 1, jobs.settings.cpu_slots),
            max_runtime_seconds=request.max_runtime_seconds,
            tags=request.tags,
        )

    def describe(self, job: Job) -> BaselineJobDescription:
        spec, result = job.spec, job.result or {}
        return BaselineJobDescription(
            name=job.name,
            status=job.status,
            secondary_status=job.secondary_status,
            failure_reason=job.failure_reason,
            baseline_dataset=spec["baseline_dataset"],
            dataset_format=spec["dataset_format"],
            output_s3_uri=spec["output_s3_uri"],
            statistics=result.get("statistics"),
            constraints=result.get("constraints"),
            item_count=result.get("item_count"),
            features=result.get("features", []),
            tags=job.tags,
            created_at=job.created_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
        )

    def summarize(self, job: Job) -> BaselineJobSummary:
        return BaselineJobSummary(
            name=job.name,
            status=job.status,
            baseline_dataset=job.spec["baseline_dataset"],
            item_count=(job.result or {}).get("item_count"),
            created_at=job.created_at,
            ended_at=job.ended_at,
        )


class MonitoringLogic(KindLogic):
    def prepare(self, jobs: Jobs, request: CreateMonitoringJob) -> NewJob:
        if (request.endpoint_name is None) == (request.captured_data is None):
            raise InvalidRequest(
                "give exactly one of endpoint_name (an endpoint that captures data) or "
                "captured_data (an s3:// prefix of capture files)",
                {"field": "endpoint_name"},
            )
        captured = request.captured_data or captured_prefix(jobs, request.endpoint_name or "")
        jobs.flush_capture()  # so the job reads every request captured until now
        require_bucket(jobs.store, "captured_data", captured)
        for field in ("statistics", "constraints"):
            require_object(jobs.store, field, getattr(request, field))
        start, end = request.data_window_start, request.data_window_end
        if start is not None and end is not None and start >= end:
            raise InvalidRequest(
                f"data_window_start {start.isoformat()} is not before data_window_end "
                f"{end.isoformat()}",
                {"field": "data_window_start"},
            )
        where = request.endpoint_name or "captured"
        output = request.output_s3_uri or join_s3_uri(
            jobs.default_bucket, f"monitoring/{where}/{request.name}"
        )
        require_bucket(jobs.store, "output_s3_uri", output)
        return NewJob(
            name=request.name,
            spec={
                "task": "monitor",
                "endpoint_name": request.endpoint_name,
                "monitoring_schedule_name": request.monitoring_schedule_name,
                "captured_data": captured.rstrip("/") + "/",
                "statistics": request.statistics,
                "constraints": request.constraints,
                "data_window_start": start and start.isoformat(),
                "data_window_end": end and end.isoformat(),
                "output_columns_position": request.output_columns_position,
                "output_s3_uri": output.rstrip("/"),
            },
            instance_type=request.instance_type,
            cpus=job_cpus(request.instance_type, 1, jobs.settings.cpu_slots),
            max_runtime_seconds=request.max_runtime_seconds,
            tags=request.tags,
        )

    def describe(self, job: Job) -> MonitoringJobDescription:
        spec, result = job.spec, job.result or {}
        return MonitoringJobDescription(
            name=job.name,
            status=job.status,
            secondary_status=job.secondary_status,
            monitoring_execution_status=execution_status(job),
            failure_reason=job.failure_reason,
            endpoint_name=spec.get("endpoint_name"),
            monitoring_schedule_name=spec.get("monitoring_schedule_name"),
            captured_data=spec["captured_data"],
            statistics=spec["statistics"],
            constraints=spec["constraints"],
            data_window_start=spec.get("data_window_start"),
            data_window_end=spec.get("data_window_end"),
            output_s3_uri=spec["output_s3_uri"],
            records=result.get("records"),
            rows=result.get("rows"),
            violations=result.get("violations", []),
            constraint_violations=result.get("constraint_violations"),
            current_statistics=result.get("statistics"),
            tags=job.tags,
            created_at=job.created_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
        )

    def summarize(self, job: Job) -> MonitoringJobSummary:
        result = job.result or {}
        return MonitoringJobSummary(
            name=job.name,
            status=job.status,
            monitoring_execution_status=execution_status(job),
            endpoint_name=job.spec.get("endpoint_name"),
            violations=len(result["violations"]) if "violations" in result else None,
            created_at=job.created_at,
            ended_at=job.ended_at,
        )


def execution_status(job: Job) -> Any:
    """SageMaker's MonitoringExecutionStatus, from the job's status and what it found."""
    if job.status == "InProgress":
        return "Pending" if job.secondary_status == "Pending" else "InProgress"
    if job.status == "Completed" and (job.result or {}).get("violations"):
        return "CompletedWithViolations"
    return job.status


def captured_prefix(jobs: Jobs, endpoint_name: str) -> str:
    """Where an endpoint's config writes captured data: <destination>/<endpoint>/."""
    with jobs.db.session() as session:
        endpoint = session.scalar(select(Endpoint).where(Endpoint.name == endpoint_name))
        if endpoint is None:
            raise InvalidRequest(
                f"endpoint {endpoint_name!r} does not exist", {"field": "endpoint_name"}
            )
        config = session.scalar(
            select(EndpointConfig).where(EndpointConfig.name == endpoint.endpoint_config_name)
        )
        capture = config and config.data_capture_config
        if not capture or not capture.get("enable_capture", True):
            raise InvalidRequest(
                f"endpoint {endpoint_name!r} does not capture data: deploy it with a "
                "DataCaptureConfig (data_capture_config) to monitor it",
                {"field": "endpoint_name"},
            )
        return f"{capture['destination_s3_uri'].rstrip('/')}/{endpoint_name}/"


BASELINE = BaselineLogic()
MONITORING = MonitoringLogic()
