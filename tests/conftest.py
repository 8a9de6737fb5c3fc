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
    running.cleanup()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[RunningServer]:
    running = RunningServer(tmp_path / "home", free_port()).start()
    yield running
    running.cleanup()


@pytest.fixture(scope="session")
def breast_cancer_csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train / validation / test CSVs in SageMaker's format (label first, no header)."""
    from modelyard.quickstart import write_dataset

    return write_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def test_rows(breast_cancer_csvs: dict[str, Path]) -> np.ndarray:
    return np.loadtxt(breast_cancer_csvs["test"], delimiter=",")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get("MODELYARD_TEST_DATABASE_URL")
    if not base:
        pytest.skip(
            "PostgreSQL tests need MODELYARD_TEST_DATABASE_URL, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test (.ci/run sets it)"
        )
    name = f"modelyard_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone S3 server as a real subprocess on a free port, for the whole run."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    endpoint = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto server exited early:\n{log.read_text(errors='replace')}")
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto server did not answer:\n{log.read_text(errors='replace')}")
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
