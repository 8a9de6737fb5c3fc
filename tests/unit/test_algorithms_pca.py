"""The built-in pca algorithm, trained for real on small data."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.decomposition import PCA, TruncatedSVD

from modelyard.algorithms.base import TrainingContext
from modelyard.algorithms.conformance import check_algorithm
from modelyard.algorithms.data import CSV_HEADER, PARQUET
from modelyard.algorithms.pca import ALGORITHM, MODEL_FILE
from modelyard.errors import InvalidHyperparameters, InvalidRequest
from tests.unit import test_algorithms_helpers as helpers

train_unlabelled = partial(helpers.train_unlabelled, ALGORITHM)


def problems(raw: dict) -> dict[str, str]:
    with pytest.raises(InvalidHyperparameters) as info:
        ALGORITHM.validate(raw)
    return info.value.problems


def correlated(rows: int = 400, features: int = 12, seed: int = 0) -> np.ndarray:
    """Rows near a 3-dimensional subspace, off the origin (so centring matters)."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 3)) * [5.0, 2.0, 1.0]
    X = latent @ rng.normal(size=(3, features)) + 0.1 * rng.normal(size=(rows, features)) + 4.0
    return X.astype(np.float32)


def projections(ctx: TrainingContext, X: np.ndarray) -> np.ndarray:
    return ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X).array


# --- hyperparameters -------------------------------------------------------------------------


def test_hyperparameter_rules() -> None:
    assert problems({})["num_components"].startswith("required")
    assert (
        "regular, randomized"
        in problems({"num_components": 2, "algorithm_mode": "fast"})["algorithm_mode"]
    )
    assert (
        "-1 (automatic)"
        in problems({"num_components": 2, "extra_components": 0})["extra_components"]
    )
    assert ">= -1" in problems({"num_components": 2, "extra_components": -2})["extra_components"]
    assert (
        "the 4 that feature_dim allows"
        in problems({"num_components": 5, "feature_dim": 4})["num_components"]
    )
    assert (
        "randomized for all"
        in problems({"num_components": 4, "feature_dim": 4, "subtract_mean": "false"})[
            "num_components"
        ]
    )
    hps = ALGORITHM.validate({"num_components": "3"})
    assert hps["algorithm_mode"] == "regular" and hps["subtract_mean"] is True
    assert hps["extra_components"] == -1 and hps["seed"] == 0


# --- parity with scikit-learn ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("hyperparameters", "direct"),
    [
        ({}, PCA(n_components=3, svd_solver="full")),
        (
            {"algorithm_mode": "randomized", "seed": 5},
            PCA(n_components=3, svd_solver="randomized", n_oversamples=10, random_state=5),
        ),
        (
            {"algorithm_mode": "randomized", "extra_components": 4, "seed": 5},
            PCA(n_components=3, svd_solver="randomized", n_oversamples=4, random_state=5),
        ),
        (
            {"subtract_mean": "false", "seed": 2},
            TruncatedSVD(n_components=3, algorithm="arpack", tol=0.0, random_state=2),
        ),
        (
            {"subtract_mean": "false", "algorithm_mode": "randomized", "seed": 2},
            TruncatedSVD(n_components=3, algorithm="randomized", n_oversamples=10, random_state=2),
        ),
    ],
    ids=["regular", "randomized", "randomized-extra", "no-mean", "no-mean-randomized"],
)
def test_projections_equal_scikit_learns(
    tmp_path: Path, hyperparameters: dict[str, Any], direct: Any
) -> None:
    X = correlated()
    ctx, _ = train_unlabelled(tmp_path, {"num_components": 3, **hyperparameters}, {"train": X})
    direct.fit(X)
    fitted = joblib.load(ctx.model_dir / MODEL_FILE)
    assert type(fitted) is type(direct) and fitted.get_params() == direct.get_params()
    # Randomized modes can differ in the last bits (BLAS paths vary with memory alignment).
    np.testing.assert_allclose(projections(ctx, X), direct.transform(X), rtol=1e-5, atol=1e-5)


# --- metrics, answers, artifact --------------------------------------------------------------


