"""The control plane checks names, it does not load models: registering a built-in
algorithm's model, or deploying it, must not import the ML libraries into the server."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from modelyard.errors import InvalidRequest
from tests.support import RunningServer

ML_LIBRARIES = ("xgboost", "lightgbm", "sklearn", "torch")


def ml_libraries_loaded(pid: int) -> list[str]:
    maps = {Path(m.path).name for m in psutil.Process(pid).memory_maps()}
    return sorted(name for name in maps if any(lib in name for lib in ML_LIBRARIES))


def test_registering_a_model_loads_no_ml_library_into_the_control_plane(
    fresh_server: RunningServer,
) -> None:
    session = fresh_server.session()
    uri = session.upload_string_as_file_body("not read", session.default_bucket(), "m/model.tar.gz")
    session.client.post(
        "/api/v1/models", json={"name": "footprint", "model_data": uri, "algorithm": "xgboost"}
    )
    assert session.client.get("/api/v1/models/footprint")["algorithm"] == "xgboost"
    assert fresh_server.process is not None
    assert ml_libraries_loaded(fresh_server.process.pid) == []


def test_an_unknown_algorithm_is_still_refused_naming_the_known_ones(
    fresh_server: RunningServer,
) -> None:
    session = fresh_server.session()
    uri = session.upload_string_as_file_body("x", session.default_bucket(), "m/model.tar.gz")
    with pytest.raises(
        InvalidRequest, match="unknown algorithm 'xgbost'; known algorithms: .*xgboost"
    ):
        session.client.post(
            "/api/v1/models", json={"name": "typo", "model_data": uri, "algorithm": "xgbost"}
        )


def test_an_xgboost_model_server_loads_no_scikit_learn(
    fresh_server: RunningServer, breast_cancer_csvs: dict[str, Path]
) -> None:
    import modelyard as my

    session = fresh_server.session()
    train = session.upload_data(breast_cancer_csvs["train"], key_prefix="footprint/train")
    estimator = my.Estimator(algorithm="xgboost", hyperparameters={"num_round": 2}, session=session)
    estimator.fit({"train": train}, job_name="footprint-xgboost", logs=False)
    predictor = estimator.deploy(endpoint_name="footprint")
    assert "predictions" in predictor.predict([[1.0] * 30])
    pid = predictor.describe()["instances"][0]["pid"]
    # xgboost imports scikit-learn for its sklearn-style classes: 1.4 s of a model server's
    # start on one core, and nothing a booster's server uses.
    paths = [m.path for m in psutil.Process(pid).memory_maps()]
    assert any("xgboost" in p for p in paths)  # it does serve with xgboost
    assert not [p for p in paths if "/sklearn/" in p or "/scipy/stats/" in p]
    predictor.delete_endpoint()
