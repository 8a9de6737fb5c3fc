"""Training jobs: a built-in algorithm or the user's own script, trained on input channels."""

from __future__ import annotations

from modelyard.kinds import Column, JobKind
from modelyard.schemas.training import (
    CreateTrainingJob,
    TrainingJobDescription,
    TrainingJobSummary,
)

KIND = JobKind(
    name="training",
    noun="training job",
    collection="training-jobs",
    cli="jobs",
    help="Training jobs.",
    create=CreateTrainingJob,
    description=TrainingJobDescription,
    summary=TrainingJobSummary,
    service="modelyard.services.training_jobs:LOGIC",
    runtime="modelyard.runtime.training",
    columns=(
        Column("name", "name"),
        Column("status", "status"),
        Column("secondary", "secondary_status"),
        Column("algorithm", "algorithm"),
        Column("created", "created_at", 19),
    ),
    has_metrics=True,
    order=10,
)
