"""Shared helpers of the algorithm tests (no tests here): SageMaker-shaped work dirs on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms.base import Algorithm, TrainingContext
from modelyard.algorithms.conformance import Recorder


def write_csv(path: Path, X: np.ndarray, y: np.ndarray | None = None) -> Path:
    """SageMaker CSV (label first, no header), float32 values written so they read back exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = X if y is None else np.column_stack([y, X])
    np.savetxt(path, data, delimiter=",", fmt="%.9g")
    return path


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


def train_unlabelled(
    algorithm: Algorithm,
    work_dir: Path,
    hyperparameters: dict[str, Any],
    channels: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]],
    content_types: dict[str, str] | None = None,
) -> tuple[TrainingContext, Recorder]:
    """Write each channel in its content type (every column a feature; an (X, y) pair is
    written label first, for text/csv;label_size=1) and train an unsupervised algorithm."""
    from modelyard.algorithms.conformance import write_channel
    from modelyard.algorithms.data import CSV, parse_content_type

    content_types = {name: (content_types or {}).get(name, CSV) for name in channels}
    paths = {}
    for name, data in channels.items():
        directory = work_dir / "input" / "data" / name
        X, y = data if isinstance(data, tuple) else (data, None)
        written = parse_content_type(content_types[name]).canonical
        if written == CSV:
            write_csv(directory / f"{name}.csv", X, y)
        else:
            write_channel(directory, written, X, y)
        paths[name] = directory
    recorder = Recorder()
    ctx = TrainingContext(
        work_dir=work_dir,
        hyperparameters=algorithm.validate(hyperparameters),
        channels=paths,
        content_types=content_types,
        report_metric=recorder.metric,
        num_cpus=2,
        log=recorder.log,
    )
    algorithm.train(ctx)
    return ctx, recorder
