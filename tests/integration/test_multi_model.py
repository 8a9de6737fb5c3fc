"""Multi-model endpoints on a real server: one endpoint serving every model.tar.gz under a
prefix, TargetModel picking one, loading on first use, least-recently-used eviction by count
and by memory, models added while it runs, affinity across instances, bad requests, the CLI
and the model servers' metrics in the control plane's /metrics.

Most models here are served by one inference script whose model is the text of the
artifact's value.txt: each answer row is [value, pid], so a test knows which model and which
instance answered."""

from __future__ import annotations

import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import modelyard as my
from modelyard.errors import InvalidRequest
from tests.support import RunningServer

INFERENCE = """\
import os
from pathlib import Path


def model_fn(model_dir):
    return Path(model_dir, "value.txt").read_text().strip()


def predict_fn(data, model):
    return [[model, os.getpid()] for _ in data]
"""


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("mme-code")
    (directory / "inference.py").write_text(INFERENCE)
    return directory


def archive(directory: Path, value: str | None) -> Path:
    """A model.tar.gz holding value.txt (none: an artifact its model_fn cannot load)."""
    content = directory / f"artifact-{value}"
    content.mkdir(parents=True, exist_ok=True)
    if value is not None:
        (content / "value.txt").write_text(value)
    path = directory / f"{value}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(content, arcname=".")
    return path


def value_model(session: my.Session, code_dir: Path, name: str, **config: Any) -> my.MultiDataModel:
    return my.MultiDataModel(
        name,
        f"s3://{session.default_bucket()}/mme/{name}/",
        entry_point="inference.py",
        source_dir=str(code_dir),
        framework="python",
        multi_model_config=config or None,
        session=session,
    )


def invoke(server: RunningServer, endpoint: str, target: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "text/csv"}
    if target is not None:
        headers["X-Amzn-SageMaker-Target-Model"] = target
    return httpx.post(
        f"{server.url}/endpoints/{endpoint}/invocations", content="0", headers=headers, timeout=60
    )


def answer(server: RunningServer, endpoint: str, target: str) -> tuple[str, int]:
    response = invoke(server, endpoint, target)
    assert response.status_code == 200, response.text
    value, pid = response.json()[0]
    return value, int(pid)


def loaded(session: my.Session, endpoint: str) -> list[list[str]]:
    """Each instance's loaded models, least recently used first."""
    answer = session.client.get(f"/api/v1/endpoints/{endpoint}/loaded-models")
    return [[m["target_model"] for m in i["models"]] for i in answer["instances"]]


