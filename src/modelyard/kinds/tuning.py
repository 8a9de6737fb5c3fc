"""Hyperparameter tuning jobs (SageMaker Automatic Model Tuning): trials are training jobs.

The control plane drives a tuning job itself (no process of its own): each pass it asks the
strategy for hyperparameters, starts trials as ordinary training jobs named after it, reads
their objective, stops the ones early stopping gives up on, and ends when its limits or
completion criteria are met. Names and shapes follow SageMaker's, in snake case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from modelyard.kinds import Column, JobKind
from modelyard.kinds.cross_validation import FoldSplit
from modelyard.schemas.common import Strict
from modelyard.schemas.training import TrainingJobDefinition

Strategy = Literal["Bayesian", "Random", "Grid", "Hyperband"]
ScalingType = Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"]


class ContinuousParameterRange(Strict):
    name: str
    min_value: float
    max_value: float
    scaling_type: ScalingType = "Auto"


class IntegerParameterRange(Strict):
    name: str
    min_value: int
    max_value: int
    scaling_type: ScalingType = "Auto"


class CategoricalParameterRange(Strict):
    name: str
    values: list[str]


class ParameterRanges(Strict):
    continuous_parameter_ranges: list[ContinuousParameterRange] = []
    integer_parameter_ranges: list[IntegerParameterRange] = []
    categorical_parameter_ranges: list[CategoricalParameterRange] = []


class TuningObjective(Strict):
    type: Literal["Maximize", "Minimize"] = "Maximize"
    metric_name: str = Field(description="e.g. validation:auc, or a metric_definitions name")


class ResourceLimits(Strict):
    max_number_of_training_jobs: int | None = Field(
        default=None, ge=1, le=10000, description="Default: the grid size for Grid, else 10."
    )
    max_parallel_training_jobs: int = Field(default=1, ge=1, le=100)


class HyperbandStrategyConfig(Strict):
    min_resource: int = Field(default=1, ge=1, description="Fewest rounds a trial gets.")
    max_resource: int | None = Field(
        default=None, ge=1, description="Most rounds; default the template's epochs/num_round."
    )


class StrategyConfig(Strict):
    hyperband_strategy_config: HyperbandStrategyConfig | None = None


class BestObjectiveNotImproving(Strict):
    max_number_of_training_jobs_not_improving: int = Field(ge=3)


class CompletionCriteria(Strict):
    target_objective_metric_value: float | None = None
    best_objective_not_improving: BestObjectiveNotImproving | None = None


class WarmStartConfig(Strict):
    parent_hyper_parameter_tuning_jobs: list[str] = Field(min_length=1, max_length=5)
    warm_start_type: Literal["IdenticalDataAndAlgorithm", "TransferLearning"]


class CreateTuningJob(Strict):
    name: str = Field(max_length=32, description="Trials are named <name>-NNN, as SageMaker's.")
    strategy: Strategy = "Bayesian"
    objective: TuningObjective
    parameter_ranges: ParameterRanges
    resource_limits: ResourceLimits = ResourceLimits()
    training_job_early_stopping_type: Literal["Off", "Auto"] = "Off"
    strategy_config: StrategyConfig | None = None
    tuning_job_completion_criteria: CompletionCriteria | None = None
    warm_start_config: WarmStartConfig | None = None
    random_seed: int | None = None
    cross_validation: FoldSplit | None = Field(
        default=None,
        description="Make each trial a cross-validation job; the objective is its folds' mean.",
    )
    training_job_definition: TrainingJobDefinition
    tags: dict[str, str] = {}


class UpdateTuningJob(Strict):
    """Raise a running tuning job's limits (never below what it has already started)."""

    max_number_of_training_jobs: int | None = Field(default=None, ge=1, le=10000)
    max_parallel_training_jobs: int | None = Field(default=None, ge=1, le=100)


class TrainingJobStatusCounters(Strict):
    completed: int = 0
    in_progress: int = 0
    retryable_error: int = 0
    non_retryable_error: int = 0
    stopped: int = 0


class ObjectiveStatusCounters(Strict):
    succeeded: int = 0
    pending: int = 0
    failed: int = 0


class FinalObjectiveMetric(Strict):
    type: Literal["Maximize", "Minimize"]
    metric_name: str
    value: float


class TrialSummary(Strict):
    """SageMaker's HyperParameterTrainingJobSummary."""

    training_job_name: str
    training_job_status: str
    tuned_hyper_parameters: dict[str, str]
    final_hyper_parameter_tuning_job_objective_metric: FinalObjectiveMetric | None = None
    objective_status: Literal["Succeeded", "Pending", "Failed"]
    failure_reason: str | None = None
    creation_time: datetime
    training_start_time: datetime | None = None
    training_end_time: datetime | None = None


class TuningJobDescription(CreateTuningJob):
    status: str
    failure_reason: str | None = None
    training_job_status_counters: TrainingJobStatusCounters
    objective_status_counters: ObjectiveStatusCounters
    best_training_job: TrialSummary | None = None
    completion_reason: str | None = Field(
        default=None, description="Why it ended: its limit, a completion criterion, a stop."
    )
    created_at: datetime
    ended_at: datetime | None = None


class TuningJobSummary(Strict):
    name: str
    status: str
    strategy: str
    objective: str
    trials: int
    best_objective: float | None = None
    created_at: datetime
    ended_at: datetime | None = None


KIND = JobKind(
    name="tuning",
    noun="hyperparameter tuning job",
    collection="hyper-parameter-tuning-jobs",
    cli="tuning",
    help="Hyperparameter tuning jobs: many training jobs, one objective.",
    create=CreateTuningJob,
    description=TuningJobDescription,
    summary=TuningJobSummary,
    service="modelyard.services.tuning_jobs:LOGIC",
    runtime=None,
    columns=(
        Column("name", "name"),
        Column("status", "status"),
        Column("strategy", "strategy"),
        Column("objective", "objective"),
        Column("trials", "trials"),
        Column("best", "best_objective"),
        Column("created", "created_at", 19),
    ),
    children="training-jobs",
    child_summary=TrialSummary,
    update=UpdateTuningJob,
    order=30,
)
