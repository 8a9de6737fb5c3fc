"""The built-in random-cut-forest algorithm, trained for real on small data."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from modelyard.algorithms.base import TrainingContext
from modelyard.algorithms.conformance import check_algorithm
from modelyard.algorithms.data import CSV_HEADER, PARQUET
from modelyard.algorithms.random_cut_forest import ALGORITHM, MODEL_FILE
from modelyard.errors import InvalidHyperparameters, InvalidRequest
from tests.unit import test_algorithms_helpers as helpers

krcf = pytest.importorskip("krcf")

LABELLED = "text/csv;label_size=1"
FAST = {"num_trees": 50, "num_samples_per_tree": 128}


train_unlabelled = partial(helpers.train_unlabelled, ALGORITHM)


def problems(raw: dict) -> dict[str, str]:
    with pytest.raises(InvalidHyperparameters) as info:
        ALGORITHM.validate(raw)
    return info.value.problems


def planted(rows: int = 1500, anomalies: int = 15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian rows, a few of them pushed far out along one feature; y = 1 for those."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4))
    y = np.zeros(rows)
    where = rng.choice(rows, anomalies, replace=False)
    X[where, rng.integers(4, size=anomalies)] += rng.choice([-7.0, 7.0], size=anomalies)
    y[where] = 1
    return X.astype(np.float32), y.astype(np.float32)


def scores(ctx: TrainingContext, X: np.ndarray) -> np.ndarray:
    return ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X).array


# --- hyperparameters -------------------------------------------------------------------------


def test_hyperparameter_rules() -> None:
    assert "<= 1000" in problems({"num_trees": 1001})["num_trees"]
    assert ">= 50" in problems({"num_trees": 10})["num_trees"]
    assert ">= 3" in problems({"num_samples_per_tree": 2})["num_samples_per_tree"]
    assert "accuracy, precision_recall_fscore" in problems({"eval_metrics": "[f1]"})["eval_metrics"]
    hps = ALGORITHM.validate({"eval_metrics": '["accuracy"]'})
    assert hps["num_trees"] == 100 and hps["num_samples_per_tree"] == 256
    assert hps["feature_dim"] is None and hps["seed"] == 0


# --- parity with the library, artifact -------------------------------------------------------


def test_scores_equal_the_library_called_directly(tmp_path: Path) -> None:
    X, _ = planted(800)
    ctx, _ = train_unlabelled(
        tmp_path, {"num_trees": 60, "num_samples_per_tree": 100, "seed": 7}, {"train": X}
    )
    forest = krcf.RandomCutForest(
        {
            "dimensions": 4,
            "shingle_size": 1,
            "num_trees": 60,
            "sample_size": 100,
            "random_seed": 7,
            "output_after": 1,
            "lambda": 0.0,
            "initial_accept_fraction": 1.0,
            "parallel_execution_enabled": False,
        }
    )
    for row in X:
        forest.update(row)
    expected = np.array([forest.score(row) for row in X])
    prediction = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X)
    np.testing.assert_array_equal(prediction.array, expected)

    assert prediction.key == "scores" and prediction.array.shape == (800,)
    assert prediction.records[:2] == [{"score": expected[0]}, {"score": expected[1]}]
    # the artifact is the library's own format
    saved = krcf.RandomCutForest.from_msgpack((ctx.model_dir / MODEL_FILE).read_bytes())
    assert saved.score(X[0]) == expected[0]
    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    assert meta["algorithm"] == "random-cut-forest" and meta["num_features"] == 4
    assert meta["options"]["lambda"] == 0.0 and meta["threshold"] > meta["score_mean"]


def test_deterministic_by_seed(tmp_path: Path) -> None:
    X, _ = planted(500)
    runs = {
        name: scores(train_unlabelled(tmp_path / name, {**FAST, "seed": seed}, {"train": X})[0], X)
        for name, seed in (("a", 1), ("b", 1), ("c", 2))
    }
    np.testing.assert_array_equal(runs["a"], runs["b"])
    assert not np.array_equal(runs["a"], runs["c"])


# --- finding anomalies, metrics --------------------------------------------------------------


def test_finds_planted_anomalies_and_reports_test_metrics(tmp_path: Path) -> None:
    X, y = planted(1500, 15, seed=0)
    X_test, y_test = planted(400, 12, seed=1)
    ctx, rec = train_unlabelled(
        tmp_path,
        FAST,
        {"train": X, "test": (X_test, y_test)},
        {"test": LABELLED},
    )
    train_scores = scores(ctx, X)
    assert roc_auc_score(y, train_scores) > 0.9
    test_scores = scores(ctx, X_test)
    assert roc_auc_score(y_test, test_scores) > 0.9
    assert 0.3 < np.median(train_scores) < 1.5  # typical rows score about 1 or less

    final = rec.final()
    assert set(final) == {
        "train:score_mean",
        "train:score_std",
        "test:score_mean",
        "test:score_std",
        "test:accuracy",
        "test:precision",
        "test:recall",
        "test:f1",
    }
    threshold = json.loads((ctx.model_dir / "modelyard-model.json").read_text())["threshold"]
    assert threshold == pytest.approx(final["train:score_mean"] + 3 * final["train:score_std"])
    assert final["train:score_mean"] == pytest.approx(train_scores.mean())
    flagged = test_scores > threshold
    hits = np.sum(flagged & (y_test == 1))
    assert final["test:accuracy"] == pytest.approx(np.mean(flagged == (y_test == 1)))
    assert final["test:precision"] == pytest.approx(hits / flagged.sum())
    assert final["test:recall"] == pytest.approx(hits / y_test.sum())
    assert final["test:f1"] > 0.7
    assert all(step is None for _, _, step in rec.metrics)


def test_eval_metrics_and_an_unlabelled_test_channel(tmp_path: Path) -> None:
    X, y = planted(400)
    _, rec = train_unlabelled(
        tmp_path / "a",
        {**FAST, "eval_metrics": "accuracy"},
        {"train": X, "test": (X, y)},
        {"test": LABELLED},
    )
    assert "test:accuracy" in rec.final() and "test:f1" not in rec.final()
    _, rec = train_unlabelled(tmp_path / "b", FAST, {"train": X, "test": X[:50]})
    assert set(rec.final()) == {
        "train:score_mean",
        "train:score_std",
        "test:score_mean",
        "test:score_std",
    }
    assert any("label_size=1" in line for line in rec.lines)


# --- channels and errors ---------------------------------------------------------------------


def test_parquet_and_header_csv_channels(tmp_path: Path) -> None:
    X, y = planted(300)
    ctx, rec = train_unlabelled(
        tmp_path / "p", {**FAST, "feature_dim": 4}, {"train": X}, {"train": PARQUET}
    )
    again, _ = train_unlabelled(tmp_path / "h", FAST, {"train": X}, {"train": CSV_HEADER})
    np.testing.assert_array_equal(scores(ctx, X), scores(again, X))
    _, rec = train_unlabelled(
        tmp_path / "l",
        FAST,
        {"train": X, "test": (X, y)},
        {"test": "application/x-parquet;label_size=1"},
    )
    assert "test:f1" in rec.final()


def test_data_errors(tmp_path: Path) -> None:
    X, y = planted(100)
    with pytest.raises(InvalidRequest, match="feature_dim is 3 but the training data has 4"):
        train_unlabelled(tmp_path / "a", {**FAST, "feature_dim": 3}, {"train": X})
    with pytest.raises(InvalidRequest, match="labels must be 0"):
        train_unlabelled(tmp_path / "b", FAST, {"train": X, "test": (X, y * 2)}, {"test": LABELLED})
    with pytest.raises(InvalidRequest, match="expected 4"):
        train_unlabelled(tmp_path / "c", FAST, {"train": X, "test": X[:, :3]})
    holed = X.copy()
    holed[5, 1] = np.nan
    with pytest.raises(InvalidRequest, match="missing or infinite"):
        train_unlabelled(tmp_path / "d", FAST, {"train": holed})

    ctx, _ = train_unlabelled(tmp_path / "e", FAST, {"train": X})
    model = ALGORITHM.load(ctx.model_dir)
    assert ALGORITHM.num_features(model) == 4
    with pytest.raises(InvalidRequest, match="expects 4"):
        ALGORITHM.predict(model, X[:, :2])
    with pytest.raises(InvalidRequest, match="missing or infinite"):
        ALGORITHM.predict(model, holed[:6])


def test_conformance(tmp_path: Path) -> None:
    passed = check_algorithm(ALGORITHM, tmp_path)
    assert sum("round trip equal" in line for line in passed) == 3
