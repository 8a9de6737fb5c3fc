"""Monitoring jobs (a SageMaker Model Monitor execution): an endpoint's captured requests
checked against a baseline, on demand or by a monitoring schedule.

The job reads the capture files of the data window (every variant's, by the hour of their
path and the time of each record), flattens each captured request into rows (CSV or JSON
input; the model's answer takes the label's place when the baseline has one more column than
the requests), computes the rows' statistics.json and checks them against the baseline's
constraints: constraint_violations.json, with SageMaker's check types. A job that finds any
ends Completed with a monitoring_execution_status of CompletedWithViolations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from modelyard.kinds import Column, JobKind
from modelyard.schemas.common import Strict

ExecutionStatus = Literal[
    "Pending", "InProgress", "Completed", "CompletedWithViolations", "Failed", "Stopping",
    "Stopped",
]  # fmt: skip


class CreateMonitoringJob(Strict):
    name: str
    endpoint_name: str | None = Field(
        default=None, description="Check this endpoint's captured data (its DataCaptureConfig)."
    )
    captured_data: str | None = Field(
        default=None, description="Or the capture files under this s3:// prefix."
    )
    statistics: str = Field(description="s3:// URI of the baseline's statistics.json.")
    constraints: str = Field(description="s3:// URI of the baseline's constraints.json.")
    data_window_start: datetime | None = Field(
        default=None, description="Only requests captured at or after this time."
    )
    data_window_end: datetime | None = Field(
        default=None, description="Only requests captured before this time."
    )
    output_s3_uri: str | None = Field(
        default=None,
        description="Default: s3://<default bucket>/monitoring/<endpoint>/<name>.",
    )
    output_columns_position: Literal["START", "END"] = Field(
        default="START",
        description="Where the model's answer goes when the baseline has a label column: "
        "first (as in SageMaker's CSV training data) or last.",
    )
    monitoring_schedule_name: str | None = Field(
        default=None, description="The schedule that started it, if one did."
    )
    instance_type: str = "local"
    max_runtime_seconds: int = Field(default=3600, ge=1)
    tags: dict[str, str] = {}


class Violation(Strict):
    feature_name: str
    constraint_check_type: str
    description: str


class MonitoringJobDescription(Strict):
    name: str
    status: str
    secondary_status: str
    monitoring_execution_status: ExecutionStatus
    failure_reason: str | None = None
    endpoint_name: str | None = None
    monitoring_schedule_name: str | None = None
    captured_data: str
    statistics: str
    constraints: str
    data_window_start: datetime | None = None
    data_window_end: datetime | None = None
    output_s3_uri: str
    records: int | None = Field(default=None, description="Captured requests read.")
    rows: int | None = Field(default=None, description="Rows they held.")
    violations: list[Violation] = []
    constraint_violations: str | None = Field(
        default=None, description="URI of constraint_violations.json."
    )
    current_statistics: str | None = Field(
        default=None, description="URI of the captured rows' statistics.json."
    )
    tags: dict[str, str] = {}
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


class MonitoringJobSummary(Strict):
    name: str
    status: str
    monitoring_execution_status: ExecutionStatus
    endpoint_name: str | None = None
    violations: int | None = None
    created_at: datetime
    ended_at: datetime | None = None


KIND = JobKind(
    name="monitoring",
    noun="monitoring job",
    collection="monitoring-jobs",
    cli="monitoring",
    help="Monitoring jobs: an endpoint's captured data checked against a baseline.",
    create=CreateMonitoringJob,
    description=MonitoringJobDescription,
    summary=MonitoringJobSummary,
    service="modelyard.services.monitoring_jobs:MONITORING",
    runtime="modelyard.runtime.monitoring",
    columns=(
        Column("name", "name"),
        Column("status", "monitoring_execution_status"),
        Column("endpoint", "endpoint_name"),
        Column("violations", "violations"),
        Column("created", "created_at", 19),
    ),
    order=75,
)
