"""modelyard.evaluation: metrics against scikit-learn on bundled data sets, and the HTML report."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelyard.errors import InvalidRequest
from modelyard.evaluation import evaluate, render_report


@pytest.fixture(scope="module")
def binary() -> dict[str, Any]:
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:350], order[350:]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000))
    model.fit(X[train], y[train])
    Xt, yt = X[test], y[test]
    return {
        "X": Xt,
        "y": yt,
        "model": model,
        "pred": model.predict(Xt),
        "proba": model.predict_proba(Xt),
    }


@pytest.fixture(scope="module")
def binary_eval(binary: dict[str, Any]) -> dict[str, Any]:
    return evaluate(
        "binary_classifier",
        binary["y"],
        binary["pred"],
        probabilities=binary["proba"],
        features=binary["X"],
        predict=binary["model"].predict,
        feature_names=list(load_breast_cancer().feature_names),
    )


@pytest.fixture(scope="module")
def regression() -> dict[str, Any]:
    X, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(X[:300], y[:300])
    Xt, yt = X[300:], y[300:]
    return {"X": Xt, "y": yt, "model": model, "pred": model.predict(Xt)}


@pytest.fixture(scope="module")
def regression_eval(regression: dict[str, Any]) -> dict[str, Any]:
    r = regression
    return evaluate("regressor", r["y"], r["pred"], features=r["X"], predict=r["model"].predict)


def strict_json(value: Any) -> Any:
    return json.loads(json.dumps(value, allow_nan=False))


# ---------------------------------------------------------------------------- classification
def test_binary_metrics_match_sklearn(binary: dict[str, Any], binary_eval: dict[str, Any]) -> None:
    y, pred, score = binary["y"], binary["pred"], binary["proba"][:, 1]
    ev = binary_eval
    assert ev["problem_type"] == "binary_classifier"
    assert ev["rows"] == len(y)
    assert ev["classes"] == [0, 1] and ev["positive_label"] == 1
    assert ev["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert ev["auc"] == pytest.approx(skm.roc_auc_score(y, score))
    assert ev["log_loss"] == pytest.approx(skm.log_loss(y, binary["proba"]))
    assert ev["brier"] == pytest.approx(skm.brier_score_loss(y, score))
    ap = skm.average_precision_score(y, score)
    assert ev["pr_curve"]["average_precision"] == pytest.approx(ap)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred)
    for i, row in enumerate(ev["per_class"]):
        assert row["label"] == i
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p[i], r[i], f[i]))
        assert row["support"] == s[i]
    for average in ("macro", "weighted"):
        want = skm.precision_recall_fscore_support(y, pred, average=average)[:3]
        got = ev[f"{average}_avg"]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx(want)
    assert ev["metrics"] == pytest.approx(
        {
            "accuracy": skm.accuracy_score(y, pred),
            "precision": skm.precision_score(y, pred, average="macro"),
            "recall": skm.recall_score(y, pred, average="macro"),
            "f1": skm.f1_score(y, pred, average="macro"),
            "auc": ev["auc"],
            "log_loss": ev["log_loss"],
            "brier": ev["brier"],
        }
    )


def test_binary_accepts_positive_class_scores_alone(binary: dict[str, Any]) -> None:
    score = binary["proba"][:, 1]
    one_d = evaluate("binary_classifier", binary["y"], binary["pred"], probabilities=score)
    two_d = evaluate(
        "binary_classifier", binary["y"], binary["pred"], probabilities=binary["proba"]
    )
    assert one_d["metrics"] == two_d["metrics"]
    assert one_d["roc_curve"] == two_d["roc_curve"]


def test_confusion_matrix_counts(binary: dict[str, Any], binary_eval: dict[str, Any]) -> None:
    cm = binary_eval["confusion_matrix"]
    assert cm["labels"] == [0, 1]
    assert cm["matrix"] == skm.confusion_matrix(binary["y"], binary["pred"]).tolist()
    assert sum(map(sum, cm["matrix"])) == len(binary["y"])
    # A hand-checked case with string labels: rows are actual, columns predicted.
    ev = evaluate("multiclass_classifier", ["a", "b", "b", "c", "c", "c"], list("abcccb"))
    assert ev["confusion_matrix"] == {
        "labels": ["a", "b", "c"],
        "matrix": [[1, 0, 0], [0, 1, 1], [0, 1, 2]],
    }


def test_roc_curve_has_endpoints_and_is_monotone(binary_eval: dict[str, Any]) -> None:
    roc = binary_eval["roc_curve"]
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    assert roc["thresholds"][0] is None  # sklearn's first threshold is inf: not JSON
    pr = binary_eval["pr_curve"]
    assert pr["recall"][0] == 1.0 and pr["recall"][-1] == 0.0 and pr["precision"][-1] == 1.0


def test_long_curves_are_downsampled_keeping_endpoints() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 20_000)
    score = np.clip(0.3 * y + rng.random(20_000) * 0.7, 0, 1)
    ev = evaluate("binary_classifier", y, (score > 0.5).astype(int), probabilities=score)
    roc, pr = ev["roc_curve"], ev["pr_curve"]
    assert 100 <= len(roc["fpr"]) <= 200 and len(roc["fpr"]) == len(roc["tpr"])
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    assert len(pr["precision"]) <= 200 and pr["recall"][0] == 1.0 and pr["recall"][-1] == 0.0
    assert ev["auc"] == pytest.approx(
        skm.roc_auc_score(y, score)
    )  # from all points, not the sample


def test_calibration_bins(binary: dict[str, Any], binary_eval: dict[str, Any]) -> None:
    cal = binary_eval["calibration"]
    assert len(cal["counts"]) == 10 and len(cal["edges"]) == 11
    assert sum(cal["counts"]) == binary_eval["rows"]
    frac, mean = calibration_curve(binary["y"], binary["proba"][:, 1], n_bins=10)
    got_frac = [v for v in cal["fraction_positive"] if v is not None]
    got_mean = [v for v in cal["mean_predicted"] if v is not None]
    assert got_frac == pytest.approx(frac) and got_mean == pytest.approx(mean)
    # Hand-made: scores 0.05 (two rows, one positive) and 1.0 (lands in the last bin).
    ev = evaluate("binary_classifier", [0, 1, 1], [0, 0, 1], probabilities=[0.05, 0.05, 1.0])
    cal = ev["calibration"]
    assert cal["counts"] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert cal["fraction_positive"][0] == 0.5 and cal["mean_predicted"][0] == pytest.approx(0.05)
    assert cal["fraction_positive"][1] is None and cal["fraction_positive"][9] == 1.0


def test_multiclass_metrics_match_sklearn() -> None:
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X[::2], y[::2])
    Xt, yt = X[1::2], y[1::2]
    pred, proba = model.predict(Xt), model.predict_proba(Xt)
    ev = strict_json(evaluate("multiclass_classifier", yt, pred, probabilities=proba))
    assert ev["classes"] == [0, 1, 2]
    assert ev["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(yt, pred))
    assert ev["metrics"]["f1"] == pytest.approx(skm.f1_score(yt, pred, average="macro"))
    assert ev["auc"] == pytest.approx(skm.roc_auc_score(yt, proba, multi_class="ovr"))
    assert ev["log_loss"] == pytest.approx(skm.log_loss(yt, proba))
    onehot = np.eye(3)[yt]
    assert ev["brier"] == pytest.approx(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    assert ev["confusion_matrix"]["matrix"] == skm.confusion_matrix(yt, pred).tolist()
    assert ev["roc_curve"] is None and ev["calibration"] is None


def test_multiclass_test_set_missing_a_class_uses_integer_columns() -> None:
    y = np.array([0, 0, 2, 2])  # class 1 never appears, but the model has three columns
    proba = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6]])
    ev = strict_json(evaluate("multiclass_classifier", y, y, probabilities=proba))
    assert ev["classes"] == [0, 1, 2]
    assert ev["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))
    assert ev["auc"] is None and "auc" not in ev["metrics"]  # undefined, not NaN
    assert ev["per_class"][1]["support"] == 0


def test_degenerate_inputs_stay_strict_json() -> None:
    # One class only: AUC and the curves are undefined and come back as None, never NaN.
    ev = evaluate("binary_classifier", [1, 1, 1], [1, 0, 1], probabilities=[0.9, 0.4, 0.8])
    strict_json(ev)
    assert ev["classes"] == [0, 1] and ev["auc"] is None and ev["roc_curve"] is None
    assert set(ev["metrics"]) == {"accuracy", "precision", "recall", "f1", "log_loss", "brier"}
    one = evaluate("regressor", [3.0], [2.5])
    strict_json(one)
    assert one["r2"] is None and "r2" not in one["metrics"] and one["rmse"] == 0.5
    labels = evaluate("binary_classifier", np.array([1.0, 0.0]), np.array([1.0, 1.0]))
    assert labels["classes"] == [0, 1] and isinstance(labels["classes"][0], int)


# ---------------------------------------------------------------------------- regression
def test_regression_metrics_match_sklearn(
    regression: dict[str, Any], regression_eval: dict[str, Any]
) -> None:
    y, pred = regression["y"], regression["pred"]
    ev = regression_eval
    mse = skm.mean_squared_error(y, pred)
    assert ev["mse"] == pytest.approx(mse)
    assert ev["rmse"] == pytest.approx(np.sqrt(mse))
    assert ev["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert ev["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert ev["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))
    assert set(ev["metrics"]) == {"rmse", "mae", "r2", "mse", "mape"}
    residuals = y - pred
    res = ev["residuals"]
    assert res["mean"] == pytest.approx(residuals.mean())
    assert res["std"] == pytest.approx(residuals.std())
    assert (res["min"], res["max"]) == pytest.approx((residuals.min(), residuals.max()))
    assert res["quantiles"]["0.5"] == pytest.approx(np.median(residuals))
    assert res["quantiles"]["0.05"] < res["quantiles"]["0.25"] < res["quantiles"]["0.95"]
    hist = ev["residual_histogram"]
    assert sum(hist["counts"]) == len(y) and len(hist["edges"]) == len(hist["counts"]) + 1
    assert hist["edges"][0] == pytest.approx(residuals.min())
    pva = ev["predicted_vs_actual"]
    assert pva["actual"] == pytest.approx(list(y)) and pva["predicted"] == pytest.approx(list(pred))


def test_regression_hand_checked_numbers_and_mape_skips_zeros() -> None:
    ev = evaluate("regressor", [0.0, 2.0, 4.0, 10.0], [1.0, 1.0, 5.0, 10.0])
    # residuals (actual - predicted): -1, 1, -1, 0
    assert ev["mse"] == pytest.approx(0.75) and ev["mae"] == pytest.approx(0.75)
    assert ev["mape"] == pytest.approx((0.5 + 0.25 + 0.0) / 3)  # the actual-0 row is skipped
    assert ev["residuals"]["mean"] == pytest.approx(-0.25)
    assert ev["residuals"]["quantiles"]["0.5"] == pytest.approx(-0.5)
    assert evaluate("regressor", [0.0, 0.0], [1.0, 2.0])["mape"] is None


def test_predicted_vs_actual_is_sampled() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=5000)
    pred = y + rng.normal(scale=0.1, size=5000)
    ev = evaluate("regressor", y, pred, random_seed=7)
    pva = ev["predicted_vs_actual"]
    assert len(pva["actual"]) == len(pva["predicted"]) == 500
    pairs = set(zip(y.tolist(), pred.tolist(), strict=True))
    assert all(p in pairs for p in zip(pva["actual"], pva["predicted"], strict=True))
    assert evaluate("regressor", y, pred, random_seed=7)["predicted_vs_actual"] == pva
    assert ev["rows"] == 5000 and sum(ev["residual_histogram"]["counts"]) == 5000


# ---------------------------------------------------------------- permutation importance
def test_importance_ranks_informative_feature_above_noise() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    informative = X[:, [27]]  # "worst concave points": strongly predictive on its own
    noise = rng.normal(size=(len(y), 1))
    data = np.hstack([noise, informative])
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(data, y)
    ev = evaluate(
        "binary_classifier",
        y,
        model.predict(data),
        features=data,
        predict=model.predict,
        feature_names=["noise", "worst concave points"],
        permutation_repeats=3,
        max_rows_for_importance=300,
    )
    imp = ev["feature_importance"]
    assert imp["metric"] == "accuracy" and imp["rows"] == 300 and imp["repeats"] == 3
    assert [f["feature"] for f in imp["features"]] == ["worst concave points", "noise"]
    assert [f["index"] for f in imp["features"]] == [1, 0]
    top, low = imp["features"]
    assert top["mean"] > 0.2 and abs(low["mean"]) < 0.05
    means = [f["mean"] for f in imp["features"]]
    assert means == sorted(means, reverse=True)


def test_regression_importance_uses_r2_and_default_names(
    regression_eval: dict[str, Any],
) -> None:
    imp = regression_eval["feature_importance"]
    assert imp["metric"] == "r2"
    assert sorted(f["feature"] for f in imp["features"]) == sorted(f"f{i}" for i in range(10))
    assert imp["baseline"] == pytest.approx(regression_eval["r2"])
    # In the diabetes data BMI (f2) and s5 (f8) carry the signal; sex (f1) carries little.
    names = [f["feature"] for f in imp["features"]]
    assert set(names[:2]) == {"f2", "f8"} and names.index("f1") > 3


def test_importance_is_reproducible_with_its_seed(binary: dict[str, Any]) -> None:
    def run(seed: int) -> Any:
        return evaluate(
            "binary_classifier", binary["y"], binary["pred"], features=binary["X"],
            predict=binary["model"].predict, random_seed=seed, permutation_repeats=2,
        )["feature_importance"]  # fmt: skip

    assert run(5) == run(5)
    assert run(5) != run(6)


# ---------------------------------------------------------------------------- JSON + HTML
def test_results_are_strict_json_with_plain_types(
    binary_eval: dict[str, Any], regression_eval: dict[str, Any]
) -> None:
    for ev in (binary_eval, regression_eval):
        assert strict_json(ev) == ev  # no numpy scalars, no NaN, no tuples
        assert all(type(v) is float for v in ev["metrics"].values())
    assert set(binary_eval) >= {
        "problem_type", "rows", "metrics", "classes", "positive_label", "accuracy", "per_class",
        "macro_avg", "weighted_avg", "confusion_matrix", "auc", "log_loss", "brier", "roc_curve",
        "pr_curve", "calibration", "feature_importance",
    }  # fmt: skip
    assert set(regression_eval) == {
        "problem_type", "rows", "metrics", "rmse", "mae", "r2", "mse", "mape", "residuals",
        "predicted_vs_actual", "residual_histogram", "feature_importance",
    }  # fmt: skip


def figures(page: str) -> dict[str, str]:
    """caption -> the figure's markup."""
    found = re.findall(r"<figure><figcaption>(.*?)</figcaption>(.*?)</figure>", page, re.S)
    return {caption.split(" (")[0]: body for caption, body in found}


