"""Cross-validation jobs: validate a request, and drive the job from the job controller.

Each pass `drive` starts folds (training jobs whose parent it is) while `max_parallel_jobs`
allows, stops the others once one fails or a stop is asked for, and when every fold has ended
summarises their final metrics. The mean of each metric becomes the job's own final metric,
so a tuning job can use a cross-validation job as a trial and read its objective like a
training job's.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean, pstdev
from typing import Any

from sqlalchemy.orm import Session

from modelyard.errors import InvalidRequest
from modelyard.kinds import TERMINAL_STATUSES, job_kind
from modelyard.kinds.cross_validation import (
    CreateCrossValidationJob,
    CrossValidationJobDescription,
    CrossValidationJobSummary,
    FoldSummary,
    MetricSummary,
)
from modelyard.schemas.training import CreateTrainingJob
from modelyard.services.jobs import (
    Jobs,
    KindLogic,
    NewJob,
    children_of,
    close_transitions,
    request_stop,
)
from modelyard.store.models import Job, utcnow

SPLIT_FIELDS = ("folds", "stratify", "shuffle", "random_seed", "channel", "validation_channel")


def fold_name(job: str, fold: int) -> str:
    return f"{job}-fold-{fold + 1}"


def fold_number(job: str, name: str) -> int:
    return int(name[len(job) + len("-fold-") :]) - 1


def fold_request(spec: dict[str, Any], name: str, fold: int) -> CreateTrainingJob:
    """The training job of one fold: the template, plus the held-out fold as a channel (its
    rows are dealt out by the fold's process; until then it names the source's data)."""
    definition = spec["training_job_definition"]
    source = next(c for c in definition["inputs"] if c["channel"] == spec["channel"])
    held_out = {**source, "channel": spec["validation_channel"]}
    return CreateTrainingJob(
        **{**definition, "inputs": [*definition["inputs"], held_out]},
        name=fold_name(name, fold),
    )


class CrossValidationLogic(KindLogic):
    def prepare(self, jobs: Jobs, request: CreateCrossValidationJob) -> NewJob:
        definition = request.training_job_definition
        channels = [c.channel for c in definition.inputs]
        if request.channel not in channels:
            raise InvalidRequest(
                f"no {request.channel!r} channel to split into folds; the channels given: "
                f"{', '.join(channels) or 'none'}",
                {"field": "channel", "allowed": channels},
            )
        if request.validation_channel == request.channel:
            raise InvalidRequest(
                "validation_channel must differ from channel: each fold holds out its own rows "
                f"of {request.channel!r} under another name",
                {"field": "validation_channel"},
            )
        if request.validation_channel in channels:
            raise InvalidRequest(
                f"leave the {request.validation_channel!r} channel out: cross-validation holds "
                f"out each fold of {request.channel!r} as {request.validation_channel!r} itself",
                {"field": "training_job_definition.inputs"},
            )
        source = next(c for c in definition.inputs if c.channel == request.channel)
        check_splittable(source.content_type)
        spec = request.model_dump(exclude={"name", "tags"})
        spec["max_parallel_jobs"] = min(request.max_parallel_jobs or request.folds, request.folds)
        # The template, with a held-out channel, must be a valid training job: checked now
        # rather than failing k times later.
        jobs.new_row(job_kind("training"), fold_request(spec, request.name, 0))
        return NewJob(
            name=request.name,
            spec=spec,
            instance_type="none",
            cpus=0,
            max_runtime_seconds=definition.max_runtime_seconds * request.folds,
            tags=request.tags,
            pending_message="Starting the folds' training jobs",
        )

    # -- driving --------------------------------------------------------------------------
    def drive(self, jobs: Jobs, session: Session, job: Job, children: Sequence[Job]) -> None:
        # A job has a handful of folds: read them all, ended ones included.
        spec = job.spec
        folds = {fold_number(job.name, f.name): f for f in folds_of(session, job.name)}
        active = [f for f in folds.values() if f.status not in TERMINAL_STATUSES]
        broken = [f for f in folds.values() if f.status in ("Failed", "Stopped")]
        if job.status == "Stopping" or broken:
            why = "the cross-validation job is stopping" if not broken else (
                f"fold {fold_number(job.name, broken[0].name) + 1} {broken[0].status.lower()}"
            )  # fmt: skip
            for fold in active:
                if fold.status == "InProgress":
                    request_stop(fold, f"Stopping: {why}")
        else:
            if job.started_at is None:
                job.started_at = utcnow()
            while len(active) < spec["max_parallel_jobs"] and len(folds) < spec["folds"]:
                number = len(folds)
                folds[number] = self._start_fold(jobs, session, job, number)
                active.append(folds[number])
        job.result = {"done": len(folds) - len(active)}
        if not active and (job.status == "Stopping" or broken or len(folds) == spec["folds"]):
            self._end(jobs, job, folds)

    def _start_fold(self, jobs: Jobs, session: Session, job: Job, number: int) -> Job:
        fold = jobs.new_row(
            job_kind("training"), fold_request(job.spec, job.name, number), parent=job.name
        )
        fold.spec = {
            **fold.spec,
            "fold": {"fold": number, **{k: job.spec[k] for k in SPLIT_FIELDS}},
        }
        fold.tags = {**fold.tags, "modelyard:cross-validation-job": job.name}
        session.add(fold)
        return fold

    def _end(self, jobs: Jobs, job: Job, folds: dict[int, Job]) -> None:
        ordered = [folds[n] for n in sorted(folds)]
        failed = next((f for f in ordered if f.status == "Failed"), None)
        stopped = next((f for f in ordered if f.status == "Stopped"), None)
        job.ended_at = utcnow()
        if job.status == "Stopping":
            job.status = "Stopped"
            close_transitions(job, "Stopped", "Cross-validation job stopped")
        elif failed is not None or stopped is not None:
            fold = failed or stopped
            assert fold is not None
            job.status = "Failed"
            job.failure_reason = f"fold {fold_number(job.name, fold.name) + 1} ({fold.name}) " + (
                f"failed: {fold.failure_reason}" if failed else "was stopped"
            )
            close_transitions(job, "Failed", "Cross-validation job failed")
        else:
            summaries = summarize_metrics(ordered)
            job.result = {**job.result, "metrics": summaries}
            # The mean is the job's own final metric: what a tuning job reads of a trial.
            now = job.ended_at.isoformat()
            job.final_metrics = {
                name: {"value": summary["mean"], "timestamp": now}
                for name, summary in summaries.items()
            }
            job.status = "Completed"
            close_transitions(
                job, "Completed", f"Cross-validation job completed: {len(ordered)} folds"
            )
        if job.parent is not None:
            jobs.wake()  # its parent (a tuning job) has a trial to collect

    # -- reading --------------------------------------------------------------------------
    def describe(self, job: Job) -> CrossValidationJobDescription:
        session = Session.object_session(job)
        folds = folds_of(session, job.name) if session is not None else []
        fields = CrossValidationJobDescription.model_fields
        summaries = (job.result or {}).get("metrics", {})
        return CrossValidationJobDescription(
            name=job.name,
            **{k: v for k, v in job.spec.items() if k in fields},
            tags=job.tags,
            status=job.status,
            failure_reason=job.failure_reason,
            metrics={name: MetricSummary(**summary) for name, summary in summaries.items()},
            fold_jobs=[fold_summary(job.name, f) for f in folds],
            created_at=job.created_at,
            ended_at=job.ended_at,
        )

    def summarize(self, job: Job) -> CrossValidationJobSummary:
        definition = job.spec["training_job_definition"]
        return CrossValidationJobSummary(
            name=job.name,
            status=job.status,
            algorithm=definition.get("algorithm")
            or (definition.get("script") or {}).get("entry_point"),
            folds=job.spec["folds"],
            done=(job.result or {}).get("done", 0),
            created_at=job.created_at,
            ended_at=job.ended_at,
        )

    def children(self, jobs: Jobs, session: Session, job: Job, **query: Any) -> list[FoldSummary]:
        folds = [fold_summary(job.name, f) for f in folds_of(session, job.name)]
        if query.get("status"):
            folds = [f for f in folds if f.training_job_status == query["status"]]
        return folds


def summarize_metrics(folds: list[Job]) -> dict[str, dict[str, Any]]:
    """Each metric every fold reported: its per-fold values, mean, spread and range."""
    finals = [{k: float(v["value"]) for k, v in (f.final_metrics or {}).items()} for f in folds]
    common = set.intersection(*(set(f) for f in finals)) if finals else set()
    summaries = {}
    for name in sorted(common):
        values = [f[name] for f in finals]
        summaries[name] = {
            "mean": fmean(values),
            "std": pstdev(values),
            "min": min(values),
            "max": max(values),
            "folds": values,
        }
    return summaries


def check_splittable(content_type: str) -> None:
    from modelyard.algorithms.data import parse_content_type

    parse_content_type(content_type)  # raises, naming the supported types


def folds_of(session: Session | None, parent: str) -> list[Job]:
    return children_of(session, parent) if session is not None else []


def fold_summary(parent: str, fold: Job) -> FoldSummary:
    return FoldSummary(
        fold=fold_number(parent, fold.name) + 1,
        training_job_name=fold.name,
        training_job_status=fold.status,
        metrics={k: float(v["value"]) for k, v in (fold.final_metrics or {}).items()},
        failure_reason=fold.failure_reason,
        creation_time=fold.created_at,
        training_end_time=fold.ended_at,
    )


LOGIC = CrossValidationLogic()
