"""Training jobs: create (validated, queued), describe, list, stop, and what jobs report."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from modelyard.algorithms.registry import get_algorithm
from modelyard.compute.instance_types import cpus_for
from modelyard.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from modelyard.names import validate_name
from modelyard.schemas.common import Page
from modelyard.schemas.training import (
    Channel,
    CreateTrainingJob,
    FinalMetric,
    JobReport,
    LogChunk,
    MetricDefinitionSpec,
    MetricPointOut,
    ScriptSpec,
    StatusTransition,
    TrainingJobDescription,
    TrainingJobSummary,
)
from modelyard.services import auth, crud
from modelyard.services.frameworks import installed_version, version_note
from modelyard.services.stored import require_object
from modelyard.settings import Settings
from modelyard.storage import ObjectStore, parse_s3_uri
from modelyard.store import Database
from modelyard.store.models import MetricPoint, SecondaryStatusTransition, TrainingJob, utcnow

TERMINAL = ("Completed", "Failed", "Stopped")
STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
REPORTABLE_SECONDARY = ("Starting", "Downloading", "Training", "Uploading")
LOG_FILE = "job.log"


def transition(job: TrainingJob, status: str, message: str = "") -> None:
    """Close the open secondary-status transition and open the next one."""
    now = utcnow()
    if job.transitions and job.transitions[-1].status == status:
        if message:
            job.transitions[-1].status_message = message
        return
    if job.transitions and job.transitions[-1].end_time is None:
        job.transitions[-1].end_time = now
    job.secondary_status = status
    job.transitions.append(
        SecondaryStatusTransition(status=status, status_message=message, start_time=now)
    )


def close_transitions(job: TrainingJob, final_status: str, message: str) -> None:
    transition(job, final_status, message)
    job.transitions[-1].end_time = job.transitions[-1].start_time


class TrainingJobs:
    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        settings: Settings,
        default_bucket: str,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.default_bucket = default_bucket
        self.wake = wake  # nudges the scheduler so a new job starts without waiting a tick

    # -- create ---------------------------------------------------------------------------
    def create(self, request: CreateTrainingJob) -> TrainingJobDescription:
        validate_name(request.name, "training job name")
        script = None
        if (request.algorithm is None) == (request.script is None):
            raise InvalidRequest(
                "give exactly one of algorithm (a built-in, e.g. xgboost) or script "
                "(entry_point and source_dir of your own code)",
                {"field": "algorithm"},
            )
        cpus = min(
            self.settings.cpu_slots,
            cpus_for(request.instance_type, self.settings.cpu_slots) * request.instance_count,
        )
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
                request.inputs, algorithm.required_channels, algorithm.optional_channels
            )
            algorithm_name: str | None = algorithm.name
        else:
            assert request.script is not None
            script = self._check_script(request.script)
            self._check_channels(request.inputs, (), tuple(c.channel for c in request.inputs))
            algorithm_name = None

        output_path = (request.output_path or f"s3://{self.default_bucket}").rstrip("/")
        self._check_output_path(output_path)
        job = TrainingJob(
            name=request.name,
            status="InProgress",
            secondary_status="Pending",
            algorithm=algorithm_name,
            script=script,
            metric_definitions=[d.model_dump() for d in request.metric_definitions],
            hyperparameters=request.hyperparameters,
            input_data_config=[c.model_dump() for c in request.inputs],
            output_path=output_path,
            instance_type=request.instance_type,
            instance_count=request.instance_count,
            cpus=cpus,
            max_runtime_seconds=request.max_runtime_seconds,
            environment=request.environment,
            tags=request.tags,
            final_metrics={},
        )
        return self._enqueue(job)

    def _enqueue(self, job: TrainingJob) -> Any:
        """Store a new job as Pending, nudge the scheduler, and describe it."""
        transition(job, "Pending", f"Waiting for {job.cpus} free CPU slot(s)")
        try:
            with self.db.session() as session:
                session.add(job)
        except IntegrityError:
            raise Conflict(
                f"a job named {job.name!r} already exists (training and processing jobs "
                "share names); choose another name",
                {"name": job.name},
            ) from None
        self.wake()
        return self.describe(job.name)

    def _check_script(self, script: ScriptSpec) -> dict[str, Any]:
        entry = PurePosixPath(script.entry_point)
        if entry.is_absolute() or ".." in entry.parts or not entry.parts:
            raise InvalidRequest(
                f"entry_point {script.entry_point!r} must be a path inside the source dir",
                {"field": "script.entry_point"},
            )
        installed = installed_version(script.framework)
        require_object(self.store, "script.source_dir", script.source_dir)
        if script.checkpoint_s3_uri is not None:
            bucket, _ = parse_s3_uri(script.checkpoint_s3_uri)
            if not self.store.bucket_exists(bucket):
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
        self, inputs: list[Channel], required: tuple[str, ...], optional: tuple[str, ...]
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
            self._check_input_exists(channel)

    def _check_input_exists(self, channel: Channel) -> None:
        uri = channel.uri
        if uri.startswith("file://"):
            if not Path(uri[len("file://") :]).exists():
                raise InvalidRequest(
                    f"channel {channel.channel!r}: {uri} does not exist",
                    {"field": "inputs", "channel": channel.channel},
                )
            return
        if not uri.startswith("s3://"):
            raise InvalidRequest(
                f"channel {channel.channel!r}: {uri!r} is not an s3:// or file:// URI",
                {"field": "inputs", "channel": channel.channel},
            )
        bucket, key = parse_s3_uri(uri)
        if not self.store.bucket_exists(bucket):
            raise InvalidRequest(
                f"channel {channel.channel!r}: bucket {bucket!r} does not exist",
                {"field": "inputs", "channel": channel.channel},
            )
        page = self.store.list_objects(bucket, prefix=key, max_keys=1)
        if not page.objects:
            raise InvalidRequest(
                f"channel {channel.channel!r}: nothing stored at {uri}",
                {"field": "inputs", "channel": channel.channel},
            )

    def _check_output_path(self, output_path: str) -> None:
        bucket, _ = parse_s3_uri(output_path)
        if not self.store.bucket_exists(bucket):
            raise InvalidRequest(
                f"output_path: bucket {bucket!r} does not exist", {"field": "output_path"}
            )

    # -- read -----------------------------------------------------------------------------
    kind = "training"
    noun = "training job"

    def _get(self, session: Session, name: str, any_kind: bool = False) -> TrainingJob:
        query = select(TrainingJob).where(TrainingJob.name == name)
        if not any_kind:
            query = query.where(TrainingJob.kind == self.kind)
        job = session.scalar(query.options(selectinload(TrainingJob.transitions)))
        if job is None:
            raise NotFound(f"{self.noun} {name!r} does not exist", {"name": name})
        return job

    def describe(self, name: str) -> TrainingJobDescription:
        with self.db.session() as session:
            return to_description(self._get(session, name))

    def list(
        self,
        status: str | None = None,
        name_contains: str | None = None,
        max_results: int = 50,
        next_token: str | None = None,
    ) -> Page[Any]:
        if status is not None and status not in STATUSES:
            raise InvalidRequest(
                f"unknown status {status!r}; use one of {', '.join(STATUSES)}", {"field": "status"}
            )
        with self.db.session() as session:
            rows, token = crud.page(
                session,
                TrainingJob,
                name_contains,
                max_results,
                next_token,
                status=status,
                kind=self.kind,
            )
        return Page[Any](items=[self.summary(j) for j in rows], next_token=token)

    def summary(self, job: TrainingJob) -> TrainingJobSummary:
        return TrainingJobSummary(
            name=job.name,
            status=job.status,
            secondary_status=job.secondary_status,
            algorithm=job.algorithm,
            created_at=job.created_at,
            ended_at=job.ended_at,
        )

    # -- stop -----------------------------------------------------------------------------
    def stop(self, name: str) -> TrainingJobDescription:
        with self.db.session() as session:
            job = self._get(session, name)
            if job.status in TERMINAL:
                raise Conflict(
                    f"{self.noun} {name!r} has already ended ({job.status})",
                    {"name": name, "status": job.status},
                )
            if job.status == "InProgress":
                job.status = "Stopping"
                job.stop_requested_at = utcnow()
                job.stop_reason = job.stop_reason or "Stopped"
                transition(job, "Stopping", f"Stopping the {self.noun}")
        self.wake()
        return self.describe(name)

    # -- what the job process reports ---------------------------------------------------
    def authorize_job(self, name: str, token: str) -> None:
        with self.db.session() as session:
            job = session.scalar(select(TrainingJob).where(TrainingJob.name == name))
            if (
                job is None
                or job.token_hash is None
                or not auth.tokens_equal(auth.hash_token(token), job.token_hash)
            ):
                raise Unauthorized("this token may not report on this job", {"name": name})

    def report(self, name: str, report: JobReport) -> None:
        with self.db.session() as session:
            job = self._get(session, name, any_kind=True)  # every kind reports the same way
            if report.secondary_status is not None and job.status == "InProgress":
                if report.secondary_status not in REPORTABLE_SECONDARY:
                    raise InvalidRequest(
                        f"a job may report {', '.join(REPORTABLE_SECONDARY)}, "
                        f"not {report.secondary_status!r}",
                        {"field": "secondary_status"},
                    )
                transition(job, report.secondary_status, report.status_message)
                if report.secondary_status == "Training" and job.started_at is None:
                    job.started_at = utcnow()
            if report.metrics:
                now = utcnow()
                # One bulk INSERT per batch: a job may report thousands of points a second.
                session.execute(
                    insert(MetricPoint),
                    [
                        {
                            "job_id": job.id,
                            "name": m.name,
                            "value": m.value,
                            "step": m.step,
                            "timestamp": m.timestamp or now,
                        }
                        for m in report.metrics
                    ],
                )

    def metrics(self, name: str, metric_name: str | None = None) -> list[MetricPointOut]:
        with self.db.session() as session:
            job = self._get(session, name)
            query = select(MetricPoint).where(MetricPoint.job_id == job.id)
            if metric_name:
                query = query.where(MetricPoint.name == metric_name)
            points = session.scalars(query.order_by(MetricPoint.id))
            return [
                MetricPointOut(name=p.name, value=p.value, step=p.step, timestamp=p.timestamp)
                for p in points
            ]

    def logs(self, name: str, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        with self.db.session() as session:
            job = self._get(session, name)
            work_dir, ended = job.work_dir, job.status in TERMINAL
        if offset < 0:
            raise InvalidRequest("offset must be >= 0", {"field": "offset"})
        if work_dir is None:
            return LogChunk(text="", next_offset=0, complete=ended)
        path = Path(work_dir) / LOG_FILE
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read(limit)
        except FileNotFoundError:
            data = b""
        # Hand out whole lines only, so a follower never sees a line cut in two.
        if not ended and b"\n" in data:
            data = data[: data.rindex(b"\n") + 1]
        elif not ended:
            data = b""
        size_left = path.stat().st_size - offset - len(data) if path.exists() else 0
        return LogChunk(
            text=data.decode("utf-8", "replace"),
            next_offset=offset + len(data),
            complete=ended and size_left <= 0,
        )


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


def to_description(job: TrainingJob) -> TrainingJobDescription:
    billable = None
    if job.started_at and job.ended_at:
        billable = max(0, int((_aware(job.ended_at) - _aware(job.started_at)).total_seconds()))
    return TrainingJobDescription(
        name=job.name,
        status=job.status,
        secondary_status=job.secondary_status,
        failure_reason=job.failure_reason,
        algorithm=job.algorithm,
        script=ScriptSpec(**{k: v for k, v in job.script.items() if k in ScriptSpec.model_fields})
        if job.script
        else None,
        metric_definitions=[MetricDefinitionSpec(**d) for d in job.metric_definitions or []],
        hyperparameters=job.hyperparameters,
        inputs=[Channel(**c) for c in job.input_data_config],
        output_path=job.output_path,
        instance_type=job.instance_type,
        instance_count=job.instance_count,
        cpus=job.cpus,
        max_runtime_seconds=job.max_runtime_seconds,
        environment=job.environment,
        tags=job.tags,
        model_artifact=job.model_artifact,
        final_metrics=[
            FinalMetric(name=k, value=v["value"], timestamp=v["timestamp"])
            for k, v in sorted(job.final_metrics.items())
        ],
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


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every timestamp modelyard writes is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
