"""Batch transform jobs (SageMaker CreateTransformJob): a model over every object of a prefix.

The job's process starts the model's server (the same one endpoints run), instance_count of
them, and sends each input object to them, whole or split into records (lines) batched up to
MaxPayloadInMB, with max_concurrent_transforms requests in flight per instance. Each input
object gives one `<key>.out` object under the output path. Names and shapes follow SageMaker's,
in snake case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from modelyard.kinds import Column, JobKind
from modelyard.schemas.common import Strict


class TransformInput(Strict):
    s3_uri: str = Field(description="An object, or a prefix: every object under it.")
    content_type: str = "text/csv"
    split_type: Literal["None", "Line"] = Field(
        default="None", description="Line: each line is a record; None: each object is one."
    )


class TransformOutput(Strict):
    s3_output_path: str = Field(description="Where <input key relative to the prefix>.out go.")
    accept: str | None = Field(default=None, description="Default: the input's content type.")
    assemble_with: Literal["None", "Line"] = Field(
        default="None", description="Line: one answer per line; None: answers as they come."
    )


class TransformResources(Strict):
    instance_type: str = "local"
    instance_count: int = Field(default=1, ge=1, le=16)


class DataProcessing(Strict):
    input_filter: str = Field(default="$", description="JSONPath on each input record.")
    output_filter: str = Field(default="$", description="JSONPath on each (joined) answer.")
    join_source: Literal["None", "Input"] = Field(
        default="None", description="Input: each answer joined to its input record."
    )


class CreateTransformJob(Strict):
    name: str
    model_name: str
    transform_input: TransformInput
    transform_output: TransformOutput
    transform_resources: TransformResources = TransformResources()
    batch_strategy: Literal["MultiRecord", "SingleRecord"] = "MultiRecord"
    max_payload_in_mb: int = Field(
        default=6, ge=0, le=100, description="A request's most; 0: each object in one request."
    )
    max_concurrent_transforms: int = Field(default=1, ge=1, le=64, description="Per instance.")
    data_processing: DataProcessing = DataProcessing()
    dead_letter_s3_path: str | None = Field(
        default=None,
        description="Records the model refuses go here (<key>.failed, with the reason) and the "
        "job goes on; without it the first refused record fails the job.",
    )
    max_runtime_seconds: int = Field(default=86400, ge=1)
    environment: dict[str, str] = {}
    tags: dict[str, str] = {}


class TransformProgress(Strict):
    objects: int = 0
    objects_done: int = 0
    records_done: int = 0
    bytes_done: int = 0
    records_failed: int = 0


class TransformJobDescription(CreateTransformJob):
    status: str
    secondary_status: str
    failure_reason: str | None = None
    progress: TransformProgress = TransformProgress()
    outputs: list[str] = Field(default=[], description="The .out objects written.")
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


class TransformJobSummary(Strict):
    name: str
    status: str
    model_name: str
    records_done: int = 0
    created_at: datetime
    ended_at: datetime | None = None


KIND = JobKind(
    name="transform",
    noun="transform job",
    collection="transform-jobs",
    cli="transform",
    help="Batch transform jobs: a model over every object under a prefix.",
    create=CreateTransformJob,
    description=TransformJobDescription,
    summary=TransformJobSummary,
    service="modelyard.services.transform_jobs:LOGIC",
    runtime="modelyard.runtime.transform",
    columns=(
        Column("name", "name"),
        Column("status", "status"),
        Column("model", "model_name"),
        Column("records", "records_done"),
        Column("created", "created_at", 19),
    ),
    has_metrics=True,
    order=60,
)
