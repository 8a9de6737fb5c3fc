"""TrainingJobAnalytics: a training job's metric time series as a pandas DataFrame."""

from __future__ import annotations

from typing import Any

from modelyard.sdk.session import Session


class TrainingJobAnalytics:
    """SageMaker's name and shape: `dataframe()` has columns timestamp, metric_name, value
    (timestamp in seconds since the job started, as SageMaker reports it), plus step."""

    def __init__(
        self,
        training_job_name: str,
        metric_names: list[str] | None = None,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
    ) -> None:
        self.name = training_job_name
        self.metric_names = metric_names
        self.session = session or sagemaker_session or Session()

    def dataframe(self, force_refresh: bool = False) -> Any:
        import pandas as pd

        description = self.session.describe_training_job(self.name)
        points = self.session.client.get(f"/api/v1/training-jobs/{self.name}/metrics")
        if self.metric_names is not None:
            points = [p for p in points if p["name"] in self.metric_names]
        frame = pd.DataFrame(points, columns=["timestamp", "name", "value", "step"])
        frame = frame.rename(columns={"name": "metric_name"})
        start = pd.Timestamp(description["started_at"] or description["created_at"])
        frame["timestamp"] = (pd.to_datetime(frame["timestamp"]) - start).dt.total_seconds()
        return frame[["timestamp", "metric_name", "value", "step"]]
