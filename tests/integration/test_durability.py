"""kill -9 the server and start it again: jobs re-attach or fail with a reason, endpoints answer."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

import modelyard as my
from modelyard.compute.processes import is_alive
from tests.support import RunningServer, processes_using, wait_for


def upload(session: my.Session, csvs: dict[str, Path]) -> dict[str, str]:
    return {
        name: session.upload_data(path, key_prefix=f"durability/{name}")
        for name, path in csvs.items()
        if name != "test"
    }


def test_running_job_survives_a_hard_restart_and_completes(
    fresh_server: RunningServer, breast_cancer_csvs: dict[str, Path]
) -> None:
    session = fresh_server.session()
    uris = upload(session, breast_cancer_csvs)
    # Long enough to outlive the restart, short enough to finish on its own afterwards.
    estimator = my.Estimator(
        algorithm="xgboost",
        session=session,
        hyperparameters={
            "objective": "binary:logistic",
            "num_round": 3000,
            "max_depth": 6,
            "eta": 0.01,
        },
    )
    estimator.fit(uris["train"], job_name="survivor", wait=False)
    wait_for(lambda: session.describe_training_job("survivor")["secondary_status"] == "Training")
    fresh_server.kill9()
    fresh_server.start()
    session = fresh_server.session()
    description = my.TrainingJob(session, "survivor").wait(logs=False)
    assert description["status"] == "Completed"
    assert description["model_artifact"].endswith("survivor/output/model.tar.gz")
    assert any(m["name"] == "train:logloss" for m in description["final_metrics"])


def test_job_that_died_while_the_server_was_down_is_failed_with_a_reason(
    fresh_server: RunningServer, breast_cancer_csvs: dict[str, Path]
) -> None:
    session = fresh_server.session()
    uris = upload(session, breast_cancer_csvs)
    estimator = my.Estimator(
        algorithm="xgboost",
        session=session,
        hyperparameters={"num_round": 1_000_000, "max_depth": 8},
    )
    estimator.fit(uris["train"], job_name="casualty", wait=False)
    wait_for(lambda: session.describe_training_job("casualty")["secondary_status"] == "Training")
    job_pid = job_process_pid(fresh_server, "casualty")
    fresh_server.kill9()
    os.killpg(job_pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(job_pid, None))
    fresh_server.start()
    description = fresh_server.session().describe_training_job("casualty")
    assert description["status"] == "Failed"
    assert "interrupted" in description["failure_reason"]


def test_in_service_endpoint_answers_the_same_after_a_hard_restart(
    fresh_server: RunningServer, breast_cancer_csvs: dict[str, Path]
) -> None:
    session = fresh_server.session()
    uris = upload(session, breast_cancer_csvs)
    estimator = my.Estimator(
        algorithm="xgboost",
        session=session,
        hyperparameters={"objective": "binary:logistic", "num_round": 10},
    )
    estimator.fit(uris, logs=False)
    predictor = estimator.deploy(endpoint_name="durable")
    rows = np.loadtxt(breast_cancer_csvs["test"], delimiter=",")[:, 1:]
    before = predictor.predict(rows)
    fresh_server.kill9()
    fresh_server.start()
    after = my.Predictor("durable", session=fresh_server.session()).predict(rows)
    assert after == before
    # and after a graceful restart, where the instances are stopped and started again
    fresh_server.stop()
    fresh_server.start()
    session = fresh_server.session()
    session.wait_for_endpoint("durable")
    assert my.Predictor("durable", session=session).predict(rows) == before
    fresh_server.stop()
    assert processes_using(fresh_server.home) == []  # no instance left behind, none doubled


def job_process_pid(server: RunningServer, name: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{server.home / 'modelyard.db'}")
    with engine.connect() as connection:
        pid = connection.execute(
            text("SELECT pid FROM training_jobs WHERE name = :n"), {"n": name}
        ).scalar_one()
    engine.dispose()
    return int(pid)


@pytest.mark.parametrize("warm", ["true", "false"])
def test_jobs_never_see_the_servers_secrets(
    tmp_path: Path, breast_cancer_csvs: dict[str, Path], warm: str
) -> None:
    from tests.support import free_port

    running = RunningServer(
        tmp_path / "home",
        free_port(),
        extra_env={
            "MODELYARD_TOKEN": "server-secret-token",
            "MODELYARD_STOP_GRACE_SECONDS": "2",
            "MODELYARD_WARM_JOB_PROCESS": warm,
        },
    ).start()
    try:
        session = running.session()
        uris = upload(session, breast_cancer_csvs)
        estimator = my.Estimator(
            algorithm="xgboost",
            session=session,
            environment={"MY_SETTING": "42"},
            hyperparameters={"num_round": 1_000_000, "max_depth": 8},
        )
        estimator.fit(uris["train"], job_name="env-check", wait=False)
        wait_for(
            lambda: session.describe_training_job("env-check")["secondary_status"] == "Training"
        )
        pid = job_process_pid(running, "env-check")
        environ = dict(
            entry.split("=", 1)
            for entry in open(f"/proc/{pid}/environ").read().split("\0")
            if "=" in entry
        )
        if warm == "false":
            # A cold job process starts with the job's environment. (A warm one starts with
            # the machine's, secrets removed, and takes the job's on its order; the values it
            # received are checked below either way.)
            assert environ["TRAINING_JOB_NAME"] == "env-check"
            assert environ["MY_SETTING"] == "42"
        assert "MODELYARD_TOKEN" not in environ
        assert running.token not in open(f"/proc/{pid}/environ").read()
        assert environ.get("MODELYARD_JOB_TOKEN") != running.token
        estimator.latest_training_job.stop()  # type: ignore[union-attr]
        wait_for(lambda: session.describe_training_job("env-check")["status"] == "Stopped")
    finally:
        running.stop()
