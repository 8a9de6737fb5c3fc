"""The job launcher (the process that forks jobs with the libraries loaded) is started by the
first job, not by the server, and released once no job has run for a while."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import modelyard as my
from tests.support import RunningServer, free_port, processes_of, wait_for

OBJECTIVE_SCRIPT = str(Path(__file__).parent / "scripts" / "tuning" / "objective.py")


def launchers(home: Path) -> list[int]:
    return [p.pid for p in processes_of(home) if "modelyard.runtime.warm" in " ".join(p.cmdline())]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = RunningServer(
        tmp_path / "home", free_port(), extra_env={"MODELYARD_JOB_LAUNCHER_IDLE_SECONDS": "1"}
    ).start()
    yield running
    running.cleanup()


def gated_job(session: my.Session, name: str, gate: Path) -> my.TrainingJob:
    """A job that runs until the gate file exists."""
    estimator = my.Estimator(
        entry_point=OBJECTIVE_SCRIPT,
        hyperparameters={"x": 0.5, "gate": str(gate)},
        session=session,
    )
    estimator.fit(job_name=name, wait=False)
    return my.TrainingJob(session, name)


def test_the_launcher_starts_for_a_series_of_jobs_and_is_released_when_idle(
    server: RunningServer, tmp_path: Path
) -> None:
    session = server.session()
    assert launchers(server.home) == []  # a server with no job holds no loaded interpreter

    def run(name: str, forked: bool) -> None:
        gate = tmp_path / f"{name}.gate"
        job = gated_job(session, name, gate)
        wait_for(lambda: job.describe()["secondary_status"] == "Training")
        found = launchers(server.home)
        forks = [c for pid in found for c in psutil.Process(pid).children()]
        assert bool(forks) == forked, (name, found, forks)
        gate.touch()
        assert job.wait(logs=False)["status"] == "Completed"

    run("lone-job", forked=False)  # a lone job starts cold: no launcher for it
    assert launchers(server.home) == []
    run("second-job", forked=False)  # a series: the launcher starts beside this one
    wait_for(lambda: "job launcher ready" in server.log.read_text())
    run("third-job", forked=True)  # and the next ones fork from it
    wait_for(lambda: not launchers(server.home))  # released a second after the last job
