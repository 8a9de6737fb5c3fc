from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support import RunningServer, free_port


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server for the whole run; tests that restart servers start their own."""
    running = RunningServer(tmp_path_factory.mktemp("home"), free_port()).start()
    yield running
    running.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[RunningServer]:
    running = RunningServer(tmp_path / "home", free_port()).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def breast_cancer_csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train / validation / test CSVs in SageMaker's format (label first, no header)."""
    from modelyard.quickstart import write_dataset

    return write_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def test_rows(breast_cancer_csvs: dict[str, Path]) -> np.ndarray:
    return np.loadtxt(breast_cancer_csvs["test"], delimiter=",")
