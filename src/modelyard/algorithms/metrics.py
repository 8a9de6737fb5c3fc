"""The final metrics every supervised algorithm reports, by one set of names.

Regression: ``rmse``, ``mae``, ``mse``, ``r2``. Classification: ``accuracy``, ``precision``,
``recall``, ``f1`` (of class 1 for a binary classifier, macro-averaged for multiclass), ``auc``
(one-vs-rest macro for multiclass) and ``log_loss`` where the model gives probabilities. Each is
reported as ``<channel>:<name>`` (``train:rmse``, ``validation:auc``, ``test:f1`` ...).
"""

from __future__ import annotations

import numpy as np

from modelyard.algorithms.base import MetricDefinition

REGRESSION_METRICS = ("rmse", "mae", "mse", "r2")
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "auc", "log_loss")
MAXIMIZE = frozenset({"r2", "accuracy", "precision", "recall", "f1", "auc"})


def definitions(
    names: tuple[str, ...], channels: tuple[str, ...] = ("train", "validation", "test")
) -> tuple[MetricDefinition, ...]:
    """`channel:name` metric definitions, with the direction tuning should push each."""
    return tuple(
        MetricDefinition(f"{channel}:{name}", "Maximize" if name in MAXIMIZE else "Minimize")
        for channel in channels
        for name in names
    )


def regression(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    residual = np.asarray(y, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    mse = float(np.mean(residual**2))
    variance = float(np.var(np.asarray(y, dtype=np.float64)))
    return {
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(residual))),
        "mse": mse,
        "r2": 1.0 - mse / variance if variance > 0 else 0.0,
    }


def classification(
    y: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray | None,
    num_classes: int,
) -> dict[str, float]:
    """`probabilities`: (n, num_classes) class probabilities, or None for a margin-only model."""
    from sklearn.metrics import log_loss, precision_recall_fscore_support, roc_auc_score

    truth = np.asarray(y).astype(np.int64)
    labels = np.asarray(labels).astype(np.int64)
    binary = num_classes == 2
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth,
        labels,
        labels=None if binary else list(range(num_classes)),
        average="binary" if binary else "macro",
        zero_division=0,
    )
    out = {
        "accuracy": float(np.mean(truth == labels)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }
    if probabilities is None:
        return out
    proba = np.asarray(probabilities, dtype=np.float64)
    # float32 probabilities (xgboost, torch) sum to 1 only up to rounding; log_loss warns then.
    totals = proba.sum(axis=1, keepdims=True)
    proba = np.divide(proba, totals, out=proba.copy(), where=totals > 0)
    present = np.unique(truth)
    out["log_loss"] = float(log_loss(truth, proba, labels=list(range(num_classes))))
    if len(present) == num_classes:  # AUC needs every class present
        if binary:
            out["auc"] = float(roc_auc_score(truth, proba[:, 1]))
        else:
            out["auc"] = float(roc_auc_score(truth, proba, multi_class="ovr", average="macro"))
    return out
