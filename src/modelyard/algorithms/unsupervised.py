"""What the unsupervised built-ins (kmeans, pca, random-cut-forest) share.

SageMaker's layout for them: every column of a channel is a feature, in text/csv (no header),
text/csv;header=present or application/x-parquet; ``label_size=1`` in a channel's content type
drops a first label column (random-cut-forest's labelled test channel). The train channel is
required, the test channel optional (final metrics on it). `feature_dim` is checked against the
data when given and taken from it otherwise. Rows with missing or infinite values are refused
with the channel named: none of the three models can place such a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms.base import Algorithm, Hyperparameter, TrainingContext
from modelyard.algorithms.data import CSV, CSV_HEADER, PARQUET, ChannelData, check_feature_dim
from modelyard.algorithms.metadata import read_model_metadata, write_model_metadata
from modelyard.algorithms.supervised import SKLEARN_MODEL_FILE
from modelyard.errors import InvalidRequest

CHUNK_ROWS = 65_536  # rows per block when a computation would otherwise copy a whole channel

FEATURE_DIM = Hyperparameter(
    "feature_dim",
    int,
    None,
    "Number of features; checked against the data (default: taken from the data).",
    min=1,
)


def seed_hyperparameter(help: str) -> Hyperparameter:
    # scikit-learn takes random_state in [0, 2**32 - 1]; one range for the three built-ins.
    return Hyperparameter("seed", int, 0, help, min=0, max=2**32 - 1)


def parse_metric_list(text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """SageMaker's eval_metrics: a JSON list (``["msd", "ssd"]``), or plain comma-separated
    names; ValueError naming what is wrong."""
    value = text.strip()
    names: list[Any]
    if value.startswith("["):
        try:
            names = json.loads(value)
        except json.JSONDecodeError:
            # SageMaker examples also write the list without quotes: [msd, ssd]
            names = [n.strip().strip("'\"") for n in value[1:-1].split(",")]
    else:
        names = [n.strip().strip("'\"") for n in value.split(",")]
    names = [n for n in names if n != ""]
    unknown = [n for n in names if n not in allowed]
    if not names or unknown:
        raise ValueError(f"got {text!r}; expected a list of one or more of " + ", ".join(allowed))
    return tuple(dict.fromkeys(str(n) for n in names))


def chunks(rows: int, size: int = CHUNK_ROWS) -> Iterator[slice]:
    for start in range(0, rows, size):
        yield slice(start, min(start + size, rows))


def require_finite(X: np.ndarray, where: str) -> None:
    """InvalidRequest when X holds a missing (empty cell) or infinite value."""
    finite = np.isfinite(X)
    if finite.all():
        return
    bad_rows = int((~finite).any(axis=1).sum())
    raise InvalidRequest(
        f"{where}: {bad_rows} row(s) hold missing or infinite values; remove or impute them",
        {"rows": bad_rows},
    )


class UnsupervisedAlgorithm(Algorithm):
    """Base of kmeans, pca and random-cut-forest: reading, checking and reporting."""

    content_types: tuple[str, ...] = (CSV, CSV_HEADER, PARQUET)
    required_channels = ("train",)
    optional_channels = ("test",)

    def read_train(self, ctx: TrainingContext, hps: dict[str, Any]) -> ChannelData:
        """The train channel as a row-major float32 array, checked against feature_dim."""
        data = self.read_unlabelled(ctx, "train")
        check_feature_dim(hps.get("feature_dim"), data.X.shape[1])
        return self._checked(data, "train")

    def read_test(self, ctx: TrainingContext, num_features: int) -> ChannelData | None:
        """The optional test channel (as wide as the train channel), or None."""
        if "test" not in ctx.channels:
            return None
        return self._checked(self.read_unlabelled(ctx, "test", num_features), "test")

    @staticmethod
    def _checked(data: ChannelData, channel: str) -> ChannelData:
        require_finite(data.X, f"channel {channel!r}")
        # Row-major, as users of the libraries hand it: scikit-learn would copy a column-major
        # array anyway, and the parity with a direct library call holds to the last bit.
        return data._replace(X=np.ascontiguousarray(data.X))

    def report(self, ctx: TrainingContext, channel: str, values: dict[str, float]) -> None:
        """Final metrics (step None), with SageMaker's log line for each."""
        for name, value in values.items():
            ctx.report_metric(f"{channel}:{name}", float(value), None)
            ctx.log(f"#quality_metric: host=algo-1, {channel} {name} <score>={value}")

    def note_unused(self, ctx: TrainingContext, hps: dict[str, Any], names: Sequence[str]) -> None:
        """Log the SageMaker knobs given that this implementation accepts but does not use."""
        for name in names:
            hp = self.hyperparameter(name)
            if hp is not None and hps.get(name) != hp.default:
                ctx.log(f"note: {name} is accepted for compatibility and not used")

    def request_rows(self, features: Any, num_features: int) -> np.ndarray:
        """A request's feature rows as a 2-D float32 array (the training data's type)."""
        X = np.asarray(features, dtype=np.float32)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != num_features:
            raise InvalidRequest(
                f"got {X.shape[-1]} feature columns; the model expects {num_features}",
                {"num_features": X.shape[-1], "expected": num_features},
            )
        require_finite(X, "request")
        return np.ascontiguousarray(X)

    def save_estimator(
        self,
        ctx: TrainingContext,
        fitted: Any,
        num_features: int,
        hps: dict[str, Any],
        **extra: Any,
    ) -> None:
        """Write a fitted scikit-learn estimator as model.joblib plus modelyard-model.json."""
        import joblib
        import sklearn

        ctx.model_dir.mkdir(parents=True, exist_ok=True)
        joblib.dump(fitted, ctx.model_dir / SKLEARN_MODEL_FILE)
        write_model_metadata(
            ctx.model_dir,
            self.name,
            num_features,
            hps,
            **extra,
            sklearn_version=sklearn.__version__,
        )
        ctx.log(f"saved {SKLEARN_MODEL_FILE}")

    def load_estimator(self, model_dir: Path) -> tuple[Any, int]:
        """What save_estimator wrote: the estimator, and how many features it expects."""
        import joblib

        meta = self.model_metadata(model_dir)
        estimator = joblib.load(self.model_file(model_dir, SKLEARN_MODEL_FILE))
        return estimator, int(meta["num_features"])

    def model_metadata(self, model_dir: Path) -> dict[str, Any]:
        """modelyard-model.json of a model directory this algorithm wrote."""
        meta = read_model_metadata(Path(model_dir))
        if meta is None or meta.get("algorithm") != self.name:
            raise InvalidRequest(
                f"{model_dir} holds no {self.name} model (no modelyard-model.json naming it)",
                {"path": str(model_dir)},
            )
        return meta

    def model_file(self, model_dir: Path, name: str) -> Path:
        path = Path(model_dir) / name
        if not path.is_file():
            raise InvalidRequest(f"no {name} in {model_dir}", {"path": str(model_dir)})
        return path


__all__ = [
    "CHUNK_ROWS",
    "FEATURE_DIM",
    "UnsupervisedAlgorithm",
    "chunks",
    "parse_metric_list",
    "require_finite",
    "seed_hyperparameter",
]