def test_metrics_answers_and_round_trip(tmp_path: Path) -> None:
    X = correlated(500)
    train, test = X[:400], X[400:]
    ctx, rec = train_unlabelled(tmp_path, {"num_components": 2}, {"train": train, "test": test})
    direct = PCA(n_components=2, svd_solver="full").fit(train)

    final = rec.final()
    assert set(final) == {
        "train:explained_variance_ratio",
        "train:reconstruction_error",
        "test:explained_variance_ratio",
        "test:reconstruction_error",
    }
    assert all(step is None for _, _, step in rec.metrics)
    assert final["train:explained_variance_ratio"] == pytest.approx(
        direct.explained_variance_ratio_.sum(), rel=1e-4
    )
    rebuilt = direct.inverse_transform(direct.transform(test)).astype(np.float64)
    error = np.mean(np.sum((test - rebuilt) ** 2, axis=1))
    assert final["test:reconstruction_error"] == pytest.approx(error, rel=1e-3)
    spread = np.sum((test - test.mean(axis=0, dtype=np.float64)) ** 2)
    assert final["test:explained_variance_ratio"] == pytest.approx(
        1 - error * len(test) / spread, rel=1e-4
    )
    assert 0.8 < final["test:explained_variance_ratio"] < 1.0

    model = ALGORITHM.load(ctx.model_dir)
    prediction = ALGORITHM.predict(model, X[:4])
    assert prediction.key == "projections" and prediction.array.shape == (4, 2)
    assert prediction.records == [{"projection": row} for row in prediction.array.tolist()]
    assert ALGORITHM.predict(model, X[0]).array.shape == (1, 2)
    again = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[:4])
    np.testing.assert_array_equal(again.array, prediction.array)

    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    assert meta["algorithm"] == "pca" and meta["num_features"] == 12
    assert meta["estimator"] == "PCA" and len(meta["explained_variance_ratio"]) == 2


def test_without_mean_subtraction_the_raw_rows_are_projected(tmp_path: Path) -> None:
    X = correlated()
    ctx, rec = train_unlabelled(
        tmp_path, {"num_components": 3, "subtract_mean": "false"}, {"train": X}
    )
    fitted = joblib.load(ctx.model_dir / MODEL_FILE)
    np.testing.assert_allclose(
        projections(ctx, X[:5]), X[:5].astype(np.float64) @ fitted.components_.T, rtol=1e-5
    )
    assert 0.9 < rec.final()["train:explained_variance_ratio"] <= 1.0


# --- channels and errors ---------------------------------------------------------------------


def test_parquet_and_header_csv_channels(tmp_path: Path) -> None:
    X = correlated(300)
    ctx, rec = train_unlabelled(
        tmp_path,
        {"num_components": 2, "feature_dim": 12},
        {"train": X[:200], "test": X[200:]},
        {"train": CSV_HEADER, "test": PARQUET},
    )
    direct = PCA(n_components=2, svd_solver="full").fit(X[:200])
    np.testing.assert_allclose(projections(ctx, X), direct.transform(X), rtol=1e-5, atol=1e-4)
    assert "test:reconstruction_error" in rec.final()


def test_data_errors(tmp_path: Path) -> None:
    X = correlated(50, features=6)
    with pytest.raises(InvalidRequest, match="feature_dim is 5 but the training data has 6"):
        train_unlabelled(tmp_path / "a", {"num_components": 2, "feature_dim": 5}, {"train": X})
    with pytest.raises(InvalidHyperparameters) as info:
        train_unlabelled(tmp_path / "b", {"num_components": 7}, {"train": X})
    assert (
        "6 that training data of 50 rows x 6 features allows"
        in info.value.problems["num_components"]
    )
    with pytest.raises(InvalidHyperparameters) as info:
        train_unlabelled(tmp_path / "c", {"num_components": 4}, {"train": X[:3]})
    assert "the 3 that" in info.value.problems["num_components"]
    with pytest.raises(InvalidRequest, match="expected 6"):
        train_unlabelled(tmp_path / "d", {"num_components": 2}, {"train": X, "test": X[:, :4]})
    holed = X.copy()
    holed[0, 0] = np.inf
    with pytest.raises(InvalidRequest, match="missing or infinite"):
        train_unlabelled(tmp_path / "e", {"num_components": 2}, {"train": holed})

    ctx, _ = train_unlabelled(tmp_path / "f", {"num_components": 2}, {"train": X})
    model = ALGORITHM.load(ctx.model_dir)
    assert ALGORITHM.num_features(model) == 6
    with pytest.raises(InvalidRequest, match="expects 6"):
        ALGORITHM.predict(model, X[:, :5])


def test_conformance(tmp_path: Path) -> None:
    passed = check_algorithm(ALGORITHM, tmp_path)
    assert sum("round trip equal" in line for line in passed) == 3
