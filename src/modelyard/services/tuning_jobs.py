"""Hyperparameter tuning jobs: validate a request, and drive the job from the job controller.

A tuning job has no process. Each controller pass `drive` reads its trials (training jobs whose
parent it is), tells the strategy (`tuning_search.Search`) how the ended ones did, stops the
running ones early stopping gives up on, starts new ones while its limits allow, and ends it
when they are spent or a completion criterion is met. Trials live in the jobs table, so the
strategy is rebuilt from them after a restart: no trial runs twice, no result is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.errors import InvalidHyperparameters, InvalidRequest
from modelyard.kinds import TERMINAL_STATUSES, JobKind, job_kind
from modelyard.kinds.cross_validation import CreateCrossValidationJob
from modelyard.kinds.tuning import (
    CreateTuningJob,
    FinalObjectiveMetric,
    ObjectiveStatusCounters,
    TrainingJobStatusCounters,
    TrialSummary,
    TuningJobDescription,
    TuningJobSummary,
    UpdateTuningJob,
)
from modelyard.schemas.training import CreateTrainingJob
from modelyard.services.jobs import (
    Jobs,
    KindLogic,
    NewJob,
    close_transitions,
    request_stop,
)
from modelyard.services.jobs import children_of as trials_of
from modelyard.store.models import Job, MetricPoint, utcnow
from modelyard.tuning_search import Param, Search, TrialRecord, infer_max_resource, parse_ranges

DEFAULT_MAX_JOBS = 10
# Hyperband's MaxResource, when not given: the template's rounds, under the names built-ins use.
ROUND_KEYS = ("num_round", "num_boost_round", "num_iterations", "epochs", "max_epochs")
SORT_KEYS = ("CreationTime", "Name", "Status", "FinalObjectiveMetricValue")


def trial_name(tuning_job: str, number: int) -> str:
    return f"{tuning_job}-{number + 1:03d}"


def trial_number(tuning_job: str, name: str) -> int:
    return int(name[len(tuning_job) + 1 :]) - 1


def sagemaker_ranges(spec: dict[str, Any]) -> dict[str, Any]:
    """The request's snake-case ranges in the shape the strategy reads (SageMaker's)."""
    ranges = spec["parameter_ranges"]

    def numeric(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "Name": entry["name"],
            "MinValue": entry["min_value"],
            "MaxValue": entry["max_value"],
            "ScalingType": entry["scaling_type"],
        }

    return {
        "ContinuousParameterRanges": [numeric(e) for e in ranges["continuous_parameter_ranges"]],
        "IntegerParameterRanges": [numeric(e) for e in ranges["integer_parameter_ranges"]],
        "CategoricalParameterRanges": [
            {"Name": e["name"], "Values": e["values"]}
            for e in ranges["categorical_parameter_ranges"]
        ],
    }


def objective_of(job: Job, metric: str) -> float | None:
    point = (job.final_metrics or {}).get(metric)
    return None if point is None else float(point["value"])


@dataclass
class Live:
    """A running tuning job's strategy, and how far its trials' metrics have been read."""

    search: Search
    metric_seen: int = 0  # highest metric point id fed to early stopping
    trial_failures: dict[int, str] = field(default_factory=dict)
    ended: dict[int, str] = field(default_factory=dict)  # each ended trial's job status


class TuningLogic(KindLogic):
    def __init__(self) -> None:
        self._live: dict[str, Live] = {}

    # -- validation -----------------------------------------------------------------------
    def prepare(self, jobs: Jobs, request: CreateTuningJob) -> NewJob:
        spec = request.model_dump(exclude={"name", "tags"})
        params = parse_ranges(sagemaker_ranges(spec))
        definition = request.training_job_definition
        static = definition.hyperparameters
        both = sorted(set(static) & {p.name for p in params})
        if both:
            raise InvalidRequest(
                f"{both[0]!r} is both a static hyperparameter and a tuned range; give it once",
                {"field": "parameter_ranges"},
            )
        if request.cross_validation is not None and (
            request.strategy == "Hyperband" or request.training_job_early_stopping_type == "Auto"
        ):
            raise InvalidRequest(
                "early stopping (Auto, or the Hyperband strategy) reads one training job's "
                "per-round metric; a cross-validated trial has one per fold. Use "
                "training_job_early_stopping_type Off with cross_validation",
                {"field": "cross_validation"},
            )
        limits = spec["resource_limits"]
        hyperband = (spec.get("strategy_config") or {}).get("hyperband_strategy_config") or {}
        if request.strategy == "Hyperband":
            hyperband = {
                "min_resource": hyperband.get("min_resource") or 1,
                "max_resource": hyperband.get("max_resource") or rounds_of(static),
            }
            spec["strategy_config"] = {"hyperband_strategy_config": hyperband}
        search = self._search(spec, params, [])  # checks the strategy's own rules
        grid = search.grid_size() if request.strategy == "Grid" else None
        max_jobs = limits["max_number_of_training_jobs"] or grid or DEFAULT_MAX_JOBS
        limits["max_number_of_training_jobs"] = min(max_jobs, grid) if grid else max_jobs
        self._check_template(jobs, request, params)
        if request.warm_start_config is not None:
            with jobs.db.session() as session:
                self._warm_start_points(session, spec, check=True)
        return NewJob(
            name=request.name,
            spec=spec,
            instance_type="none",
            cpus=0,
            max_runtime_seconds=30 * 86400,
            tags=request.tags,
            pending_message="Starting training jobs",
        )

    def _check_template(self, jobs: Jobs, request: CreateTuningJob, params: list[Param]) -> None:
        """The template must be a valid training job at both ends of every range, and a
        built-in algorithm must emit the objective."""
        spec = request.model_dump()
        probes = [{p.name: p.to_string(p.low if p.kind != "Categorical" else p.values[0])
                   for p in params}]  # fmt: skip
        for param in params:
            ends = param.values if param.kind == "Categorical" else (param.low, param.high)
            probes += [{**probes[0], param.name: param.to_string(end)} for end in ends]
        for probe in probes:
            kind, trial = trial_request(spec, trial_name(request.name, 0), probe)
            try:
                jobs.new_row(kind, trial)
            except InvalidHyperparameters as exc:
                raise InvalidRequest(
                    f"parameter_ranges: {exc.message}", {"field": "parameter_ranges", **exc.details}
                ) from None
        algorithm = request.training_job_definition.algorithm
        if algorithm is not None:
            from modelyard.algorithms.registry import get_algorithm

            emitted = [m.name for m in get_algorithm(algorithm).metrics]
            if request.objective.metric_name not in emitted:
                raise InvalidRequest(
                    f"objective metric {request.objective.metric_name!r} is not one that "
                    f"{algorithm} emits; choose one of {', '.join(emitted)}",
                    {"field": "objective.metric_name", "allowed": emitted},
                )

    def _warm_start_points(
        self, session: Session, spec: dict[str, Any], check: bool = False
    ) -> list[tuple[dict[str, str], float]]:
        """(tuned hyperparameters, objective) of every trial of the parent tuning jobs."""
        config = spec.get("warm_start_config")
        if not config:
            return []
        points: list[tuple[dict[str, str], float]] = []
        for parent_name in config["parent_hyper_parameter_tuning_jobs"]:
            parent = session.scalar(select(Job).where(Job.name == parent_name))
            if parent is None or parent.kind != "tuning":
                raise InvalidRequest(
                    f"warm start: no hyperparameter tuning job named {parent_name!r}",
                    {"field": "warm_start_config"},
                )
            if check:
                check_parent(spec, parent)
            metric = parent.spec["objective"]["metric_name"]
            for trial in trials_of(session, parent.name):
                value = objective_of(trial, metric)
                if value is not None:
                    points.append((hyperparameters_of(trial), value))
        return points

    def _search(
        self, spec: dict[str, Any], params: list[Param], trials: list[TrialRecord],
        warm_start: list[tuple[dict[str, str], float]] = (),  # type: ignore[assignment]
    ) -> Search:  # fmt: skip
        hyperband = (spec.get("strategy_config") or {}).get("hyperband_strategy_config") or {}
        return Search(
            spec["strategy"],
            params,
            spec["objective"]["type"],
            random_seed=spec.get("random_seed"),
            max_jobs=spec["resource_limits"]["max_number_of_training_jobs"],
            early_stopping=spec["training_job_early_stopping_type"],
            min_resource=hyperband.get("min_resource") or 1,
            max_resource=hyperband.get("max_resource"),
            warm_start=warm_start,
            trials=trials,
        )

    # -- driving --------------------------------------------------------------------------
    def live(self, session: Session, job: Job) -> Live:
        live = self._live.get(job.name)
        if live is None:  # first pass since this server started: rebuild from the trials
            params = parse_ranges(sagemaker_ranges(job.spec))
            names = {p.name for p in params}
            metric = job.spec["objective"]["metric_name"]
            records = []
            trials = trials_of(session, job.name)
            steps = per_step(session, [t.id for t in trials], metric)
            for trial in trials:
                number = trial_number(job.name, trial.name)
                tuned = {k: v for k, v in hyperparameters_of(trial).items() if k in names}
                record = trial_record(number, tuned, trial, objective_of(trial, metric))
                record.intermediate = steps.get(trial.id, {})
                records.append(record)
            warm = self._warm_start_points(session, job.spec)
            live = Live(self._search(job.spec, params, records, warm))
            live.ended = {
                trial_number(job.name, t.name): t.status
                for t in trials
                if t.status in TERMINAL_STATUSES
            }
            self._live[job.name] = live
        return live

    def drive(self, jobs: Jobs, session: Session, job: Job, children: Sequence[Job]) -> None:
        try:
            self._drive(jobs, session, job, children)
        except BaseException:
            self._live.pop(job.name, None)  # rebuilt from the stored trials next pass
            raise

    def _drive(self, jobs: Jobs, session: Session, job: Job, children: Sequence[Job]) -> None:
        live = self.live(session, job)
        search, spec = live.search, job.spec
        metric = spec["objective"]["metric_name"]
        running_records = {n for n, state in search.states().items() if state == "Running"}
        # Only the trials still running, which the pass has loaded already (and those that
        # just ended among them): a pass must not cost more as the trials add up.
        trials = {trial_number(job.name, t.name): t for t in children}
        missing = [trial_name(job.name, n) for n in running_records if n not in trials]
        for trial in trials_named(session, job.name, missing):  # ended outside this pass
            trials[trial_number(job.name, trial.name)] = trial
        if job.status == "InProgress":
            # Before the ended ones are collected: a short trial's per-round metrics arrive
            # with its end, and the rule must see them as the curve of a finished trial.
            running = [trials[n] for n in running_records if n in trials]
            self._early_stop(session, live, job.name, running, metric)
        for number in sorted(running_records):
            trial = trials.get(number)
            if trial is not None and trial.status in TERMINAL_STATUSES:
                self._collect(live, number, trial, metric)
        active = [t for t in trials.values() if t.status not in TERMINAL_STATUSES]
        reason = self._completion(job, search, spec)
        if job.status == "Stopping" or (reason and not reason.startswith("MaxNumber")):
            for trial in active:
                if trial.status == "InProgress":
                    request_stop(trial, f"Stopping: {reason or 'the tuning job is stopping'}")
        if reason is None and job.status == "InProgress":
            limit = spec["resource_limits"]["max_parallel_training_jobs"]
            while len(active) < limit:
                asked = search.ask()
                if asked is None:
                    break
                active.append(self._start_trial(jobs, session, job, *asked))
            if not active:
                reason = "the strategy has nothing left to try"
        job.result = self._summary(job, search, live, reason)
        if not active and (job.status == "Stopping" or reason):
            self._end(job, search, reason)

    def _collect(self, live: Live, number: int, trial: Job, metric: str) -> None:
        objective = objective_of(trial, metric)
        live.ended[number] = trial.status
        if trial.status == "Completed" and objective is not None:
            live.search.tell(number, "Completed", objective)
        elif trial.status == "Stopped":
            live.search.tell(number, "Stopped", objective)
        else:
            live.search.tell(number, "Failed")
            live.trial_failures[number] = (
                trial.failure_reason
                if trial.status == "Failed"
                else f"the training job did not report the objective metric {metric!r}"
            )

    def _early_stop(
        self, session: Session, live: Live, parent: str, running: list[Job], metric: str
    ) -> None:
        """Feed the strategy the new per-round points of the trials it has running (those that
        just ended included), and stop the running ones its rule says to."""
        search = live.search
        if search.strategy != "Hyperband" and search.early_stopping != "Auto":
            return
        by_id = {t.id: t for t in running if t.status != "Stopping"}
        if not by_id:
            return
        points = session.scalars(
            select(MetricPoint)
            .where(
                MetricPoint.job_id.in_(by_id),
                MetricPoint.name == metric,
                MetricPoint.step.is_not(None),
                MetricPoint.id > live.metric_seen,
            )
            .order_by(MetricPoint.id)
        ).all()
        for point in points:
            live.metric_seen = max(live.metric_seen, point.id)
            trial = by_id[point.job_id]
            number, step = trial_number(parent, trial.name), int(point.step or 0)
            stop = search.report(number, step, point.value)
            if trial.status != "InProgress" or not stop:
                continue  # ended already: its curve counts, there is nothing to stop
            if search.strategy == "Hyperband" and step >= (search.max_resource or step + 1):
                # SageMaker stops a trial once it has used MaxResource, pruned or not.
                why = f"Hyperband: MaxResource ({search.max_resource}) reached"
            else:
                why = "Hyperband" if search.strategy == "Hyperband" else "early stopping"
            request_stop(
                trial,
                f"Stopping: {why} at step {point.step} ({metric} = {point.value:.6g})",
                reason="EarlyStopped",
            )

    def _completion(self, job: Job, search: Search, spec: dict[str, Any]) -> str | None:
        criteria = spec.get("tuning_job_completion_criteria") or {}
        target = criteria.get("target_objective_metric_value")
        patience = (criteria.get("best_objective_not_improving") or {}).get(
            "max_number_of_training_jobs_not_improving"
        )
        if target is not None and search.target_reached(target):
            return f"TargetObjectiveMetricValue {target:g} reached"
        if patience and search.not_improving(patience):
            return f"BestObjectiveNotImproving: no better objective in the last {patience} jobs"
        limit = spec["resource_limits"]["max_number_of_training_jobs"]
        if len(search.states()) >= limit:
            return f"MaxNumberOfTrainingJobs ({limit}) reached"
        return None

    def _start_trial(
        self, jobs: Jobs, session: Session, job: Job, number: int, tuned: dict[str, str]
    ) -> Job:
        kind, request = trial_request(job.spec, trial_name(job.name, number), tuned)
        trial = jobs.new_row(kind, request, parent=job.name)
        trial.tags = {**trial.tags, "modelyard:tuning-job": job.name}
        session.add(trial)
        return trial

    def _summary(self, job: Job, search: Search, live: Live, reason: str | None) -> dict[str, Any]:
        states = search.states()
        # A pass runs this over every trial: plain counts, one model of each at the end.
        by_status = Counter(live.ended.get(number, "InProgress") for number in states)
        pending = by_status["InProgress"] + by_status["Stopping"]
        failed = sum(
            1 for number, state in states.items() if state == "Failed" and number in live.ended
        )
        counters = TrainingJobStatusCounters(
            in_progress=pending,
            completed=by_status["Completed"],
            stopped=by_status["Stopped"],
            non_retryable_error=by_status["Failed"],
        )
        objectives = ObjectiveStatusCounters(
            pending=pending, failed=failed, succeeded=len(states) - pending - failed
        )
        best = search.best()
        return {
            "training_job_status_counters": counters.model_dump(),
            "objective_status_counters": objectives.model_dump(),
            "best_training_job": trial_name(job.name, best.number) if best else None,
            "best_objective": best.objective if best else None,
            "trials": len(states),
            "completion_reason": reason,
            "trial_failures": {str(k): v for k, v in live.trial_failures.items()},
        }

    def _end(self, job: Job, search: Search, reason: str | None) -> None:
        self._live.pop(job.name, None)
        job.ended_at = utcnow()
        if job.status == "Stopping":
            job.status = "Stopped"
            job.result = {**job.result, "completion_reason": "stopped by request"}
            close_transitions(job, "Stopped", "Hyperparameter tuning job stopped")
        elif search.best() is None:
            failures = [r for r in search.trials if r.state == "Failed"]
            first = (
                job.result.get("trial_failures", {}).get(str(failures[0].number))
                if failures
                else None
            )
            job.status = "Failed"
            job.failure_reason = (
                "No training job reported the objective metric "
                f"{job.spec['objective']['metric_name']!r}"
                + (f"; the first failure: {first}" if first else "")
            )
            close_transitions(job, "Failed", "Hyperparameter tuning job failed")
        else:
            job.status = "Completed"
            close_transitions(job, "Completed", f"Hyperparameter tuning job completed: {reason}")

    # -- a user's stop and limit changes ---------------------------------------------------
    def update(self, jobs: Jobs, session: Session, job: Job, change: UpdateTuningJob) -> None:
        limits = dict(job.spec["resource_limits"])
        started = len(trials_of(session, job.name))
        if change.max_number_of_training_jobs is not None:
            if change.max_number_of_training_jobs < max(started, 1):
                raise InvalidRequest(
                    f"max_number_of_training_jobs must be at least {started}: that many "
                    "training jobs have already started",
                    {"field": "max_number_of_training_jobs"},
                )
            limits["max_number_of_training_jobs"] = change.max_number_of_training_jobs
        if change.max_parallel_training_jobs is not None:
            limits["max_parallel_training_jobs"] = change.max_parallel_training_jobs
        job.spec = {**job.spec, "resource_limits": limits}
        live = self._live.get(job.name)
        if live is not None:
            live.search.max_jobs = limits["max_number_of_training_jobs"]

    # -- reading --------------------------------------------------------------------------
    def describe(self, job: Job) -> TuningJobDescription:
        result = job.result or {}
        best = None
        session = Session.object_session(job)
        if result.get("best_training_job") and session is not None:
            trial = session.scalar(select(Job).where(Job.name == result["best_training_job"]))
            best = trial_summary(job, trial) if trial is not None else None
        return TuningJobDescription(
            name=job.name,
            **{k: v for k, v in job.spec.items() if k in TuningJobDescription.model_fields},
            tags=job.tags,
            status=job.status,
            failure_reason=job.failure_reason,
            training_job_status_counters=TrainingJobStatusCounters(
                **result.get("training_job_status_counters", {})
            ),
            objective_status_counters=ObjectiveStatusCounters(
                **result.get("objective_status_counters", {})
            ),
            best_training_job=best,
            completion_reason=result.get("completion_reason"),
            created_at=job.created_at,
            ended_at=job.ended_at,
        )

    def summarize(self, job: Job) -> TuningJobSummary:
        return TuningJobSummary(
            name=job.name,
            status=job.status,
            strategy=job.spec["strategy"],
            objective=f"{job.spec['objective']['type']} {job.spec['objective']['metric_name']}",
            trials=(job.result or {}).get("trials", 0),
            best_objective=(job.result or {}).get("best_objective"),
            created_at=job.created_at,
            ended_at=job.ended_at,
        )

    def children(self, jobs: Jobs, session: Session, job: Job, **query: Any) -> list[TrialSummary]:
        sort_by, order = query.get("sort_by", "CreationTime"), query.get("sort_order")
        if sort_by not in SORT_KEYS:
            raise InvalidRequest(
                f"sort_by {sort_by!r}: use one of {', '.join(SORT_KEYS)}", {"field": "sort_by"}
            )
        if order not in ("Ascending", "Descending"):
            raise InvalidRequest("sort_order: use Ascending or Descending", {"field": "sort_order"})
        summaries = [trial_summary(job, t) for t in trials_of(session, job.name)]
        if query.get("status"):
            summaries = [s for s in summaries if s.training_job_status == query["status"]]
        if sort_by == "FinalObjectiveMetricValue":
            scored = [s for s in summaries if s.final_hyper_parameter_tuning_job_objective_metric]
            scored.sort(
                key=lambda s: s.final_hyper_parameter_tuning_job_objective_metric.value,  # type: ignore[union-attr]
                reverse=order == "Descending",
            )
            return scored + [s for s in summaries if s not in scored]  # unscored last
        key = {"CreationTime": "creation_time", "Name": "training_job_name",
               "Status": "training_job_status"}[sort_by]  # fmt: skip
        return sorted(summaries, key=lambda s: getattr(s, key), reverse=order == "Descending")


def trials_named(session: Session, tuning_job: str, names: list[str]) -> list[Job]:
    if not names:
        return []
    query = select(Job).where(Job.parent == tuning_job, Job.name.in_(names)).order_by(Job.id)
    return list(session.scalars(query))


def trial_request(spec: dict[str, Any], name: str, tuned: dict[str, str]) -> tuple[JobKind, Any]:
    """The kind and request of one trial: a training job of the template with the tuned
    hyperparameters, or a cross-validation job of it when the tuning job cross-validates."""
    definition = spec["training_job_definition"]
    definition = {**definition, "hyperparameters": {**definition["hyperparameters"], **tuned}}
    if spec.get("cross_validation"):
        request = CreateCrossValidationJob(
            **spec["cross_validation"], name=name, training_job_definition=definition
        )
        return job_kind("cross-validation"), request
    return job_kind("training"), CreateTrainingJob(**definition, name=name)


def hyperparameters_of(trial: Job) -> dict[str, str]:
    spec = trial.spec
    if "training_job_definition" in spec:  # a cross-validated trial
        return dict(spec["training_job_definition"]["hyperparameters"])
    return dict(spec.get("hyperparameters") or {})


def rounds_of(static: dict[str, str]) -> int | None:
    for key in ROUND_KEYS:
        try:
            return max(1, int(float(static[key])))
        except (KeyError, ValueError):
            continue
    return infer_max_resource(static)


def per_step(session: Session, job_ids: list[int], metric: str) -> dict[int, dict[int, float]]:
    """Each job's per-step values of a metric (its first value at each step)."""
    steps: dict[int, dict[int, float]] = {}
    points = session.execute(
        select(MetricPoint.job_id, MetricPoint.step, MetricPoint.value)
        .where(MetricPoint.job_id.in_(job_ids), MetricPoint.name == metric)
        .where(MetricPoint.step.is_not(None))
        .order_by(MetricPoint.id)
    )
    for job_id, step, value in points:
        steps.setdefault(job_id, {}).setdefault(int(step), float(value))
    return steps


