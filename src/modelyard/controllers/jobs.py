"""The job controller: queue → launch → watch → finish, for every kind of job, reconciled
from the database.

One thread owns every job. Each tick it (1) finishes jobs whose process ended, (2) enforces
stop requests and max runtime, (3) drives the jobs of kinds that run no process of their own
(a tuning job starts its trials), and (4) launches queued jobs while CPU slots are free, oldest
first. Processes run through an executor (`compute.executor`), which hands back a handle the
database keeps; so after a restart (even kill -9) the controller finds the job processes that
survived and fails, with a reason, those that did not.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from modelyard.compute.executor import Executor, Handle, Launch
from modelyard.controllers.loop import ControlLoop
from modelyard.errors import InvalidRequest
from modelyard.kinds import job_kind
from modelyard.runtime.layout import JobLayout, log_tail, write_json
from modelyard.schemas.training import JobReport
from modelyard.services import auth
from modelyard.services.jobs import (
    Jobs,
    check_report,
    close_transitions,
    kind_logic,
    latest_metrics,
    record_report,
    request_stop,
    transition,
)
from modelyard.settings import Settings
from modelyard.store import Database
from modelyard.store.models import Job, utcnow

logger = logging.getLogger("modelyard.jobs")

ACTIVE_STATUSES = ("InProgress", "Stopping")


def launcher_environment() -> dict[str, str]:
    """The machine's environment minus every modelyard setting (the token, database URL...)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}


def job_environment(job: Job, token: str, control_url: str) -> dict[str, str]:
    """The job's environment: the machine's, minus every modelyard secret, plus the job's own."""
    env = launcher_environment()
    env.update(job.environment)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "TRAINING_JOB_NAME": job.name,
            # The job's own credentials: they report on this job and nothing else.
            "MODELYARD_JOB_TOKEN": token,
            "MODELYARD_JOB_CONTROL_URL": control_url,
        }
    )
    return env


