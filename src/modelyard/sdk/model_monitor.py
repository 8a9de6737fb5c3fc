"""Model Monitor's data quality in the SDK, with SageMaker's names.

    monitor = DefaultModelMonitor(session=session)
    monitor.suggest_baseline("train.csv", DatasetFormat.csv(header=False))
    monitor.create_monitoring_schedule(endpoint_input=predictor,
                                       schedule_cron_expression=CronExpressionGenerator.hourly())
    monitor.run_monitoring_job(predictor)          # now, over everything captured so far
    monitor.latest_monitoring_constraint_violations().body_dict["violations"]

The endpoint must capture its requests (a DataCaptureConfig on its endpoint config).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelyard.errors import ModelyardError
from modelyard.names import unique_name
from modelyard.sdk.jobs import Job
from modelyard.sdk.session import Session
from modelyard.storage.uri import parse_s3_uri


class DataCaptureConfig:
    """SageMaker's DataCaptureConfig for `deploy(data_capture_config=...)`: a sample of the
    endpoint's requests (REQUEST) and answers (RESPONSE), as JSON Lines under the destination
    (default s3://<default bucket>/data-capture)."""

    def __init__(
        self,
        enable_capture: bool = True,
        sampling_percentage: float = 20,
        destination_s3_uri: str | None = None,
        capture_options: list[str] | None = None,
        csv_content_types: list[str] | None = None,
        json_content_types: list[str] | None = None,
        **_aws_only: Any,
    ) -> None:
        self.enable_capture = enable_capture
        self.sampling_percentage = sampling_percentage
        self.destination_s3_uri = destination_s3_uri
        self.capture_options = capture_options or ["REQUEST", "RESPONSE"]
        self.csv_content_types = csv_content_types or ["text/csv"]
        self.json_content_types = json_content_types or ["application/json"]

    def to_request(self, default_destination: str) -> dict[str, Any]:
        modes = {"REQUEST": "Input", "RESPONSE": "Output", "INPUT": "Input", "OUTPUT": "Output"}
        unknown = [o for o in self.capture_options if o.upper() not in modes]
        if unknown:
            raise ModelyardError(
                f"capture_options {unknown}: use REQUEST and/or RESPONSE", {"field": "capture"}
            )
        return {
            "enable_capture": self.enable_capture,
            "initial_sampling_percentage": self.sampling_percentage,
            "destination_s3_uri": self.destination_s3_uri or default_destination,
            "capture_options": [{"capture_mode": modes[o.upper()]} for o in self.capture_options],
            "capture_content_type_header": {
                "csv_content_types": self.csv_content_types,
                "json_content_types": self.json_content_types,
            },
        }


class DatasetFormat:
    @staticmethod
    def csv(header: bool = True, output_columns_position: str = "START") -> dict[str, Any]:
        return {"csv": {"header": header, "output_columns_position": output_columns_position}}

    @staticmethod
    def json(lines: bool = True) -> dict[str, Any]:
        return {"json": {"lines": lines}}


class CronExpressionGenerator:
    @staticmethod
    def hourly() -> str:
        return "cron(0 * ? * * *)"

    @staticmethod
    def daily(hour: int = 0) -> str:
        return f"cron(0 {hour} ? * * *)"

    @staticmethod
    def daily_every_x_hours(hour_interval: int, starting_hour: int = 0) -> str:
        return f"cron(0 {starting_hour}/{hour_interval} ? * * *)"


@dataclass
class MonitorFile:
    """A statistics.json, constraints.json or constraint_violations.json: `body_dict` is its
    content, `file_s3_uri` where it is."""

    body_dict: dict[str, Any]
    file_s3_uri: str

    @classmethod
    def from_s3_uri(cls, session: Session, uri: str) -> MonitorFile:
        bucket, key = parse_s3_uri(uri)
        return cls(json.loads(session.read_s3_file(bucket, key)), uri)


Statistics = Constraints = ConstraintViolations = MonitorFile


class BaselineJob(Job):
    kind = "baseline"

    def baseline_statistics(self) -> MonitorFile:
        return MonitorFile.from_s3_uri(self.session, self._uri("statistics"))

    def suggested_constraints(self) -> MonitorFile:
        return MonitorFile.from_s3_uri(self.session, self._uri("constraints"))

    def _uri(self, what: str) -> str:
        uri = self.describe().get(what)
        if not uri:
            raise ModelyardError(f"{self.noun} {self.name} has no {what} yet (not completed)")
        return str(uri)


class MonitoringExecution(Job):
    kind = "monitoring"

    def constraint_violations(self) -> MonitorFile:
        return MonitorFile.from_s3_uri(self.session, self._uri("constraint_violations"))

    def statistics(self) -> MonitorFile:
        return MonitorFile.from_s3_uri(self.session, self._uri("current_statistics"))

    def _uri(self, what: str) -> str:
        uri = self.describe().get(what)
        if not uri:
            raise ModelyardError(f"{self.noun} {self.name} has no {what.replace('_', ' ')}")
        return str(uri)


class DefaultModelMonitor:
    def __init__(
        self,
        role: str | None = None,
        instance_count: int = 1,
        instance_type: str = "local",
        volume_size_in_gb: int | None = None,
        max_runtime_in_seconds: int = 3600,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
        **_aws_only: Any,
    ) -> None:
        self.instance_type = instance_type
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.session = session or sagemaker_session or Session()
        self.latest_baselining_job: BaselineJob | None = None
        self.monitoring_schedule_name: str | None = None

    # -- baseline -----------------------------------------------------------------------------
    def suggest_baseline(
        self,
        baseline_dataset: str,
        dataset_format: dict[str, Any] | None = None,
        output_s3_uri: str | None = None,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
        **_aws_only: Any,
    ) -> BaselineJob:
        """Statistics and suggested constraints of a dataset (an s3:// URI, or a local file or
        directory, uploaded first)."""
        name = job_name or unique_name("baseline")
        if not baseline_dataset.startswith("s3://"):
            baseline_dataset = self.session.upload_data(
                baseline_dataset, key_prefix=f"monitoring/baselines/{name}/input"
            )
        self.session.client.post(
            "/api/v1/baseline-jobs",
            json={
                "name": name,
                "baseline_dataset": baseline_dataset,
                "dataset_format": dataset_format or DatasetFormat.csv(),
                "output_s3_uri": output_s3_uri,
                "instance_type": self.instance_type,
                "max_runtime_seconds": self.max_runtime_in_seconds,
            },
        )
        job = self.latest_baselining_job = BaselineJob(self.session, name)
        if wait:
            job.wait(logs=logs)
        return job

    def baseline_statistics(self) -> MonitorFile:
        return self._baseline().baseline_statistics()

    def suggested_constraints(self) -> MonitorFile:
        return self._baseline().suggested_constraints()

    def _baseline(self) -> BaselineJob:
        if self.latest_baselining_job is None:
            raise ModelyardError("no baseline yet: call suggest_baseline first")
        return self.latest_baselining_job

    def _baseline_uris(self, statistics: Any, constraints: Any) -> tuple[str, str]:
        def uri(given: Any, default: Any) -> str:
            if given is None:
                given = default()
            return given.file_s3_uri if isinstance(given, MonitorFile) else str(given)

        return (
            uri(statistics, lambda: self.baseline_statistics()),
            uri(constraints, lambda: self.suggested_constraints()),
        )

    # -- monitoring ---------------------------------------------------------------------------
    def run_monitoring_job(
        self,
        endpoint_input: Any,
        statistics: Any = None,
        constraints: Any = None,
        job_name: str | None = None,
        data_window_start: datetime | None = None,
        data_window_end: datetime | None = None,
        output_s3_uri: str | None = None,
        wait: bool = True,
        logs: bool = False,
    ) -> MonitoringExecution:
        """Check an endpoint's captured data against the baseline now (by default all of it;
        a schedule checks each window in turn)."""
        stats_uri, constraints_uri = self._baseline_uris(statistics, constraints)
        name = job_name or unique_name("monitoring")
        self.session.client.post(
            "/api/v1/monitoring-jobs",
            json={
                "name": name,
                "endpoint_name": _endpoint_name(endpoint_input),
                "statistics": stats_uri,
                "constraints": constraints_uri,
                "data_window_start": data_window_start and data_window_start.isoformat(),
                "data_window_end": data_window_end and data_window_end.isoformat(),
                "output_s3_uri": output_s3_uri,
                "instance_type": self.instance_type,
                "max_runtime_seconds": self.max_runtime_in_seconds,
            },
        )
        job = MonitoringExecution(self.session, name)
        if wait:
            job.wait(logs=logs)
        return job

    def create_monitoring_schedule(
        self,
        endpoint_input: Any,
        output_s3_uri: str | None = None,
        statistics: Any = None,
        constraints: Any = None,
        monitor_schedule_name: str | None = None,
        schedule_cron_expression: str | None = None,
        **_aws_only: Any,
    ) -> dict[str, Any]:
        stats_uri, constraints_uri = self._baseline_uris(statistics, constraints)
        name = monitor_schedule_name or unique_name("monitoring-schedule")
        description = self.session.client.post(
            "/api/v1/monitoring-schedules",
            json={
                "name": name,
                "endpoint_name": _endpoint_name(endpoint_input),
                "statistics": stats_uri,
                "constraints": constraints_uri,
                "schedule_expression": schedule_cron_expression or CronExpressionGenerator.hourly(),
                "output_s3_uri": output_s3_uri,
                "instance_type": self.instance_type,
                "max_runtime_seconds": self.max_runtime_in_seconds,
            },
        )
        self.monitoring_schedule_name = name
        return description  # type: ignore[no-any-return]

    def describe_schedule(self) -> dict[str, Any]:
        return self.session.client.get(self._schedule_path())  # type: ignore[no-any-return]

    def list_executions(self) -> list[MonitoringExecution]:
        """The schedule's monitoring jobs, oldest first (as SageMaker lists them)."""
        names = [
            e["name"]
            for e in self.session.client.paginate(f"{self._schedule_path()}/executions", {})
        ]
        return [MonitoringExecution(self.session, n) for n in sorted(names)]

    def latest_monitoring_constraint_violations(self) -> MonitorFile | None:
        executions = self.list_executions()
        return executions[-1].constraint_violations() if executions else None

    def latest_monitoring_statistics(self) -> MonitorFile | None:
        executions = self.list_executions()
        return executions[-1].statistics() if executions else None

    def stop_monitoring_schedule(self) -> None:
        self.session.client.post(f"{self._schedule_path()}/stop")

    def start_monitoring_schedule(self) -> None:
        self.session.client.post(f"{self._schedule_path()}/start")

    def delete_monitoring_schedule(self) -> None:
        self.session.client.delete(self._schedule_path())
        self.monitoring_schedule_name = None

    def _schedule_path(self) -> str:
        if self.monitoring_schedule_name is None:
            raise ModelyardError("no monitoring schedule: call create_monitoring_schedule first")
        return f"/api/v1/monitoring-schedules/{self.monitoring_schedule_name}"


def _endpoint_name(endpoint_input: Any) -> str:
    return str(getattr(endpoint_input, "endpoint_name", endpoint_input))


__all__ = [
    "BaselineJob",
    "ConstraintViolations",
    "Constraints",
    "CronExpressionGenerator",
    "DataCaptureConfig",
    "DatasetFormat",
    "DefaultModelMonitor",
    "MonitorFile",
    "MonitoringExecution",
    "Statistics",
]
