"""The built-in kmeans algorithm, trained for real on small data."""

from __future__ import annotations

import contextlib
import io
import json
import re
from functools import partial
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from modelyard.algorithms import kmeans as kmeans_module
from modelyard.algorithms.conformance import check_algorithm
from modelyard.algorithms.data import CSV_HEADER, PARQUET
from modelyard.algorithms.kmeans import ALGORITHM, MODEL_FILE
from modelyard.errors import InvalidHyperparameters, InvalidRequest
from tests.unit import test_algorithms_helpers as helpers

train_unlabelled = partial(helpers.train_unlabelled, ALGORITHM)


def problems(raw: dict) -> dict[str, str]:
    with pytest.raises(InvalidHyperparameters) as info:
        ALGORITHM.validate(raw)
    return info.value.problems


def blobs(rows: int = 600, seed: int = 0) -> np.ndarray:
    X, _ = make_blobs(rows, 6, centers=4, cluster_std=2.0, random_state=seed)
    return X.astype(np.float32)


def uniform(rows: int = 1500) -> np.ndarray:
    """No cluster structure: Lloyd's algorithm needs many iterations."""
    return np.random.default_rng(7).uniform(size=(rows, 4)).astype(np.float32)


def verbose_msd(estimator: KMeans, X: np.ndarray) -> list[float]:
    """train:msd per iteration as scikit-learn's own verbose output says it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        estimator.set_params(verbose=1).fit(X)
    found = re.findall(r"Iteration \d+, inertia (\S+)\.", out.getvalue())
    return [float(v) / len(X) for v in found]


# --- hyperparameters -------------------------------------------------------------------------


def test_hyperparameter_rules() -> None:
    assert problems({})["k"].startswith("required")
    assert "kmeans++" in problems({"k": 3, "init_method": "k-means++"})["init_method"]
    assert (
        "auto or an integer"
        in problems({"k": 3, "local_lloyd_num_trials": "0"})["local_lloyd_num_trials"]
    )
    assert (
        "auto or an integer"
        in problems({"k": 3, "extra_center_factor": "x"})["extra_center_factor"]
    )
    assert "msd, ssd" in problems({"k": 3, "eval_metrics": '["msd", "auc"]'})["eval_metrics"]
    several = problems({"k": 0, "local_lloyd_max_iter": 0, "feature_dim": "two"})
    assert set(several) == {"k", "local_lloyd_max_iter", "feature_dim"}

    hps = ALGORITHM.validate({"k": "5", "eval_metrics": "[msd]", "local_lloyd_num_trials": "3"})
    assert hps["k"] == 5 and hps["init_method"] == "kmeans++"
    assert hps["local_lloyd_max_iter"] == 300 and hps["local_lloyd_tol"] == 1e-4
    estimator = kmeans_module.build_estimator(hps)
    assert (estimator.n_clusters, estimator.init, estimator.n_init) == (5, "k-means++", 3)
    random_init = kmeans_module.build_estimator(
        ALGORITHM.validate({"k": 2, "init_method": "random", "local_lloyd_init_method": None})
    )
    assert random_init.init == "random" and random_init.n_init == "auto"
    lloyd_init = kmeans_module.build_estimator(
        ALGORITHM.validate({"k": 2, "init_method": "random", "local_lloyd_init_method": "kmeans++"})
    )
    assert lloyd_init.init == "k-means++"


# --- parity, metrics, artifact ---------------------------------------------------------------


def test_parity_metrics_and_round_trip(tmp_path: Path) -> None:
    X = blobs()
    train, test = X[:450], X[450:]
    ctx, rec = train_unlabelled(tmp_path, {"k": 4, "seed": 3}, {"train": train, "test": test})
    model = ALGORITHM.load(ctx.model_dir)
    prediction = ALGORITHM.predict(model, X)

    direct = KMeans(n_clusters=4, init="k-means++", max_iter=300, tol=1e-4, random_state=3)
    direct.fit(train)
    labels = direct.predict(X)
    distances = direct.transform(X)[np.arange(len(X)), labels]
    np.testing.assert_array_equal(prediction.array[:, 0], labels)
    np.testing.assert_allclose(prediction.array[:, 1], distances, rtol=1e-5)
    np.testing.assert_allclose(model.estimator.cluster_centers_, direct.cluster_centers_, rtol=1e-6)
    assert model.estimator.get_params() == direct.get_params()

    assert prediction.key == "predictions" and prediction.array.shape == (600, 2)
    first = prediction.records[0]
    assert set(first) == {"closest_cluster", "distance_to_cluster"}
    assert first["closest_cluster"] == labels[0] and isinstance(first["closest_cluster"], int)
    assert first["distance_to_cluster"] == pytest.approx(distances[0], rel=1e-5)

    final = rec.final()
    assert set(final) == {"train:msd", "train:ssd", "test:msd", "test:ssd"}
    assert final["train:msd"] == pytest.approx(direct.inertia_ / 450, rel=1e-4)
    test_squared = prediction.array[450:, 1].astype(np.float64) ** 2
    assert final["test:ssd"] == pytest.approx(test_squared.sum(), rel=1e-6)
    assert final["test:msd"] == pytest.approx(test_squared.mean(), rel=1e-6)
    assert any(line.startswith("#quality_metric: host=algo-1, test msd") for line in rec.lines)

    # the artifact is plain scikit-learn
    assert isinstance(joblib.load(ctx.model_dir / MODEL_FILE), KMeans)
    meta = json.loads((ctx.model_dir / "modelyard-model.json").read_text())
    assert meta["algorithm"] == "kmeans" and meta["num_features"] == 6 and meta["k"] == 4
    again = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X[:5])
    assert again.records == prediction.records[:5]


def test_eval_metrics_choose_the_final_metrics(tmp_path: Path) -> None:
    _, rec = train_unlabelled(
        tmp_path, {"k": 3, "eval_metrics": '["ssd"]'}, {"train": blobs(200), "test": blobs(50)}
    )
    assert set(rec.final()) == {"train:ssd", "test:ssd"}
    assert rec.series("train:msd")  # the per-iteration metric is always there


# --- per-iteration metrics -------------------------------------------------------------------


def test_per_iteration_msd_equals_scikit_learns_verbose_output(tmp_path: Path) -> None:
    X = uniform()
    ctx, rec = train_unlabelled(tmp_path, {"k": 6, "seed": 1}, {"train": X})
    steps = [s for n, _, s in rec.metrics if n == "train:msd" and s is not None]
    expected = verbose_msd(KMeans(n_clusters=6, random_state=1), X)
    assert len(expected) > 5
    assert steps == list(range(len(expected)))
    np.testing.assert_allclose(rec.series("train:msd"), expected, rtol=1e-4)
    assert ALGORITHM.load(ctx.model_dir).estimator.verbose == 0


def test_per_iteration_msd_continues_over_trials(tmp_path: Path) -> None:
    X = uniform(600)
    _, rec = train_unlabelled(
        tmp_path, {"k": 5, "local_lloyd_num_trials": 3, "seed": 2}, {"train": X}
    )
    expected = verbose_msd(KMeans(n_clusters=5, n_init=3, random_state=2), X)
    steps = [s for n, _, s in rec.metrics if n == "train:msd" and s is not None]
    assert steps == list(range(len(expected)))  # one running count over the three trials
    np.testing.assert_allclose(rec.series("train:msd"), expected, rtol=1e-4)


@pytest.mark.parametrize("seed", [0, 4])
def test_per_iteration_msd_with_an_emptied_cluster_and_tight_clusters(
    tmp_path: Path, seed: int
) -> None:
    # 200 identical rows and 20 far away: random initial centres at two of the identical rows
    # leave a cluster empty (scikit-learn moves a far row into it), and the clusters end up
    # so tight that the O(k) identity would lose digits; both take the exact pass.
    rng = np.random.default_rng(0)
    X = np.concatenate([np.zeros((200, 2)), rng.normal(size=(20, 2)) + 50]).astype(np.float32)
    hps = {"k": 3, "init_method": "random", "local_lloyd_num_trials": 1, "seed": seed}
    _, rec = train_unlabelled(tmp_path, hps, {"train": X})
    expected = verbose_msd(KMeans(3, init="random", n_init=1, random_state=seed), X)
    np.testing.assert_allclose(rec.series("train:msd"), expected, rtol=1e-4)


def test_per_iteration_msd_falls_back_to_parsing_verbose_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kmeans_module, "lloyd_hook_available", lambda: False)
    X = uniform()
    ctx, rec = train_unlabelled(tmp_path, {"k": 6, "seed": 1}, {"train": X})
    expected = verbose_msd(KMeans(n_clusters=6, random_state=1), X)
    np.testing.assert_allclose(rec.series("train:msd"), expected, rtol=1e-6)
    assert any(line.startswith("Converged at iteration") for line in rec.lines)
    fitted = ALGORITHM.load(ctx.model_dir).estimator
    assert fitted.verbose == 0
    np.testing.assert_allclose(
        fitted.cluster_centers_,
        KMeans(n_clusters=6, random_state=1).fit(X).cluster_centers_,
        rtol=1e-6,
    )


def test_the_wrapped_lloyd_step_is_restored(tmp_path: Path) -> None:
    import sklearn.cluster._kmeans as sk_kmeans

    assert kmeans_module.lloyd_hook_available()
    original = sk_kmeans.lloyd_iter_chunked_dense
    train_unlabelled(tmp_path, {"k": 3}, {"train": blobs(100)})
    assert sk_kmeans.lloyd_iter_chunked_dense is original


# --- channels and errors ---------------------------------------------------------------------


def test_parquet_and_header_csv_channels(tmp_path: Path) -> None:
    X = blobs(300)
    ctx, rec = train_unlabelled(
        tmp_path,
        {"k": 4, "seed": 3, "feature_dim": 6},
        {"train": X[:240], "test": X[240:]},
        {"train": PARQUET, "test": CSV_HEADER},
    )
    direct = KMeans(n_clusters=4, random_state=3).fit(X[:240])
    prediction = ALGORITHM.predict(ALGORITHM.load(ctx.model_dir), X)
    np.testing.assert_array_equal(prediction.array[:, 0], direct.predict(X))
    assert "test:msd" in rec.final()


def test_data_errors(tmp_path: Path) -> None:
    X = blobs(100)
    with pytest.raises(InvalidRequest, match="feature_dim is 5 but the training data has 6"):
        train_unlabelled(tmp_path / "a", {"k": 3, "feature_dim": 5}, {"train": X})
    with pytest.raises(InvalidRequest, match="5 feature columns; expected 6"):
        train_unlabelled(tmp_path / "b", {"k": 3}, {"train": X, "test": X[:, :5]})
    with pytest.raises(InvalidHyperparameters) as info:
        train_unlabelled(tmp_path / "c", {"k": 8}, {"train": X[:5]})
    assert "got 5" in info.value.problems["k"]
    holed = X.copy()
    holed[3, 2] = np.nan
    with pytest.raises(InvalidRequest, match="'train': 1 row"):
        train_unlabelled(tmp_path / "d", {"k": 3}, {"train": holed})

    ctx, _ = train_unlabelled(tmp_path / "e", {"k": 3}, {"train": X})
    model = ALGORITHM.load(ctx.model_dir)
    assert ALGORITHM.num_features(model) == 6
    with pytest.raises(InvalidRequest, match="expects 6"):
        ALGORITHM.predict(model, X[:, :4])
    with pytest.raises(InvalidRequest, match="missing or infinite"):
        ALGORITHM.predict(model, holed[:5])
    with pytest.raises(InvalidRequest, match="no kmeans model"):
        ALGORITHM.load(tmp_path)


def test_conformance(tmp_path: Path) -> None:
    passed = check_algorithm(ALGORITHM, tmp_path)
    assert sum("round trip equal" in line for line in passed) == 3
