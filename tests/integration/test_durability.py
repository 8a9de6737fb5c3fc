"""kill -9 the server and start it again: jobs re-attach or fail with a reason, endpoints answer."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

import modelyard as my
from modelyard.compute.processes import is_alive
from tests.support import RunningServer, processes_of, processes_using, wait_for

SCRIPTS = Path(__file__).parent / "scripts"


def upload(session: my.Session, csvs: dict[str, Path]) -> dict[str, str]:
    return {
        name: session.upload_data(path, key_prefix=f"durability/{name}")
        for name, path in csvs.items()
        if name != "test"
    }


def gated_job(session: my.Session, control: Path, phases: str, per_phase: int) -> my.Estimator:
    """A script-mode job that goes on only as the test creates files in `control`
    (tests/integration/scripts/misc/gated.py), so each step is the test's to order."""
    control.mkdir(exist_ok=True)
    return my.Estimator(
        entry_point=str(SCRIPTS / "misc" / "gated.py"),
        hyperparameters={"control-dir": str(control), "phases": phases, "per-phase": per_phase},
        metric_definitions=[{"Name": "accuracy", "Regex": "accuracy: ([0-9.]+)"}],
        session=session,
    )


def test_running_job_survives_a_hard_restart_and_completes(
    fresh_server: RunningServer, tmp_path: Path
) -> None:
    control = tmp_path / "control"
    session = fresh_server.session()
    gated_job(session, control, phases="released", per_phase=1).fit(job_name="survivor", wait=False)
    wait_for(lambda: (control / "released-logged").exists())
    # The job cannot end before the test releases it, which it does only after the restart.
    assert session.describe_training_job("survivor")["status"] == "InProgress"
    assert any("gated.py" in p for p in processes_using(fresh_server.home))
    fresh_server.kill9()
    fresh_server.start()
    session = fresh_server.session()
    (control / "released").touch()
    description = my.TrainingJob(session, "survivor").wait(logs=False)
    assert description["status"] == "Completed"
    assert description["model_artifact"].endswith("survivor/output/model.tar.gz")
    final = {m["name"]: m["value"] for m in description["final_metrics"]}
    assert final["accuracy"] == pytest.approx(0.51)  # a log line read after the restart
    assert final["loss"] == pytest.approx(0.5)  # modelyard.log_metric, sent after the restart


def test_metrics_logged_while_the_server_is_down_are_all_recorded(
    fresh_server: RunningServer, tmp_path: Path
) -> None:
    control = tmp_path / "control"
    name = "metrics-through-restart"
    session = fresh_server.session()
    gated_job(session, control, phases="server-killed,server-restarted", per_phase=5).fit(
        job_name=name, wait=False
    )

    def recorded_steps() -> list[int]:
        with fresh_server.http() as http:
            response = http.get(f"/api/v1/training-jobs/{name}/metrics")
        assert response.status_code == 200, response.text
        return sorted(p["step"] for p in response.json() if p["name"] == "loss")

    def script_running() -> bool:
        return any("gated.py" in p for p in processes_using(fresh_server.home))

    wait_for(lambda: (control / "server-killed-logged").exists())
    # Steps 0-4 are in before the kill, so no report is in flight when the server dies.
    wait_for(lambda: recorded_steps() == [0, 1, 2, 3, 4])
    assert session.describe_training_job(name)["status"] == "InProgress"
    fresh_server.kill9()
    (control / "server-killed").touch()
    # Steps 5-9 are logged with no server at all: log_metric neither blocks nor raises.
    wait_for(lambda: (control / "server-restarted-logged").exists() or not script_running())
    assert (control / "server-restarted-logged").exists(), "the script died with the server away"
    fresh_server.start()
    (control / "server-restarted").touch()  # step 10 is logged as the script exits
    description = my.TrainingJob(fresh_server.session(), name).wait(logs=False)
    assert description["status"] == "Completed", description.get("failure_reason")
    assert recorded_steps() == list(range(11))  # every point, none twice
    with fresh_server.http() as http:
        points = http.get(f"/api/v1/training-jobs/{name}/metrics").json()
    assert {p["step"]: p["value"] for p in points if p["name"] == "loss"} == pytest.approx(
        {step: 1.0 / (step + 1) for step in range(11)}
    )


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
    """The job's own process: the one working in the job's work dir (a script it runs works
    in code/ below it)."""
    work = str(server.home / "jobs" / name)
    pids = [proc.pid for proc in processes_of(server.home) if proc.info["cwd"] == work]
    assert len(pids) == 1, pids
    return pids[0]


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
