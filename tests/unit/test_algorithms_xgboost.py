"""The built-in xgboost algorithm, trained for real on small data."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification, make_regression

from modelyard.algorithms.base import TrainingContext
from modelyard.algorithms.registry import get_algorithm
from modelyard.algorithms.xgboost import MODEL_FILE, XGBoostAlgorithm
from modelyard.errors import InvalidHyperparameters, InvalidRequest
from tests.unit.test_algorithms_helpers import Recorder, breast_cancer, split, train_on

ALGORITHM = get_algorithm("xgboost")
assert isinstance(ALGORITHM, XGBoostAlgorithm)


def problems(raw: dict) -> dict[str, str]:
    with pytest.raises(InvalidHyperparameters) as info:
        ALGORITHM.validate(raw)
    return info.value.problems


# --- hyperparameters -------------------------------------------------------------------------


def test_declares_sagemaker_names_and_defaults() -> None:
    hps = ALGORITHM.validate({"num_round": "10"})
    assert hps["objective"] == "reg:squarederror" and hps["eta"] == 0.3
    assert hps["max_depth"] == 6 and hps["min_child_weight"] == 1 and hps["subsample"] == 1
    assert hps["lambda"] == 1 and hps["alpha"] == 0 and hps["tree_method"] == "auto"
    assert hps["max_bin"] == 256 and hps["seed"] == 0 and hps["verbosity"] == 1
    assert hps["nthread"] is None and hps["eval_metric"] is None
    tuned = {hp.name for hp in ALGORITHM.hyperparameters if hp.tuning_range is not None}
    assert {
        "eta",
        "max_depth",
        "min_child_weight",
        "subsample",
        "colsample_bytree",
        "gamma",
        "alpha",
        "lambda",
        "num_round",
    } <= tuned


def test_hyperparameter_errors() -> None:
    assert problems({})["num_round"].startswith("required")
    assert "an integer >= 1" in problems({"num_round": "0"})["num_round"]
    assert "a number >= 0 and <= 1" in problems({"num_round": 1, "eta": "1.5"})["eta"]
    wrong = problems({"num_round": 1, "objective": "binary:logistc"})["objective"]
    assert "binary:logistic" in wrong and "multi:softprob" in wrong
    assert "valid names" in problems({"num_round": 1, "num_rounds": 2})["num_rounds"]
    for objective in ("multi:softmax", "multi:softprob"):
        assert (
            "required for objective"
            in problems({"num_round": 1, "objective": objective})["num_class"]
        )
    assert ALGORITHM.validate({"num_round": 1, "objective": "multi:softmax", "num_class": "3"})
    assert (
        "unknown metric(s) aucc"
        in problems({"num_round": 1, "eval_metric": "auc,aucc"})["eval_metric"]
    )
    assert ALGORITHM.validate({"num_round": 1, "eval_metric": "ndcg@5, error@0.7,accuracy"})
    assert "_tuning_objective_metric" in problems(
        {"num_round": 1, "_tuning_objective_metric": "test:auc"}
    )


def test_params_pass_only_what_differs_from_xgboost_defaults() -> None:
    hps = ALGORITHM.validate(
        {
            "num_round": 5,
            "objective": "multi:softprob",
            "num_class": 3,
            "max_depth": 4,
            "eval_metric": "mlogloss,accuracy",
        }
    )
    params = ALGORITHM.xgboost_params(hps, num_cpus=3)
    assert params == {
        "objective": "multi:softprob",
        "eta": 0.3,
        "lambda": 1.0,
        "alpha": 0.0,
        "seed": 0,
        "verbosity": 1,
        "nthread": 3,
        "max_depth": 4,
        "num_class": 3,
        "eval_metric": ["mlogloss"],
    }


# --- training ----------------------------------------------------------------------------------


def test_binary_training_reports_every_round_and_logs_like_sagemaker(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {
            "num_round": "12",
            "objective": "binary:logistic",
            "eval_metric": "logloss,auc",
            "max_depth": "3",
        },
        split(X, y, 400),
    )
    for name in ("train:logloss", "train:auc", "validation:logloss", "validation:auc"):
        assert len(rec.series(name)) == 12, name
    steps = [s for n, _, s in rec.metrics if n == "validation:auc" and s is not None]
    assert steps == list(range(12))
    logloss = rec.series("train:logloss")
    assert logloss[-1] < logloss[0]
    final = rec.final()
    assert final["validation:auc"] == rec.series("validation:auc")[-1] > 0.95
    round_lines = [line for line in rec.lines if line.startswith("[")]
    assert len(round_lines) == 12
    assert round_lines[3].startswith("[3]\ttrain-logloss:")
    assert "\tvalidation-auc:" in round_lines[3]

    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    assert meta["algorithm"] == "xgboost" and meta["num_features"] == 30
    assert meta["objective"] == "binary:logistic" and meta["num_class"] is None
    assert meta["hyperparameters"]["num_round"] == 12
    assert meta["hyperparameters"]["early_stopping_rounds"] is None


def test_artifact_round_trip_and_plain_booster(tmp_path: Path) -> None:
    X, y = breast_cancer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no xgboost warning on save or on our load
        ctx, _ = train_on(
            ALGORITHM, tmp_path, {"num_round": 8, "objective": "binary:logistic"}, split(X, y, 400)
        )
        model = ALGORITHM.load(ctx.model_dir)
    assert ALGORITHM.num_features(model) == 30
    prediction = ALGORITHM.predict(model, X[400:])
    assert prediction.array.shape == (len(X) - 400,)
    assert prediction.records[0].keys() == {"score"}
    assert isinstance(prediction.records[0]["score"], float)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xgboost notes the name has no extension
        plain = xgb.Booster(model_file=str(ctx.model_dir / MODEL_FILE))
    assert (ctx.model_dir / MODEL_FILE).read_bytes()[:1] == b"{"  # UBJSON
    np.testing.assert_allclose(plain.predict(xgb.DMatrix(X[400:])), prediction.array, rtol=1e-6)
    single = ALGORITHM.predict(model, X[400])  # one row, 1-D
    assert single.array.shape == (1,) and single.array[0] == pytest.approx(prediction.array[0])
    with pytest.raises(InvalidRequest, match="29 feature columns; the model expects 30"):
        ALGORITHM.predict(model, X[:2, :29])


def test_parity_with_xgboost_train(tmp_path: Path) -> None:
    X, y = make_regression(600, 12, noise=3.0, random_state=1)
    X, y = X.astype(np.float32), y.astype(np.float32)
    hps = {
        "num_round": 25,
        "eta": 0.2,
        "max_depth": 5,
        "subsample": 0.7,
        "colsample_bytree": 0.8,
        "min_child_weight": 2,
        "lambda": 2,
        "alpha": 0.5,
        "seed": 7,
    }
    ctx, _ = train_on(ALGORITHM, tmp_path, hps, {"train": (X, y)})
    ours = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X).array
    direct = xgb.train(
        {
            **{k: v for k, v in hps.items() if k != "num_round"},
            "objective": "reg:squarederror",
            "nthread": 2,
        },
        xgb.DMatrix(X, label=y),
        num_boost_round=25,
    )
    np.testing.assert_allclose(ours, direct.predict(xgb.DMatrix(X)), rtol=1e-5, atol=1e-5)


def test_early_stopping_keeps_the_best_round(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {
            "num_round": 300,
            "objective": "binary:logistic",
            "eta": 0.5,
            "eval_metric": "auc,logloss",
            "early_stopping_rounds": 5,
        },
        split(X, y, 400),
    )
    series = rec.series("validation:logloss")  # the last metric drives early stopping
    assert len(series) < 300
    best = int(np.argmin(series))
    assert len(series) == best + 6
    assert rec.final()["validation:logloss"] == min(series)
    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    assert meta["best_round"] == best and meta["num_round"] == best + 1
    booster = ALGORITHM.load(ctx.model_dir).booster
    assert booster.num_boosted_rounds() == best + 1


def test_sagemaker_extra_metrics_and_tuning_objective(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {
            "num_round": 6,
            "objective": "binary:logistic",
            "eval_metric": "accuracy,f1",
            "_tuning_objective_metric": "validation:auc",
        },
        split(X, y, 400),
    )
    assert {"validation:accuracy", "validation:f1", "validation:auc"} <= set(rec.final())
    assert "validation:logloss" not in rec.final()  # only what was asked for
    scores = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[400:]).array
    accuracy = float(np.mean((scores > 0.5) == (y[400:] == 1)))
    assert rec.final()["validation:accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_multiclass_softprob_and_softmax(tmp_path: Path) -> None:
    X, y = make_classification(400, 8, n_informative=5, n_classes=3, random_state=0)
    X = X.astype(np.float32)
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path / "prob",
        {"num_round": 5, "objective": "multi:softprob", "num_class": 3},
        split(X, y, 300),
    )
    assert len(rec.series("validation:mlogloss")) == 5
    model = ALGORITHM.load(ctx.model_dir)
    prediction = ALGORITHM.predict(model, X[:4])
    assert prediction.array.shape == (4, 3)
    record = prediction.records[0]
    assert len(record["score"]) == 3 and sum(record["score"]) == pytest.approx(1, abs=1e-5)
    assert record["predicted_label"] == int(np.argmax(record["score"]))
    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    assert meta["num_class"] == 3

    ctx, _ = train_on(
        ALGORITHM,
        tmp_path / "max",
        {"num_round": 5, "objective": "multi:softmax", "num_class": 3},
        split(X, y, 300),
    )
    prediction = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[:4])
    assert prediction.array.shape == (4,)
    assert {r["score"] for r in prediction.records} <= {0.0, 1.0, 2.0}


def test_labels_are_checked_against_the_objective(tmp_path: Path) -> None:
    X, y = breast_cancer()
    y = y.copy()
    y[0] = 2
    with pytest.raises(InvalidRequest, match=r"binary:logistic: labels must be in \[0, 1\]"):
        train_on(
            ALGORITHM,
            tmp_path / "a",
            {"num_round": 2, "objective": "binary:logistic"},
            {"train": (X, y)},
        )
    with pytest.raises(InvalidRequest, match="integers 0 .. 1"):
        train_on(
            ALGORITHM,
            tmp_path / "b",
            {"num_round": 2, "objective": "multi:softmax", "num_class": 2},
            {"train": (X, y)},
        )


def make_ctx(
    tmp_path: Path, hps: dict, channels: dict[str, Path], content_types: dict[str, str]
) -> tuple[TrainingContext, Recorder]:
    rec = Recorder()
    ctx = TrainingContext(
        tmp_path, ALGORITHM.validate(hps), channels, content_types, rec.metric, 2, rec.log
    )
    return ctx, rec


def test_libsvm_and_parquet_channels(tmp_path: Path) -> None:
    X, y = breast_cancer()
    lines = [
        " ".join([str(int(label))] + [f"{j}:{v:.9g}" for j, v in enumerate(row) if v])
        for row, label in zip(X[:300], y[:300], strict=True)
    ]
    (tmp_path / "svm").mkdir()
    (tmp_path / "svm" / "train.libsvm").write_text("\n".join(lines) + "\n")
    ctx, rec = make_ctx(
        tmp_path / "w1",
        {"num_round": 4, "objective": "binary:logistic"},
        {"train": tmp_path / "svm"},
        {"train": "text/libsvm"},
    )
    ALGORITHM.train(ctx)
    assert ALGORITHM.num_features(ALGORITHM.load(ctx.model_dir)) <= 30

    table = pa.table({"diagnosis": y[:300], **{f"f{j}": X[:300, j] for j in range(30)}})
    (tmp_path / "pq").mkdir()
    pq.write_table(table, tmp_path / "pq" / "part-0.parquet")
    ctx, rec = make_ctx(
        tmp_path / "w2",
        {"num_round": 4, "objective": "binary:logistic", "label": "diagnosis"},
        {"train": tmp_path / "pq", "validation": tmp_path / "pq"},
        {"train": "application/x-parquet", "validation": "application/x-parquet"},
    )
    ALGORITHM.train(ctx)
    assert len(rec.series("validation:logloss")) == 4
    model = ALGORITHM.load(ctx.model_dir)
    assert ALGORITHM.num_features(model) == 30


def test_unlabelled_data_is_refused(tmp_path: Path) -> None:
    X, y = breast_cancer()
    (tmp_path / "d").mkdir()
    np.savetxt(tmp_path / "d" / "a.csv", X[:50], delimiter=",")
    ctx, _ = make_ctx(
        tmp_path / "w",
        {"num_round": 2},
        {"train": tmp_path / "d"},
        {"train": "text/csv;label_size=0"},
    )
    with pytest.raises(InvalidRequest, match="needs a label column"):
        ALGORITHM.train(ctx)


def test_loads_a_model_trained_elsewhere(tmp_path: Path) -> None:
    X, y = make_classification(200, 5, n_informative=3, n_classes=3, random_state=0)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(X, label=y), 3)
    booster.save_model(str(tmp_path / "model.ubj"))
    (tmp_path / "model.ubj").rename(tmp_path / MODEL_FILE)  # no modelyard-model.json
    model = ALGORITHM.load(tmp_path)
    assert model.objective == "multi:softprob" and model.num_class == 3
    assert ALGORITHM.predict(model, X[:2]).array.shape == (2, 3)


def test_a_test_channel_gets_final_metrics_of_both_kinds(tmp_path: Path) -> None:
    X, y = breast_cancer()
    channels = {
        "train": (X[:300], y[:300]),
        "validation": (X[300:450], y[300:450]),
        "test": (X[450:], y[450:]),
    }
    hps = {"num_round": 10, "objective": "binary:logistic", "eval_metric": "logloss,auc"}
    _, recorder = train_on(ALGORITHM, tmp_path, hps, channels)
    final = recorder.final()
    assert {"test:logloss", "test:auc", "test:accuracy", "test:f1", "test:log_loss"} <= set(final)
    assert not any(
        name.startswith("test:") for name, _, step in recorder.metrics if step is not None
    )
    assert 0.9 < final["test:auc"] <= 1.0
    assert final["test:log_loss"] == pytest.approx(final["test:logloss"], rel=1e-4)
    declared = {m.name for m in ALGORITHM.metrics}
    assert {n for n, _, _ in recorder.metrics} <= declared
