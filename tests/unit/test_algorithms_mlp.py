"""The built-in mlp algorithm (PyTorch), trained for real on small data."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.datasets import make_classification, make_regression  # noqa: E402

from modelyard.algorithms.base import TrainingContext  # noqa: E402
from modelyard.algorithms.mlp import ALGORITHM, build_network, parse_hidden_units  # noqa: E402
from modelyard.algorithms.torch_support import import_torch  # noqa: E402
from modelyard.errors import InvalidHyperparameters, InvalidRequest  # noqa: E402
from tests.unit.test_algorithms_helpers import (  # noqa: E402
    Recorder,
    breast_cancer,
    split,
    train_on,
    write_csv,
)

# One thread: the hand-written loops below then run exactly the same kernels as training,
# and a busy test machine does not slow the tiny matrix products down.
CPUS = 1


def problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidHyperparameters) as info:
        ALGORITHM.validate(raw)
    return info.value.problems


@contextmanager
def threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def regression(rows: int = 500, noise: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(rows, 8, n_informative=6, noise=noise, random_state=3)
    return X.astype(np.float32), (y + 50).astype(np.float32)


def multiclass(rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        rows, 10, n_informative=6, n_classes=3, class_sep=1.5, random_state=1
    )
    return X.astype(np.float32), y.astype(np.float32)


def hand_trained(hps: dict[str, Any], X: np.ndarray, y: np.ndarray, outputs: int, kind: str) -> Any:
    """The same training written out in plain torch: standardize, seed, one randperm per
    epoch, consecutive mini-batches, mean loss, the optimizer named by the hyperparameters.
    Returns a function giving the model's answer (prediction, P(1) or P(k)) for rows."""
    mean = X.mean(axis=0, dtype=np.float64)
    scale = X.std(axis=0, dtype=np.float64)
    scale[scale == 0] = 1
    mean_t, scale_t = torch.tensor(mean.astype(np.float32)), torch.tensor(scale.astype(np.float32))

    def normalized(rows: np.ndarray) -> Any:
        return (torch.from_numpy(np.ascontiguousarray(rows)) - mean_t) / scale_t

    y_mean, y_scale = 0.0, 1.0
    if kind == "regressor":
        y_mean, y_scale = float(np.mean(y, dtype=np.float64)), float(np.std(y, dtype=np.float64))
    if kind == "multiclass_classifier":
        targets = torch.from_numpy(y.astype(np.int64))
    else:
        targets = torch.from_numpy(((y.astype(np.float64) - y_mean) / y_scale).astype(np.float32))
    features = normalized(X)

    with threads(CPUS):
        torch.manual_seed(hps["seed"])
        order = torch.Generator().manual_seed(hps["seed"])
        net = build_network(hps, X.shape[1], outputs)
        lr, wd = hps["learning_rate"], hps["weight_decay"]
        if hps["optimizer"] == "sgd":
            opt = torch.optim.SGD(
                net.parameters(), lr=lr, momentum=hps["momentum"], weight_decay=wd
            )
        elif hps["optimizer"] == "adamw":
            opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=wd)
        else:
            opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=wd)
        loss_fn = {
            "regressor": torch.nn.MSELoss(),
            "binary_classifier": torch.nn.BCEWithLogitsLoss(),
            "multiclass_classifier": torch.nn.CrossEntropyLoss(),
        }[kind]
        for _ in range(hps["epochs"]):
            net.train()
            perm = torch.randperm(len(X), generator=order)
            for start in range(0, len(X), hps["mini_batch_size"]):
                idx = perm[start : start + hps["mini_batch_size"]]
                opt.zero_grad()
                out = net(features[idx])
                if kind != "multiclass_classifier":
                    out = out.squeeze(-1)
                loss_fn(out, targets[idx]).backward()
                opt.step()
        net.eval()

    def answer(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = net(normalized(rows)).double()
        if kind == "regressor":
            return (out[:, 0] * y_scale + y_mean).numpy()
        if kind == "binary_classifier":
            return torch.sigmoid(out[:, 0]).numpy()
        return torch.softmax(out, dim=1).numpy()

    return answer


def scores(prediction: Any) -> np.ndarray:
    return np.array([r["score"] for r in prediction.records], dtype=np.float64)


# --- the optional dependency -----------------------------------------------------------------


def test_importing_the_module_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from modelyard.algorithms.mlp import ALGORITHM\n"
        "ALGORITHM.describe(); ALGORITHM.validate({'predictor_type': 'regressor'})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_torch_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(InvalidRequest) as info:
        import_torch("mlp")
    assert info.value.message == "the mlp algorithm needs PyTorch: pip install 'modelyard[pytorch]'"
    X, y = regression(20)
    with pytest.raises(InvalidRequest, match=r"needs PyTorch: pip install 'modelyard\[pytorch\]'"):
        train_on(ALGORITHM, tmp_path, {"predictor_type": "regressor"}, {"train": (X, y)})


# --- hyperparameters -------------------------------------------------------------------------


def test_hyperparameter_rules() -> None:
    hps = ALGORITHM.validate({"predictor_type": "binary_classifier"})
    assert hps["hidden_units"] == "64,64" and hps["activation"] == "relu"
    assert hps["epochs"] == 20 and hps["mini_batch_size"] == 128
    assert hps["learning_rate"] == 0.001 and hps["optimizer"] == "adam"
    assert hps["normalize_data"] is True and hps["early_stopping_patience"] is None
    assert hps["dropout"] == 0 and hps["weight_decay"] == 0 and hps["seed"] == 0

    for bad in ("64,x", "0", "", "64,", "-3", "1.5", ",".join(["8"] * 17), "100000"):
        found = problems({"predictor_type": "regressor", "hidden_units": bad})
        assert set(found) == {"hidden_units"}, bad
        assert found["hidden_units"].startswith(f"got {bad!r}; expected comma-separated")
        assert "e.g. 64,32" in found["hidden_units"]
    assert parse_hidden_units(" 128, 64 ") == [128, 64]

    found = problems(
        {
            "predictor_type": "regressor",
            "activation": "softplus",
            "optimizer": "rmsprop",
            "learning_rate": 0,
            "dropout": 1,
            "momentum": 1,
            "epochs": 0,
        }
    )
    assert "relu, tanh, sigmoid, gelu" in found["activation"]
    assert "adam, adamw, sgd" in found["optimizer"]
    assert "> 0" in found["learning_rate"] and ">= 1" in found["epochs"]
    found = problems({"predictor_type": "regressor", "dropout": 1, "momentum": "1.0"})
    assert "< 1" in found["dropout"] and "< 1" in found["momentum"]
    assert "required for multiclass" in problems({"predictor_type": "multiclass_classifier"}).get(
        "num_classes", ""
    )
    described = {h["name"]: h for h in ALGORITHM.describe()["hyperparameters"]}
    assert described["learning_rate"]["tuning_scale"] == "Logarithmic"
    assert "64,64" in described["hidden_units"]["tuning_range"]
    names = {m.name for m in ALGORITHM.metrics}
    assert {"train:loss", "validation:loss", "validation:rmse", "validation:accuracy"} <= names


# --- parity with a hand-written loop ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("binary_classifier", {"dropout": 0.2, "hidden_units": "32,16", "weight_decay": 1e-4}),
        ("regressor", {"optimizer": "sgd", "learning_rate": 0.01, "activation": "tanh"}),
        (
            "multiclass_classifier",
            {"optimizer": "adamw", "activation": "gelu", "weight_decay": 0.01},
        ),
    ],
)
def test_served_predictions_equal_a_plain_torch_loop(
    tmp_path: Path, kind: str, extra: dict[str, Any]
) -> None:
    if kind == "binary_classifier":
        X, y = breast_cancer()
        outputs = 1
    elif kind == "regressor":
        X, y = regression()
        outputs = 1
    else:
        X, y = multiclass()
        outputs = 3
    raw = {"predictor_type": kind, "epochs": 4, "mini_batch_size": 48, "seed": 7, **extra}
    if kind == "multiclass_classifier":
        raw["num_classes"] = 3
    ctx, rec = train_on(ALGORITHM, tmp_path, raw, split(X, y, 400), num_cpus=CPUS)
    served = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X)

    expected = hand_trained(ALGORITHM.validate(raw), X[:400], y[:400], outputs, kind)(X)
    if kind == "multiclass_classifier":
        ours = np.array([r["score"] for r in served.records])
        np.testing.assert_array_equal(served.array, expected.argmax(axis=1))
    else:
        ours = scores(served)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


