"""Monitoring schedules: a monitoring job of an endpoint's captured data each time the
schedule's expression names, over the data captured since the time before (SageMaker's
hourly schedule checks the previous hour). A run missed while the server was down is not
made up: the next one covers its own window."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from modelyard.errors import InvalidRequest, ModelyardError
from modelyard.kinds.monitoring import CreateMonitoringJob
from modelyard.names import validate_name
from modelyard.schemas.common import Page
from modelyard.schemas.monitoring import (
    CreateMonitoringSchedule,
    ExecutionSummary,
    MonitoringScheduleDescription,
)
from modelyard.services import crud
from modelyard.services.jobs import Jobs
from modelyard.services.monitoring_jobs import captured_prefix, execution_status
from modelyard.services.stored import require_bucket, require_object
from modelyard.storage import join_s3_uri
from modelyard.store.models import Job, MonitoringSchedule

KIND = "monitoring schedule"
# A window's job starts this long after the window ends: capture writes once a second, so by
# then every request of the window is in the store.
SETTLE = timedelta(seconds=3)
RATE = re.compile(r"^rate\((\d+)\s+(second|minute|hour|day)s?\)$")
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Schedule:
    """When a schedule expression runs: rate(N unit), SageMaker's 6-field cron(...), or a
    5-field cron (UTC)."""

    expression: str
    every: timedelta | None = None  # a rate
    cron: str | None = None  # five fields, croniter's

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        text = expression.strip()
        rate = RATE.match(text)
        if rate:
            seconds = int(rate.group(1)) * UNITS[rate.group(2)]
            if seconds < 1:
                raise _bad(expression, "a rate is at least 1 second")
            return cls(expression, every=timedelta(seconds=seconds))
        if text.startswith("cron(") and text.endswith(")"):
            fields = text[len("cron(") : -1].split()
            if len(fields) != 6:
                raise _bad(expression, "cron(...) has six fields: min hour day month weekday year")
            minute, hour, day, month, weekday, year = fields
            if year not in ("*", "?"):
                raise _bad(expression, "the year field must be *")
            # AWS numbers weekdays 1-7 from Sunday; cron 0-6.
            weekday = re.sub(r"\d+", lambda m: str(int(m.group()) - 1), weekday)
            fields = [minute, hour, day, month, weekday]
        else:
            fields = text.split()
        cron = " ".join("*" if f == "?" else f for f in fields)
        from croniter import croniter

        if len(fields) != 5 or not croniter.is_valid(cron):
            raise _bad(expression, "not a valid cron expression")
        return cls(expression, cron=cron)

    def next_after(self, at: datetime) -> datetime:
        if self.every is not None:
            return at + self.every
        from croniter import croniter

        return croniter(self.cron, at).get_next(datetime)  # type: ignore[no-any-return]

    def previous(self, run: datetime) -> datetime:
        """The run before `run`: where its data window starts."""
        if self.every is not None:
            return run - self.every
        from croniter import croniter

        return croniter(self.cron, run).get_prev(datetime)  # type: ignore[no-any-return]


def _bad(expression: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"schedule_expression {expression!r}: {why}; e.g. cron(0 * ? * * *) hourly, "
        "cron(0 0 ? * * *) daily, or rate(10 minutes)",
        {"field": "schedule_expression"},
    )


class MonitoringSchedules:
    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        self.db = jobs.db

    def create(self, request: CreateMonitoringSchedule) -> MonitoringScheduleDescription:
        validate_name(request.name, "monitoring schedule name")
        schedule = Schedule.parse(request.schedule_expression)
        captured_prefix(self.jobs, request.endpoint_name)  # it exists and captures
        for field in ("statistics", "constraints"):
            require_object(self.jobs.store, field, getattr(request, field))
        output = request.output_s3_uri or join_s3_uri(
            self.jobs.default_bucket, f"monitoring/{request.endpoint_name}"
        )
        require_bucket(self.jobs.store, "output_s3_uri", output)
        now = utcnow()
        crud.insert(
            self.db,
            MonitoringSchedule(
                name=request.name,
                status="Scheduled",
                endpoint_name=request.endpoint_name,
                schedule_expression=request.schedule_expression,
                spec={
                    "statistics": request.statistics,
                    "constraints": request.constraints,
                    "output_s3_uri": output.rstrip("/"),
                    "output_columns_position": request.output_columns_position,
                    "instance_type": request.instance_type,
                    "max_runtime_seconds": request.max_runtime_seconds,
                },
                next_run_at=schedule.next_after(now),
                tags=request.tags,
                created_at=now,
            ),
            KIND,
        )
        return self.describe(request.name)

    def describe(self, name: str) -> MonitoringScheduleDescription:
        with self.db.session() as session:
            return self._describe(session, crud.get(session, MonitoringSchedule, name, KIND))

    def _describe(self, session: Any, row: MonitoringSchedule) -> MonitoringScheduleDescription:
        last = None
        if row.last_job_name:
            job = session.scalar(select(Job).where(Job.name == row.last_job_name))
            if job is not None:
                last = ExecutionSummary(
                    monitoring_job_name=job.name,
                    scheduled_time=row.last_run_at,
                    monitoring_execution_status=execution_status(job),
                    violations=len((job.result or {}).get("violations", [])),
                    failure_reason=job.failure_reason,
                )
        return MonitoringScheduleDescription(
            name=row.name,
            status=row.status,  # type: ignore[arg-type]
            endpoint_name=row.endpoint_name,
            schedule_expression=row.schedule_expression,
            statistics=row.spec["statistics"],
            constraints=row.spec["constraints"],
            output_s3_uri=row.spec["output_s3_uri"],
            next_run_at=row.next_run_at,
            last_monitoring_execution_summary=last,
            failure_reason=row.failure_reason,
            tags=row.tags,
            created_at=row.created_at,
        )

    def list(
        self, name_contains: str | None = None, max_results: int = 50, next_token: str | None = None
    ) -> Page[MonitoringScheduleDescription]:
        with self.db.session() as session:
            rows, token = crud.page(
                session, MonitoringSchedule, name_contains, max_results, next_token
            )
            return Page[MonitoringScheduleDescription](
                items=[self._describe(session, r) for r in rows], next_token=token
            )

    def delete(self, name: str) -> None:
        with self.db.session() as session:
            session.delete(crud.get(session, MonitoringSchedule, name, KIND))

    def stop(self, name: str) -> MonitoringScheduleDescription:
        with self.db.session() as session:
            row = crud.get(session, MonitoringSchedule, name, KIND)
            row.status, row.next_run_at = "Stopped", None
        return self.describe(name)

    def start(self, name: str) -> MonitoringScheduleDescription:
        with self.db.session() as session:
            row = crud.get(session, MonitoringSchedule, name, KIND)
            row.status, row.failure_reason = "Scheduled", None
            row.next_run_at = Schedule.parse(row.schedule_expression).next_after(utcnow())
        return self.describe(name)

    def executions(
        self, name: str, max_results: int = 50, next_token: str | None = None
    ) -> Page[Any]:
        """The schedule's monitoring jobs, newest first."""
        with self.db.session() as session:
            row = crud.get(session, MonitoringSchedule, name, KIND)
            parent = schedule_parent(row.id)
        return self.jobs.list(
            "monitoring", max_results=max_results, next_token=next_token, parent=parent
        )

    # -- what the scheduler runs ----------------------------------------------------------
    def run_due(self, now: datetime | None = None) -> list[str]:
        """Start the monitoring job of each schedule whose window has ended (and settled);
        their names."""
        now = now or utcnow()
        with self.db.session() as session:
            due = session.scalars(
                select(MonitoringSchedule).where(
                    MonitoringSchedule.status == "Scheduled",
                    MonitoringSchedule.next_run_at <= now - SETTLE,
                )
            ).all()
            started = []
            for row in due:
                schedule = Schedule.parse(row.schedule_expression)
                run = row.next_run_at
                assert run is not None
                name = f"{row.name[:40]}-{run:%Y%m%d-%H%M%S}"
                request = CreateMonitoringJob(
                    name=name,
                    endpoint_name=row.endpoint_name,
                    statistics=row.spec["statistics"],
                    constraints=row.spec["constraints"],
                    data_window_start=schedule.previous(run),
                    data_window_end=run,
                    output_s3_uri=f"{row.spec['output_s3_uri']}/{name}",
                    output_columns_position=row.spec.get("output_columns_position", "START"),
                    monitoring_schedule_name=row.name,
                    instance_type=row.spec.get("instance_type", "local"),
                    max_runtime_seconds=row.spec.get("max_runtime_seconds", 3600),
                )
                try:
                    self.jobs.create("monitoring", request, parent=schedule_parent(row.id))
                except ModelyardError as exc:  # the endpoint or the baseline went away
                    row.status, row.failure_reason, row.next_run_at = "Failed", exc.message, None
                    continue
                row.last_run_at, row.last_job_name = run, name
                row.next_run_at = schedule.next_after(max(now, run))
                started.append(name)
            return started


def schedule_parent(schedule_id: int) -> str:
    """The parent a schedule's jobs carry: it lists them, and no job has such a name (nor
    does a later schedule of the same name)."""
    return f"schedule:{schedule_id}"
