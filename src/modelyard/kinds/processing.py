"""Processing jobs: the user's data-processing script, inputs in and outputs out."""

from __future__ import annotations

from modelyard.kinds import JobKind
from modelyard.schemas.processing import (
    CreateProcessingJob,
    ProcessingJobDescription,
    ProcessingJobSummary,
)

KIND = JobKind(
    name="processing",
    noun="processing job",
    collection="processing-jobs",
    cli="processing",
    help="Processing jobs.",
    create=CreateProcessingJob,
    description=ProcessingJobDescription,
    summary=ProcessingJobSummary,
    service="modelyard.services.processing_jobs:LOGIC",
    runtime="modelyard.runtime.processing",
    order=20,
)