def samples(server: RunningServer, name: str, endpoint: str) -> dict[str, float]:
    """The control plane's /metrics samples called `name` for an endpoint, by target model."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.token}"}
    ).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("endpoint") == endpoint:
                key = sample.labels.get("target_model", "")
                found[key] = found.get(key, 0) + sample.value
    return found


def test_requests_name_their_model_and_the_least_recently_used_is_evicted(
    server: RunningServer, session: my.Session, code_dir: Path, tmp_path: Path
) -> None:
    mme = value_model(session, code_dir, "mme-values", max_loaded_models=2)
    for value in ("a", "b", "c"):
        mme.add_model(str(archive(tmp_path, value)), f"{value}.tar.gz")
    assert sorted(mme.list_models()) == ["a.tar.gz", "b.tar.gz", "c.tar.gz"]
    predictor = mme.deploy(endpoint_name="mme-values")
    assert session.client.get("/api/v1/models/mme-values")["mode"] == "MultiModel"

    assert predictor.predict([[0]], target_model="a.tar.gz")[0][0] == "a"
    assert answer(server, "mme-values", "b.tar.gz")[0] == "b"
    assert answer(server, "mme-values", "a.tar.gz")[0] == "a"  # a is now the most recent
    assert loaded(session, "mme-values") == [["b.tar.gz", "a.tar.gz"]]
    assert answer(server, "mme-values", "c.tar.gz")[0] == "c"  # a third: b goes
    assert loaded(session, "mme-values") == [["a.tar.gz", "c.tar.gz"]]
    assert answer(server, "mme-values", "b.tar.gz")[0] == "b"  # loaded again: a goes
    assert loaded(session, "mme-values") == [["c.tar.gz", "b.tar.gz"]]

    # A model added under the prefix while the endpoint runs is served at once.
    mme.add_model(str(archive(tmp_path, "d")), "later/d.tar.gz")
    assert answer(server, "mme-values", "later/d.tar.gz")[0] == "d"

    # The model servers' own metrics, in the control plane's /metrics.
    loads = samples(server, "modelyard_model_server_model_loads_total", "mme-values")
    assert loads == {"a.tar.gz": 1, "b.tar.gz": 2, "c.tar.gz": 1, "later/d.tar.gz": 1}
    evictions = samples(server, "modelyard_model_server_model_evictions_total", "mme-values")
    assert evictions == {"a.tar.gz": 1, "b.tar.gz": 1, "c.tar.gz": 1}
    hits = samples(server, "modelyard_model_server_model_cache_hits_total", "mme-values")
    assert hits == {"": 1}  # a's second request
    assert samples(server, "modelyard_model_server_loaded_models", "mme-values") == {"": 2}

    # The CLI names the model, and lists what is loaded.
    result = server.cli(
        "endpoints", "invoke", "mme-values", "--body", "0", "--target-model", "a.tar.gz"
    )
    assert '"a"' in result.stdout
    listing = server.cli("endpoints", "loaded-models", "mme-values").stdout
    assert "later/d.tar.gz" in listing and "a.tar.gz" in listing
    predictor.delete_endpoint()


def test_bad_target_models_get_clear_errors_and_the_endpoint_keeps_serving(
    server: RunningServer, session: my.Session, code_dir: Path, tmp_path: Path
) -> None:
    mme = value_model(session, code_dir, "mme-errors")
    mme.add_model(str(archive(tmp_path, "good")), "good.tar.gz")
    mme.add_model(str(archive(tmp_path, None)), "broken.tar.gz")  # no value.txt
    predictor = mme.deploy(endpoint_name="mme-errors")

    missing_header = invoke(server, "mme-errors", None)
    assert missing_header.status_code == 400
    assert "X-Amzn-SageMaker-Target-Model" in missing_header.json()["error"]["message"]
    unknown = invoke(server, "mme-errors", "nope.tar.gz")
    assert unknown.status_code == 404
    message = unknown.json()["error"]["message"]
    assert "'nope.tar.gz' is not under" in message and "good.tar.gz" in message  # what exists
    escaping = invoke(server, "mme-errors", "../mme-values/a.tar.gz")
    assert escaping.status_code == 400 and "'..'" in escaping.json()["error"]["message"]
    broken = invoke(server, "mme-errors", "broken.tar.gz")
    assert broken.status_code == 424 and broken.json()["error"]["code"] == "ModelError"
    assert "'broken.tar.gz' failed to load" in broken.json()["error"]["message"]

    # None of that is kept or breaks anything: the good model answers, the broken one is
    # served once it is fixed.
    assert answer(server, "mme-errors", "good.tar.gz")[0] == "good"
    assert loaded(session, "mme-errors") == [["good.tar.gz"]]
    mme.add_model(str(archive(tmp_path, "fixed")), "broken.tar.gz")
    assert answer(server, "mme-errors", "broken.tar.gz")[0] == "fixed"

    # Requests arriving together for a model not loaded yet share one load.
    mme.add_model(str(archive(tmp_path, "popular")), "popular.tar.gz")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: answer(server, "mme-errors", "popular.tar.gz"), range(8)))
    assert {value for value, _ in answers} == {"popular"}
    loads = samples(server, "modelyard_model_server_model_loads_total", "mme-errors")
    assert loads["popular.tar.gz"] == 1
    predictor.delete_endpoint()


def test_memory_limit_evicts_and_models_stay_on_one_instance(
    server: RunningServer, session: my.Session, code_dir: Path, tmp_path: Path
) -> None:
    # A model server holds far more than 16 MiB: after each load, only the newest stays.
    mme = value_model(session, code_dir, "mme-memory", model_cache_memory_mb=16)
    names = [f"m{i}.tar.gz" for i in range(6)]
    for name in names:
        mme.add_model(str(archive(tmp_path, name[:2])), name)
    predictor = mme.deploy(initial_instance_count=2, endpoint_name="mme-memory")
    first: dict[str, int] = {}
    for _ in range(3):
        for name in names:
            value, pid = answer(server, "mme-memory", name)
            assert value == name[:2]
            assert first.setdefault(name, pid) == pid  # a model keeps to its instance
    for models in loaded(session, "mme-memory"):
        assert len(models) <= 1
    evictions = samples(server, "modelyard_model_server_model_evictions_total", "mme-memory")
    assert sum(evictions.values()) > 0
    predictor.delete_endpoint()


def test_builtin_algorithm_models_under_one_endpoint(
    session: my.Session,
    breast_cancer_csvs: dict[str, Path],
    test_rows: np.ndarray,
) -> None:
    train = session.upload_data(breast_cancer_csvs["train"], key_prefix="mme-test/train")
    answers = {}
    mme = my.MultiDataModel(
        "mme-xgboost", f"s3://{session.default_bucket()}/mme/xgboost/", algorithm="xgboost",
        session=session,
    )  # fmt: skip
    for rounds in (1, 20):
        estimator = my.Estimator(
            algorithm="xgboost",
            hyperparameters={"objective": "binary:logistic", "num_round": rounds},
            session=session,
        )
        estimator.fit({"train": train}, job_name=f"mme-xgboost-{rounds}", logs=False)
        mme.add_model(estimator.model_data, f"rounds-{rounds}.tar.gz")
        single = estimator.deploy(endpoint_name=f"mme-single-{rounds}")
        answers[rounds] = single.predict(test_rows[:5, 1:])
        single.delete_endpoint()
    predictor = mme.deploy(endpoint_name="mme-xgboost")
    for rounds in (1, 20):
        assert (
            predictor.predict(test_rows[:5, 1:], target_model=f"rounds-{rounds}.tar.gz")
            == (answers[rounds])
        )
    assert answers[1] != answers[20]  # two models, really
    predictor.delete_endpoint()


def test_what_multi_model_does_not_take_is_refused(
    session: my.Session, code_dir: Path, tmp_path: Path
) -> None:
    bucket = session.default_bucket()
    with pytest.raises(InvalidRequest, match="prefix ending in '/'"):
        session.client.post(
            "/api/v1/models",
            json={"name": "mme-bad", "model_data": f"s3://{bucket}/x/model.tar.gz",
                  "algorithm": "xgboost", "mode": "MultiModel"},
        )  # fmt: skip
    with pytest.raises(InvalidRequest, match="bucket 'no-such-bucket' does not exist"):
        session.client.post(
            "/api/v1/models",
            json={"name": "mme-bad", "model_data": "s3://no-such-bucket/x/",
                  "algorithm": "xgboost", "mode": "MultiModel"},
        )  # fmt: skip
    with pytest.raises(InvalidRequest, match="multi_model_config is for mode MultiModel"):
        session.client.post(
            "/api/v1/models",
            json={"name": "mme-bad", "model_data": "s3://x/y.tar.gz", "algorithm": "xgboost",
                  "multi_model_config": {"max_loaded_models": 2}},
        )  # fmt: skip
    mme = my.MultiDataModel(
        "mme-refused", f"s3://{bucket}/mme/refused/", algorithm="xgboost", session=session
    )
    mme.create()
    with pytest.raises(InvalidRequest, match="multi-model, which batching does not support"):
        session.client.post(
            "/api/v1/endpoint-configs",
            json={"name": "mme-batched", "production_variants": [
                {"model_name": "mme-refused", "batching": {"max_batch_size": 8}}]},
        )  # fmt: skip
    with pytest.raises(InvalidRequest, match="a transform job serves one"):
        session.client.post(
            "/api/v1/transform-jobs",
            json={"name": "mme-transform", "model_name": "mme-refused",
                  "transform_input": {"s3_uri": f"s3://{bucket}/mme/refused/"},
                  "transform_output": {"s3_output_path": f"s3://{bucket}/out/"}},
        )  # fmt: skip
