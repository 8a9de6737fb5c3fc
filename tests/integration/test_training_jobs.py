"""Training jobs on a real server: SDK, REST and CLI, good input and bad."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost

import modelyard as my
from modelyard.errors import Conflict, InvalidRequest, NotFound, UnexpectedStatusException
from tests.support import RunningServer, wait_for


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def uris(session: my.Session, breast_cancer_csvs: dict[str, Path]) -> dict[str, str]:
    return {
        name: session.upload_data(path, key_prefix=f"jobs-test/{name}")
        for name, path in breast_cancer_csvs.items()
    }


def xgboost_estimator(session: my.Session, **hyperparameters: Any) -> my.Estimator:
    hps = {"objective": "binary:logistic", "num_round": 10, **hyperparameters}
    return my.Estimator(algorithm="xgboost", hyperparameters=hps, session=session)


def test_fit_completes_with_artifact_metrics_and_transitions(
    session: my.Session, uris: dict[str, str], test_rows: np.ndarray, capsys: Any
) -> None:
    estimator = xgboost_estimator(session, eval_metric="logloss,auc", seed=7)
    estimator.fit(
        {"train": uris["train"], "validation": uris["validation"]}, job_name="fit-complete"
    )
    description = estimator.latest_training_job.describe()  # type: ignore[union-attr]
    assert description["status"] == "Completed"
    assert description["secondary_status"] == "Completed"
    statuses = [t["status"] for t in description["secondary_status_transitions"]]
    assert statuses == ["Pending", "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all(t["end_time"] for t in description["secondary_status_transitions"])
    assert estimator.model_data.endswith("/fit-complete/output/model.tar.gz")
    final = {m["name"]: m["value"] for m in description["final_metrics"]}
    assert {"train:logloss", "validation:logloss", "validation:auc"} <= set(final)
    assert final["validation:auc"] > 0.9
    # every round is a point of the time series
    series = [
        m
        for m in estimator.latest_training_job.metrics()  # type: ignore[union-attr]
        if m["name"] == "validation:auc" and m["step"] is not None
    ]
    assert [m["step"] for m in series] == list(range(10))
    assert "train-logloss" in capsys.readouterr().err  # the log was streamed

    # the artifact holds a model that plain xgboost loads
    bucket, key = estimator.model_data[len("s3://") :].split("/", 1)
    blob = session.client.request("GET", session._object_path(bucket, key)).content
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        booster = xgboost.Booster()
        booster.load_model(bytearray(tar.extractfile("xgboost-model").read()))  # type: ignore[union-attr]
    assert booster.num_features() == test_rows.shape[1] - 1


def test_job_work_dir_follows_the_sagemaker_layout(
    server: RunningServer, session: my.Session
) -> None:
    description = session.describe_training_job("fit-complete")
    work = server.home / "jobs" / description["name"]
    hps = json.loads((work / "input/config/hyperparameters.json").read_text())
    assert hps == {
        "objective": "binary:logistic",
        "num_round": "10",
        "eval_metric": "logloss,auc",
        "seed": "7",
    }
    channels = json.loads((work / "input/config/inputdataconfig.json").read_text())
    assert channels["train"]["ContentType"] == "text/csv"
    resources = json.loads((work / "input/config/resourceconfig.json").read_text())
    assert resources["current_host"] == "algo-1"
    train_file = work / "input/data/train/train.csv"
    assert train_file.is_symlink()  # linked from the local store, not copied
    assert (work / "model" / "xgboost-model").exists()


def test_linear_learner_trains(session: my.Session, uris: dict[str, str]) -> None:
    estimator = my.Estimator(
        algorithm="linear-learner",
        session=session,
        hyperparameters={"predictor_type": "binary_classifier"},
    )
    estimator.fit({"train": uris["train"], "validation": uris["validation"]}, logs=False)
    final = {
        m["name"]: m["value"] for m in estimator.latest_training_job.describe()["final_metrics"]
    }  # type: ignore[union-attr]
    assert final["validation:binary_classification_accuracy"] > 0.9


def test_job_counts_are_in_metrics(
    server: RunningServer, session: my.Session, uris: dict[str, str]
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def completed_training_jobs() -> float:
        with server.http() as http:
            families = text_string_to_metric_families(http.get("/metrics").text)
        return sum(
            sample.value
            for family in families
            if family.name == "modelyard_jobs"
            for sample in family.samples
            if sample.labels == {"kind": "training", "status": "Completed"}
        )

    before = completed_training_jobs()
    xgboost_estimator(session, num_round=2).fit({"train": uris["train"]}, logs=False)
    assert completed_training_jobs() == before + 1


def test_bad_hyperparameters_are_rejected_naming_each(
    session: my.Session, uris: dict[str, str]
) -> None:
    estimator = xgboost_estimator(session, max_depth="deep", bogus=1)
    with pytest.raises(InvalidRequest) as caught:
        estimator.fit(uris["train"], job_name="bad-hps")
    message = caught.value.message
    assert "max_depth" in message and "'deep'" in message and "integer" in message
    assert "bogus" in message and "num_round" in message  # lists the valid names
    with pytest.raises(NotFound):
        session.describe_training_job("bad-hps")  # nothing was created, nothing runs


def test_missing_required_hyperparameter(session: my.Session, uris: dict[str, str]) -> None:
    estimator = my.Estimator(algorithm="xgboost", session=session, hyperparameters={})
    with pytest.raises(InvalidRequest, match="num_round"):
        estimator.fit(uris["train"])


def test_bad_requests_say_what_is_wrong(server: RunningServer, uris: dict[str, str]) -> None:
    base = {
        "algorithm": "xgboost",
        "hyperparameters": {"num_round": "3"},
        "inputs": [{"channel": "train", "uri": uris["train"]}],
    }
    cases = [
        ({**base, "name": "bad name!"}, "letters, digits and hyphens"),
        ({**base, "name": "x" * 64}, "at most 63"),
        ({**base, "name": "no-train", "inputs": []}, "missing required channel 'train'"),
        ({**base, "name": "bad-algo", "algorithm": "nope"}, "xgboost"),
        (
            {
                **base,
                "name": "no-data",
                "inputs": [{"channel": "train", "uri": "s3://modelyard-default/nothing/here"}],
            },
            "nothing stored at",
        ),
        ({**base, "name": "bad-type", "instance_type": "ml.huge"}, "instance_type"),
        ({**base, "name": "typo", "hyperparameter": {}}, "hyperparameter"),
    ]
    with server.http() as http:
        for body, expected in cases:
            response = http.post("/api/v1/training-jobs", json=body)
            assert response.status_code == 400, body
            error = response.json()["error"]
            assert expected in error["message"], (expected, error)
        assert (
            http.post(
                "/api/v1/training-jobs",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ).status_code
            == 400
        )


def test_duplicate_name_is_a_conflict(session: my.Session, uris: dict[str, str]) -> None:
    estimator = xgboost_estimator(session, num_round=2)
    estimator.fit(uris["train"], job_name="dup-job", logs=False)
    with pytest.raises(Conflict, match="already exists"):
        estimator.fit(uris["train"], job_name="dup-job", logs=False)


def test_failure_reason_comes_from_the_job(session: my.Session) -> None:
    bad = session.upload_string_as_file_body(
        "1,2,3\n0,abc,4\n", session.default_bucket(), "bad-data/train.csv"
    )
    estimator = xgboost_estimator(session)
    with pytest.raises(UnexpectedStatusException) as caught:
        estimator.fit(bad, job_name="fails-on-data", logs=False)
    description = session.describe_training_job("fails-on-data")
    assert description["status"] == "Failed"
    assert description["failure_reason"].startswith("ClientError")
    assert "abc" in description["failure_reason"] or "number" in description["failure_reason"]
    assert description["failure_reason"] in caught.value.message


def test_list_filters_and_paginates(
    server: RunningServer, session: my.Session, uris: dict[str, str]
) -> None:
    for i in range(3):
        xgboost_estimator(session, num_round=1).fit(uris["train"], job_name=f"page-{i}", wait=False)
    for i in range(3):
        my.TrainingJob(session, f"page-{i}").wait(logs=False)
    with server.http() as http:
        first = http.get(
            "/api/v1/training-jobs", params={"name_contains": "page-", "max_results": 2}
        ).json()
        assert [j["name"] for j in first["items"]] == ["page-2", "page-1"]  # newest first
        second = http.get(
            "/api/v1/training-jobs",
            params={"name_contains": "page-", "max_results": 2, "next_token": first["next_token"]},
        ).json()
        assert [j["name"] for j in second["items"]] == ["page-0"]
        assert second["next_token"] is None
        completed = http.get(
            "/api/v1/training-jobs", params={"name_contains": "page-", "status": "Completed"}
        ).json()
        assert sorted(j["name"] for j in completed["items"]) == ["page-0", "page-1", "page-2"]
        failed = http.get(
            "/api/v1/training-jobs", params={"name_contains": "page-", "status": "Failed"}
        ).json()
        assert failed["items"] == []
        bad = http.get("/api/v1/training-jobs", params={"status": "Done"})
        assert bad.status_code == 400 and "InProgress" in bad.json()["error"]["message"]


def test_stop_a_running_job_and_read_logs_while_it_runs(
    session: my.Session, uris: dict[str, str]
) -> None:
    estimator = xgboost_estimator(session, num_round=1_000_000, max_depth=8)
    estimator.fit(uris["train"], job_name="long-job", wait=False)
    job = estimator.latest_training_job
    assert job is not None
    wait_for(lambda: job.describe()["secondary_status"] == "Training")
    text = wait_for(lambda: job.logs()[0] if "train-logloss" in job.logs()[0] else None)
    assert "[modelyard] training xgboost" in text
    job.stop()
    description = wait_for(lambda: (d := job.describe())["status"] == "Stopped" and d, 60)
    assert description["secondary_status"] == "Stopped"
    assert description["model_artifact"] is None
    with pytest.raises(Conflict, match="already ended"):
        job.stop()


def test_max_runtime_is_enforced(session: my.Session, uris: dict[str, str]) -> None:
    estimator = my.Estimator(
        algorithm="xgboost",
        session=session,
        max_run=2,
        hyperparameters={"num_round": 1_000_000, "max_depth": 8},
    )
    with pytest.raises(UnexpectedStatusException, match="MaxRuntimeExceeded"):
        estimator.fit(uris["train"], job_name="too-long", logs=False)
    description = session.describe_training_job("too-long")
    assert description["status"] == "Stopped"
    assert description["secondary_status"] == "MaxRuntimeExceeded"


def test_attach_and_deploy_from_attached(session: my.Session) -> None:
    estimator = my.Estimator.attach("fit-complete", session=session)
    assert estimator.algorithm == "xgboost"
    assert estimator.hyperparameters()["num_round"] == "10"
    assert estimator.model_data.endswith("fit-complete/output/model.tar.gz")


def test_jobs_queue_for_cpu_slots(
    server: RunningServer, session: my.Session, uris: dict[str, str]
) -> None:
    # "local" asks for the whole machine, so a second job waits until the first is done.
    first = xgboost_estimator(session, num_round=1_000_000, max_depth=8)
    first.fit(uris["train"], job_name="queue-first", wait=False)
    wait_for(lambda: first.latest_training_job.describe()["secondary_status"] == "Training")  # type: ignore[union-attr]
    # A probe queued ahead of the second and then stopped: the scheduler marks it Stopped on
    # its next pass over the queue, the pass that also considers the second with the first
    # still running. Once the probe is Stopped, that pass has happened.
    probe = xgboost_estimator(session, num_round=2)
    probe.fit(uris["train"], job_name="queue-probe", wait=False)
    second = xgboost_estimator(session, num_round=2)
    second.fit(uris["train"], job_name="queue-second", wait=False)
    probe.latest_training_job.stop()  # type: ignore[union-attr]
    wait_for(lambda: session.describe_training_job("queue-probe")["status"] == "Stopped")
    assert session.describe_training_job("queue-first")["status"] == "InProgress"
    assert session.describe_training_job("queue-second")["secondary_status"] == "Pending"
    first.latest_training_job.stop()  # type: ignore[union-attr]
    description = second.latest_training_job.wait(logs=False)  # type: ignore[union-attr]
    pending = description["secondary_status_transitions"][0]
    assert pending["status"] == "Pending"
    # The second job left Pending only once the first had ended (a million rounds: the first
    # cannot end on its own).
    first_ended = session.describe_training_job("queue-first")["ended_at"]
    assert first_ended is not None
    assert datetime.fromisoformat(pending["end_time"]) >= datetime.fromisoformat(first_ended)


def test_cli_train_list_describe_logs(server: RunningServer, uris: dict[str, str]) -> None:
    result = server.cli(
        "jobs",
        "train",
        "--algorithm",
        "xgboost",
        "--train",
        uris["train"],
        "--validation",
        uris["validation"],
        "--hp",
        "num_round=5",
        "--hp",
        "objective=binary:logistic",
        "--name",
        "cli-job",
    )
    assert "model artifact: s3://" in result.stdout
    assert "validation-logloss" in result.stdout + result.stderr
    listing = server.cli("jobs", "list", "--name-contains", "cli-job").stdout
    assert "cli-job" in listing and "Completed" in listing
    described = json.loads(server.cli("jobs", "describe", "cli-job").stdout)
    assert described["status"] == "Completed"
    logs = server.cli("jobs", "logs", "cli-job").stdout
    assert "[4]" in logs and "completed in" in logs
    missing = server.cli("jobs", "describe", "no-such-job", check=False)
    assert missing.returncode == 1
    assert "training job 'no-such-job' does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = server.cli(
        "jobs",
        "train",
        "--algorithm",
        "xgboost",
        "--train",
        uris["train"],
        "--hp",
        "num_round=abc",
        check=False,
    )
    assert bad.returncode == 1 and "num_round" in bad.stderr and "Traceback" not in bad.stderr
