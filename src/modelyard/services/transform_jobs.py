"""Batch transform jobs: validate a request against the model and the store; describe a job
with its live progress (the counters its process reports as metrics)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.compute.instance_types import job_cpus
from modelyard.errors import InvalidRequest
from modelyard.kinds.transform import (
    CreateTransformJob,
    TransformJobDescription,
    TransformJobSummary,
    TransformProgress,
)
from modelyard.schemas.training import Channel
from modelyard.services.jobs import Jobs, KindLogic, NewJob, latest_metrics
from modelyard.services.stored import require_bucket, require_input
from modelyard.store.models import Job, Model
from modelyard.transform_records import check_filter

PROGRESS = ("objects", "objects_done", "records_done", "bytes_done", "records_failed")


class TransformLogic(KindLogic):
    def prepare(self, jobs: Jobs, request: CreateTransformJob) -> NewJob:
        with jobs.db.session() as session:
            model = session.scalar(select(Model).where(Model.name == request.model_name))
            if model is None:
                raise InvalidRequest(
                    f"model {request.model_name!r} does not exist; create it first "
                    "(POST /api/v1/models, or Model(...).transformer() in the SDK)",
                    {"field": "model_name"},
                )
            if model.mode == "MultiModel":
                raise InvalidRequest(
                    f"model {model.name!r} is multi-model (its requests each name a model); a "
                    "transform job serves one: create a model for the model.tar.gz to use",
                    {"field": "model_name"},
                )
            served = {
                "model_data": model.model_data,
                "algorithm": model.algorithm,
                "framework": model.framework,
                "entry_point": model.entry_point,
                "source_dir": model.source_dir,
                "environment": model.environment,
            }
        source = request.transform_input
        require_input(
            jobs.store,
            Channel(channel="input", uri=source.s3_uri, content_type=source.content_type),
        )
        output = request.transform_output.s3_output_path
        require_bucket(jobs.store, "transform_output.s3_output_path", output)
        if request.dead_letter_s3_path is not None:
            require_bucket(jobs.store, "dead_letter_s3_path", request.dead_letter_s3_path)
        processing = request.data_processing
        check_filter(processing.input_filter, "data_processing.input_filter")
        check_filter(processing.output_filter, "data_processing.output_filter")
        if source.split_type == "None" and (
            processing.join_source == "Input" or processing.input_filter != "$"
        ):
            raise InvalidRequest(
                "join_source Input and input_filter work on records: give "
                "transform_input.split_type Line",
                {"field": "transform_input.split_type"},
            )
        resources = request.transform_resources
        slots = jobs.settings.cpu_slots
        return NewJob(
            name=request.name,
            spec={**request.model_dump(exclude={"name", "tags", "environment"}), "model": served},
            instance_type=resources.instance_type,
            instance_count=resources.instance_count,
            cpus=job_cpus(resources.instance_type, resources.instance_count, slots),
            max_runtime_seconds=request.max_runtime_seconds,
            environment=request.environment,
            tags=request.tags,
        )

    def describe(self, job: Job) -> TransformJobDescription:
        fields = TransformJobDescription.model_fields
        return TransformJobDescription(
            name=job.name,
            **{k: v for k, v in job.spec.items() if k in fields},
            environment=job.environment,
            tags=job.tags,
            status=job.status,
            secondary_status=job.secondary_status,
            failure_reason=job.failure_reason,
            progress=progress_of(job),
            outputs=(job.result or {}).get("outputs", []),
            created_at=job.created_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
        )

    def summarize(self, job: Job) -> TransformJobSummary:
        return TransformJobSummary(
            name=job.name,
            status=job.status,
            model_name=job.spec["model_name"],
            records_done=((job.result or {}).get("progress") or {}).get("records_done", 0),
            created_at=job.created_at,
            ended_at=job.ended_at,
        )


def progress_of(job: Job) -> TransformProgress:
    """The counters: from the result once the job ended, else its latest reported metrics."""
    ended = (job.result or {}).get("progress")
    if ended:
        return TransformProgress(**ended)
    session = Session.object_session(job)
    latest: dict[str, Any] = {}
    if session is not None:
        for point in latest_metrics(session, job):
            name = point.name.removeprefix("transform:")
            if name in PROGRESS:
                latest[name] = int(point.value)
    return TransformProgress(**latest)


LOGIC = TransformLogic()