# --- quality, metrics, records ---------------------------------------------------------------


def test_regressor_learns_and_reports_every_epoch(tmp_path: Path) -> None:
    X, y = regression()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "regressor", "epochs": 15, "mini_batch_size": 32, "learning_rate": 0.01},
        split(X, y, 400),
        num_cpus=CPUS,
    )
    final = rec.final()
    assert final["validation:r2"] > 0.9 and final["train:r2"] > 0.9
    for name in ("train:loss", "validation:loss", "validation:rmse"):
        assert len(rec.series(name)) == 15, name
    steps = [s for n, _, s in rec.metrics if n == "train:loss"]
    assert steps == list(range(15))
    train_loss = rec.series("train:loss")
    assert train_loss[-1] < train_loss[0] / 10  # the MSE, in the label's units
    assert rec.series("validation:rmse")[-1] == pytest.approx(final["validation:rmse"], rel=1e-4)
    assert any(line.startswith("epoch 15/15: train:loss=") for line in rec.lines)
    assert any("training on the CPU" in line or "training on the GPU" in line for line in rec.lines)

    prediction = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[:2])
    assert set(prediction.records[0]) == {"score"}
    assert prediction.array.shape == (2,)


def test_binary_classifier_learns(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "binary_classifier", "epochs": 10, "mini_batch_size": 32},
        split(X, y, 400),
        num_cpus=CPUS,
    )
    final = rec.final()
    assert final["validation:accuracy"] > 0.93 and final["validation:auc"] > 0.97
    assert len(rec.series("validation:log_loss")) == 10
    assert len(rec.series("validation:accuracy")) == 10
    accuracy = rec.series("validation:accuracy")[-1]
    assert accuracy == pytest.approx(final["validation:accuracy"])

    prediction = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X)
    assert all(0 <= r["score"] <= 1 and r["predicted_label"] in (0, 1) for r in prediction.records)
    np.testing.assert_array_equal(prediction.array, scores(prediction) > 0.5)


