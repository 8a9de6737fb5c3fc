"""Jobs of every kind: create (validated by the kind, queued), describe, list, stop, logs,
metrics, and what job processes report. What differs between kinds is in their declaration
(`modelyard.kinds`) and their `KindLogic`; everything else is here, once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from modelyard.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from modelyard.kinds import TERMINAL_STATUSES, JobKind, job_kind
from modelyard.names import validate_name
from modelyard.schemas.common import Page
from modelyard.schemas.training import JobReport, LogChunk, MetricPointOut
from modelyard.services import auth, crud
from modelyard.settings import Settings
from modelyard.storage import ObjectStore
from modelyard.store import Database
from modelyard.store.models import Job, MetricPoint, SecondaryStatusTransition, utcnow

REPORTABLE_SECONDARY = ("Starting", "Downloading", "Training", "Uploading")
LOG_FILE = "job.log"


def transition(job: Job, status: str, message: str = "", at: datetime | None = None) -> None:
    """Close the open secondary-status transition and open the next one (at `at`, when the
    job process says when it happened; now otherwise)."""
    now = utcnow() if at is None else (at if at.tzinfo else at.replace(tzinfo=UTC))
    if job.transitions and at is not None:  # another machine's clock never goes back in time
        now = max(now, job.transitions[-1].start_time)
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


def close_transitions(job: Job, final_status: str, message: str) -> None:
    transition(job, final_status, message)
    job.transitions[-1].end_time = job.transitions[-1].start_time


@dataclass
class NewJob:
    """What a kind makes of a valid request: the row's shared columns and the kind's spec."""

    name: str
    spec: dict[str, Any]
    instance_type: str = "local"
    instance_count: int = 1
    cpus: int = 0  # CPU slots the job's process needs; 0 for a kind that runs no process
    max_runtime_seconds: int = 86400
    environment: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pending_message: str = ""
    parent: str | None = None  # the job it derives from, when not started by a driven one


class KindLogic:
    """The server side of a kind of job. Subclasses validate requests and describe jobs; a
    kind that runs no process of its own (tuning) also `drive`s its jobs each controller pass.
    """

    def prepare(self, jobs: Jobs, request: Any) -> NewJob:
        raise NotImplementedError

    def describe(self, job: Job) -> BaseModel:
        raise NotImplementedError

    def summarize(self, job: Job) -> BaseModel:
        raise NotImplementedError

    def drive(self, jobs: Jobs, session: Session, job: Job, children: Sequence[Job]) -> None:
        """One pass of a driven job (in the job controller's session): start what it needs,
        collect what ended, and finish it when it is done. `children` are the jobs it
        started that were in progress when the pass began, as the pass left them (some may
        have just ended in it)."""

    def stopping(self, jobs: Jobs, session: Session, job: Job) -> None:
        """A stop was asked for (a driven kind stops what it started)."""

    def children(self, jobs: Jobs, session: Session, job: Job, **query: Any) -> list[BaseModel]:
        """The jobs it started, for kinds declared with `children`."""
        raise NotImplementedError

    def update(self, jobs: Jobs, session: Session, job: Job, change: Any) -> None:
        """Apply a change to a running job, for kinds declared with `update`."""
        raise NotImplementedError


@cache
def kind_logic(name: str) -> KindLogic:
    module, _, attribute = job_kind(name).service.partition(":")
    logic = getattr(importlib.import_module(module), attribute)
    assert isinstance(logic, KindLogic), f"{module}:{attribute} is not a KindLogic"
    return logic


class Jobs:
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
        self.wake = wake  # nudges the job controller so a new job starts without waiting a tick
        # Writes the data captured so far: a monitoring job sees every request before it.
        self.flush_capture: Callable[[], None] = lambda: None

    # -- create ---------------------------------------------------------------------------
    def new_row(self, kind: JobKind, request: Any, parent: str | None = None) -> Job:
        """Validate a request as its kind says and make the job's row (not stored yet)."""
        validate_name(request.name, f"{kind.noun} name")
        new = kind_logic(kind.name).prepare(self, request)
        job = Job(
            name=new.name,
            kind=kind.name,
            parent=parent or new.parent,
            status="InProgress",
            secondary_status="Pending",
            spec=new.spec,
            result={},
            instance_type=new.instance_type,
            instance_count=new.instance_count,
            cpus=new.cpus,
            max_runtime_seconds=new.max_runtime_seconds,
            environment=new.environment,
            tags=new.tags,
            final_metrics={},
        )
        transition(
            job, "Pending", new.pending_message or f"Waiting for {job.cpus} free CPU slot(s)"
        )
        return job

    def create(self, kind_name: str, request: Any, parent: str | None = None) -> Any:
        kind = job_kind(kind_name)
        job = self.new_row(kind, request, parent)
        try:
            with self.db.session() as session:
                session.add(job)
        except IntegrityError:
            raise Conflict(
                f"a job named {job.name!r} already exists (every kind of job shares one "
                "namespace); choose another name",
                {"name": job.name},
            ) from None
        self.wake()
        return self.describe(kind.name, job.name)

    # -- read -----------------------------------------------------------------------------
    def get(self, session: Session, kind_name: str | None, name: str) -> Job:
        query = select(Job).where(Job.name == name)
        if kind_name is not None:
            query = query.where(Job.kind == kind_name)
        job = session.scalar(query.options(selectinload(Job.transitions)))
        if job is None:
            noun = job_kind(kind_name).noun if kind_name else "job"
            raise NotFound(f"{noun} {name!r} does not exist", {"name": name})
        return job

    def describe(self, kind_name: str, name: str) -> Any:
        with self.db.session() as session:
            return kind_logic(kind_name).describe(self.get(session, kind_name, name))

    def list(
        self,
        kind_name: str,
        status: str | None = None,
        name_contains: str | None = None,
        max_results: int = 50,
        next_token: str | None = None,
        parent: str | None = None,
    ) -> Page[Any]:
        kind = job_kind(kind_name)
        if status is not None and status not in kind.statuses:
            raise InvalidRequest(
                f"unknown status {status!r}; use one of {', '.join(kind.statuses)}",
                {"field": "status"},
            )
        with self.db.session() as session:
            rows, token = crud.page(
                session,
                Job,
                name_contains,
                max_results,
                next_token,
                status=status,
                kind=kind.name,
                parent=parent,
            )
            logic = kind_logic(kind.name)
            return Page[Any](items=[logic.summarize(j) for j in rows], next_token=token)

    def _unended(self, session: Session, kind: JobKind, name: str) -> Job:
        """The job, which must not have ended yet (to be stopped or changed)."""
        job = self.get(session, kind.name, name)
        if job.status in TERMINAL_STATUSES:
            raise Conflict(
                f"{kind.noun} {name!r} has already ended ({job.status})",
                {"name": name, "status": job.status},
            )
        return job

    def children(self, kind_name: str, name: str, **query: Any) -> list[Any]:
        with self.db.session() as session:
            job = self.get(session, kind_name, name)
            return kind_logic(kind_name).children(self, session, job, **query)

    def update(self, kind_name: str, name: str, change: Any) -> Any:
        kind = job_kind(kind_name)
        with self.db.session() as session:
            job = self._unended(session, kind, name)
            kind_logic(kind.name).update(self, session, job, change)
        self.wake()
        return self.describe(kind.name, name)

    # -- stop -----------------------------------------------------------------------------
    def stop(self, kind_name: str, name: str) -> Any:
        kind = job_kind(kind_name)
        with self.db.session() as session:
            job = self._unended(session, kind, name)
            if job.status == "InProgress":
                request_stop(job, f"Stopping the {kind.noun}")
        self.wake()
        return self.describe(kind.name, name)

    # -- what the job process reports ---------------------------------------------------
    def authorize_job(self, name: str, token: str) -> None:
        with self.db.session() as session:
            stored = session.scalar(select(Job.token_hash).where(Job.name == name))
            if stored is None or not auth.tokens_equal(auth.hash_token(token), stored):
                raise Unauthorized("this token may not report on this job", {"name": name})

    def report(self, name: str, report: JobReport) -> None:
        check_report(report)
        with self.db.session() as session:
            # The row alone: its transitions load only when there is a status to record.
            job = session.scalar(select(Job).where(Job.name == name))
            if job is None:
                raise NotFound(f"job {name!r} does not exist", {"name": name})
            record_report(session, job, report)
        if job.parent is not None and any(m.step is not None for m in report.metrics):
            self.wake()  # a driven parent (tuning's early stopping) reads per-round metrics

    def metrics(
        self, kind_name: str, name: str, metric_name: str | None = None
    ) -> list[MetricPointOut]:
        with self.db.session() as session:
            job = self.get(session, kind_name, name)
            query = select(MetricPoint).where(MetricPoint.job_id == job.id)
            if metric_name:
                query = query.where(MetricPoint.name == metric_name)
            points = session.scalars(query.order_by(MetricPoint.id))
            return [
                MetricPointOut(name=p.name, value=p.value, step=p.step, timestamp=p.timestamp)
                for p in points
            ]

    def logs(self, kind_name: str, name: str, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        with self.db.session() as session:
            job = self.get(session, kind_name, name)
            work_dir, ended = job.work_dir, job.status in TERMINAL_STATUSES
        if offset < 0:
            raise InvalidRequest("offset must be >= 0", {"field": "offset"})
        if work_dir is None:
            return LogChunk(text="", next_offset=0, complete=ended)
        return read_log(Path(work_dir) / LOG_FILE, offset, limit, ended)


def check_report(report: JobReport) -> None:
    for change in report.status_changes():
        if change.secondary_status not in REPORTABLE_SECONDARY:
            raise InvalidRequest(
                f"a job may report {', '.join(REPORTABLE_SECONDARY)}, "
                f"not {change.secondary_status!r}",
                {"field": "secondary_status"},
            )


def record_report(session: Session, job: Job, report: JobReport) -> None:
    """Record what a job process reported: over HTTP while it runs, or the rest it left in
    result.json when it ended."""
    for change in report.status_changes() if job.status == "InProgress" else []:
        transition(job, change.secondary_status, change.status_message, change.timestamp)
        if change.secondary_status == "Training" and job.started_at is None:
            job.started_at = job.transitions[-1].start_time
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


def latest_metrics(session: Session, job: Job) -> list[MetricPoint]:
    """The last point of each metric the job reported."""
    last = (
        select(MetricPoint.name, func.max(MetricPoint.id).label("id"))
        .where(MetricPoint.job_id == job.id)
        .group_by(MetricPoint.name)
        .subquery()
    )
    return list(session.scalars(select(MetricPoint).join(last, MetricPoint.id == last.c.id)))


def children_of(session: Session, parent: str) -> list[Job]:
    """The jobs a driven job started (a tuning job's trials, a cross-validation job's folds)."""
    return list(session.scalars(select(Job).where(Job.parent == parent).order_by(Job.id)))


def request_stop(job: Job, message: str, reason: str = "Stopped") -> None:
    job.status = "Stopping"
    job.stop_requested_at = utcnow()
    job.stop_reason = job.stop_reason or reason
    transition(job, "Stopping", message)


def read_log(path: Path, offset: int, limit: int, ended: bool) -> LogChunk:
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
