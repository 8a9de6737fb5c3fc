from __future__ import annotations

from datetime import datetime

from pydantic import Field

from modelyard.schemas.common import Strict
from modelyard.schemas.training import DEFAULT_MAX_RUNTIME_SECONDS, LogChunk

PROCESSING_ROOT = "/opt/ml/processing"

__all__ = [
    "CreateProcessingJob",
    "LogChunk",
    "ProcessingInputSpec",
    "ProcessingJobDescription",
    "ProcessingJobSummary",
    "ProcessingOutputSpec",
]


class ProcessingInputSpec(Strict):
    input_name: str
    source: str = Field(description="s3:// URI (an object or a prefix) to copy in")
    destination: str = Field(description=f"a directory under {PROCESSING_ROOT}")


class ProcessingOutputSpec(Strict):
    output_name: str
    source: str = Field(description=f"a directory under {PROCESSING_ROOT} the code writes")
    destination: str = Field(description="s3:// URI the directory's files are uploaded under")


class CreateProcessingJob(Strict):
    name: str
    code: str = Field(description="s3:// URI of the script, or of a sourcedir.tar.gz")
    entry_point: str | None = Field(
        default=None, description="with a sourcedir.tar.gz as code: the script inside it"
    )
    command: list[str] = Field(default=["python3"], min_length=1)
    arguments: list[str] = []
    inputs: list[ProcessingInputSpec] = []
    outputs: list[ProcessingOutputSpec] = []
    instance_type: str = "local"
    instance_count: int = Field(default=1, ge=1, le=1)
    max_runtime_seconds: int = Field(default=DEFAULT_MAX_RUNTIME_SECONDS, ge=1)
    environment: dict[str, str] = {}
    tags: dict[str, str] = {}


class ProcessingJobDescription(CreateProcessingJob):
    status: str
    failure_reason: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


class ProcessingJobSummary(Strict):
    name: str
    status: str
    created_at: datetime
    ended_at: datetime | None = None
