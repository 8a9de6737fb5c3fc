"""The built-in factorization-machines algorithm (PyTorch), trained for real on small data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import scipy.sparse as sp  # noqa: E402
from sklearn.datasets import dump_svmlight_file  # noqa: E402

from modelyard.algorithms.base import TrainingContext  # noqa: E402
from modelyard.algorithms.factorization_machines import (  # noqa: E402
    ALGORITHM,
    MULTICLASS_MESSAGE,
    build_network,
    fm_dense,
    fm_sparse,
)
from modelyard.errors import InvalidHyperparameters, InvalidRequest  # noqa: E402
from tests.unit.test_algorithms_helpers import Recorder, write_csv  # noqa: E402

CPUS = 1  # as in test_algorithms_mlp: same kernels as the hand-written loops, robust timing
LIBSVM = "text/libsvm"


def problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidHyperparameters) as info:
        ALGORITHM.validate(raw)
    return info.value.problems


def fm_data(
    rows: int, features: int, density: float, kind: str, seed: int = 0
) -> tuple[Any, np.ndarray]:
    """Sparse rows and labels from a true factorization machine with 3 factors."""
    rng = np.random.default_rng(seed)
    X = sp.random(rows, features, density, format="csr", random_state=rng, dtype=np.float32)
    X.data = (X.data * 2).astype(np.float32)  # values in [0, 2)
    w = rng.normal(0, 1, features)
    V = rng.normal(0, 0.7, (features, 3))
    xv = X @ V
    y = 0.5 + X @ w + 0.5 * ((xv**2).sum(1) - (X.multiply(X) @ (V**2)).sum(1))
    y = np.asarray(y).ravel()
    if kind == "binary_classifier":
        return X, (y > np.median(y)).astype(np.float32)
    return X, (y + rng.normal(0, 0.1, rows)).astype(np.float32)


def train_channels(
    work_dir: Path,
    raw: dict[str, Any],
    channels: dict[str, tuple[Any, np.ndarray]],
) -> tuple[TrainingContext, Recorder]:
    """Train with each channel written as libsvm (a sparse X) or SageMaker CSV (a dense X)."""
    paths, types = {}, {}
    for name, (X, y) in channels.items():
        directory = work_dir / "input" / "data" / name
        directory.mkdir(parents=True)
        if sp.issparse(X):
            dump_svmlight_file(X, y, str(directory / f"{name}.libsvm"), zero_based=True)
            types[name] = LIBSVM
        else:
            write_csv(directory / f"{name}.csv", X, y)
            types[name] = "text/csv"
        paths[name] = directory
    recorder = Recorder()
    ctx = TrainingContext(
        work_dir=work_dir,
        hyperparameters=ALGORITHM.validate(raw),
        channels=paths,
        content_types=types,
        report_metric=recorder.metric,
        num_cpus=CPUS,
        log=recorder.log,
    )
    ALGORITHM.train(ctx)
    return ctx, recorder


def scores(X: Any) -> np.ndarray:
    return np.array([r["score"] for r in X.records], dtype=np.float64)


def by_hand(hps: dict[str, Any], X: Any, y: np.ndarray, kind: str) -> tuple[Any, Any, Any]:
    """The training written out in plain torch: init bias, linear, factors in that order,
    Adam with one group per part, one randperm per epoch, CSR rows sliced with scipy."""
    with_threads = torch.get_num_threads()
    torch.set_num_threads(CPUS)
    try:
        torch.manual_seed(hps["seed"])
        order = torch.Generator().manual_seed(hps["seed"])
        d, k = X.shape[1], hps["num_factors"]
        params = {"bias": torch.zeros(1), "linear": torch.zeros(d), "factors": torch.zeros(d, k)}
        for part, tensor in params.items():
            method = hps[f"{part}_init_method"]
            if method == "normal":
                tensor.normal_(0, hps[f"{part}_init_sigma"])
            elif method == "uniform":
                tensor.uniform_(-hps[f"{part}_init_scale"], hps[f"{part}_init_scale"])
            else:
                tensor.fill_(hps[f"{part}_init_value"])
            tensor.requires_grad_(True)
        opt = torch.optim.Adam(
            [
                {"params": [t], "lr": hps[f"{p}_lr"], "weight_decay": hps[f"{p}_wd"]}
                for p, t in params.items()
            ],
            eps=hps["eps"] or 1e-8,
        )
        b, w, V = params["bias"], params["linear"], params["factors"]
        loss_fn = torch.nn.MSELoss() if kind == "regressor" else torch.nn.BCEWithLogitsLoss()
        targets = torch.from_numpy(y.astype(np.float32))
        dense = None if sp.issparse(X) else torch.from_numpy(np.ascontiguousarray(X))
        for _ in range(hps["epochs"]):
            perm = torch.randperm(X.shape[0], generator=order)
            for start in range(0, X.shape[0], hps["mini_batch_size"]):
                idx = perm[start : start + hps["mini_batch_size"]]
                if dense is None:
                    sub = X[idx.numpy()]
                    rows = torch.from_numpy(np.repeat(np.arange(len(idx)), np.diff(sub.indptr)))
                    cols = torch.from_numpy(sub.indices.astype(np.int64))
                    vals = torch.from_numpy(sub.data)
                    terms = V[cols] * vals.unsqueeze(1)
                    xv = torch.zeros(len(idx), k).index_add(0, rows, terms)
                    x2v2 = torch.zeros(len(idx), k).index_add(0, rows, terms * terms)
                    lin = torch.zeros(len(idx)).index_add(0, rows, w[cols] * vals)
                    out = b + lin + 0.5 * (xv * xv - x2v2).sum(1)
                else:
                    xb = dense[idx]
                    xv = xb @ V
                    out = b + xb @ w + 0.5 * (xv * xv - (xb * xb) @ (V * V)).sum(1)
                opt.zero_grad()
                loss_fn(out, targets[idx]).backward()
                for t in params.values():
                    if hps["rescale_grad"] is not None:
                        t.grad.mul_(hps["rescale_grad"])
                    if hps["clip_gradient"] is not None:
                        t.grad.clamp_(-hps["clip_gradient"], hps["clip_gradient"])
                opt.step()
    finally:
        torch.set_num_threads(with_threads)
    return b.detach(), w.detach(), V.detach()


def answer(model: tuple[Any, Any, Any], X: np.ndarray, kind: str) -> np.ndarray:
    """Naive pairwise FM (a different formula from the trained one) for dense rows."""
    b, w, V = (t.detach().double().numpy() for t in model)
    X = X.astype(np.float64)
    gram = V @ V.T
    pairs = np.einsum("ni,ij,nj->n", X, np.triu(gram, 1), X)
    y = b[0] + X @ w + pairs
    return y if kind == "regressor" else 1 / (1 + np.exp(-y))


# --- the optional dependency, hyperparameters ------------------------------------------------


def test_importing_the_module_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from modelyard.algorithms.factorization_machines import ALGORITHM\n"
        "ALGORITHM.describe()\n"
        "ALGORITHM.validate({'predictor_type': 'regressor', 'num_factors': 4})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_torch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(InvalidRequest) as info:
        build_network({"num_factors": 2}, 3)
    assert info.value.message == (
        "the factorization-machines algorithm needs PyTorch: pip install 'modelyard[pytorch]'"
    )


def test_hyperparameters_are_sagemakers() -> None:
    hps = ALGORITHM.validate({"predictor_type": "binary_classifier", "num_factors": 8})
    assert hps["epochs"] == 1 and hps["mini_batch_size"] == 1000
    assert (hps["bias_lr"], hps["linear_lr"], hps["factors_lr"]) == (0.1, 0.001, 0.0001)
    assert (hps["bias_wd"], hps["linear_wd"], hps["factors_wd"]) == (0.01, 0.001, 0.00001)
    assert hps["bias_init_method"] == hps["factors_init_method"] == "normal"
    assert (hps["bias_init_sigma"], hps["factors_init_sigma"]) == (0.01, 0.001)
    assert hps["clip_gradient"] is None and hps["eps"] is None and hps["rescale_grad"] is None

    assert problems({"predictor_type": "regressor"})["num_factors"].startswith("required")
    found = problems(
        {
            "predictor_type": "regressor",
            "num_factors": 4,
            "linear_init_method": "uniform",
            "bias_init_method": "constant",
        }
    )
    assert "required when linear_init_method is uniform" in found["linear_init_scale"]
    assert "required when bias_init_method is constant" in found["bias_init_value"]
    found = problems({"predictor_type": "regressor", "num_factors": 0, "bias_init_method": "x"})
    assert "normal, uniform, constant" in found["bias_init_method"]
    assert ">= 1" in found["num_factors"]
    described = {h["name"]: h for h in ALGORITHM.describe()["hyperparameters"]}
    assert described["predictor_type"]["allowed"] == "one of binary_classifier, regressor"
    assert "num_classes" not in described
    assert ALGORITHM.describe()["problem_types"] == ["Regression", "BinaryClassification"]
    assert "text/libsvm" in ALGORITHM.content_types


def test_multiclass_is_rejected() -> None:
    found = problems(
        {"predictor_type": "multiclass_classifier", "num_factors": 4, "num_classes": 3}
    )
    assert found["predictor_type"] == MULTICLASS_MESSAGE
    assert "binary_classifier and regressor only" in found["predictor_type"]
    assert found["num_classes"].startswith("unknown hyperparameter")


# --- the model -------------------------------------------------------------------------------


def test_dense_and_sparse_formulas_match_the_pairwise_definition() -> None:
    hps = ALGORITHM.validate({"predictor_type": "regressor", "num_factors": 5})
    torch.manual_seed(1)
    module = build_network({**hps, "factors_init_sigma": 0.5, "linear_init_sigma": 1.0}, 12)
    X, _ = fm_data(40, 12, 0.3, "regressor")
    dense = X.toarray()
    with torch.no_grad():
        via_dense = fm_dense(module, torch.from_numpy(dense)).numpy()
        rows = torch.from_numpy(np.repeat(np.arange(40), np.diff(X.indptr)))
        via_sparse = fm_sparse(
            module,
            rows,
            torch.from_numpy(X.indices.astype(np.int64)),
            torch.from_numpy(X.data),
            40,
        ).numpy()
    naive = answer((module.bias, module.linear, module.factors), dense, "regressor")
    np.testing.assert_allclose(via_dense, naive, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(via_sparse, naive, rtol=1e-5, atol=1e-5)


# --- parity with a hand-written loop ---------------------------------------------------------


def test_libsvm_training_equals_a_plain_torch_loop(tmp_path: Path) -> None:
    X, y = fm_data(700, 40, 0.15, "binary_classifier")
    raw = {
        "predictor_type": "binary_classifier",
        "num_factors": 4,
        "epochs": 3,
        "mini_batch_size": 64,
        "linear_lr": 0.02,
        "factors_lr": 0.02,
        "factors_init_method": "uniform",
        "factors_init_scale": 0.1,
        "bias_init_method": "constant",
        "bias_init_value": 0.2,
        "clip_gradient": 0.05,
        "rescale_grad": 2.0,
        "eps": 1e-7,
        "seed": 3,
    }
    train = (X[:500], y[:500])
    ctx, rec = train_channels(tmp_path, raw, {"train": train, "validation": (X[500:], y[500:])})
    assert any("sparse input" in line for line in rec.lines)
    dense = X.toarray()
    served = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), dense)

    model = by_hand(ALGORITHM.validate(raw), *train, "binary_classifier")
    np.testing.assert_allclose(scores(served), answer(model, dense, "binary_classifier"), 1e-5)
    np.testing.assert_array_equal(served.array, scores(served) > 0.5)
    assert len(rec.series("validation:log_loss")) == 3 == len(rec.series("train:loss"))
    assert len(rec.series("validation:accuracy")) == 3


def test_dense_training_equals_a_plain_torch_loop(tmp_path: Path) -> None:
    X, y = fm_data(600, 10, 0.5, "regressor")
    X = X.toarray()
    raw = {
        "predictor_type": "regressor",
        "num_factors": 3,
        "epochs": 4,
        "mini_batch_size": 50,
        "bias_lr": 0.05,
        "linear_lr": 0.05,
        "factors_lr": 0.05,
        "factors_init_sigma": 0.1,
    }
    ctx, rec = train_channels(tmp_path, raw, {"train": (X, y)})
    assert any("dense input" in line for line in rec.lines)
    served = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X)
    expected = answer(by_hand(ALGORITHM.validate(raw), X, y, "regressor"), X, "regressor")
    np.testing.assert_allclose(scores(served), expected, rtol=1e-5, atol=1e-5)


# --- quality, metrics ------------------------------------------------------------------------


def test_regressor_learns_the_interactions(tmp_path: Path) -> None:
    X, y = fm_data(1500, 12, 0.5, "regressor", seed=4)
    X = X.toarray()
    raw = {
        "predictor_type": "regressor",
        "num_factors": 4,
        "epochs": 30,
        "mini_batch_size": 50,
        "linear_lr": 0.02,
        "factors_lr": 0.02,
        "factors_init_sigma": 0.1,
    }
    ctx, rec = train_channels(
        tmp_path, raw, {"train": (X[:1200], y[:1200]), "validation": (X[1200:], y[1200:])}
    )
    final = rec.final()
    assert final["validation:r2"] > 0.9
    rmse = rec.series("validation:rmse")
    assert len(rmse) == 30 and rmse[-1] < rmse[0] / 2
    assert rmse[-1] == pytest.approx(final["validation:rmse"], rel=1e-4)
    assert [s for n, _, s in rec.metrics if n == "train:loss"] == list(range(30))
    assert any(line.startswith("epoch 30/30: train:loss=") for line in rec.lines)
    record = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[0]).records[0]
    assert set(record) == {"score"}


def test_binary_classifier_on_libsvm_learns(tmp_path: Path) -> None:
    X, y = fm_data(2000, 60, 0.1, "binary_classifier", seed=5)
    raw = {
        "predictor_type": "binary_classifier",
        "num_factors": 4,
        "epochs": 15,
        "mini_batch_size": 100,
        "linear_lr": 0.02,
        "factors_lr": 0.02,
        "factors_init_sigma": 0.1,
    }
    _, rec = train_channels(
        tmp_path, raw, {"train": (X[:1600], y[:1600]), "validation": (X[1600:], y[1600:])}
    )
    final = rec.final()
    assert final["validation:auc"] > 0.9 and final["validation:accuracy"] > 0.8
    assert "validation:log_loss" in final and "train:precision" in final


# --- the artifact, sparse serving ------------------------------------------------------------


def test_feature_dim_widens_libsvm_and_wide_rows_are_served_sparse(tmp_path: Path) -> None:
    X, y = fm_data(400, 1200, 0.01, "binary_classifier", seed=6)
    raw = {
        "predictor_type": "binary_classifier",
        "num_factors": 3,
        "feature_dim": 1500,  # indices 1200 .. 1499 never occur in the data
        "epochs": 2,
        "mini_batch_size": 100,
        "factors_init_sigma": 0.1,
    }
    ctx, _ = train_channels(tmp_path, raw, {"train": (X, y)})
    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    assert meta["num_features"] == 1500 and meta["num_factors"] == 3
    model = ALGORITHM.load(ctx.model_dir)
    module = model.model
    assert not module.training and module.factors.device.type == "cpu"
    state = torch.load(ctx.model_dir / "model.pt", weights_only=True)
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "bias": (1,),
        "linear": (1500,),
        "factors": (1500, 3),
    }

    rows = np.zeros((5, 1500), dtype=np.float32)
    rows[:, :1200] = X[:5].toarray()
    served = scores(ALGORITHM.predict(model, rows))  # wide and sparse: the sparse path
    with torch.no_grad():
        logits = fm_dense(module, torch.from_numpy(rows)).double()
    np.testing.assert_allclose(served, torch.sigmoid(logits).numpy(), rtol=1e-5)
    single = ALGORITHM.predict(model, rows[2]).records[0]["score"]
    assert single == pytest.approx(served[2], rel=1e-6)
    with pytest.raises(InvalidRequest, match="expects 1500"):
        ALGORITHM.predict(model, rows[:, :1200])


def test_libsvm_and_csv_give_the_same_model(tmp_path: Path) -> None:
    X, y = fm_data(300, 15, 0.3, "regressor", seed=7)
    raw = {"predictor_type": "regressor", "num_factors": 2, "epochs": 2, "mini_batch_size": 30}
    sparse_ctx, sparse_rec = train_channels(tmp_path / "libsvm", raw, {"train": (X, y)})
    dense_ctx, _ = train_channels(tmp_path / "csv", raw, {"train": (X.toarray(), y)})
    rows = X.toarray()
    from_sparse = scores(ALGORITHM.predict(ALGORITHM.load(sparse_ctx.model_dir), rows))
    from_dense = scores(ALGORITHM.predict(ALGORITHM.load(dense_ctx.model_dir), rows))
    np.testing.assert_allclose(from_sparse, from_dense, rtol=1e-4, atol=1e-5)
    # the final metrics on the sparse channel come from the same model as served answers
    rmse = float(np.sqrt(np.mean((from_sparse - y) ** 2)))
    assert sparse_rec.final()["train:rmse"] == pytest.approx(rmse, rel=1e-5)


def test_missing_values_are_rejected(tmp_path: Path) -> None:
    X, y = fm_data(30, 5, 0.5, "regressor")
    X = X.toarray()
    X[3, 1] = np.nan
    with pytest.raises(InvalidRequest, match="channel 'train': 1 feature value"):
        train_channels(
            tmp_path, {"predictor_type": "regressor", "num_factors": 2}, {"train": (X, y)}
        )
