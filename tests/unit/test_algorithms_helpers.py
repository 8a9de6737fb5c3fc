"""Shared helpers of the algorithm tests (no tests here): SageMaker-shaped work dirs on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms.base import Algorithm, TrainingContext


def write_csv(path: Path, X: np.ndarray, y: np.ndarray | None = None) -> Path:
    """SageMaker CSV (label first, no header), float32 values written so they read back exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = X if y is None else np.column_stack([y, X])
    np.savetxt(path, data, delimiter=",", fmt="%.9g")
    return path


@dataclass
class Recorder:
    """A metric sink and a log sink that remember everything."""

    metrics: list[tuple[str, float, int | None]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def metric(self, name: str, value: float, step: int | None) -> None:
        self.metrics.append((name, value, step))

    def log(self, line: str) -> None:
        self.lines.append(line)

    def series(self, name: str) -> list[float]:
        return [v for n, v, s in self.metrics if n == name and s is not None]

    def final(self) -> dict[str, float]:
        return {n: v for n, v, s in self.metrics if s is None}


def train_on(
    algorithm: Algorithm,
    work_dir: Path,
    hyperparameters: dict[str, Any],
    channels: dict[str, tuple[np.ndarray, np.ndarray]],
    num_cpus: int = 2,
) -> tuple[TrainingContext, Recorder]:
    """Write each channel as one CSV under work_dir/input/data/<channel>/ and train."""
    paths = {}
    for name, (X, y) in channels.items():
        directory = work_dir / "input" / "data" / name
        write_csv(directory / f"{name}.csv", X, y)
        paths[name] = directory
    recorder = Recorder()
    ctx = TrainingContext(
        work_dir=work_dir,
        hyperparameters=algorithm.validate(hyperparameters),
        channels=paths,
        content_types={name: "text/csv" for name in paths},
        report_metric=recorder.metric,
        num_cpus=num_cpus,
        log=recorder.log,
    )
    algorithm.train(ctx)
    return ctx, recorder


def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X.astype(np.float32), y.astype(np.float32)


def split(X: np.ndarray, y: np.ndarray, at: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": (X[:at], y[:at]), "validation": (X[at:], y[at:])}
