"""Cross-validation jobs: k training jobs, one per fold, and their metrics' mean and spread.

The control plane drives a cross-validation job itself (no process of its own). It starts one
ordinary training job per fold, named `<job>-fold-K`; each fold's process splits the source
channel (`train` by default) the same deterministic way, trains on the other folds and is given
its own fold as the `validation` channel, so a built-in algorithm or a SageMaker script sees an
ordinary train / validation job. When every fold has ended, the job reports each metric's
per-fold values, mean and standard deviation (the population one, as scikit-learn reports).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from modelyard.kinds import Column, JobKind
from modelyard.schemas.common import Strict
from modelyard.schemas.training import TrainingJobDefinition

MAX_FOLDS = 20


class FoldSplit(Strict):
    """How a source channel's rows are dealt into folds (the same for every fold's process)."""

    folds: int = Field(default=5, ge=2, le=MAX_FOLDS)
    stratify: bool = Field(
        default=False,
        description="Keep each label's share in every fold (scikit-learn's StratifiedKFold); "
        "the label is the first column, or the `label` hyperparameter's column with a header.",
    )
    shuffle: bool = True
    random_seed: int = Field(default=0, ge=0, le=2**32 - 1)
    channel: str = Field(default="train", description="The channel whose rows are split.")
    validation_channel: str = Field(
        default="validation", description="The channel each fold's held-out rows are given as."
    )


class CreateCrossValidationJob(FoldSplit):
    name: str = Field(max_length=56, description="Folds are named <name>-fold-K.")
    max_parallel_jobs: int | None = Field(
        default=None, ge=1, le=MAX_FOLDS, description="Folds run at once; default all of them."
    )
    training_job_definition: TrainingJobDefinition
    tags: dict[str, str] = {}


class MetricSummary(Strict):
    mean: float
    std: float
    min: float
    max: float
    folds: list[float | None] = Field(description="Each fold's final value (None: not reported).")


class FoldSummary(Strict):
    fold: int
    training_job_name: str
    training_job_status: str
    metrics: dict[str, float] = {}
    failure_reason: str | None = None
    creation_time: datetime
    training_end_time: datetime | None = None


class CrossValidationJobDescription(CreateCrossValidationJob):
    status: str
    failure_reason: str | None = None
    metrics: dict[str, MetricSummary] = Field(
        default={}, description="Every metric all folds reported, once all of them ended."
    )
    fold_jobs: list[FoldSummary] = []
    created_at: datetime
    ended_at: datetime | None = None


class CrossValidationJobSummary(Strict):
    name: str
    status: str
    algorithm: str | None
    folds: int
    done: int
    created_at: datetime
    ended_at: datetime | None = None


KIND = JobKind(
    name="cross-validation",
    noun="cross-validation job",
    collection="cross-validation-jobs",
    cli="cv",
    help="Cross-validation jobs: one training job per fold, metrics as mean and spread.",
    create=CreateCrossValidationJob,
    description=CrossValidationJobDescription,
    summary=CrossValidationJobSummary,
    service="modelyard.services.cross_validation_jobs:LOGIC",
    runtime=None,
    columns=(
        Column("name", "name"),
        Column("status", "status"),
        Column("algorithm", "algorithm"),
        Column("folds", "folds"),
        Column("ended", "done"),
        Column("created", "created_at", 19),
    ),
    children="training-jobs",
    child_summary=FoldSummary,
    order=40,
)