def test_binary_report_has_every_chart(binary_eval: dict[str, Any], tmp_path: Any) -> None:
    page = render_report(binary_eval, "Breast cancer <script>alert(1)</script>")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    charts = figures(page)
    assert set(charts) == {"ROC curve", "Precision-recall", "Calibration"}
    assert all(body.startswith("<svg") and "<polyline" in body for body in charts.values())
    assert "<text" in charts["ROC curve"] and ">0.5</text>" in charts["ROC curve"]  # tick labels
    assert page.count("<svg") == 4  # the three curves and the importance bars
    assert "Permutation feature importance" in page and "worst concave points" in page
    assert "Confusion matrix" in page and "Per-class metrics" in page
    assert "<script" not in page
    assert "Breast cancer &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page and "xmlns" not in page
    (tmp_path / "report.html").write_text(page, encoding="utf-8")


def test_regression_report_has_every_chart(regression_eval: dict[str, Any]) -> None:
    page = render_report(regression_eval, "Diabetes & friends")
    charts = figures(page)
    assert set(charts) == {"Predicted vs actual", "Residual histogram"}
    assert charts["Predicted vs actual"].count("<circle") == regression_eval["rows"]
    assert charts["Residual histogram"].count("<rect") >= 20  # frame + one bar per bin
    assert page.count("<svg") == 3
    assert "Residual summary" in page and "Confusion matrix" not in page
    assert "<title>Diabetes &amp; friends</title>" in page
    assert "http://" not in page and "https://" not in page


