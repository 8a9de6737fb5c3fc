"""The training-job controller: queue → launch → watch → finish, reconciled from the database.

One thread owns every job process. Each tick it (1) finishes jobs whose process ended, (2)
enforces stop requests and max runtime, and (3) launches queued jobs while CPU slots are free,
oldest first. Everything it needs is in the database, so after a restart (even kill -9) it
re-attaches to job processes that survived and fails, with a reason, those that did not.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from modelyard.compute import processes
from modelyard.compute.launcher import JobLauncher
from modelyard.compute.processes import ProcessRef
from modelyard.controllers.loop import ControlLoop
from modelyard.runtime.layout import JobLayout, write_json
from modelyard.services import auth
from modelyard.services.training_jobs import close_transitions, transition
from modelyard.settings import Settings
from modelyard.store import Database
from modelyard.store.models import MetricPoint, TrainingJob, utcnow

logger = logging.getLogger("modelyard.jobs")

LOG_TAIL_LINES = 10


def launcher_environment() -> dict[str, str]:
    """The machine's environment minus every modelyard setting (the token, database URL...)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}


def job_environment(job: TrainingJob, token: str, control_url: str) -> dict[str, str]:
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


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


class JobController(ControlLoop):
    name = "job-controller"

    def __init__(self, db: Database, settings: Settings, control_url: str, storage_url: str):
        super().__init__()
        self.db = db
        self.settings = settings
        self.control_url = control_url
        self.storage_url = storage_url
        self.jobs_dir = settings.resolved_home / "jobs"
        self._procs: dict[str, ProcessRef] = {}
        self._terminated_at: dict[str, float] = {}
        self._launcher = JobLauncher(
            self.jobs_dir,
            {**launcher_environment(), "PYTHONUNBUFFERED": "1"},
            self.jobs_dir / "launcher.log",
            on_exit=lambda pid, code: self.wake(),
        )

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.reattach()
        if self.settings.warm_job_process:
            self._launcher.start()
        self.start_loop()

    def stop(self) -> None:
        """Stop the controller only: job processes keep running and are re-attached later."""
        self.stop_loop()
        self._launcher.stop()

    # -- re-attach after a restart ---------------------------------------------------------
    def reattach(self) -> None:
        with self.db.session() as session:
            jobs = session.scalars(
                select(TrainingJob)
                .where(
                    TrainingJob.status.in_(("InProgress", "Stopping")), TrainingJob.pid.is_not(None)
                )
                .options(selectinload(TrainingJob.transitions))
            ).all()
            for job in jobs:
                assert job.pid is not None
                if processes.is_alive(job.pid, job.pid_started_at):
                    logger.info("re-attached to training job %s (pid %s)", job.name, job.pid)
                    self._procs[job.name] = ProcessRef(job.pid, job.pid_started_at or 0.0)
                else:
                    self._finish(session, job, exit_code=None, interrupted=True)

    # -- one reconciliation pass -----------------------------------------------------------
    def tick(self) -> None:
        with self.db.session() as session:
            active = session.scalars(
                select(TrainingJob)
                .where(TrainingJob.status.in_(("InProgress", "Stopping")))
                .options(selectinload(TrainingJob.transitions))
                .order_by(TrainingJob.id)
            ).all()
            used = 0
            for job in active:
                if job.pid is None:
                    continue
                if self._watch(session, job):
                    used += job.cpus
            for job in active:
                if job.pid is not None or job.status not in ("InProgress", "Stopping"):
                    continue
                if job.status == "Stopping":
                    job.status = "Stopped"
                    job.ended_at = utcnow()
                    close_transitions(job, "Stopped", "Stopped before it started")
                    continue
                if used + job.cpus > self.settings.cpu_slots:
                    break  # first come, first served: a big job is not starved by small ones
                self._launch(session, job)
                used += job.cpus
            if self.settings.warm_job_process and used == 0 and not self._launcher.alive():
                self._launcher.start()  # it died; bring it back while no job needs the cores

    @property
    def interval(self) -> float:  # type: ignore[override]
        """Tick often while jobs run; process exits and new jobs wake the loop anyway."""
        return 0.5 if self._procs else 2.0

    def _watch(self, session: Session, job: TrainingJob) -> bool:
        """Enforce stop and max runtime; finish the job if its process ended. True if running."""
        ref = self._procs.get(job.name) or ProcessRef(job.pid or 0, job.pid_started_at or 0.0)
        self._procs[job.name] = ref
        if not ref.is_alive():
            if job.status != "Stopping" or not processes.group_alive(ref.pid):
                processes.kill(ref.pid)  # nothing of a finished job outlives it
                self._finish(session, job, exit_code=self._exit_code(ref), interrupted=False)
                return False
            # Stopping: the job's main process went on SIGTERM but something it started
            # ignores it; that gets SIGKILL when the grace period is over, below.
        started = job.pid_started_at or time.time()
        if job.status == "InProgress" and time.time() - started > job.max_runtime_seconds:
            job.status = "Stopping"
            job.stop_requested_at = utcnow()
            job.stop_reason = "MaxRuntimeExceeded"
            transition(
                job, "Stopping", f"Stopping: the job ran past its {job.max_runtime_seconds}s limit"
            )
        if job.status == "Stopping":
            sent = self._terminated_at.get(job.name)
            if sent is None:
                processes.terminate(ref.pid)
                self._terminated_at[job.name] = time.monotonic()
            elif time.monotonic() - sent > self.settings.stop_grace_seconds:
                processes.kill(ref.pid)
        return True

    def _launch(self, session: Session, job: TrainingJob) -> None:
        work_dir = self.jobs_dir / job.name
        if work_dir.exists():
            shutil.rmtree(work_dir)
        layout = JobLayout(work_dir)
        layout.create()
        token = auth.new_token()
        write_json(
            layout.spec_file,
            {
                "name": job.name,
                "kind": job.kind,
                "processing": job.processing,
                "algorithm": job.algorithm,
                "script": job.script,
                "metric_definitions": job.metric_definitions or [],
                "hyperparameters": job.hyperparameters,
                "channels": job.input_data_config,
                "output_path": job.output_path,
                "control_url": self.control_url,
                "envs_dir": str(self.settings.resolved_home / "envs"),
                "storage_url": self.storage_url,
                "num_cpus": job.cpus,
                "instance_type": job.instance_type,
                "hosts": [f"algo-{i + 1}" for i in range(job.instance_count)],
                "current_host": "algo-1",
            },
        )
        transition(job, "Starting", "Launching the training process")
        job.work_dir = str(work_dir)
        job.token_hash = auth.hash_token(token)
        # Committed before the process exists: its first report must find its token.
        session.commit()
        env = job_environment(job, token, self.control_url)
        ref = self._fork_from_launcher(work_dir, layout.log_file, env)
        if ref is None:
            argv = [sys.executable, "-m", "modelyard.runtime.training", str(work_dir)]
            ref = processes.spawn(
                argv, cwd=work_dir, env=env, log_path=layout.log_file, on_exit=self.wake
            )
        self._procs[job.name] = ref
        job.pid = ref.pid
        job.pid_started_at = ref.started_at
        logger.info("launched training job %s (pid %s, %s CPU)", job.name, ref.pid, job.cpus)

    def _fork_from_launcher(
        self, work_dir: Path, log_file: Path, env: dict[str, str]
    ) -> ProcessRef | None:
        pid = self._launcher.launch({"work_dir": str(work_dir), "log": str(log_file), "env": env})
        if pid is None:
            return None
        return ProcessRef(pid, processes.create_time(pid))

    def _exit_code(self, ref: ProcessRef) -> int | None:
        code = ref.exit_code()
        return code if code is not None else self._launcher.exit_codes.pop(ref.pid, None)

    def _finish(
        self, session: Session, job: TrainingJob, exit_code: int | None, interrupted: bool
    ) -> None:
        self._procs.pop(job.name, None)
        self._terminated_at.pop(job.name, None)
        layout = JobLayout(Path(job.work_dir)) if job.work_dir else None
        result = layout.read_result() if layout else None
        stopped = job.stop_requested_at is not None
        if result and result.get("status") == "Completed":
            job.status = "Completed"
            job.model_artifact = result.get("model_artifact")
            close_transitions(job, "Completed", "Training job completed")
        elif stopped:
            job.status = "Stopped"
            reason = job.stop_reason or "Stopped"
            if reason == "MaxRuntimeExceeded":
                job.failure_reason = (
                    f"MaxRuntimeExceeded: the job ran past its "
                    f"{job.max_runtime_seconds}s limit and was stopped"
                )
            close_transitions(job, reason, "Training job stopped")
        elif result and result.get("status") == "Failed":
            job.status = "Failed"
            job.failure_reason = result.get("failure_reason") or "AlgorithmError: unknown error"
            close_transitions(job, "Failed", "Training job failed")
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
                    f"AlgorithmError: the training process {how} without reporting a result"
                    + (f"; last log lines:\n{tail}" if tail else "")
                )
            close_transitions(job, "Failed", "Training job failed")
        job.ended_at = utcnow()
        job.final_metrics = self._final_metrics(session, job)

    def _final_metrics(self, session: Session, job: TrainingJob) -> dict[str, dict[str, object]]:
        last = (
            select(MetricPoint.name, func.max(MetricPoint.id).label("id"))
            .where(MetricPoint.job_id == job.id)
            .group_by(MetricPoint.name)
            .subquery()
        )
        points = session.scalars(select(MetricPoint).join(last, MetricPoint.id == last.c.id))
        return {p.name: {"value": p.value, "timestamp": p.timestamp.isoformat()} for p in points}
