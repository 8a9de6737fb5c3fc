from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from modelyard.schemas.common import Strict

DEFAULT_MAX_RUNTIME_SECONDS = 86400


class Channel(Strict):
    channel: str = Field(description="Channel name, e.g. train or validation.")
    uri: str = Field(description="s3://bucket/key-or-prefix or file:///path")
    content_type: str = "text/csv"


class ScriptSpec(Strict):
    """Script mode: the user's own training code, run as SageMaker's framework containers do."""

    entry_point: str = Field(description="The script to run, relative to the source dir.")
    source_dir: str = Field(description="s3:// URI of sourcedir.tar.gz holding the code.")
    framework: str | None = Field(default=None, description="sklearn, xgboost or pytorch.")
    framework_version: str | None = None
    py_version: str | None = None
    distribution: dict[str, Any] = Field(
        default={},
        description='{"torch_distributed": {"enabled": true}} (or "pytorchddp") sets the '
        "torchrun environment on every host.",
    )
    checkpoint_s3_uri: str | None = Field(
        default=None,
        description="Restored into SM_CHECKPOINT_DIR at start and synced from it while the "
        "job runs, so a job started again with the same URI resumes.",
    )


class MetricDefinitionSpec(Strict):
    """SageMaker's metric_definitions: the first group of regex, in a log line, is the value."""

    name: str
    regex: str


class TrainingJobDefinition(Strict):
    """Everything a training job is made of but its name: also a tuning job's template."""

    algorithm: str | None = None
    script: ScriptSpec | None = None
    metric_definitions: list[MetricDefinitionSpec] = []
    hyperparameters: dict[str, Any] = {}
    inputs: list[Channel] = []
    output_path: str | None = None
    instance_type: str = "local"
    instance_count: int = Field(default=1, ge=1)
    max_runtime_seconds: int = Field(default=DEFAULT_MAX_RUNTIME_SECONDS, ge=1)
    environment: dict[str, str] = {}
    tags: dict[str, str] = {}

    @field_validator("hyperparameters")
    @classmethod
    def _as_strings(cls, value: dict[str, Any]) -> dict[str, Any]:
        # SageMaker keeps every hyperparameter as a string; the algorithm parses and checks it.
        return {
            str(k): (
                v
                if isinstance(v, str)
                else ("true" if v is True else "false")
                if isinstance(v, bool)
                else str(v)
            )
            for k, v in value.items()
            if v is not None
        }


class CreateTrainingJob(TrainingJobDefinition):
    name: str


class StatusTransition(Strict):
    status: str
    status_message: str = ""
    start_time: datetime
    end_time: datetime | None = None


class FinalMetric(Strict):
    name: str
    value: float
    timestamp: datetime


class EvaluationLink(Strict):
    """An evaluation job of a training job's model, as its description lists it."""

    name: str
    status: str
    metrics: dict[str, float] = {}
    report: str | None = None


class TrainingJobDescription(Strict):
    name: str
    status: str
    secondary_status: str
    failure_reason: str | None = None
    algorithm: str | None
    script: ScriptSpec | None = None
    metric_definitions: list[MetricDefinitionSpec] = []
    hyperparameters: dict[str, str]
    inputs: list[Channel]
    output_path: str
    instance_type: str
    instance_count: int
    cpus: int
    max_runtime_seconds: int
    environment: dict[str, str]
    tags: dict[str, str]
    model_artifact: str | None = None
    tuning_job_name: str | None = Field(
        default=None, description="The tuning job this job is a trial of, if any."
    )
    final_metrics: list[FinalMetric] = []
    evaluations: list[EvaluationLink] = []
    secondary_status_transitions: list[StatusTransition] = []
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    billable_seconds: int | None = None


class TrainingJobSummary(Strict):
    name: str
    status: str
    secondary_status: str
    algorithm: str | None
    created_at: datetime
    ended_at: datetime | None = None


class MetricPointIn(Strict):
    name: str
    value: float
    step: int | None = None
    timestamp: datetime | None = None


class StatusReport(Strict):
    secondary_status: str
    status_message: str = ""
    timestamp: datetime | None = Field(
        default=None, description="When the job entered the status; the server's now if unset."
    )


class JobReport(Strict):
    """What a job process reports about itself (with its own job token): the secondary
    statuses it entered since its last report, in order, and metric points."""

    secondary_status: str | None = None
    status_message: str = ""
    statuses: list[StatusReport] = Field(default=[], max_length=64)
    metrics: list[MetricPointIn] = []

    def status_changes(self) -> list[StatusReport]:
        single = (
            [StatusReport(secondary_status=self.secondary_status,
                          status_message=self.status_message)]
            if self.secondary_status is not None else []
        )  # fmt: skip
        return [*self.statuses, *single]


class MetricPointOut(Strict):
    name: str
    value: float
    step: int | None
    timestamp: datetime


class LogChunk(Strict):
    text: str
    next_offset: int
    complete: bool = Field(description="True when the job has ended and nothing more will come.")
