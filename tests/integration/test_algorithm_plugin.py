"""A third-party algorithm installed the ordinary way (pip, from examples/plugin) is listed,
passes the conformance suite, trains through the server and is served like a built-in."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.algorithms import algorithm_names, get_algorithm, registry
from modelyard.algorithms.conformance import check_algorithm
from tests.integration.test_algorithm_conformance import served_equals_in_process
from tests.support import RunningServer, free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plug-in pip-installed into a directory of its own (kept off the venv)."""
    source = tmp_path_factory.mktemp("plugin-source") / "plugin"
    shutil.copytree(EXAMPLE, source)
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source),
        ],
        check=True,
    )
    return site


@pytest.fixture
def installed(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(plugin_site))
    registry.clear_cache()
    yield plugin_site
    registry.clear_cache()
    sys.modules.pop("modelyard_nearest_centroid", None)


def test_the_installed_plugin_passes_the_conformance_suite(installed: Path, tmp_path: Path) -> None:
    assert "nearest-centroid" in algorithm_names()
    passed = check_algorithm(get_algorithm("nearest-centroid"), tmp_path)
    assert sum("round trip equal" in line for line in passed) == 6  # 2 problems x 3 types


def test_the_plugin_is_listed_trained_and_served(installed: Path, tmp_path: Path) -> None:
    server = RunningServer(
        tmp_path / "home", free_port(), extra_env={"PYTHONPATH": str(installed)}
    ).start()
    try:
        session = server.session()
        names = [a["name"] for a in session.client.get("/api/v1/algorithms")]
        assert "nearest-centroid" in names and "xgboost" in names
        described = subprocess.run(
            [sys.executable, "-m", "modelyard.cli", "algorithms", "describe", "nearest-centroid"],
            env=server.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "shrink_threshold" in described and "model.joblib" in described
        served_equals_in_process(
            session, get_algorithm("nearest-centroid"), tmp_path / "work", "plugin"
        )
    finally:
        server.cleanup()
