"""Evaluation jobs: a trained model's metrics, curves and report on a test channel.

The job's process fetches a training job's (or a registered model's) artifact and the test
data, predicts every row, and hands labels and predictions to `modelyard.evaluation`:
`evaluation.json` (metrics, confusion matrix, ROC / PR / calibration curves or residuals,
permutation importance) and a self-contained `report.html` are written next to the model, and
the headline metrics become the job's metrics (`test:accuracy`, `test:rmse`, ...). A training
job's description lists its evaluations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from modelyard.kinds import Column, JobKind
from modelyard.schemas.common import Strict

# SageMaker Autopilot's names, and the ones `modelyard.evaluation` uses.
ProblemType = Literal[
    "BinaryClassification",
    "MulticlassClassification",
    "Regression",
    "binary_classifier",
    "multiclass_classifier",
    "regressor",
]


class CreateEvaluationJob(Strict):
    name: str
    training_job_name: str | None = Field(
        default=None, description="Evaluate this training job's model."
    )
    model_name: str | None = Field(default=None, description="Or a registered model's.")
    test_data: str = Field(description="s3:// URI of the test rows (features and label).")
    content_type: str = "text/csv"
    problem_type: ProblemType | None = Field(
        default=None,
        description="Default: from the model's answers (a predicted_label, or scores in "
        "[0, 1] against 0/1 labels, mean a classifier) and the labels.",
    )
    label: str | None = Field(
        default=None, description="The label column's name, for data with a header row."
    )
    permutation_importance: bool = Field(
        default=True, description="Shuffle each feature to measure how much the score drops."
    )
    random_seed: int = Field(default=0, ge=0, le=2**32 - 1)
    output_path: str | None = Field(
        default=None, description="Default: beside the model, <output_path>/<job>/output/."
    )
    instance_type: str = "local"
    max_runtime_seconds: int = Field(default=3600, ge=1)
    tags: dict[str, str] = {}


class EvaluationJobDescription(Strict):
    name: str
    status: str
    secondary_status: str
    failure_reason: str | None = None
    training_job_name: str | None = None
    model_name: str | None = None
    algorithm: str | None = None
    framework: str | None = Field(default=None, description="For a script's model.")
    model_artifact: str
    test_data: str
    content_type: str
    problem_type: str | None = Field(
        default=None, description="As asked for, or (once it ran) as inferred."
    )
    metrics: dict[str, float] = {}
    evaluation: str | None = Field(default=None, description="URI of evaluation.json.")
    report: str | None = Field(default=None, description="URI of report.html.")
    tags: dict[str, str] = {}
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


class EvaluationJobSummary(Strict):
    name: str
    status: str
    source: str = Field(description="The training job or model evaluated.")
    problem_type: str | None = None
    created_at: datetime
    ended_at: datetime | None = None


KIND = JobKind(
    name="evaluation",
    noun="evaluation job",
    collection="evaluation-jobs",
    cli="evaluations",
    help="Evaluation jobs: a model's metrics and report on test data.",
    create=CreateEvaluationJob,
    description=EvaluationJobDescription,
    summary=EvaluationJobSummary,
    service="modelyard.services.evaluation_jobs:LOGIC",
    runtime="modelyard.runtime.evaluation",
    columns=(
        Column("name", "name"),
        Column("status", "status"),
        Column("source", "source"),
        Column("problem", "problem_type"),
        Column("created", "created_at", 19),
    ),
    has_metrics=True,
    order=50,
)
