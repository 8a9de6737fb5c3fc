"""Training jobs: how a request is validated, and how a job is described."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy.orm import Session

from modelyard.algorithms.registry import get_algorithm
from modelyard.compute.instance_types import job_cpus
from modelyard.errors import InvalidRequest, NotFound
from modelyard.names import validate_name
from modelyard.schemas.training import (
    Channel,
    CreateTrainingJob,
    EvaluationLink,
    FinalMetric,
    MetricDefinitionSpec,
    ScriptSpec,
    StatusTransition,
    TrainingJobDescription,
    TrainingJobSummary,
)
from modelyard.services.frameworks import installed_version, version_note
from modelyard.services.jobs import Jobs, KindLogic, NewJob, children_of
from modelyard.services.stored import require_bucket, require_input, require_object
from modelyard.storage import ObjectStore, parse_s3_uri
from modelyard.store.models import Job


class TrainingLogic(KindLogic):
    def prepare(self, jobs: Jobs, request: CreateTrainingJob) -> NewJob:
        store = jobs.store
        script = None
        if (request.algorithm is None) == (request.script is None):
            raise InvalidRequest(
                "give exactly one of algorithm (a built-in, e.g. xgboost) or script "
                "(entry_point and source_dir of your own code)",
                {"field": "algorithm"},
            )
        cpus = job_cpus(request.instance_type, request.instance_count, jobs.settings.cpu_slots)
        for definition in request.metric_definitions:
            check_metric_regex(definition.name, definition.regex)
        if request.algorithm is not None:
            algorithm = self._algorithm(request.algorithm)
            algorithm.validate(request.hyperparameters)
            if request.instance_count != 1:
                raise InvalidRequest(
                    "built-in algorithms train on one instance here; instance_count > 1 is "
                    "for script mode",
                    {"field": "instance_count"},
                )
            self._check_channels(
                store, request.inputs, algorithm.required_channels, algorithm.optional_channels
            )
            algorithm_name: str | None = algorithm.name
        else:
            assert request.script is not None
            script = self._check_script(store, request.script)
            self._check_channels(
                store, request.inputs, (), tuple(c.channel for c in request.inputs)
            )
            algorithm_name = None

        output_path = (request.output_path or f"s3://{jobs.default_bucket}").rstrip("/")
        require_bucket(store, "output_path", output_path)
        return NewJob(
            name=request.name,
            spec={
                "algorithm": algorithm_name,
                "script": script,
                "metric_definitions": [d.model_dump() for d in request.metric_definitions],
                "hyperparameters": request.hyperparameters,
                "channels": [c.model_dump() for c in request.inputs],
                "output_path": output_path,
            },
            instance_type=request.instance_type,
            instance_count=request.instance_count,
            cpus=cpus,
            max_runtime_seconds=request.max_runtime_seconds,
            environment=request.environment,
            tags=request.tags,
        )

    def _check_script(self, store: ObjectStore, script: ScriptSpec) -> dict[str, Any]:
        entry = PurePosixPath(script.entry_point)
        if entry.is_absolute() or ".." in entry.parts or not entry.parts:
            raise InvalidRequest(
                f"entry_point {script.entry_point!r} must be a path inside the source dir",
                {"field": "script.entry_point"},
            )
        installed = installed_version(script.framework)
        require_object(store, "script.source_dir", script.source_dir)
        if script.checkpoint_s3_uri is not None:
            bucket, _ = parse_s3_uri(script.checkpoint_s3_uri)
            if not store.bucket_exists(bucket):
                raise InvalidRequest(
                    f"script.checkpoint_s3_uri: bucket {bucket!r} does not exist",
                    {"field": "script.checkpoint_s3_uri"},
                )
        known = {"torch_distributed", "pytorchddp"}
        unknown = sorted(set(script.distribution) - known)
        if unknown:
            raise InvalidRequest(
                f"script.distribution: {', '.join(unknown)} is not supported; use "
                f"{' or '.join(sorted(known))}",
                {"field": "script.distribution"},
            )
        spec = script.model_dump()
        spec["installed_version"] = installed
        if script.framework and installed:
            spec["note"] = version_note(script.framework, script.framework_version, installed)
        return spec

    def _algorithm(self, name: str):  # noqa: ANN202 - Algorithm, imported lazily by the registry
        try:
            return get_algorithm(name)
        except NotFound as exc:
            raise InvalidRequest(exc.message, {"field": "algorithm", "value": name}) from None

    def _check_channels(
        self,
        store: ObjectStore,
        inputs: list[Channel],
        required: tuple[str, ...],
        optional: tuple[str, ...],
    ) -> None:
        names = [c.channel for c in inputs]
        for name in names:
            validate_name(name, "channel name")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidRequest(f"channel {duplicates[0]!r} is given twice", {"field": "inputs"})
        missing = [n for n in required if n not in names]
        if missing:
            raise InvalidRequest(
                f"missing required channel {missing[0]!r}; this algorithm needs "
                f"{', '.join(required)} and also takes {', '.join(optional) or 'nothing else'}",
                {"field": "inputs", "required": list(required), "optional": list(optional)},
            )
        unknown = [n for n in names if n not in required and n not in optional]
        if unknown:
            raise InvalidRequest(
                f"unknown channel {unknown[0]!r}; allowed: {', '.join(required + optional)}",
                {"field": "inputs"},
            )
        for channel in inputs:
            require_input(store, channel)

    def describe(self, job: Job) -> TrainingJobDescription:
        return to_description(job)

    def summarize(self, job: Job) -> TrainingJobSummary:
        return TrainingJobSummary(
            name=job.name,
            status=job.status,
            secondary_status=job.secondary_status,
            algorithm=job.spec.get("algorithm"),
            created_at=job.created_at,
            ended_at=job.ended_at,
        )


LOGIC = TrainingLogic()


def check_metric_regex(name: str, regex: str) -> None:
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise InvalidRequest(
            f"metric_definitions: {name!r} has an invalid regex {regex!r}: {exc}",
            {"field": "metric_definitions"},
        ) from None
    if pattern.groups < 1:
        raise InvalidRequest(
            f"metric_definitions: the regex of {name!r} needs a group that captures the value, "
            f"e.g. 'loss: ([0-9.]+)'",
            {"field": "metric_definitions"},
        )


def to_description(job: Job) -> TrainingJobDescription:
    spec, script = job.spec, job.spec.get("script")
    billable = None
    if job.started_at and job.ended_at:
        billable = max(0, int((_aware(job.ended_at) - _aware(job.started_at)).total_seconds()))
    return TrainingJobDescription(
        name=job.name,
        status=job.status,
        secondary_status=job.secondary_status,
        failure_reason=job.failure_reason,
        algorithm=spec.get("algorithm"),
        script=ScriptSpec(**{k: v for k, v in script.items() if k in ScriptSpec.model_fields})
        if script
        else None,
        metric_definitions=[
            MetricDefinitionSpec(**d) for d in spec.get("metric_definitions") or []
        ],
        hyperparameters=spec.get("hyperparameters") or {},
        inputs=[Channel(**c) for c in spec.get("channels") or []],
        output_path=spec.get("output_path") or "",
        instance_type=job.instance_type,
        instance_count=job.instance_count,
        cpus=job.cpus,
        max_runtime_seconds=job.max_runtime_seconds,
        environment=job.environment,
        tags=job.tags,
        model_artifact=job.result.get("model_artifact"),
        tuning_job_name=job.tags.get("modelyard:tuning-job"),
        final_metrics=[
            FinalMetric(name=k, value=v["value"], timestamp=v["timestamp"])
            for k, v in sorted(job.final_metrics.items())
        ],
        evaluations=evaluations_of(job),
        secondary_status_transitions=[
            StatusTransition(
                status=t.status,
                status_message=t.status_message,
                start_time=t.start_time,
                end_time=t.end_time,
            )
            for t in job.transitions
        ],
        created_at=job.created_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
        billable_seconds=billable,
    )


def evaluations_of(job: Job) -> list[EvaluationLink]:
    session = Session.object_session(job)
    if session is None:
        return []
    return [
        EvaluationLink(
            name=e.name,
            status=e.status,
            metrics=(e.result or {}).get("metrics", {}),
            report=(e.result or {}).get("report"),
        )
        for e in children_of(session, job.name)
        if e.kind == "evaluation"
    ]


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every timestamp modelyard writes is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
