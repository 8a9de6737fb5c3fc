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
