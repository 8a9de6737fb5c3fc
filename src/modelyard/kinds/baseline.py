"""Data-quality baseline jobs (SageMaker Model Monitor's `suggest_baseline`): statistics.json
and constraints.json of a dataset, usually the training data, for monitoring jobs to check an
endpoint's captured traffic against.

The job reads every object of the dataset (CSV with or without a header row, or JSON Lines),
computes the statistics and suggests constraints (`modelyard.data_quality`), and writes both
files under its output URI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from modelyard.kinds import Column, JobKind
from modelyard.schemas.common import Strict


class CsvFormat(Strict):
    header: bool = Field(default=True, description="The first row names the columns.")
    output_columns_position: Literal["START", "END"] = Field(
        default="START",
        description="Where the label (the model's output, in captured data) is: first, as "
        "SageMaker's built-in algorithms read CSV, or last.",
    )


class JsonFormat(Strict):
    lines: bool = Field(default=True, description="One JSON object per line.")


class DatasetFormat(Strict):
    """SageMaker's DatasetFormat: exactly one of csv or json."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    csv: CsvFormat | None = None
    json_: JsonFormat | None = Field(default=None, alias="json")

    @model_validator(mode="after")
    def _one(self) -> DatasetFormat:
        if (self.csv is None) == (self.json_ is None):
            raise ValueError("give exactly one of csv or json")
        return self


class CreateBaselineJob(Strict):
    name: str
    baseline_dataset: str = Field(description="s3:// URI of the dataset (an object or a prefix).")
    dataset_format: DatasetFormat = DatasetFormat(csv=CsvFormat())
    output_s3_uri: str | None = Field(
        default=None, description="Default: s3://<default bucket>/monitoring/baselines/<name>."
    )
    instance_type: str = "local"
    max_runtime_seconds: int = Field(default=3600, ge=1)
    tags: dict[str, str] = {}


class BaselineJobDescription(Strict):
    name: str
    status: str
    secondary_status: str
    failure_reason: str | None = None
    baseline_dataset: str
    dataset_format: DatasetFormat
    output_s3_uri: str
    statistics: str | None = Field(default=None, description="URI of statistics.json.")
    constraints: str | None = Field(default=None, description="URI of constraints.json.")
    item_count: int | None = None
    features: list[str] = Field(default=[], description="The columns, as the files name them.")
    tags: dict[str, str] = {}
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


class BaselineJobSummary(Strict):
    name: str
    status: str
    baseline_dataset: str
    item_count: int | None = None
    created_at: datetime
    ended_at: datetime | None = None


KIND = JobKind(
    name="baseline",
    noun="baseline job",
    collection="baseline-jobs",
    cli="baselines",
    help="Baseline jobs: a dataset's statistics and suggested constraints, for monitoring.",
    create=CreateBaselineJob,
    description=BaselineJobDescription,
    summary=BaselineJobSummary,
    service="modelyard.services.monitoring_jobs:BASELINE",
    runtime="modelyard.runtime.monitoring",
    columns=(
        Column("name", "name"),
        Column("status", "status"),
        Column("dataset", "baseline_dataset"),
        Column("rows", "item_count"),
        Column("created", "created_at", 19),
    ),
    order=70,
)
