"""`modelyard.log_metric`: report a metric from inside a training script, no regex needed.

In a job, the job's own token and the control plane's address are in the environment; each
call is one HTTP report. Outside a job it does nothing and warns once, so the same script runs
on a laptop unchanged.
"""

from __future__ import annotations

import math
import os
import warnings
from datetime import UTC, datetime

import httpx

_warned = False


def log_metric(name: str, value: float, step: int | None = None) -> None:
    global _warned
    token = os.environ.get("MODELYARD_JOB_TOKEN")
    url = os.environ.get("MODELYARD_JOB_CONTROL_URL")
    job = os.environ.get("TRAINING_JOB_NAME")
    if not (token and url and job):
        if not _warned:
            warnings.warn(
                "modelyard.log_metric: not inside a modelyard training job; metrics are dropped",
                stacklevel=2,
            )
            _warned = True
        return
    value = float(value)
    if not math.isfinite(value):
        warnings.warn(f"modelyard.log_metric: {name} is {value}; not recorded", stacklevel=2)
        return
    point = {"name": name, "value": value, "step": step, "timestamp": datetime.now(UTC).isoformat()}
    response = httpx.post(
        f"{url}/api/v1/training-jobs/{job}/report",
        json={"metrics": [point]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
    if response.status_code >= 400:
        warnings.warn(
            f"modelyard.log_metric: the control plane refused {name}: {response.text[:200]}",
            stacklevel=2,
        )
