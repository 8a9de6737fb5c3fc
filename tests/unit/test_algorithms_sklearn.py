"""The scikit-learn built-ins (decision-tree, random-forest, svm, knn), trained for real on small
data: parity with scikit-learn called directly, hyperparameter rules and served formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from modelyard.algorithms.registry import get_algorithm
from modelyard.algorithms.supervised import SKLEARN_MODEL_FILE
from modelyard.errors import InvalidHyperparameters, InvalidRequest
from tests.unit.test_algorithms_helpers import train_on

Data = dict[str, tuple[np.ndarray, np.ndarray]]


def problems(name: str, raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidHyperparameters) as info:
        get_algorithm(name).validate(raw)
    return info.value.problems


def dataset(kind: str, rows: int = 400) -> Data:
    if kind == "regressor":
        X, y = make_regression(rows, 6, noise=5.0, random_state=1)
    else:
        classes = 2 if kind == "binary_classifier" else 3
        X, y = make_classification(
            rows, 6, n_informative=4, n_classes=classes, random_state=2, class_sep=1.5
        )
    X, y = X.astype(np.float32), y.astype(np.float32)
    cut = rows * 3 // 4
    return {"train": (X[:cut], y[:cut]), "validation": (X[cut:], y[cut:])}


def hyperparameters(kind: str, **extra: Any) -> dict[str, Any]:
    hps: dict[str, Any] = {"predictor_type": kind, **extra}
    if kind == "multiclass_classifier":
        hps["num_classes"] = 3
    return hps


def trained(name: str, tmp_path: Path, kind: str, **extra: Any) -> tuple[Any, Any, Data]:
    data = dataset(kind)
    algorithm = get_algorithm(name)
    ctx, recorder = train_on(algorithm, tmp_path, hyperparameters(kind, **extra), data)
    return algorithm.load(ctx.model_dir), recorder, data


def direct(estimator: Any, data: Data, kind: str) -> Any:
    X, y = data["train"]
    return estimator.fit(X, y if kind == "regressor" else y.astype(np.int64))


KINDS = ("regressor", "binary_classifier", "multiclass_classifier")


# --- parity with scikit-learn called directly ------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_decision_tree_parity(tmp_path: Path, kind: str) -> None:
    model, _, data = trained("decision-tree", tmp_path, kind, max_depth=5, min_samples_leaf=3)
    params = {"max_depth": 5, "min_samples_leaf": 3, "random_state": 0}
    cls = DecisionTreeRegressor if kind == "regressor" else DecisionTreeClassifier
    expected = direct(cls(**params), data, kind)
    assert_same_predictions("decision-tree", model, expected, data, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_random_forest_parity(tmp_path: Path, kind: str) -> None:
    model, _, data = trained("random-forest", tmp_path, kind, num_trees=20, seed=7)
    cls = RandomForestRegressor if kind == "regressor" else RandomForestClassifier
    expected = direct(cls(n_estimators=20, random_state=7, n_jobs=2), data, kind)
    assert_same_predictions("random-forest", model, expected, data, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_kernel_svm_parity(tmp_path: Path, kind: str) -> None:
    model, _, data = trained("svm", tmp_path, kind, C=3.0)
    if kind == "regressor":
        svm: Any = SVR(C=3.0)
    else:
        svm = SVC(C=3.0, random_state=0, break_ties=kind == "multiclass_classifier")
    expected = direct(make_pipeline(StandardScaler(), svm), data, kind)
    assert_same_predictions("svm", model, expected, data, kind)


def test_linear_svm_is_chosen_for_large_data_and_matches_liblinear(tmp_path: Path) -> None:
    model, recorder, data = trained(
        "svm", tmp_path, "binary_classifier", kernel_rows_limit=100, normalize_data=False
    )
    assert type(model.model.named_steps["model"]).__name__ == "LinearSVC"
    expected = direct(make_pipeline(LinearSVC(random_state=0)), data, "binary_classifier")
    assert_same_predictions("svm", model, expected, data, "binary_classifier")
    final = recorder.final()
    assert "validation:accuracy" in final and "validation:log_loss" not in final


@pytest.mark.parametrize("kind", KINDS)
def test_knn_parity(tmp_path: Path, kind: str) -> None:
    model, _, data = trained("knn", tmp_path, kind, k=7, weights="distance")
    cls = KNeighborsRegressor if kind == "regressor" else KNeighborsClassifier
    expected = direct(make_pipeline(cls(n_neighbors=7, weights="distance")), data, kind)
    assert_same_predictions("knn", model, expected, data, kind)


def assert_same_predictions(name: str, model: Any, expected: Any, data: Data, kind: str) -> None:
    X = data["validation"][0]
    prediction = get_algorithm(name).predict(model, X)
    if kind == "regressor":
        np.testing.assert_allclose(prediction.array, expected.predict(X), rtol=1e-6)
        key = "predicted_label" if name == "knn" else "score"
        assert prediction.records[0][key] == pytest.approx(float(expected.predict(X[:1])[0]))
        return
    np.testing.assert_array_equal(prediction.array, expected.predict(X))
    if hasattr(expected, "predict_proba") and name != "knn":
        proba = expected.predict_proba(X)
        scores = [r["score"] for r in prediction.records]
        np.testing.assert_allclose(
            np.array(scores), proba[:, 1] if kind == "binary_classifier" else proba
        )


# --- what each answers, and its metrics --------------------------------------------------------


def test_formats_follow_linear_learner_and_knn_follows_sagemaker(tmp_path: Path) -> None:
    tree, recorder, data = trained("decision-tree", tmp_path / "t", "multiclass_classifier")
    record = get_algorithm("decision-tree").predict(tree, data["validation"][0][:1]).records[0]
    assert set(record) == {"score", "predicted_label"} and len(record["score"]) == 3
    final = recorder.final()
    for channel in ("train", "validation"):
        for metric in ("accuracy", "precision", "recall", "f1", "auc", "log_loss"):
            assert f"{channel}:{metric}" in final
    knn, _, data = trained("knn", tmp_path / "k", "binary_classifier", k=3)
    records = get_algorithm("knn").predict(knn, data["validation"][0][:2]).records
    assert all(set(r) == {"predicted_label"} and r["predicted_label"] in (0, 1) for r in records)
    svm, _, data = trained("svm", tmp_path / "s", "binary_classifier")
    record = get_algorithm("svm").predict(svm, data["validation"][0][:1]).records[0]
    assert record["predicted_label"] == int(record["score"] > 0)  # the margin decides


def test_regressor_metrics_and_saved_files(tmp_path: Path) -> None:
    _, recorder, _ = trained("random-forest", tmp_path, "regressor", num_trees=10)
    final = recorder.final()
    assert {"train:rmse", "train:mae", "train:r2", "validation:rmse", "validation:r2"} <= set(final)
    assert final["train:r2"] > final["validation:r2"] > 0.5
    assert (tmp_path / "model" / SKLEARN_MODEL_FILE).is_file()
    assert (tmp_path / "model" / "modelyard-model.json").is_file()


def test_train_metrics_of_a_big_channel_come_from_a_sample(tmp_path: Path) -> None:
    from modelyard.algorithms.decision_tree import DecisionTreeAlgorithm

    algorithm = DecisionTreeAlgorithm()
    algorithm.train_metric_rows = 1000
    X, y = make_regression(2500, 3, random_state=0)
    data = {"train": (X.astype(np.float32), y.astype(np.float32))}
    _, recorder = train_on(algorithm, tmp_path, {"predictor_type": "regressor"}, data)
    assert any("834 evenly spaced rows (one in 3) of the 2500" in line for line in recorder.lines)
    assert "train:rmse" in recorder.final()


def test_knn_reports_no_train_metrics_but_validation_ones(tmp_path: Path) -> None:
    _, recorder, _ = trained("knn", tmp_path, "binary_classifier", k=5)
    final = recorder.final()
    assert "validation:accuracy" in final and final["validation:accuracy"] > 0.8
    assert not any(name.startswith("train:") for name in final)


def test_knn_sample_size_indexes_a_seeded_sample(tmp_path: Path) -> None:
    model, recorder, data = trained("knn", tmp_path, "regressor", k=2, sample_size=50, seed=3)
    assert model.model.named_steps["model"].n_samples_fit_ == 50
    assert any("random sample of 50 of the 300 rows" in line for line in recorder.lines)
    again, _, _ = trained("knn", tmp_path / "again", "regressor", k=2, sample_size=50, seed=3)
    X = data["validation"][0]
    knn = get_algorithm("knn")
    np.testing.assert_array_equal(knn.predict(model, X).array, knn.predict(again, X).array)


def test_knn_refuses_more_neighbours_than_rows(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="k is 500 but channel 'train' has only 300 rows"):
        trained("knn", tmp_path, "regressor", k=500)


# --- hyperparameter rules -----------------------------------------------------------------------


def test_hyperparameter_rules() -> None:
    assert "required" in problems("knn", {"predictor_type": "regressor"})["k"]
    assert (
        "required for multiclass"
        in problems("decision-tree", {"predictor_type": "multiclass_classifier"})["num_classes"]
    )
    bad = problems("decision-tree", {"predictor_type": "regressor", "criterion": "gini"})
    assert "squared_error" in bad["criterion"]
    bad = problems("random-forest", {"predictor_type": "regressor", "max_features": "most"})
    assert "sqrt, log2" in bad["max_features"]
    bad = problems(
        "random-forest", {"predictor_type": "regressor", "bootstrap": "false", "max_samples": 0.5}
    )
    assert "bootstrap" in bad["max_samples"]
    bad = problems("svm", {"predictor_type": "binary_classifier", "gamma": "-1", "epsilon": 0.1})
    assert "scale, auto" in bad["gamma"] and "regressor" in bad["epsilon"]
    bad = problems("svm", {"predictor_type": "binary_classifier", "C": "0", "kernel": "cubic"})
    assert "> 0" in bad["C"] and "linear" in bad["kernel"]
    bad = problems(
        "knn",
        {"predictor_type": "regressor", "k": 3, "index_metric": "COSINE", "algorithm": "kd_tree"},
    )
    assert "brute" in bad["algorithm"]
    bad = problems("knn", {"predictor_type": "regressor", "k": 3, "num_trees": 3})
    assert "unknown hyperparameter" in bad["num_trees"]


@pytest.mark.parametrize("value", ["sqrt", "log2", "all", "0.5", "3"])
def test_max_features_forms(tmp_path: Path, value: str) -> None:
    hps = get_algorithm("random-forest").validate(
        {"predictor_type": "regressor", "max_features": value}
    )
    estimator = get_algorithm("random-forest").build_estimator(hps, 100, 1)
    assert estimator.max_features == {"all": None, "0.5": 0.5, "3": 3}.get(value, value)


def test_labels_outside_the_classes_are_refused(tmp_path: Path) -> None:
    data = dataset("binary_classifier")
    X, y = data["train"]
    data["train"] = (X, np.where(y == 1, 2.0, 0.0).astype(np.float32))
    with pytest.raises(InvalidRequest, match="labels must be the integers 0 .. 1"):
        train_on(
            get_algorithm("decision-tree"), tmp_path, hyperparameters("binary_classifier"), data
        )


def test_a_wrong_width_request_is_refused(tmp_path: Path) -> None:
    model, _, _ = trained("decision-tree", tmp_path, "regressor")
    with pytest.raises(InvalidRequest, match="the model expects 6"):
        get_algorithm("decision-tree").predict(model, np.zeros((1, 4), dtype=np.float32))
