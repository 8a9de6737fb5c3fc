"""Monitoring schedules (Model Monitor's CreateMonitoringSchedule, for data quality)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from modelyard.schemas.common import Strict


class CreateMonitoringSchedule(Strict):
    name: str
    endpoint_name: str = Field(description="An endpoint that captures data.")
    statistics: str = Field(description="s3:// URI of the baseline's statistics.json.")
    constraints: str = Field(description="s3:// URI of the baseline's constraints.json.")
    schedule_expression: str = Field(
        default="cron(0 * ? * * *)",
        description="SageMaker's cron(min hour day month weekday year) (hourly by default), "
        "a 5-field cron, or rate(N seconds|minutes|hours|days).",
    )
    output_s3_uri: str | None = Field(
        default=None, description="Default: s3://<default bucket>/monitoring/<endpoint>."
    )
    output_columns_position: Literal["START", "END"] = "START"
    instance_type: str = "local"
    max_runtime_seconds: int = Field(default=3600, ge=1)
    tags: dict[str, str] = {}


class ExecutionSummary(Strict):
    monitoring_job_name: str
    scheduled_time: datetime
    monitoring_execution_status: str
    violations: int | None = None
    failure_reason: str | None = None


class MonitoringScheduleDescription(Strict):
    name: str
    status: Literal["Pending", "Scheduled", "Stopped", "Failed"]
    endpoint_name: str
    schedule_expression: str
    statistics: str
    constraints: str
    output_s3_uri: str
    next_run_at: datetime | None = None
    last_monitoring_execution_summary: ExecutionSummary | None = None
    failure_reason: str | None = None
    tags: dict[str, str] = {}
    created_at: datetime