def trial_record(
    number: int, tuned: dict[str, str], trial: Job, objective: float | None
) -> TrialRecord:
    if trial.status not in TERMINAL_STATUSES:
        return TrialRecord(number, tuned)
    if trial.status == "Completed" and objective is not None:
        return TrialRecord(number, tuned, "Completed", objective)
    if trial.status == "Stopped":
        return TrialRecord(number, tuned, "Stopped", objective)
    return TrialRecord(number, tuned, "Failed")


def trial_summary(tuning: Job, trial: Job) -> TrialSummary:
    objective = tuning.spec["objective"]
    names = {r["name"] for group in tuning.spec["parameter_ranges"].values() for r in group}
    value = objective_of(trial, objective["metric_name"])
    ended = trial.status in TERMINAL_STATUSES
    failed_objective = ended and (value is None or trial.status == "Failed")
    return TrialSummary(
        training_job_name=trial.name,
        training_job_status=trial.status,
        tuned_hyper_parameters={k: v for k, v in hyperparameters_of(trial).items() if k in names},
        final_hyper_parameter_tuning_job_objective_metric=FinalObjectiveMetric(
            type=objective["type"], metric_name=objective["metric_name"], value=value
        )
        if value is not None and trial.status != "Failed"
        else None,
        objective_status="Pending" if not ended else "Failed" if failed_objective else "Succeeded",
        failure_reason=(tuning.result or {})
        .get("trial_failures", {})
        .get(str(trial_number(tuning.name, trial.name))),
        creation_time=trial.created_at,
        training_start_time=trial.started_at,
        training_end_time=trial.ended_at,
    )