def test_report_escapes_labels_and_feature_names() -> None:
    y = np.array(["<b>yes</b>", "no", "no", "<b>yes</b>"])
    X = np.array([[1.0], [0.0], [0.0], [1.0]])

    def predict(features: np.ndarray) -> np.ndarray:
        return np.where(features[:, 0] > 0.5, "<b>yes</b>", "no")

    ev = evaluate(
        "binary_classifier", y, predict(X), features=X, predict=predict,
        feature_names=['<img src=x onerror="1">'],
    )  # fmt: skip
    page = render_report(ev, "t")
    assert "<b>" not in page and "<img" not in page
    assert "&lt;b&gt;yes&lt;/b&gt;" in page and "&lt;img src=x onerror=&quot;1&quot;&gt;" in page


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"problem_type": "clustering"},
            "unknown problem type 'clustering'; expected one of "
            "binary_classifier, multiclass_classifier, regressor",
        ),
        ({"y_true": [0, 1, 1], "predictions": [0, 1]}, "length mismatch: y_true has 3 rows"),
        ({"y_true": [], "predictions": []}, "y_true is empty"),
        ({"probabilities": [[0.5, 0.5, 0.0]] * 4}, "probabilities must have shape (n,) or (n, 2)"),
        ({"probabilities": [0.1, 0.2]}, "probabilities must have shape (n,) or (n, 2) with n=4"),
        ({"probabilities": [0.1, 0.2, 1.5, 0.3]}, "between 0 and 1"),
        ({"probabilities": [[0.5, 0.6]] * 4}, "each row of probabilities must sum to 1"),
        ({"y_true": [0, 1, 2, 1]}, "binary_classifier needs at most 2 distinct labels, got 3"),
        ({"y_true": [[0, 1], [1, 0]]}, "y_true must be one-dimensional"),
        ({"features": np.zeros((4, 2))}, "needs both features and predict"),
        (
            {
                "features": np.zeros((4, 2)),
                "predict": lambda X: np.zeros(len(X)),
                "feature_names": ["a"],
            },
            "1 feature names given for 2 feature columns",
        ),  # fmt: skip
        (
            {"features": np.zeros((3, 2)), "predict": lambda X: np.zeros(len(X))},
            "features must have shape (4, n_features)",
        ),
        (
            {"features": np.zeros((4, 2)), "predict": lambda X: np.zeros(2)},
            "predict returned 2 values for 4 rows",
        ),
    ],
)
def test_bad_input_is_an_invalid_request(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "problem_type": "binary_classifier",
        "y_true": [0, 1, 1, 0],
        "predictions": [0, 1, 0, 0],
    }
    args |= kwargs
    with pytest.raises(InvalidRequest) as caught:
        evaluate(args.pop("problem_type"), args.pop("y_true"), args.pop("predictions"), **args)
    assert message in caught.value.message
    assert caught.value.status_code == 400


def test_bad_multiclass_and_regression_input() -> None:
    with pytest.raises(InvalidRequest, match=r"probabilities must have shape \(n, 3\)"):
        evaluate("multiclass_classifier", [0, 1, 2], [0, 1, 2], probabilities=[[0.5, 0.5]] * 3)
    with pytest.raises(InvalidRequest, match="probabilities has 4 columns for 3 classes"):
        evaluate("multiclass_classifier", list("abc"), list("abc"), probabilities=np.eye(4)[:3])
    with pytest.raises(InvalidRequest, match="only meaningful for a classifier"):
        evaluate("regressor", [1.0, 2.0], [1.0, 2.0], probabilities=[0.5, 0.5])
    with pytest.raises(InvalidRequest, match="predictions contains NaN"):
        evaluate("regressor", [1.0, 2.0], [1.0, float("nan")])
    with pytest.raises(InvalidRequest, match="y_true must be numeric"):
        evaluate("regressor", ["a", "b"], [1.0, 2.0])
    with pytest.raises(InvalidRequest) as caught:
        evaluate("ranking", [1], [1])
    assert caught.value.details["allowed"] == [
        "binary_classifier",
        "multiclass_classifier",
        "regressor",
    ]