def test_multiclass_classifier_learns(tmp_path: Path) -> None:
    X, y = multiclass()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {
            "predictor_type": "multiclass_classifier",
            "num_classes": 3,
            "epochs": 20,
            "mini_batch_size": 32,
            "learning_rate": 0.003,
        },
        split(X, y, 450),
        num_cpus=CPUS,
    )
    assert rec.final()["validation:accuracy"] > 0.8
    record = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[:1]).records[0]
    assert len(record["score"]) == 3 and sum(record["score"]) == pytest.approx(1.0)
    assert record["predicted_label"] == int(np.argmax(record["score"]))


# --- early stopping --------------------------------------------------------------------------


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path) -> None:
    # few noisy rows and a large network: the validation loss soon goes up again
    X, y = regression(160, noise=30.0)
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {
            "predictor_type": "regressor",
            "hidden_units": "256,256",
            "epochs": 300,
            "mini_batch_size": 16,
            "learning_rate": 0.01,
            "early_stopping_patience": 3,
        },
        split(X, y, 100),
        num_cpus=CPUS,
    )
    losses = rec.series("validation:loss")
    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    best = meta["best_epoch"]
    assert len(losses) < 300 and len(losses) == best + 1 + 3 == meta["epochs_trained"]
    assert losses[best] == min(losses)
    assert any(line.startswith("early stopping: no lower validation loss") for line in rec.lines)
    # the kept model is the best epoch's: its final validation MSE is that epoch's loss
    assert rec.final()["validation:mse"] == pytest.approx(losses[best], rel=1e-5)