def check_parent(spec: dict[str, Any], parent: Job) -> None:
    """A warm-start parent must have ended, and for IdenticalDataAndAlgorithm have trained the
    same algorithm (or script) on the same data with the same static hyperparameters."""
    if parent.status not in TERMINAL_STATUSES:
        raise InvalidRequest(
            f"warm start: parent tuning job {parent.name!r} is still {parent.status}; a parent "
            "must have ended",
            {"field": "warm_start_config"},
        )
    if spec["warm_start_config"]["warm_start_type"] != "IdenticalDataAndAlgorithm":
        return
    mine, theirs = spec["training_job_definition"], parent.spec["training_job_definition"]
    for what, same in (
        ("algorithm", mine.get("algorithm") == theirs.get("algorithm")),
        ("training script", script_identity(mine) == script_identity(theirs)),
        ("input data", mine.get("inputs") == theirs.get("inputs")),
    ):
        if not same:
            raise InvalidRequest(
                f"warm start: parent tuning job {parent.name!r} used a different {what}; "
                "IdenticalDataAndAlgorithm needs the same, TransferLearning allows changes",
                {"field": "warm_start_config", "parent": parent.name},
            )


def script_identity(definition: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two templates' scripts the same: each tuning job uploads its own copy of the
    source dir, so the entry point and framework say it, not the upload's URI."""
    script = definition.get("script") or {}
    return script.get("entry_point"), script.get("framework"), script.get("framework_version")


LOGIC = TuningLogic()
