"""Model Monitor's data quality on a real server: a baseline of the training data, monitoring
jobs over an endpoint's captured requests (as they came, and drifted), a schedule that
checks each window while traffic flows, the SDK, REST and CLI, and bad requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import modelyard as my
from modelyard.errors import InvalidRequest
from tests.support import RunningServer, wait_for


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def features_csv(breast_cancer_csvs: dict[str, Path], tmp_path_factory: Any) -> Path:
    """The training rows without their label: what requests to the endpoint look like."""
    rows = np.loadtxt(breast_cancer_csvs["train"], delimiter=",")[:, 1:]
    path = tmp_path_factory.mktemp("monitor") / "features.csv"
    np.savetxt(path, rows, delimiter=",", fmt="%.6g")
    return path


@pytest.fixture(scope="module")
def predictor(session: my.Session, breast_cancer_csvs: dict[str, Path]) -> Iterator[Any]:
    train = session.upload_data(breast_cancer_csvs["train"], key_prefix="monitor-test/train")
    estimator = my.Estimator(
        algorithm="xgboost",
        hyperparameters={"objective": "binary:logistic", "num_round": 5},
        session=session,
    )
    estimator.fit({"train": train}, job_name="monitored-model", logs=False)
    predictor = estimator.deploy(
        endpoint_name="monitored",
        data_capture_config=my.DataCaptureConfig(
            sampling_percentage=100,
            destination_s3_uri=f"s3://{session.default_bucket()}/monitor-capture",
        ),
    )
    yield predictor
    predictor.delete_endpoint()


@pytest.fixture(scope="module")
def monitor(session: my.Session, features_csv: Path) -> my.DefaultModelMonitor:
    monitor = my.DefaultModelMonitor(session=session)
    monitor.suggest_baseline(
        str(features_csv), my.DatasetFormat.csv(header=False), job_name="features-baseline",
        logs=False,
    )  # fmt: skip
    return monitor


def captured_requests(session: my.Session) -> int:
    bucket = session.default_bucket()
    return sum(
        len(session.read_s3_file(bucket, key).splitlines())
        for key in session.list_s3_files(bucket, "monitor-capture/monitored/")
    )


def send(session: my.Session, predictor: Any, rows: np.ndarray) -> None:
    """Send rows in requests of 10 and wait until every request is captured."""
    before = captured_requests(session)
    chunks = [rows[i : i + 10] for i in range(0, len(rows), 10)]
    for chunk in chunks:
        predictor.predict(chunk)
    wait_for(lambda: captured_requests(session) >= before + len(chunks))


def test_a_baseline_describes_the_data_and_suggests_constraints(
    session: my.Session, monitor: my.DefaultModelMonitor, features_csv: Path
) -> None:
    rows = np.loadtxt(features_csv, delimiter=",")
    statistics = monitor.baseline_statistics().body_dict
    assert statistics["dataset"]["item_count"] == len(rows)
    names = [f["name"] for f in statistics["features"]]
    assert names == [f"_c{i}" for i in range(30)]  # SageMaker's names without a header
    first = statistics["features"][0]["numerical_statistics"]
    assert first["mean"] == pytest.approx(rows[:, 0].mean(), rel=1e-5)
    assert first["min"] == pytest.approx(rows[:, 0].min(), rel=1e-5)
    constraints = monitor.suggested_constraints().body_dict
    assert all(f["num_constraints"]["is_non_negative"] for f in constraints["features"])
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] == (
        "Robust"
    )
    described = session.client.get("/api/v1/baseline-jobs/features-baseline")
    assert described["status"] == "Completed" and described["item_count"] == len(rows)
    assert described["statistics"].endswith("/features-baseline/statistics.json")


def test_monitoring_finds_no_violation_in_like_traffic_and_drift_in_shifted(
    server: RunningServer,
    session: my.Session,
    predictor: Any,
    monitor: my.DefaultModelMonitor,
    test_rows: np.ndarray,
) -> None:
    start = datetime.now().astimezone()
    send(session, predictor, test_rows[:, 1:])
    like = monitor.run_monitoring_job(predictor, job_name="monitor-like", data_window_start=start)
    described = like.describe()
    assert described["monitoring_execution_status"] == "Completed"
    assert described["rows"] == len(test_rows) and described["violations"] == []
    assert like.constraint_violations().body_dict == {"violations": []}
    assert like.statistics().body_dict["dataset"]["item_count"] == len(test_rows)

    middle = datetime.now().astimezone()
    shifted = test_rows[:, 1:].copy()
    shifted[:, 0] *= 3  # a drifted feature
    shifted[:, 1] -= 1000  # and one that was never negative
    send(session, predictor, shifted)
    drifted = monitor.run_monitoring_job(
        predictor, job_name="monitor-drifted", data_window_start=middle
    )
    described = drifted.describe()
    assert described["monitoring_execution_status"] == "CompletedWithViolations"
    found = {(v["feature_name"], v["constraint_check_type"]) for v in described["violations"]}
    assert ("_c0", "baseline_drift_check") in found and ("_c1", "data_type_check") in found
    assert not any(name not in ("_c0", "_c1") for name, _ in found)
    violations = drifted.constraint_violations().body_dict["violations"]
    assert {(v["feature_name"], v["constraint_check_type"]) for v in violations} == found

    # Both in the declared kinds' CLI.
    listing = server.cli("monitoring", "list").stdout
    assert "monitor-drifted" in listing and "CompletedWith" in listing
    assert "features-baseline" in server.cli("baselines", "list").stdout


def test_the_models_answer_takes_the_labels_place_in_a_baseline_with_labels(
    session: my.Session,
    predictor: Any,
    breast_cancer_csvs: dict[str, Path],
    test_rows: np.ndarray,
) -> None:
    labelled = my.DefaultModelMonitor(session=session)
    labelled.suggest_baseline(
        session.upload_data(breast_cancer_csvs["train"], key_prefix="monitor-test/labelled"),
        my.DatasetFormat.csv(header=False), job_name="labelled-baseline", logs=False,
    )  # fmt: skip
    start = datetime.now().astimezone()
    predictor.predict(test_rows[:20, 1:])  # no wait: the job sees what was just captured
    job = labelled.run_monitoring_job(
        predictor, job_name="monitor-labelled", data_window_start=start
    )
    assert job.describe()["rows"] == 20
    current = job.statistics().body_dict["features"]
    assert len(current) == 31
    scores = current[0]["numerical_statistics"]
    assert current[0]["inferred_type"] == "Fractional"  # the model's scores, not 0/1 labels
    assert 0 <= scores["min"] <= scores["max"] <= 1
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in job.describe()["violations"]}
    assert ("_c0", "data_type_check") in checks  # the baseline's label was Integral


def test_a_schedule_checks_each_window_while_traffic_flows(
    server: RunningServer,
    session: my.Session,
    predictor: Any,
    monitor: my.DefaultModelMonitor,
    test_rows: np.ndarray,
) -> None:
    body = "\n".join(",".join(f"{v:.6g}" for v in row) for row in test_rows[:5, 1:])
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                http.post(
                    f"{server.url}/endpoints/monitored/invocations",
                    content=body,
                    headers={"Authorization": f"Bearer {server.token}",
                             "Content-Type": "text/csv"},
                )  # fmt: skip
                stop.wait(0.05)

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        described = monitor.create_monitoring_schedule(
            predictor, monitor_schedule_name="every-2s", schedule_cron_expression="rate(2 seconds)"
        )
        assert described["status"] == "Scheduled" and described["next_run_at"]

        def ended() -> list[Any]:
            return [
                e.describe()
                for e in monitor.list_executions()
                if e.describe()["status"] in ("Completed", "Failed")
            ]

        first = wait_for(ended, timeout=90)[0]
    finally:
        stop.set()
        sender.join()
    assert first["monitoring_schedule_name"] == "every-2s", first
    # The same five rows over and over are nothing like the training data's spread: drift.
    assert first["monitoring_execution_status"] == "CompletedWithViolations", first
    assert {v["constraint_check_type"] for v in first["violations"]} == {"baseline_drift_check"}
    window = datetime.fromisoformat(first["data_window_end"]) - datetime.fromisoformat(
        first["data_window_start"]
    )
    assert window.total_seconds() == 2
    assert first["records"] > 0 and first["rows"] == 5 * first["records"]
    summary = monitor.describe_schedule()["last_monitoring_execution_summary"]
    assert summary is not None and summary["monitoring_job_name"].startswith("every-2s-")
    monitor.stop_monitoring_schedule()
    stopped = monitor.describe_schedule()
    assert stopped["status"] == "Stopped" and stopped["next_run_at"] is None
    listing = server.cli("monitoring-schedules", "list").stdout
    assert "every-2s" in listing and "Stopped" in listing
    monitor.delete_monitoring_schedule()
    assert "every-2s" not in server.cli("monitoring-schedules", "list").stdout


def test_bad_monitoring_requests_are_refused_with_the_reason(
    server: RunningServer, session: my.Session, predictor: Any, monitor: my.DefaultModelMonitor
) -> None:
    stats = monitor.baseline_statistics().file_s3_uri
    constraints = monitor.suggested_constraints().file_s3_uri
    base = {"statistics": stats, "constraints": constraints}
    with pytest.raises(InvalidRequest, match=r"rate\(10 minutes\)"):
        session.client.post("/api/v1/monitoring-schedules", json={
            "name": "bad-cron", "endpoint_name": "monitored", **base,
            "schedule_expression": "every hour"})  # fmt: skip
    with pytest.raises(InvalidRequest, match="does not exist"):
        session.client.post("/api/v1/monitoring-schedules", json={
            "name": "no-endpoint", "endpoint_name": "nope", **base})  # fmt: skip
    with pytest.raises(InvalidRequest, match="exactly one of endpoint_name"):
        session.client.post("/api/v1/monitoring-jobs", json={"name": "neither", **base})
    with pytest.raises(InvalidRequest, match="constraints: nothing stored"):
        session.client.post("/api/v1/monitoring-jobs", json={
            "name": "no-constraints", "endpoint_name": "monitored", "statistics": stats,
            "constraints": stats + ".missing"})  # fmt: skip
    result = server.cli(
        "monitoring-schedules", "create", "cli-bad", "--endpoint", "monitored",
        "--baseline", "features-baseline", "--schedule", "every hour", check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "rate(10 minutes)" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    # A window with nothing captured fails the job with a reason, as on SageMaker.
    empty = monitor.run_monitoring_job(
        predictor,
        job_name="monitor-empty",
        data_window_end=datetime(2000, 1, 1).astimezone(),
        wait=False,
    )
    description = wait_for(
        lambda: (d := empty.describe())["status"] in ("Completed", "Failed") and d
    )
    assert description["status"] == "Failed"
    assert "no captured requests" in description["failure_reason"]