def test_early_stopping_without_validation_is_ignored(tmp_path: Path) -> None:
    X, y = regression(100)
    _, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "regressor", "epochs": 2, "early_stopping_patience": 1},
        {"train": (X, y)},
        num_cpus=CPUS,
    )
    assert "early_stopping_patience ignored: there is no validation channel" in rec.lines
    assert len(rec.series("train:loss")) == 2 and not rec.series("validation:loss")


# --- the artifact ----------------------------------------------------------------------------


def test_artifact_round_trip(tmp_path: Path) -> None:
    X, y = breast_cancer()
    ctx, rec = train_on(
        ALGORITHM,
        tmp_path,
        {"predictor_type": "binary_classifier", "epochs": 3, "hidden_units": "16"},
        split(X, y, 400),
        num_cpus=CPUS,
    )
    model = ALGORITHM.load(ctx.model_dir)
    assert not model.model.network.training
    assert next(model.model.network.parameters()).device.type == "cpu"
    served = scores(ALGORITHM.predict(model, X))
    # the loaded model gives what the trained one was scored with in-process
    from sklearn.metrics import log_loss

    assert log_loss(y[400:], served[400:]) == pytest.approx(rec.final()["validation:log_loss"])
    # one row at a time answers as a batch does
    single = [ALGORITHM.predict(model, X[i]).records[0]["score"] for i in range(3)]
    np.testing.assert_allclose(single, served[:3], rtol=1e-6)

    # without modelyard: the architecture and normalization in the JSON rebuild the network
    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    arch, norm = meta["architecture"], meta["normalization"]
    assert arch == {
        "num_features": 30,
        "num_outputs": 1,
        "hidden_units": [16],
        "activation": "relu",
        "dropout": 0.0,
    }
    net = torch.nn.Sequential(
        torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, arch["num_outputs"])
    )
    net.load_state_dict(torch.load(ctx.model_dir / "model.pt", weights_only=True))
    with torch.no_grad():
        rows = (torch.from_numpy(X) - torch.tensor(norm["x_mean"])) / torch.tensor(norm["x_scale"])
        direct = torch.sigmoid(net(rows)[:, 0]).numpy()
    np.testing.assert_allclose(direct, served, rtol=1e-5, atol=1e-7)
    assert meta["predictor_type"] == "binary_classifier" and meta["num_classes"] == 2


def test_missing_values_are_rejected(tmp_path: Path) -> None:
    X, y = regression(30)
    X[4, 2] = np.nan
    with pytest.raises(InvalidRequest, match="channel 'train': 1 feature value"):
        train_on(ALGORITHM, tmp_path, {"predictor_type": "regressor"}, {"train": (X, y)})


def test_wrong_request_width_is_rejected(tmp_path: Path) -> None:
    X, y = regression(40)
    channel = tmp_path / "input" / "data" / "train"
    write_csv(channel / "train.csv", X, y)
    recorder = Recorder()
    ctx = TrainingContext(
        work_dir=tmp_path,
        hyperparameters=ALGORITHM.validate({"predictor_type": "regressor", "epochs": 1}),
        channels={"train": channel},
        content_types={"train": "text/csv"},
        report_metric=recorder.metric,
        num_cpus=CPUS,
        log=recorder.log,
    )
    ALGORITHM.train(ctx)
    with pytest.raises(InvalidRequest, match="expects 8"):
        ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[:, :5])
