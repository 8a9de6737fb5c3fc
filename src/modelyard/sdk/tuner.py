"""HyperparameterTuner with the SageMaker Python SDK's names: tune an estimator's
hyperparameters over many training jobs, then take, attach to or deploy the best.

    tuner = HyperparameterTuner(estimator, "validation:auc",
                                {"eta": ContinuousParameter(0.01, 0.3, "Logarithmic"),
                                 "max_depth": IntegerParameter(2, 8)},
                                max_jobs=20, max_parallel_jobs=2)
    tuner.fit({"train": train, "validation": valid})
    predictor = tuner.deploy(initial_instance_count=1, instance_type="local")
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console

from modelyard.errors import ModelyardError, NotFound
from modelyard.kinds import TERMINAL_STATUSES
from modelyard.names import unique_name
from modelyard.sdk.cross_validation import CrossValidationJob
from modelyard.sdk.estimator import Estimator
from modelyard.sdk.jobs import POLL_SECONDS, Job, TrainingJob
from modelyard.sdk.predictor import Predictor
from modelyard.sdk.session import Session

AWS_ONLY = ("role", "vpc_config", "autotune", "hyperparameters_to_keep_static")
ANALYTICS_COLUMNS = (
    "TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue", "TrainingStartTime",
    "TrainingEndTime", "TrainingElapsedTimeSeconds",
)  # fmt: skip


@dataclass(frozen=True)
class ContinuousParameter:
    min_value: float
    max_value: float
    scaling_type: str = "Auto"

    def as_range(self, name: str) -> dict[str, Any]:
        return {"name": name, "min_value": self.min_value, "max_value": self.max_value,
                "scaling_type": self.scaling_type}  # fmt: skip


@dataclass(frozen=True)
class IntegerParameter(ContinuousParameter):
    min_value: int  # type: ignore[assignment]
    max_value: int  # type: ignore[assignment]


@dataclass(frozen=True)
class CategoricalParameter:
    values: list[Any]

    def __init__(self, values: Any) -> None:
        listed = list(values) if isinstance(values, (list, tuple, set)) else [values]
        object.__setattr__(self, "values", listed)

    def as_range(self, name: str) -> dict[str, Any]:
        return {"name": name, "values": [encode(v) for v in self.values]}


class WarmStartTypes:
    IDENTICAL_DATA_AND_ALGORITHM = "IdenticalDataAndAlgorithm"
    TRANSFER_LEARNING = "TransferLearning"


@dataclass
class WarmStartConfig:
    warm_start_type: str = WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM
    parents: set[str] | list[str] = field(default_factory=set)


@dataclass
class TuningJobCompletionCriteriaConfig:
    max_number_training_jobs_not_improving: int | None = None
    complete_on_convergence: bool | None = None  # accepted for SageMaker code; not used here
    target_objective_metric_value: float | None = None


def encode(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class TuningJob(Job):
    kind = "tuning"

    def trials(self, sort_by: str = "CreationTime", sort_order: str = "Descending") -> list[Any]:
        return self.session.client.get(  # type: ignore[no-any-return]
            f"{self._path}/training-jobs", params={"sort_by": sort_by, "sort_order": sort_order}
        )

    def wait(self, logs: bool = True, out: TextIO | None = None) -> dict[str, Any]:
        """Block until the tuning job ends, with a live line: trials done / running / failed
        and the best objective so far."""
        console = Console(file=out or sys.stderr, highlight=False, soft_wrap=True)
        started = time.monotonic()
        description = self.describe()
        shown: set[str] = set()
        with console.status("", spinner="dots") as status:
            while description["status"] not in TERMINAL_STATUSES:
                if logs:
                    self._print_ended_trials(console, shown)
                status.update(f"[bold]{self.name}[/]: {progress(description)} "
                              f"({time.monotonic() - started:.0f}s)")  # fmt: skip
                time.sleep(POLL_SECONDS * 3)
                description = self.describe()
        if logs:
            self._print_ended_trials(console, shown)
        console.print(f"{self.name}: {description['status']} - {progress(description)}"
                      + (f" ({description['completion_reason']})"
                         if description.get("completion_reason") else ""))  # fmt: skip
        return self.completed(description, description.get("completion_reason"))

    def _print_ended_trials(self, console: Console, shown: set[str]) -> None:
        for trial in sorted(self.trials(), key=lambda t: t["training_job_name"]):
            if trial["training_job_status"] in TERMINAL_STATUSES:
                if trial["training_job_name"] not in shown:
                    shown.add(trial["training_job_name"])
                    console.print(trial_line(trial), highlight=False)


def progress(description: dict[str, Any]) -> str:
    counts = description["training_job_status_counters"]
    done = counts["completed"] + counts["stopped"] + counts["non_retryable_error"]
    limit = description["resource_limits"]["max_number_of_training_jobs"]
    best = description.get("best_training_job")
    metric = best and best["final_hyper_parameter_tuning_job_objective_metric"]
    return (
        f"{done}/{limit} done, {counts['in_progress']} running, "
        f"{description['objective_status_counters']['failed']} failed"
        + (
            f"; best {metric['metric_name']} {metric['value']:.6g} ({best['training_job_name']})"
            if metric
            else ""
        )  # fmt: skip
    )


def trial_line(trial: dict[str, Any]) -> str:
    metric = trial.get("final_hyper_parameter_tuning_job_objective_metric")
    tuned = ", ".join(f"{k}={v}" for k, v in sorted(trial["tuned_hyper_parameters"].items()))
    value = f"{metric['metric_name']}={metric['value']:.6g}" if metric else "no objective"
    return f"  {trial['training_job_name']}: {trial['training_job_status']}, {value} ({tuned})"


class HyperparameterTuner:
    def __init__(
        self,
        estimator: Estimator,
        objective_metric_name: str,
        hyperparameter_ranges: dict[str, ContinuousParameter | CategoricalParameter],
        metric_definitions: list[dict[str, str]] | None = None,
        strategy: str = "Bayesian",
        objective_type: str = "Maximize",
        max_jobs: int | None = None,
        max_parallel_jobs: int = 1,
        tags: dict[str, str] | None = None,
        base_tuning_job_name: str | None = None,
        warm_start_config: WarmStartConfig | None = None,
        strategy_config: dict[str, Any] | None = None,
        completion_criteria_config: TuningJobCompletionCriteriaConfig | None = None,
        early_stopping_type: str = "Off",
        random_seed: int | None = None,
        cross_validation_folds: int | None = None,
        cross_validation_config: dict[str, Any] | None = None,
        **aws_only: Any,
    ) -> None:
        """SageMaker's arguments, plus `cross_validation_folds=k`: each trial is then a k-fold
        cross-validation job and its objective the folds' mean (`cross_validation_config`
        takes stratify, shuffle, random_seed and channel, as `Estimator.cross_validate`)."""
        unknown = sorted(set(aws_only) - set(AWS_ONLY))
        if unknown:
            raise TypeError(f"HyperparameterTuner got unexpected argument(s): {unknown}")
        if aws_only:
            warnings.warn(f"ignored on modelyard: {', '.join(sorted(aws_only))}", stacklevel=2)
        self.estimator = estimator
        self.objective_metric_name = objective_metric_name
        self._hyperparameter_ranges = dict(hyperparameter_ranges)
        self.metric_definitions = metric_definitions or []
        self.strategy = strategy
        self.objective_type = objective_type
        self.max_jobs = max_jobs
        self.max_parallel_jobs = max_parallel_jobs
        self.tags = tags or {}
        self.base_tuning_job_name = base_tuning_job_name
        self.warm_start_config = warm_start_config
        self.strategy_config = strategy_config
        self.completion_criteria_config = completion_criteria_config
        self.early_stopping_type = early_stopping_type
        self.random_seed = random_seed
        self.cross_validation: dict[str, Any] | None = (
            {"folds": cross_validation_folds, **(cross_validation_config or {})}
            if cross_validation_folds is not None
            else None
        )
        self.latest_tuning_job: TuningJob | None = None

    def hyperparameter_ranges(self) -> dict[str, list[dict[str, Any]]]:
        ranges: dict[str, list[dict[str, Any]]] = {
            "continuous_parameter_ranges": [], "integer_parameter_ranges": [],
            "categorical_parameter_ranges": [],
        }  # fmt: skip
        for name, parameter in self._hyperparameter_ranges.items():
            group = (
                "categorical" if isinstance(parameter, CategoricalParameter)
                else "integer" if isinstance(parameter, IntegerParameter) else "continuous"
            )  # fmt: skip
            ranges[f"{group}_parameter_ranges"].append(parameter.as_range(name))
        return ranges

    def _session(self) -> Session:
        return self.estimator._session()

    # -- running --------------------------------------------------------------------------
    def fit(
        self,
        inputs: Any = None,
        job_name: str | None = None,
        wait: bool = True,
        logs: bool = True,
        **_sagemaker_only: Any,
    ) -> None:
        session = self._session()
        base = self.base_tuning_job_name or self.estimator.base_name()
        name = job_name or unique_name(base[:17])  # 32 characters at most, as on SageMaker
        definition = self.estimator.training_job_definition(session, name, inputs)
        tuned = set(self._hyperparameter_ranges)
        definition["hyperparameters"] = {
            k: v for k, v in definition["hyperparameters"].items() if k not in tuned
        }
        known = {d["name"] for d in definition["metric_definitions"]}
        definition["metric_definitions"] += [
            {"name": d.get("Name", d.get("name")), "regex": d.get("Regex", d.get("regex"))}
            for d in self.metric_definitions
            if d.get("Name", d.get("name")) not in known
        ]
        body: dict[str, Any] = {
            "name": name,
            "strategy": self.strategy,
            "objective": {"type": self.objective_type, "metric_name": self.objective_metric_name},
            "parameter_ranges": self.hyperparameter_ranges(),
            "resource_limits": {
                "max_number_of_training_jobs": self.max_jobs,
                "max_parallel_training_jobs": self.max_parallel_jobs,
            },
            "training_job_early_stopping_type": self.early_stopping_type,
            "random_seed": self.random_seed,
            "cross_validation": self.cross_validation,
            "training_job_definition": definition,
            "tags": self.tags,
        }
        if self.strategy_config:
            hyperband = self.strategy_config.get("hyperband_strategy_config") or {}
            body["strategy_config"] = {"hyperband_strategy_config": {
                "min_resource": hyperband.get("min_resource"),
                "max_resource": hyperband.get("max_resource"),
            }}  # fmt: skip
        criteria = self.completion_criteria_config
        if criteria is not None:
            patience = criteria.max_number_training_jobs_not_improving
            body["tuning_job_completion_criteria"] = {
                "target_objective_metric_value": criteria.target_objective_metric_value,
                "best_objective_not_improving": {
                    "max_number_of_training_jobs_not_improving": patience
                } if patience else None,
            }  # fmt: skip
        if self.warm_start_config is not None:
            body["warm_start_config"] = {
                "parent_hyper_parameter_tuning_jobs": sorted(self.warm_start_config.parents),
                "warm_start_type": self.warm_start_config.warm_start_type,
            }
        session.client.post("/api/v1/hyper-parameter-tuning-jobs", json=body)
        self.latest_tuning_job = TuningJob(session, name)
        if wait:
            self.latest_tuning_job.wait(logs=logs)

    def _job(self) -> TuningJob:
        if self.latest_tuning_job is None:
            raise ModelyardError("this tuner has not run: call fit() first, or attach()")
        return self.latest_tuning_job

    def wait(self) -> dict[str, Any]:
        return self._job().wait()

    def describe(self) -> dict[str, Any]:
        return self._job().describe()

    def stop_tuning_job(self) -> None:
        self._job().stop()

    def raise_limits(
        self, max_jobs: int | None = None, max_parallel_jobs: int | None = None
    ) -> dict[str, Any]:
        """Let a running tuning job start more training jobs, or more at once."""
        return self._session().client.request(  # type: ignore[no-any-return]
            "PATCH",
            f"/api/v1/hyper-parameter-tuning-jobs/{self._job().name}",
            json={"max_number_of_training_jobs": max_jobs,
                  "max_parallel_training_jobs": max_parallel_jobs},
        ).json()  # fmt: skip

    # -- results --------------------------------------------------------------------------
    def best_training_job(self) -> str:
        best = self.describe().get("best_training_job")
        if not best:
            raise ModelyardError(
                f"tuning job {self._job().name} has no best training job yet: no training "
                "job has reported the objective metric"
            )
        return str(best["training_job_name"])

    def best_estimator(self) -> Estimator:
        """The best trial's estimator. A cross-validated trial has no model of its own (only
        its folds have), so its hyperparameters are trained on all of the data first, as
        training job `<trial>-full` (once; later calls attach to it)."""
        best, session = self.best_training_job(), self._session()
        if not self.describe().get("cross_validation"):
            return Estimator.attach(best, session=session)
        full = f"{best}-full"
        try:
            session.describe_training_job(full)
        except NotFound:
            definition = CrossValidationJob(session, best).describe()["training_job_definition"]
            session.client.post("/api/v1/training-jobs", json={"name": full, **definition})
        TrainingJob(session, full).wait()
        return Estimator.attach(full, session=session)

    def deploy(
        self, initial_instance_count: int = 1, instance_type: str = "local", **kwargs: Any
    ) -> Predictor:
        return self.best_estimator().deploy(
            initial_instance_count=initial_instance_count, instance_type=instance_type, **kwargs
        )

    def analytics(self) -> HyperparameterTuningJobAnalytics:
        return HyperparameterTuningJobAnalytics(self._job().name, session=self._session())

    @classmethod
    def attach(
        cls,
        tuning_job_name: str,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
    ) -> HyperparameterTuner:
        session = session or sagemaker_session or Session()
        description = TuningJob(session, tuning_job_name).describe()
        definition = description["training_job_definition"]
        estimator = Estimator(
            algorithm=definition["algorithm"],
            entry_point=(definition.get("script") or {}).get("entry_point"),
            hyperparameters=definition["hyperparameters"],
            instance_type=definition["instance_type"],
            output_path=definition["output_path"],
            session=session,
        )
        ranges: dict[str, Any] = {}
        for group, maker in (("continuous", ContinuousParameter), ("integer", IntegerParameter)):
            for r in description["parameter_ranges"][f"{group}_parameter_ranges"]:
                ranges[r["name"]] = maker(r["min_value"], r["max_value"], r["scaling_type"])
        for r in description["parameter_ranges"]["categorical_parameter_ranges"]:
            ranges[r["name"]] = CategoricalParameter(r["values"])
        limits = description["resource_limits"]
        tuner = cls(
            estimator,
            description["objective"]["metric_name"],
            ranges,
            strategy=description["strategy"],
            objective_type=description["objective"]["type"],
            max_jobs=limits["max_number_of_training_jobs"],
            max_parallel_jobs=limits["max_parallel_training_jobs"],
            early_stopping_type=description["training_job_early_stopping_type"],
            random_seed=description.get("random_seed"),
        )
        tuner.cross_validation = description.get("cross_validation")
        tuner.latest_tuning_job = TuningJob(session, tuning_job_name)
        return tuner


class HyperparameterTuningJobAnalytics:
    """SageMaker's columns: the tuned hyperparameters, then TrainingJobName, TrainingJobStatus,
    FinalObjectiveValue, TrainingStartTime, TrainingEndTime, TrainingElapsedTimeSeconds."""

    def __init__(
        self,
        hyperparameter_tuning_job_name: str,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
    ) -> None:
        self.name = hyperparameter_tuning_job_name
        self.session = session or sagemaker_session or Session()

    def description(self, force_refresh: bool = False) -> dict[str, Any]:
        return TuningJob(self.session, self.name).describe()

    def training_job_summaries(self, force_refresh: bool = False) -> list[dict[str, Any]]:
        return TuningJob(self.session, self.name).trials()  # type: ignore[no-any-return]

    def dataframe(self, force_refresh: bool = False) -> Any:
        import pandas as pd

        rows = []
        for trial in self.training_job_summaries():
            metric = trial.get("final_hyper_parameter_tuning_job_objective_metric")
            start, end = trial.get("training_start_time"), trial.get("training_end_time")
            elapsed = (
                (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds()
                if start and end else None
            )  # fmt: skip
            rows.append({
                **trial["tuned_hyper_parameters"],
                "TrainingJobName": trial["training_job_name"],
                "TrainingJobStatus": trial["training_job_status"],
                "FinalObjectiveValue": metric["value"] if metric else None,
                "TrainingStartTime": pd.Timestamp(start) if start else None,
                "TrainingEndTime": pd.Timestamp(end) if end else None,
                "TrainingElapsedTimeSeconds": elapsed,
            })  # fmt: skip
        frame = pd.DataFrame(rows)
        tuned = [c for c in frame.columns if c not in ANALYTICS_COLUMNS]
        return frame.reindex(columns=[*tuned, *ANALYTICS_COLUMNS])
