"""The built-in lightgbm algorithm, trained for real on small data."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_classification, make_regression

from modelyard.algorithms.base import TrainingContext
from modelyard.algorithms.lightgbm import ALGORITHM, MODEL_FILE, LightGBMAlgorithm
from modelyard.errors import InvalidHyperparameters, InvalidRequest
from tests.unit.test_algorithms_helpers import Recorder, breast_cancer, split, train_on

assert isinstance(ALGORITHM, LightGBMAlgorithm)
QUIET = {"verbosity": -1}  # LightGBM's info lines are of no use here


def problems(raw: dict) -> dict[str, str]:
    with pytest.raises(InvalidHyperparameters) as info:
        ALGORITHM.validate(raw)
    return info.value.problems


def regression_data(rows: int = 400, features: int = 8) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(rows, features, n_informative=5, noise=5.0, random_state=1)
    return X.astype(np.float32), y.astype(np.float32)


def three_classes(rows: int = 360) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        rows, 8, n_informative=5, n_classes=3, n_clusters_per_class=1, random_state=0
    )
    return X.astype(np.float32), y.astype(np.float32)


def metadata(ctx: TrainingContext) -> dict:
    return json.loads((ctx.model_dir / "modelyard-model.json").read_text())


# --- hyperparameters -------------------------------------------------------------------------


def test_declares_sagemaker_names_with_lightgbm_defaults() -> None:
    hps = ALGORITHM.validate({"objective": "regression"})
    assert hps["num_boost_round"] == 100 and hps["learning_rate"] == 0.1
    assert hps["num_leaves"] == 31 and hps["max_depth"] == -1 and hps["min_data_in_leaf"] == 20
    assert hps["feature_fraction"] == 1 and hps["bagging_fraction"] == 1
    assert hps["bagging_freq"] == 0 and hps["lambda_l1"] == 0 and hps["lambda_l2"] == 0
    assert hps["min_gain_to_split"] == 0 and hps["max_delta_step"] == 0
    assert hps["scale_pos_weight"] == 1 and hps["is_unbalance"] is False
    assert hps["max_bin"] == 255 and hps["boosting"] == "gbdt"
    assert hps["num_class"] is None and hps["early_stopping_rounds"] is None
    assert hps["metric"] is None and hps["seed"] is None
    tuned = {hp.name for hp in ALGORITHM.hyperparameters if hp.tuning_range is not None}
    assert {
        "num_boost_round",
        "learning_rate",
        "num_leaves",
        "max_depth",
        "min_data_in_leaf",
        "feature_fraction",
        "bagging_fraction",
        "bagging_freq",
        "lambda_l1",
        "lambda_l2",
    } <= tuned
    names = [hp.name for hp in ALGORITHM.hyperparameters]
    assert len(names) == len(set(names))

    directions = {m.name: m.direction for m in ALGORITHM.metrics}
    assert len(directions) == len(ALGORITHM.metrics)  # no name declared twice
    assert directions["validation:binary_logloss"] == "Minimize"
    assert directions["validation:auc"] == directions["test:f1"] == "Maximize"
    assert directions["train:l2"] == directions["test:rmse"] == "Minimize"
    assert "test:l2" not in directions  # LightGBM does not evaluate the test channel per round


def test_describe_is_plain_json_and_validate_is_idempotent() -> None:
    description = json.loads(json.dumps(ALGORITHM.describe()))
    assert description["name"] == "lightgbm"
    assert description["channels"] == {"required": ["train"], "optional": ["validation", "test"]}
    assert "text/libsvm" in description["content_types"]
    for hp in ALGORITHM.hyperparameters:
        assert hp.help, hp.name
        if not hp.required and hp.default is not None:
            assert isinstance(hp.default, hp.type) and hp.parse(hp.default) == hp.default, hp.name
    once = ALGORITHM.validate({"objective": "binary", "is_unbalance": "true", "seed": "5"})
    assert ALGORITHM.validate(once) == once


def test_hyperparameter_errors() -> None:
    assert problems({})["objective"].startswith("required")
    wrong = problems({"objective": "binray"})["objective"]
    assert "binary" in wrong and "multiclassova" in wrong
    assert "valid names" in problems({"objective": "binary", "num_rounds": 5})["num_rounds"]
    bad = problems({"objective": "binary", "learning_rate": "0", "feature_fraction": "1.5"})
    assert "a number > 0" in bad["learning_rate"]
    assert "<= 1" in bad["feature_fraction"]
    assert "gbdt, dart, rf" in problems({"objective": "binary", "boosting": "goss"})["boosting"]
    assert "an integer >= 2" in problems({"objective": "binary", "num_leaves": 1})["num_leaves"]

    for objective in ("multiclass", "multiclassova"):
        assert "required for objective" in problems({"objective": objective})["num_class"]
    assert ALGORITHM.validate({"objective": "multiclass", "num_class": "3"})["num_class"] == 3
    assert "only for objectives" in problems({"objective": "binary", "num_class": 2})["num_class"]

    both = problems({"objective": "binary", "is_unbalance": "true", "scale_pos_weight": 3})
    assert set(both) == {"is_unbalance", "scale_pos_weight"}
    assert "binary" in problems({"objective": "regression", "is_unbalance": True})["is_unbalance"]
    assert "bagging" in problems({"objective": "regression", "boosting": "rf"})["boosting"]
    assert ALGORITHM.validate(
        {"objective": "regression", "boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.8}
    )
    assert (
        "dart"
        in problems({"objective": "binary", "boosting": "dart", "early_stopping_rounds": 5})[
            "early_stopping_rounds"
        ]
    )
    assert "< 1" in problems({"objective": "quantile", "alpha": 1.5})["alpha"]
    assert ALGORITHM.validate({"objective": "huber", "alpha": 1.5})["alpha"] == 1.5
    assert (
        "< 2"
        in problems({"objective": "tweedie", "tweedie_variance_power": 2})["tweedie_variance_power"]
    )

    unknown = problems({"objective": "regression", "metric": "l2,mse,rmsle"})["metric"]
    assert "unknown metric(s) mse, rmsle" in unknown and "mse is called l2 here" in unknown
    mismatch = problems({"objective": "multiclass", "num_class": 3, "metric": "auc"})["metric"]
    assert "auc cannot evaluate objective multiclass" in mismatch and "multi_error" in mismatch
    assert (
        "multi_logloss cannot"
        in problems({"objective": "binary", "metric": "multi_logloss"})["metric"]
    )
    assert ALGORITHM.validate({"objective": "binary", "metric": " auc , binary_error"})


def test_params_pass_only_what_differs_from_lightgbm_defaults() -> None:
    hps = ALGORITHM.validate(
        {
            "objective": "multiclass",
            "num_class": 4,
            "num_leaves": 15,
            "learning_rate": 0.1,  # the default: not passed
            "alpha": 0.5,  # not an objective of alpha: not passed
            "metric": "multi_error,multi_logloss",
            "seed": 3,
        }
    )
    assert ALGORITHM.lightgbm_params(hps, num_cpus=3) == {
        "objective": "multiclass",
        "num_threads": 3,
        "verbosity": 1,
        "deterministic": True,
        "force_col_wise": True,
        "num_leaves": 15,
        "num_class": 4,
        "seed": 3,
        "metric": ["multi_error", "multi_logloss"],
    }
    hps = ALGORITHM.validate({"objective": "quantile", "alpha": 0.3})
    assert ALGORITHM.lightgbm_params(hps)["alpha"] == 0.3


# --- training ----------------------------------------------------------------------------------


def test_binary_training_reports_every_round_and_final_metrics(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"objective": "binary", "num_boost_round": 12, "metric": "binary_logloss,auc", **QUIET},
        split(X, y, 400),
    )
    for name in ("train:binary_logloss", "train:auc", "validation:binary_logloss"):
        assert len(rec.series(name)) == 12, name
    steps = [s for n, _, s in rec.metrics if n == "validation:binary_logloss" and s is not None]
    assert steps == list(range(12))
    logloss = rec.series("train:binary_logloss")
    assert logloss[-1] < logloss[0]

    final = rec.final()
    for channel in ("train", "validation"):
        for name in ("accuracy", "precision", "recall", "f1", "auc", "log_loss"):
            assert f"{channel}:{name}" in final
    assert final["validation:auc"] > 0.95
    assert final["validation:log_loss"] == pytest.approx(
        rec.series("validation:binary_logloss")[-1], rel=1e-5
    )
    # The per-round series get their kept value as a final one; no name has two finals.
    assert final["validation:binary_logloss"] == rec.series("validation:binary_logloss")[-1]
    finals = [n for n, _, s in rec.metrics if s is None]
    assert len(finals) == len(set(finals))
    assert final["validation:auc"] == pytest.approx(rec.series("validation:auc")[-1], rel=1e-6)
    declared = {m.name for m in ALGORITHM.metrics}
    assert {n for n, _, _ in rec.metrics} <= declared

    round_lines = [line for line in rec.lines if line.startswith("[")]
    assert len(round_lines) == 12
    assert round_lines[3].startswith("[3]\ttrain-binary_logloss:")
    assert "\tvalidation-auc:" in round_lines[3]

    meta = metadata(ctx)
    assert meta["algorithm"] == "lightgbm" and meta["num_features"] == 30
    assert meta["objective"] == "binary" and meta["num_class"] is None
    assert meta["predictor_type"] == "binary_classifier"
    assert meta["lightgbm_version"] == lgb.__version__
    assert meta["num_iterations"] == 12 and meta["best_iteration"] is None
    assert meta["hyperparameters"]["num_boost_round"] == 12


def test_artifact_loads_with_plain_lightgbm_and_serves(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, _ = train_on(
        ALGORITHM,
        tmp_path,
        {"objective": "binary", "num_boost_round": 8, **QUIET},
        split(X, y, 400),
    )
    plain = lgb.Booster(model_file=str(ctx.model_dir / MODEL_FILE))
    model = ALGORITHM.load(ctx.model_dir)
    assert ALGORITHM.num_features(model) == 30

    prediction = ALGORITHM.predict(model, X[400:])
    p1 = plain.predict(X[400:])
    np.testing.assert_array_equal([r["score"] for r in prediction.records], p1)
    np.testing.assert_array_equal(prediction.array, (p1 > 0.5).astype(np.int64))
    record = prediction.records[0]
    assert record.keys() == {"score", "predicted_label"}
    assert isinstance(record["score"], float) and record["predicted_label"] in (0, 1)

    single = ALGORITHM.predict(model, X[400])  # one row, 1-D
    assert single.array.shape == (1,)
    assert single.records[0]["score"] == pytest.approx(p1[0], rel=1e-12)
    with pytest.raises(InvalidRequest, match="29 feature columns; the model expects 30"):
        ALGORITHM.predict(model, X[:2, :29])
    with pytest.raises(InvalidRequest, match="no model.txt"):
        ALGORITHM.load(tmp_path)


def test_parity_with_lightgbm_train(tmp_path: Path) -> None:
    X, y = regression_data(500)
    hps = {
        "num_boost_round": 30,
        "learning_rate": 0.2,
        "num_leaves": 12,
        "min_data_in_leaf": 8,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.7,
        "bagging_freq": 1,
        "lambda_l2": 1.5,
        "seed": 7,
    }
    ctx, _ = train_on(ALGORITHM, tmp_path, {"objective": "regression", **hps}, {"train": (X, y)})
    ours = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X)
    direct = lgb.train(
        {
            **{k: v for k, v in hps.items() if k != "num_boost_round"},
            "objective": "regression",
            "num_threads": 2,  # train_on's CPU count
            "deterministic": True,
            "force_col_wise": True,
        },
        lgb.Dataset(X, label=y),
        num_boost_round=30,
    )
    np.testing.assert_array_equal(ours.array, direct.predict(X))
    assert ours.records[0] == {"score": float(direct.predict(X[:1])[0])}


def test_training_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    X, y = regression_data(300)
    hps = {
        "objective": "regression",
        "num_boost_round": 15,
        "bagging_fraction": 0.6,
        "bagging_freq": 1,
        "feature_fraction": 0.7,
        **QUIET,
    }
    files = []
    for run, seed in enumerate((3, 3, 4)):
        ctx, _ = train_on(ALGORITHM, tmp_path / str(run), {**hps, "seed": seed}, {"train": (X, y)})
        files.append((ctx.model_dir / MODEL_FILE).read_text())
    assert files[0] == files[1]
    assert files[0] != files[2]


def test_regression_with_test_channel_and_missing_values(tmp_path: Path) -> None:
    X, y = regression_data(400)
    X = X.copy()
    X[::7, 2] = np.nan  # LightGBM routes missing values itself
    channels = {"train": (X[:300], y[:300]), "test": (X[300:], y[300:])}
    ctx, rec = train_on(
        ALGORITHM, tmp_path, {"objective": "regression", "num_boost_round": 20, **QUIET}, channels
    )
    final = rec.final()
    for channel in ("train", "test"):
        assert {f"{channel}:{n}" for n in ("rmse", "mae", "mse", "r2")} <= set(final)
    assert not any(n.startswith("validation:") for n, _, _ in rec.metrics)
    assert len(rec.series("train:l2")) == 20 and not rec.series("test:l2")
    assert final["train:l2"] == pytest.approx(final["train:mse"], rel=1e-4)
    assert final["test:r2"] > 0.5
    prediction = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[300:302])
    assert prediction.records[0].keys() == {"score"}
    assert prediction.array.dtype == np.float64 and prediction.array.shape == (2,)


def test_early_stopping_keeps_the_best_iteration(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {
            "objective": "binary",
            "num_boost_round": 300,
            "learning_rate": 0.5,
            "metric": "binary_logloss,auc",  # the first drives early stopping
            "early_stopping_rounds": 5,
            **QUIET,
        },
        split(X, y, 400),
    )
    series = rec.series("validation:binary_logloss")
    assert len(series) < 300
    best = int(np.argmin(series))
    assert len(series) == best + 6
    assert len(rec.series("validation:auc")) == len(series)
    final = rec.final()
    assert final["validation:binary_logloss"] == min(series)
    assert final["validation:log_loss"] == pytest.approx(min(series), rel=1e-5)
    assert any(line.startswith(f"stopping: best round {best} ") for line in rec.lines)

    meta = metadata(ctx)
    assert meta["best_iteration"] == best + 1 and meta["num_iterations"] == best + 1
    plain = lgb.Booster(model_file=str(ctx.model_dir / MODEL_FILE))
    assert plain.current_iteration() == best + 1
    served = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[400:])
    np.testing.assert_array_equal([r["score"] for r in served.records], plain.predict(X[400:]))


def test_early_stopping_needs_a_validation_channel(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"objective": "binary", "num_boost_round": 5, "early_stopping_rounds": 2, **QUIET},
        {"train": (X, y)},
    )
    assert "early_stopping_rounds ignored: there is no validation channel" in rec.lines
    assert metadata(ctx)["num_iterations"] == 5


@pytest.mark.parametrize("objective", ["multiclass", "multiclassova"])
def test_multiclass_training_and_serving(tmp_path: Path, objective: str) -> None:
    X, y = three_classes()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"objective": objective, "num_class": 3, "num_boost_round": 10, **QUIET},
        split(X, y, 270),
    )
    assert len(rec.series("validation:multi_logloss")) == 10
    final = rec.final()
    assert final["validation:accuracy"] > 0.7 and 0 < final["validation:log_loss"] < 1.1
    assert "validation:auc" in final and "validation:multi_logloss" in final

    model = ALGORITHM.load(ctx.model_dir)
    prediction = ALGORITHM.predict(model, X[:4])
    assert prediction.array.shape == (4,) and prediction.array.dtype == np.int64
    record = prediction.records[0]
    assert len(record["score"]) == 3
    assert record["predicted_label"] == int(np.argmax(record["score"])) == prediction.array[0]
    if objective == "multiclass":
        assert sum(record["score"]) == pytest.approx(1)
    plain = lgb.Booster(model_file=str(ctx.model_dir / MODEL_FILE))
    np.testing.assert_array_equal([r["score"] for r in prediction.records], plain.predict(X[:4]))
    meta = metadata(ctx)
    assert meta["num_class"] == 3 and meta["predictor_type"] == "multiclass_classifier"


def test_cross_entropy_on_soft_labels(tmp_path: Path) -> None:
    X, y = regression_data(300)
    soft = (1 / (1 + np.exp(-y / 50))).astype(np.float32)  # probabilities in (0, 1)
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"objective": "cross_entropy", "num_boost_round": 10, **QUIET},
        {"train": (X, soft)},
    )
    assert len(rec.series("train:cross_entropy")) == 10
    assert "train:rmse" in rec.final() and "train:accuracy" not in rec.final()
    record = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[:1]).records[0]
    assert 0 < record["score"] < 1 and record["predicted_label"] in (0, 1)


def test_labels_are_checked_against_the_objective(tmp_path: Path) -> None:
    X, y = breast_cancer()
    bad = y.copy()
    bad[450] = 2
    with pytest.raises(InvalidRequest, match="channel 'validation', objective binary: labels"):
        train_on(
            ALGORITHM,
            tmp_path / "a",
            {"objective": "binary", "num_boost_round": 2},
            split(X, bad, 400),
        )
    with pytest.raises(InvalidRequest, match=r"'train', objective multiclass: .* 0 \.\. 1"):
        train_on(
            ALGORITHM,
            tmp_path / "b",
            {"objective": "multiclass", "num_class": 2, "num_boost_round": 2},
            {"train": (X, bad)},
        )
    with pytest.raises(InvalidRequest, match="objective gamma: labels must be > 0"):
        train_on(
            ALGORITHM,
            tmp_path / "c",
            {"objective": "gamma", "num_boost_round": 2},
            {"train": (X, y)},
        )


def test_feature_dim_is_checked(tmp_path: Path) -> None:
    X, y = breast_cancer()
    with pytest.raises(InvalidRequest, match="feature_dim is 20 but the training data has 30"):
        train_on(
            ALGORITHM,
            tmp_path,
            {"objective": "binary", "feature_dim": 20, "num_boost_round": 2},
            {"train": (X, y)},
        )


def make_ctx(
    work_dir: Path, hps: dict, channels: dict[str, Path], content_types: dict[str, str]
) -> tuple[TrainingContext, Recorder]:
    rec = Recorder()
    ctx = TrainingContext(
        work_dir, ALGORITHM.validate(hps), channels, content_types, rec.metric, 2, rec.log
    )
    return ctx, rec


def test_libsvm_and_parquet_channels(tmp_path: Path) -> None:
    X, y = breast_cancer()
    X = X.copy()
    X[:, 29] = 0  # the last feature never appears in the libsvm rows
    lines = [
        " ".join([str(int(label))] + [f"{j}:{v:.9g}" for j, v in enumerate(row) if v])
        for row, label in zip(X[:300], y[:300], strict=True)
    ]
    (tmp_path / "svm").mkdir()
    (tmp_path / "svm" / "train.libsvm").write_text("\n".join(lines) + "\n")
    ctx, rec = make_ctx(
        tmp_path / "w1",
        {"objective": "binary", "num_boost_round": 4, "feature_dim": 30, **QUIET},
        {"train": tmp_path / "svm"},
        {"train": "text/libsvm"},
    )
    ALGORITHM.train(ctx)
    model = ALGORITHM.load(ctx.model_dir)
    assert ALGORITHM.num_features(model) == 30  # widened to feature_dim
    import scipy.sparse as sp

    sparse = ALGORITHM.predict(model, sp.csr_matrix(X[:5]))
    np.testing.assert_array_equal(sparse.array, ALGORITHM.predict(model, X[:5]).array)

    table = pa.table({**{f"f{j}": X[:300, j] for j in range(30)}, "diagnosis": y[:300]})
    (tmp_path / "pq").mkdir()
    pq.write_table(table, tmp_path / "pq" / "part-0.parquet")
    ctx, rec = make_ctx(
        tmp_path / "w2",
        {"objective": "binary", "num_boost_round": 4, "label": "diagnosis", **QUIET},
        {"train": tmp_path / "pq", "validation": tmp_path / "pq"},
        {"train": "application/x-parquet", "validation": "application/x-parquet"},
    )
    ALGORITHM.train(ctx)
    assert len(rec.series("validation:binary_logloss")) == 4
    assert "validation:accuracy" in rec.final()
    assert ALGORITHM.num_features(ALGORITHM.load(ctx.model_dir)) == 30


def test_unsupported_content_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.json").write_text("{}")
    ctx, _ = make_ctx(
        tmp_path / "w",
        {"objective": "binary"},
        {"train": tmp_path / "d"},
        {"train": "application/json"},
    )
    with pytest.raises(InvalidRequest, match="supported: text/csv"):
        ALGORITHM.train(ctx)


def test_loads_a_model_trained_elsewhere(tmp_path: Path) -> None:
    X, y = three_classes(200)
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbosity": -1}, lgb.Dataset(X, y), 3
    )
    booster.save_model(str(tmp_path / MODEL_FILE))  # no modelyard-model.json
    model = ALGORITHM.load(tmp_path)
    assert model.objective == "multiclass" and model.num_class == 3
    assert ALGORITHM.predict(model, X[:2]).array.shape == (2,)

    booster = lgb.train({"objective": "regression", "verbosity": -1}, lgb.Dataset(X, y), 3)
    booster.save_model(str(tmp_path / MODEL_FILE))
    model = ALGORITHM.load(tmp_path)
    assert model.predictor_type == "regressor"
    np.testing.assert_array_equal(ALGORITHM.predict(model, X[:3]).array, booster.predict(X[:3]))
