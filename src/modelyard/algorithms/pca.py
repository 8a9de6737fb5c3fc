"""The built-in `pca` algorithm: SageMaker PCA's interface on scikit-learn.

Hyperparameters carry SageMaker's names. Which estimator does the work:

==============================  =============================================================
subtract_mean / algorithm_mode  estimator
==============================  =============================================================
true, regular                   PCA(n_components=num_components, svd_solver="full"): exact
true, randomized                PCA(svd_solver="randomized", n_oversamples=extra_components,
                                random_state=seed)
false, regular                  TruncatedSVD(algorithm="arpack", tol=0): exact to machine
                                precision; needs num_components < the number of features
false, randomized               TruncatedSVD(algorithm="randomized",
                                n_oversamples=extra_components, random_state=seed)
==============================  =============================================================

`extra_components` is SageMaker's: -1 (the default) means max(10, num_components); it applies
to the randomized mode only. `mini_batch_size` is accepted for compatibility and not used
(the decomposition sees all rows at once). Features are not whitened, as in SageMaker.

Metrics (final) on the train and test channels: ``explained_variance_ratio``, the share of the
channel's variance (around its own mean) that the projection keeps, ``1 - SSE / SST``; for the
train channel of a mean-subtracting model it equals the sum of scikit-learn's
explained_variance_ratio_; and ``reconstruction_error``, the mean over rows of the squared
distance between a row and its reconstruction from the projection.

Answers follow SageMaker: ``{"projections": [{"projection": [0.3, -1.2]}]}``; text/csv: the
projection of each row. The artifact is ``model.joblib`` (the fitted PCA or TruncatedSVD) plus
``modelyard-model.json``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import PCA, TruncatedSVD

from modelyard.algorithms.base import (
    REQUIRED,
    Hyperparameter,
    MetricDefinition,
    Prediction,
    TrainingContext,
)
from modelyard.algorithms.supervised import SKLEARN_MODEL_FILE
from modelyard.algorithms.unsupervised import (
    FEATURE_DIM,
    UnsupervisedAlgorithm,
    chunks,
    seed_hyperparameter,
)
from modelyard.errors import InvalidHyperparameters

MODEL_FILE = SKLEARN_MODEL_FILE
MODES = ("regular", "randomized")

HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter("num_components", int, REQUIRED, "Number of principal components.", min=1),
    FEATURE_DIM,
    Hyperparameter(
        "algorithm_mode",
        str,
        "regular",
        "regular: exact decomposition; randomized: a randomized approximation, faster for "
        "many features.",
        choices=MODES,
        tuning_range=MODES,
    ),
    Hyperparameter(
        "subtract_mean",
        bool,
        True,
        "Centre the data (at training and at inference) before projecting; false projects the "
        "raw rows (scikit-learn's TruncatedSVD).",
        tuning_range=(True, False),
    ),
    Hyperparameter(
        "extra_components",
        int,
        -1,
        "Randomized mode: extra random directions that sharpen the approximation "
        "(scikit-learn's n_oversamples); -1: max(10, num_components). Ignored in regular mode.",
        min=-1,
    ),
    Hyperparameter(
        "mini_batch_size",
        int,
        500,
        "Accepted for compatibility: the decomposition sees all rows at once.",
        min=1,
    ),
    seed_hyperparameter("Random seed of the randomized mode (scikit-learn's random_state)."),
)

METRICS: tuple[MetricDefinition, ...] = tuple(
    MetricDefinition(f"{channel}:{name}", direction)
    for channel in ("train", "test")
    for name, direction in (
        ("explained_variance_ratio", "Maximize"),
        ("reconstruction_error", "Minimize"),
    )
)


@dataclass
class PCAModel:
    """What `load` returns."""

    estimator: PCA | TruncatedSVD
    num_features: int


def oversamples(hps: dict[str, Any]) -> int:
    extra = hps["extra_components"]
    return max(10, hps["num_components"]) if extra == -1 else extra


def build_estimator(hps: dict[str, Any]) -> PCA | TruncatedSVD:
    """The unfitted estimator of validated hyperparameters (the parity tests build it by hand)."""
    k, seed = hps["num_components"], hps["seed"]
    randomized = hps["algorithm_mode"] == "randomized"
    if hps["subtract_mean"]:
        if randomized:
            return PCA(
                n_components=k,
                svd_solver="randomized",
                n_oversamples=oversamples(hps),
                random_state=seed,
            )
        return PCA(n_components=k, svd_solver="full")  # exact: no randomness to seed
    if randomized:
        return TruncatedSVD(
            n_components=k,
            algorithm="randomized",
            n_oversamples=oversamples(hps),
            random_state=seed,
        )
    return TruncatedSVD(n_components=k, algorithm="arpack", tol=0.0, random_state=seed)


def most_components(hps: dict[str, Any], rows: int | None, features: int) -> int:
    """The most components the chosen estimator can give for data of that shape."""
    smallest = features if rows is None else min(rows, features)
    if not hps["subtract_mean"] and hps["algorithm_mode"] == "regular":
        return smallest - 1  # ARPACK finds fewer singular vectors than the matrix has
    if not hps["subtract_mean"]:
        return features  # randomized TruncatedSVD
    return smallest


class PCAAlgorithm(UnsupervisedAlgorithm):
    name = "pca"
    description = (
        "Principal component analysis with SageMaker PCA's hyperparameters and answers, "
        "computed by scikit-learn (PCA, or TruncatedSVD without mean subtraction)."
    )
    artifact = (
        "model.joblib: the fitted scikit-learn PCA (subtract_mean=true) or TruncatedSVD "
        "(subtract_mean=false); joblib.load gives it back, with transform, components_ and "
        "explained_variance_ratio_; modelyard-model.json: algorithm, num_features, estimator, "
        "explained variance ratio, scikit-learn version, hyperparameters."
    )
    hyperparameters = HYPERPARAMETERS
    problem_types = ("DimensionalityReduction",)
    metrics = METRICS

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        return {"num_components": 2} if problem_type in self.problem_types else None

    def check(self, hps: dict[str, Any]) -> None:
        problems: dict[str, str] = {}
        if hps["extra_components"] == 0:
            problems["extra_components"] = "got 0; expected -1 (automatic) or an integer >= 1"
        if hps["feature_dim"] is not None:
            most = most_components(hps, None, hps["feature_dim"])
            if hps["num_components"] > most:
                problems["num_components"] = self._too_many(hps, most, "feature_dim")
        if problems:
            raise InvalidHyperparameters(self.name, problems)

    @staticmethod
    def _too_many(hps: dict[str, Any], most: int, limit: str) -> str:
        why = (
            " (without mean subtraction, regular mode finds fewer components than there are "
            "features; use algorithm_mode=randomized for all of them)"
            if not hps["subtract_mean"] and hps["algorithm_mode"] == "regular"
            else ""
        )
        return f"{hps['num_components']} is more than the {most} that {limit} allows{why}"

    # --- training ------------------------------------------------------------------------------

    def train(self, ctx: TrainingContext) -> None:
        hps = self.validate(ctx.hyperparameters)
        train = self.read_train(ctx, hps)
        rows, num_features = train.X.shape
        most = most_components(hps, rows, num_features)
        if hps["num_components"] > most:
            shape = f"training data of {rows} rows x {num_features} features"
            raise InvalidHyperparameters(
                self.name, {"num_components": self._too_many(hps, most, shape)}
            )
        if not hps["subtract_mean"] and num_features < 2:
            raise InvalidHyperparameters(
                self.name,
                {"subtract_mean": "false needs at least 2 feature columns (TruncatedSVD); got 1"},
            )
        test = self.read_test(ctx, num_features)
        estimator = build_estimator(hps)
        ctx.log(
            f"pca: {hps['num_components']} components of {rows} rows x {num_features} "
            f"features by {type(estimator).__name__}"
        )
        if hps["algorithm_mode"] == "regular" and hps["extra_components"] != -1:
            ctx.log("note: extra_components applies to algorithm_mode=randomized only")
        self.note_unused(ctx, hps, ("mini_batch_size",))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            estimator.fit(train.X)
        for warning in caught:
            ctx.log(f"warning: {warning.message}")
        ratio = float(np.sum(estimator.explained_variance_ratio_))
        ctx.log(f"pca: the components explain {ratio:.6g} of the training data's variance")

        channels = {"train": train.X, **({"test": test.X} if test is not None else {})}
        for channel, X in channels.items():
            self.report(ctx, channel, reconstruction_metrics(estimator, X))

        self.save_estimator(
            ctx,
            estimator,
            num_features,
            hps,
            estimator=type(estimator).__name__,
            num_components=hps["num_components"],
            explained_variance_ratio=[float(v) for v in estimator.explained_variance_ratio_],
        )

    # --- serving -------------------------------------------------------------------------------

    def load(self, model_dir: Path) -> PCAModel:
        return PCAModel(*self.load_estimator(model_dir))

    def predict(self, model: PCAModel, features: Any) -> Prediction:
        X = self.request_rows(features, model.num_features)
        projections = np.asarray(model.estimator.transform(X))
        records = [{"projection": row} for row in projections.tolist()]
        return Prediction(records, projections, key="projections")

    def num_features(self, model: PCAModel) -> int | None:
        return model.num_features


def reconstruction_metrics(estimator: PCA | TruncatedSVD, X: np.ndarray) -> dict[str, float]:
    """explained_variance_ratio and reconstruction_error of X (see the module docstring),
    in float64 and by blocks of rows."""
    components = np.asarray(estimator.components_, dtype=np.float64)
    mean = np.asarray(getattr(estimator, "mean_", np.zeros(X.shape[1])), dtype=np.float64)
    channel_mean = np.asarray(X, dtype=np.float64).mean(axis=0)
    sse = sst = 0.0
    for part in chunks(X.shape[0]):
        rows = np.asarray(X[part], dtype=np.float64)
        centred = rows - mean
        residual = centred - (centred @ components.T) @ components
        sse += float(np.einsum("ij,ij->", residual, residual))
        spread = rows - channel_mean
        sst += float(np.einsum("ij,ij->", spread, spread))
    return {
        "explained_variance_ratio": 1.0 - sse / sst if sst > 0 else 1.0,
        "reconstruction_error": sse / X.shape[0],
    }


ALGORITHM = PCAAlgorithm()

__all__ = [
    "ALGORITHM",
    "MODEL_FILE",
    "PCAAlgorithm",
    "PCAModel",
    "build_estimator",
    "reconstruction_metrics",
]
