"""Processing jobs: how a request is validated, and how a job is described.

They share the life cycle of every kind of job: queued, launched, watched, stopped and
re-attached by the job controller, stored in the jobs table with kind "processing".
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from modelyard.compute.instance_types import cpus_for
from modelyard.errors import InvalidRequest
from modelyard.names import validate_name
from modelyard.schemas.processing import (
    PROCESSING_ROOT,
    CreateProcessingJob,
    ProcessingJobDescription,
    ProcessingJobSummary,
)
from modelyard.services.jobs import Jobs, KindLogic, NewJob
from modelyard.services.stored import require_object
from modelyard.storage import parse_s3_uri
from modelyard.store.models import Job


def check_container_path(field: str, path: str) -> None:
    """A path the script sees must lie under /opt/ml/processing, as on SageMaker."""
    pure = PurePosixPath(path)
    if (
        not pure.is_relative_to(PROCESSING_ROOT)
        or ".." in pure.parts
        or pure == PurePosixPath(PROCESSING_ROOT)
    ):
        raise InvalidRequest(
            f"{field} {path!r} must be a directory under {PROCESSING_ROOT}/", {"field": field}
        )


class ProcessingLogic(KindLogic):
    def prepare(self, jobs: Jobs, request: CreateProcessingJob) -> NewJob:
        store = jobs.store
        cpus = cpus_for(request.instance_type, jobs.settings.cpu_slots)
        require_object(store, "code", request.code)
        if request.entry_point is not None:
            entry = PurePosixPath(request.entry_point)
            if entry.is_absolute() or ".." in entry.parts:
                raise InvalidRequest(
                    f"entry_point {request.entry_point!r} must be a path inside the source dir",
                    {"field": "entry_point"},
                )
        names = [i.input_name for i in request.inputs] + [o.output_name for o in request.outputs]
        for name in names:
            validate_name(name, "input or output name")
        if len(set(names)) != len(names):
            raise InvalidRequest("input and output names must be unique", {"field": "inputs"})
        for spec in request.inputs:
            check_container_path(f"input {spec.input_name}: destination", spec.destination)
            bucket, key = parse_s3_uri(spec.source)
            if (
                not store.bucket_exists(bucket)
                or not store.list_objects(bucket, prefix=key, max_keys=1).objects
            ):
                raise InvalidRequest(
                    f"input {spec.input_name}: nothing stored at {spec.source}",
                    {"field": "inputs"},
                )
        for spec in request.outputs:
            check_container_path(f"output {spec.output_name}: source", spec.source)
            bucket, _ = parse_s3_uri(spec.destination)
            if not store.bucket_exists(bucket):
                raise InvalidRequest(
                    f"output {spec.output_name}: bucket {bucket!r} does not exist",
                    {"field": "outputs"},
                )
        return NewJob(
            name=request.name,
            spec=request.model_dump(
                include={"code", "entry_point", "command", "arguments", "inputs", "outputs"}
            ),
            instance_type=request.instance_type,
            cpus=cpus,
            max_runtime_seconds=request.max_runtime_seconds,
            environment=request.environment,
            tags=request.tags,
        )

    def describe(self, job: Job) -> ProcessingJobDescription:
        return to_description(job)

    def summarize(self, job: Job) -> ProcessingJobSummary:
        return ProcessingJobSummary(
            name=job.name, status=job.status, created_at=job.created_at, ended_at=job.ended_at
        )


LOGIC = ProcessingLogic()


def to_description(job: Job) -> ProcessingJobDescription:
    spec: dict[str, Any] = job.spec
    return ProcessingJobDescription(
        name=job.name,
        status=job.status,
        failure_reason=job.failure_reason,
        instance_type=job.instance_type,
        instance_count=job.instance_count,
        max_runtime_seconds=job.max_runtime_seconds,
        environment=job.environment,
        tags=job.tags,
        created_at=job.created_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
        **spec,
    )