class JobController(ControlLoop):
    name = "job-controller"

    def __init__(
        self,
        db: Database,
        settings: Settings,
        control_url: str,
        storage_url: str,
        jobs: Jobs,
        executor: Callable[[Callable[[], None]], Executor],
    ) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.control_url = control_url
        self.storage_url = storage_url
        self.jobs = jobs  # driven kinds create and read their children through it
        self.jobs_dir = settings.resolved_home / "jobs"
        self.executor = executor(self.wake)
        self._handles: dict[str, Handle] = {}
        self._terminated_at: dict[str, float] = {}

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.reattach()
        self.executor.open()
        self.start_loop()

    def stop(self) -> None:
        """Stop the controller only: job processes keep running and are found again later."""
        self.stop_loop()
        self.executor.close()

    # -- find job processes again after a restart ------------------------------------------
    def reattach(self) -> None:
        with self.db.session() as session:
            jobs = session.scalars(
                select(Job)
                .where(Job.status.in_(("InProgress", "Stopping")), Job.handle.is_not(None))
                .options(selectinload(Job.transitions))
            ).all()
            for job in jobs:
                handle = Handle.from_record(job.handle or {})
                if self.executor.alive(handle):
                    logger.info("re-attached to %s %s (%s)", job.kind, job.name, handle.record())
                    self._handles[job.name] = handle
                else:
                    self._finish(session, job, exit_code=None, interrupted=True)

    # -- one reconciliation pass -----------------------------------------------------------
    def tick(self) -> None:
        with self.db.session() as session:
            used = 0
            active = self._active(session)
            children: dict[str, list[Job]] = {}
            for job in active:
                if job.parent is not None:
                    children.setdefault(job.parent, []).append(job)
                if job.handle is not None and self._watch(session, job):
                    used += job.cpus
            for job in active:  # the watch above ends only jobs with a process, not these
                if job_kind(job.kind).runtime is None and job.status in ACTIVE_STATUSES:
                    self._drive(session, job, children.get(job.name, []))
            session.flush()
            # What the drives just started queues behind what was waiting, in creation order.
            known = {id(job) for job in active}
            loaded = session.identity_map.values()
            started = [o for o in loaded if isinstance(o, Job) and id(o) not in known]
            for job in sorted([*active, *started], key=lambda j: j.id):
                if job.status not in ACTIVE_STATUSES:
                    continue
                if job.handle is not None or job_kind(job.kind).runtime is None:
                    continue
                if job.status == "Stopping":
                    job.status = "Stopped"
                    job.ended_at = utcnow()
                    close_transitions(job, "Stopped", "Stopped before it started")
                    continue
                if used + job.cpus > self.executor.capacity():
                    break  # first come, first served: a big job is not starved by small ones
                self._launch(session, job)
                used += job.cpus
            if used == 0:
                self.executor.idle()
            else:
                self.executor.busy(used)

    @staticmethod
    def _active(session: Session) -> list[Job]:
        # The rows alone: a job's transitions load when the pass changes its status.
        query = select(Job).where(Job.status.in_(ACTIVE_STATUSES)).order_by(Job.id)
        return list(session.scalars(query))

    @property
    def interval(self) -> float:  # type: ignore[override]
        """Tick often while jobs run; process exits and new jobs wake the loop anyway."""
        return 0.5 if self._handles else 2.0

    def _drive(self, session: Session, job: Job, children: list[Job]) -> None:
        logic = kind_logic(job.kind)
        try:
            if job.status == "Stopping":
                logic.stopping(self.jobs, session, job)
            logic.drive(self.jobs, session, job, children)
        except Exception as exc:  # noqa: BLE001 - one broken job must not stop the others
            logger.exception("driving %s %s failed", job.kind, job.name)
            job.status = "Failed"
            job.failure_reason = f"InternalServerError: {type(exc).__name__}: {exc}"
            job.ended_at = utcnow()
            close_transitions(job, "Failed", f"{job_kind(job.kind).noun.capitalize()} failed")

    def _watch(self, session: Session, job: Job) -> bool:
        """Enforce stop and max runtime; finish the job if its process ended. True if running."""
        handle = self._handles.setdefault(job.name, Handle.from_record(job.handle or {}))
        if not self.executor.alive(handle):
            if job.status != "Stopping" or not self.executor.group_alive(handle):
                self.executor.kill(handle)  # nothing of a finished job outlives it
                self._finish(
                    session, job, exit_code=self.executor.exit_code(handle), interrupted=False
                )
                return False
            # Stopping: the job's main process went on SIGTERM but something it started
            # ignores it; that gets SIGKILL when the grace period is over, below.
        started = handle.started_at or time.time()
        if job.status == "InProgress" and time.time() - started > job.max_runtime_seconds:
            request_stop(
                job,
                f"Stopping: the job ran past its {job.max_runtime_seconds}s limit",
                reason="MaxRuntimeExceeded",
            )
        if job.status == "Stopping":
            sent = self._terminated_at.get(job.name)
            if sent is None:
                self.executor.terminate(handle)
                self._terminated_at[job.name] = time.monotonic()
            elif time.monotonic() - sent > self.settings.stop_grace_seconds:
                self.executor.kill(handle)
        return True

    def _launch(self, session: Session, job: Job) -> None:
        kind = job_kind(job.kind)
        work_dir = self.jobs_dir / job.name
        if work_dir.exists():
            shutil.rmtree(work_dir)
        layout = JobLayout(work_dir)
        work_dir.mkdir(parents=True)  # the job process lays out the rest of it
        token = auth.new_token()
        write_json(
            layout.spec_file,
            {
                **job.spec,
                "name": job.name,
                "kind": job.kind,
                "control_url": self.control_url,
                "envs_dir": str(self.settings.resolved_home / "envs"),
                "storage_url": self.storage_url,
                "num_cpus": job.cpus,
                "instance_type": job.instance_type,
                "hosts": [f"algo-{i + 1}" for i in range(job.instance_count)],
                "current_host": "algo-1",
            },
        )
        transition(job, "Starting", f"Launching the {kind.noun} process")
        job.work_dir = str(work_dir)
        job.token_hash = auth.hash_token(token)
        # Committed before the process exists: its first report must find its token.
        session.commit()
        handle = self.executor.start(
            Launch(
                module="modelyard.runtime.job",
                args=[str(work_dir)],
                cwd=work_dir,
                env=job_environment(job, token, self.control_url),
                log_path=layout.log_file,
                cpus=job.cpus,
                warm=kind.warm,
            )
        )
        self._handles[job.name] = handle
        job.handle = handle.record()
        logger.info("launched %s %s (%s, %s CPU)", kind.noun, job.name, handle.pid, job.cpus)

    def _finish(self, session: Session, job: Job, exit_code: int | None, interrupted: bool) -> None:
        self._handles.pop(job.name, None)
        self._terminated_at.pop(job.name, None)
        noun = job_kind(job.kind).noun
        layout = JobLayout(Path(job.work_dir)) if job.work_dir else None
        result = layout.read_result() if layout else None
        if result and result.get("unsent_report"):
            self._record_unsent(session, job, result.pop("unsent_report"))
        stopped = job.stop_requested_at is not None
        if result and result.get("status") == "Completed":
            job.status = "Completed"
            job.result = {k: v for k, v in result.items() if k != "status"}
            close_transitions(job, "Completed", f"{noun.capitalize()} completed")
        elif stopped:
            job.status = "Stopped"
            reason = job.stop_reason or "Stopped"
            if reason == "MaxRuntimeExceeded":
                job.failure_reason = (
                    f"MaxRuntimeExceeded: the job ran past its "
                    f"{job.max_runtime_seconds}s limit and was stopped"
                )
            close_transitions(job, reason, f"{noun.capitalize()} stopped")
        elif result and result.get("status") == "Failed":
            job.status = "Failed"
            job.failure_reason = result.get("failure_reason") or "AlgorithmError: unknown error"
            close_transitions(job, "Failed", f"{noun.capitalize()} failed")
        else:
            job.status = "Failed"
            tail = log_tail(layout.log_file) if layout else ""
            if interrupted:
                job.failure_reason = (
                    "InternalServerError: the job was interrupted: its process "
                    "ended while the control plane was down and left no result"
                )
            else:
                how = "ended" if exit_code is None else f"exited with code {exit_code}"
                if exit_code is not None and exit_code < 0:
                    how = f"was killed by signal {-exit_code}"
                job.failure_reason = (
                    f"AlgorithmError: the {noun} process {how} without reporting a result"
                    + (f"; last log lines:\n{tail}" if tail else "")
                )
            close_transitions(job, "Failed", f"{noun.capitalize()} failed")
        job.ended_at = utcnow()
        job.final_metrics = final_metrics(session, job)
        # A parent (a tuning job) collects the result later in the same pass: no wake needed.

    @staticmethod
    def _record_unsent(session: Session, job: Job, unsent: object) -> None:
        """What the job process had not sent when it ended, left in its result."""
        try:
            report = JobReport.model_validate(unsent)
            check_report(report)
        except (ValidationError, InvalidRequest) as exc:
            logger.warning("%s %s left a report that is not one: %s", job.kind, job.name, exc)
            return
        record_report(session, job, report)


def final_metrics(session: Session, job: Job) -> dict[str, dict[str, object]]:
    """The last value of each metric the job reported."""
    return {
        p.name: {"value": p.value, "timestamp": p.timestamp.isoformat()}
        for p in latest_metrics(session, job)
    }
