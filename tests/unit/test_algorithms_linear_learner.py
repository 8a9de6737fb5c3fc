"""The built-in linear-learner algorithm, trained for real on small data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import ElasticNet, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelyard.algorithms.linear_learner import MODEL_FILE
from modelyard.algorithms.registry import get_algorithm
from modelyard.errors import InvalidHyperparameters, InvalidRequest
from tests.unit.test_algorithms_helpers import breast_cancer, split, train_on

ALGORITHM = get_algorithm("linear-learner")


def problems(raw: dict) -> dict[str, str]:
    with pytest.raises(InvalidHyperparameters) as info:
        ALGORITHM.validate(raw)
    return info.value.problems


def regression(rows: int = 500) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(rows, 8, noise=4.0, random_state=3)
    return X.astype(np.float32), (y + 50).astype(np.float32)


# --- hyperparameters -------------------------------------------------------------------------


def test_hyperparameter_rules() -> None:
    assert problems({})["predictor_type"].startswith("required")
    assert "binary_classifier" in problems({"predictor_type": "classifier"})["predictor_type"]
    assert (
        "required for multiclass"
        in problems({"predictor_type": "multiclass_classifier"})["num_classes"]
    )
    assert (
        ">= 3"
        in problems({"predictor_type": "multiclass_classifier", "num_classes": 2})["num_classes"]
    )
    assert (
        "logistic, hinge_loss"
        in problems({"predictor_type": "binary_classifier", "loss": "squared_loss"})["loss"]
    )
    assert (
        "only a regressor"
        in problems({"predictor_type": "binary_classifier", "normalize_label": "true"})[
            "normalize_label"
        ]
    )
    assert (
        "l1 only"
        in problems({"predictor_type": "regressor", "loss": "quantile_loss", "wd": 0.1})["wd"]
    )
    hps = ALGORITHM.validate({"predictor_type": "regressor"})
    assert hps["epochs"] == 15 and hps["mini_batch_size"] == 1000 and hps["l1"] == 0
    assert hps["wd"] == 0 and hps["use_bias"] is True and hps["normalize_data"] is True
    assert hps["loss"] == "auto" and hps["learning_rate"] is None
    assert hps["binary_classifier_model_selection_criteria"] == "accuracy"


# --- regressor -------------------------------------------------------------------------------


def test_regressor_parity_metrics_and_round_trip(tmp_path: Path) -> None:
    X, y = regression()
    ctx, rec = train_on(
        ALGORITHM, tmp_path, {"predictor_type": "regressor", "wd": "0.01"}, split(X, y, 400)
    )
    model = ALGORITHM.load(ctx.model_dir)
    ours = ALGORITHM.predict(model, X).array

    # mean squared loss + wd/2 |w|^2 on standardized data and label == Ridge(alpha = n * wd)
    direct = TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), Ridge(alpha=400 * 0.01)),
        transformer=StandardScaler(),
    ).fit(X[:400], y[:400])
    np.testing.assert_allclose(ours, direct.predict(X), rtol=1e-5)

    final = rec.final()
    for channel in ("train", "validation"):
        for metric in ("objective_loss", "mse", "rmse", "absolute_loss", "r2"):
            assert f"{channel}:{metric}" in final
    residual = y[400:] - ours[400:]
    assert final["validation:mse"] == pytest.approx(np.mean(residual**2), rel=1e-4)
    assert final["validation:rmse"] == pytest.approx(np.sqrt(final["validation:mse"]))
    assert final["validation:r2"] > 0.9
    assert all(step is None for _, _, step in rec.metrics)
    assert any(
        line.startswith("#quality_metric: host=algo-1, validation rmse <score>=")
        for line in rec.lines
    )

    prediction = ALGORITHM.predict(model, X[:3])
    assert prediction.records == [{"score": pytest.approx(float(v))} for v in ours[:3]]
    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    assert meta["algorithm"] == "linear-learner" and meta["num_features"] == 8
    assert meta["predictor_type"] == "regressor" and (ctx.model_dir / MODEL_FILE).is_file()


def test_regressor_l1_uses_elastic_net(tmp_path: Path) -> None:
    X, y = regression()
    ctx, _ = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "regressor", "l1": 0.02, "wd": 0.01, "normalize_label": "false"},
        {"train": (X, y)},
    )
    ours = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X).array
    direct = make_pipeline(
        StandardScaler(), ElasticNet(alpha=0.03, l1_ratio=2 / 3, max_iter=10_000)
    ).fit(X, y)
    np.testing.assert_allclose(ours, direct.predict(X), rtol=1e-5)


@pytest.mark.parametrize(
    "loss", ["absolute_loss", "huber_loss", "eps_insensitive_squared_loss", "quantile_loss"]
)
def test_other_regression_losses_train(tmp_path: Path, loss: str) -> None:
    X, y = regression(300)
    _, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "regressor", "loss": loss, "epochs": 30},
        {"train": (X, y)},
    )
    assert rec.final()["train:r2"] > 0.8


# --- binary ----------------------------------------------------------------------------------


def test_binary_parity_metrics_and_records(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "binary_classifier", "wd": "0.001"},
        split(X, y, 400),
    )
    model = ALGORITHM.load(ctx.model_dir)
    prediction = ALGORITHM.predict(model, X)

    # C = 1 / (n * wd) makes sklearn's sum-of-losses objective our per-example one
    direct = make_pipeline(StandardScaler(), LogisticRegression(C=1 / (400 * 0.001), max_iter=1000))
    direct.fit(X[:400], y[:400])
    scores = np.array([r["score"] for r in prediction.records])
    np.testing.assert_allclose(scores, direct.predict_proba(X)[:, 1], atol=1e-4)
    np.testing.assert_array_equal(
        prediction.array, [r["predicted_label"] for r in prediction.records]
    )
    assert prediction.array.dtype.kind == "i" and set(prediction.array) <= {0, 1}

    final = rec.final()
    for metric in (
        "objective_loss",
        "binary_classification_accuracy",
        "binary_f_beta",
        "precision",
        "recall",
        "roc_auc_score",
    ):
        assert f"validation:{metric}" in final and f"train:{metric}" in final
    assert final["validation:binary_classification_accuracy"] > 0.9
    labels = prediction.array[400:]
    assert final["validation:binary_classification_accuracy"] == pytest.approx(
        np.mean(labels == y[400:])
    )


def test_binary_threshold_follows_the_selection_criterion(tmp_path: Path) -> None:
    X, y = make_classification(600, 6, n_informative=3, flip_y=0.2, random_state=5)
    X, y = X.astype(np.float32), y.astype(np.float32)
    data = split(X, y, 400)
    thresholds, precisions = {}, {}
    for criterion in ("loss_function", "accuracy", "recall_at_target_precision"):
        ctx, rec = train_on(
            ALGORITHM,
            tmp_path / criterion,
            {
                "predictor_type": "binary_classifier",
                "wd": 0.01,
                "target_precision": 0.9,
                "binary_classifier_model_selection_criteria": criterion,
            },
            data,
        )
        meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
        thresholds[criterion] = meta["threshold"]
        precisions[criterion] = rec.final()["validation:precision"]
        accuracy = rec.final()["validation:binary_classification_accuracy"]
        if criterion == "loss_function":
            baseline = accuracy
        elif criterion == "accuracy":  # chosen on validation: at least as good as 0.5 there
            assert accuracy >= baseline
    assert thresholds["loss_function"] == 0.5
    assert precisions["recall_at_target_precision"] >= 0.9
    assert thresholds["recall_at_target_precision"] > 0.5


def test_hinge_loss_scores_are_margins(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "binary_classifier", "loss": "hinge_loss", "wd": 0.001},
        split(X, y, 400),
    )
    prediction = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[:20])
    assert any(r["score"] < 0 for r in prediction.records)
    assert rec.final()["validation:binary_classification_accuracy"] > 0.85


# --- multiclass ------------------------------------------------------------------------------


def test_multiclass_parity_records_and_metrics(tmp_path: Path) -> None:
    X, y = make_classification(500, 10, n_informative=6, n_classes=4, random_state=0)
    X, y = X.astype(np.float32), y.astype(np.float32)
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {
            "predictor_type": "multiclass_classifier",
            "num_classes": 4,
            "wd": 0.01,
            "accuracy_top_k": 2,
        },
        split(X, y, 400),
    )
    model = ALGORITHM.load(ctx.model_dir)
    prediction = ALGORITHM.predict(model, X)
    direct = make_pipeline(StandardScaler(), LogisticRegression(C=1 / (400 * 0.01), max_iter=1000))
    direct.fit(X[:400], y[:400])
    probs = np.array([r["score"] for r in prediction.records])
    np.testing.assert_allclose(probs, direct.predict_proba(X), atol=1e-4)
    np.testing.assert_array_equal(prediction.array, probs.argmax(axis=1))
    assert prediction.records[0]["predicted_label"] == int(prediction.array[0])

    final = rec.final()
    for metric in (
        "objective_loss",
        "multiclass_accuracy",
        "multiclass_top_k_accuracy",
        "macro_precision",
        "macro_recall",
        "macro_f_beta",
        "dcg",
    ):
        assert f"validation:{metric}" in final
    assert final["validation:multiclass_top_k_accuracy"] >= final["validation:multiclass_accuracy"]
    assert final["validation:multiclass_accuracy"] == pytest.approx(
        np.mean(prediction.array[400:] == y[400:])
    )


def test_a_class_missing_from_training_still_gets_a_column(tmp_path: Path) -> None:
    X, y = make_classification(300, 5, n_informative=3, n_classes=3, random_state=1)
    ctx, _ = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "multiclass_classifier", "num_classes": 4},
        {"train": (X, y)},
    )
    prediction = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[:5])
    assert all(len(r["score"]) == 4 and r["score"][3] == 0 for r in prediction.records)


# --- data errors -----------------------------------------------------------------------------


def test_data_errors(tmp_path: Path) -> None:
    X, y = breast_cancer()
    bad = y.copy()
    bad[3] = 2
    with pytest.raises(InvalidRequest, match="labels must be integers 0 .. 1"):
        train_on(
            ALGORITHM, tmp_path / "a", {"predictor_type": "binary_classifier"}, {"train": (X, bad)}
        )
    with pytest.raises(InvalidRequest, match="feature_dim is 10 but the training data has 30"):
        train_on(
            ALGORITHM,
            tmp_path / "b",
            {"predictor_type": "binary_classifier", "feature_dim": 10},
            {"train": (X, y)},
        )
    with pytest.raises(InvalidRequest, match="29 feature columns; expected 30"):
        train_on(
            ALGORITHM,
            tmp_path / "c",
            {"predictor_type": "binary_classifier"},
            {"train": (X, y), "validation": (X[:, :29], y)},
        )
    with pytest.raises(InvalidRequest, match="single class"):
        train_on(
            ALGORITHM,
            tmp_path / "d",
            {"predictor_type": "binary_classifier"},
            {"train": (X[y == 1], y[y == 1])},
        )


def test_predict_rejects_wrong_width_and_missing_values(tmp_path: Path) -> None:
    X, y = regression(100)
    ctx, _ = train_on(ALGORITHM, tmp_path, {"predictor_type": "regressor"}, {"train": (X, y)})
    model = ALGORITHM.load(ctx.model_dir)
    assert ALGORITHM.num_features(model) == 8
    with pytest.raises(InvalidRequest, match="the model expects 8"):
        ALGORITHM.predict(model, X[:2, :7])
    rows = X[:2].copy()
    rows[0, 0] = np.nan
    with pytest.raises(InvalidRequest, match="missing values"):
        ALGORITHM.predict(model, rows)
    assert ALGORITHM.predict(model, X[0]).array.shape == (1,)


def test_test_channel_gets_metrics_too(tmp_path: Path) -> None:
    X, y = regression(300)
    _, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "regressor"},
        {"train": (X[:200], y[:200]), "test": (X[200:], y[200:])},
    )
    assert "test:rmse" in rec.final() and "validation:rmse" not in rec.final()
