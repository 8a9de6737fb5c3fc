"""Script mode: SageMaker-style training scripts run unchanged, with the toolkit's contract."""

from __future__ import annotations

import io
import json
import tarfile
from importlib import util
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

import modelyard as my
from modelyard.errors import InvalidRequest, ModelyardError, UnexpectedStatusException
from tests.support import RunningServer, free_port, wait_for

SCRIPTS = Path(__file__).parent / "scripts"


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def uris(session: my.Session, breast_cancer_csvs: dict[str, Path]) -> dict[str, str]:
    return {
        name: session.upload_data(path, key_prefix=f"script-test/{name}")
        for name, path in breast_cancer_csvs.items()
    }


def read_tar(session: my.Session, uri: str) -> dict[str, bytes]:
    bucket, key = uri[len("s3://") :].split("/", 1)
    blob = session.client.request("GET", session._object_path(bucket, key)).content
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_sklearn_script_runs_with_the_sagemaker_contract(
    server: RunningServer, session: my.Session, uris: dict[str, str]
) -> None:
    with pytest.warns(UserWarning, match="ignored on modelyard \\(AWS-only\\): role"):
        estimator = my.SKLearn(
            entry_point="train.py",
            source_dir=str(SCRIPTS / "sklearn_src"),
            framework_version="1.2-1",
            hyperparameters={"n-estimators": 20, "max-depth": 5, "class-weights": {"0": 1, "1": 2}},
            metric_definitions=[
                {"Name": "test:accuracy-regex", "Regex": "test-accuracy: ([0-9.]+)"},
                {"Name": "train:loss", "Regex": "train-loss=([0-9.]+)"},
            ],
            role="arn:aws:iam::123456789012:role/ignored",
            session=session,
        )
    estimator.fit({"train": uris["train"], "test": uris["test"]}, job_name="sklearn-script")
    description = session.describe_training_job("sklearn-script")
    assert description["status"] == "Completed"
    assert description["algorithm"] is None
    assert description["script"]["framework"] == "sklearn"
    hps = description["hyperparameters"]
    assert json.loads(hps["sagemaker_program"]) == "train.py"
    assert json.loads(hps["sagemaker_submit_directory"]).endswith(
        "/sklearn-script/source/sourcedir.tar.gz"
    )

    # the model and the output data come back as SageMaker lays them out
    model = read_tar(session, estimator.model_data)
    assert "model.joblib" in model
    forest = joblib.load(io.BytesIO(model["model.joblib"]))
    assert forest.n_estimators == 20 and forest.max_depth == 5
    output = read_tar(session, estimator.model_data.replace("model.tar.gz", "output.tar.gz"))
    contract = json.loads(output["contract.json"])
    accuracy = json.loads(output["report.json"])["accuracy"]
    assert accuracy > 0.9

    # hyperparameters as sorted --name value arguments, a dict as k=v pairs
    assert contract["argv"] == [
        "--class-weights", "0=1,1=2", "--max-depth", "5", "--n-estimators", "20",
    ]  # fmt: skip
    env = contract["env"]
    work = server.home / "jobs" / "sklearn-script"
    assert env["SM_MODEL_DIR"] == str(work / "model")
    assert env["SM_CHANNELS"] == '["test", "train"]'
    assert env["SM_CHANNEL_TRAIN"] == str(work / "input/data/train")
    assert env["SM_OUTPUT_DATA_DIR"] == str(work / "output/data")
    assert env["SM_OUTPUT_DIR"] == str(work / "output")
    assert env["SM_INPUT_DIR"] == str(work / "input")
    assert env["SM_INPUT_CONFIG_DIR"] == str(work / "input/config")
    assert env["SM_HOSTS"] == '["algo-1"]' and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    assert json.loads(env["SM_HPS"]) == {
        "n-estimators": 20, "max-depth": 5, "class-weights": {"0": 1, "1": 2},
    }  # fmt: skip
    assert env["SM_HP_N-ESTIMATORS"] == "20"
    assert int(env["SM_NUM_CPUS"]) >= 1 and env["SM_NUM_GPUS"] == "0"
    assert env["SM_LOG_LEVEL"] == "20" and env["SM_NETWORK_INTERFACE_NAME"] == "lo"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["job_name"] == "sklearn-script"
    assert training_env["hyperparameters"]["n-estimators"] == 20
    assert "sagemaker_program" not in training_env["hyperparameters"]
    assert training_env["additional_framework_parameters"]["sagemaker_program"] == "train.py"
    assert contract["cwd"] == str(work / "code")

    # metrics from the log lines (regex) and from modelyard.log_metric
    final = {m["name"]: m["value"] for m in description["final_metrics"]}
    assert final["test:accuracy-regex"] == pytest.approx(accuracy, abs=1e-4)
    assert final["test:accuracy"] == pytest.approx(accuracy)
    losses = [
        m["value"]
        for m in estimator.latest_training_job.metrics()  # type: ignore[union-attr]
        if m["name"] == "train:loss"
    ]
    assert losses == [1.0, 0.5, 0.333]
    log = estimator.latest_training_job.logs()[0]  # type: ignore[union-attr]
    assert "framework_version 1.2-1 was requested" in log
    assert "done" in log  # stderr is in the log too


def test_a_script_that_raises_fails_with_the_error_and_command(
    session: my.Session, uris: dict[str, str]
) -> None:
    estimator = my.Estimator(
        entry_point=str(SCRIPTS / "misc" / "fails.py"),
        hyperparameters={"learning-rate": 7},
        session=session,
    )
    with pytest.raises(UnexpectedStatusException) as caught:
        estimator.fit(uris["train"], job_name="script-raises", logs=False)
    reason = session.describe_training_job("script-raises")["failure_reason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError")
    assert "ExitCode 1" in reason
    assert "ValueError: bad learning rate 7" in reason
    assert "fails.py --learning-rate 7" in reason
    assert "bad learning rate" in caught.value.message


def test_output_failure_file_becomes_the_reason(session: my.Session) -> None:
    estimator = my.Estimator(
        entry_point=str(SCRIPTS / "misc" / "writes_failure.py"), session=session
    )
    with pytest.raises(UnexpectedStatusException):
        estimator.fit(job_name="script-failure-file", logs=False)  # no inputs at all
    reason = session.describe_training_job("script-failure-file")["failure_reason"]
    assert reason == "the training data has no positive examples"


def test_shell_entry_point(session: my.Session) -> None:
    estimator = my.Estimator(
        entry_point="train.sh",
        source_dir=str(SCRIPTS / "misc"),
        hyperparameters={"mode": "fast"},
        session=session,
    )
    estimator.fit(job_name="shell-script", logs=False)
    assert read_tar(session, estimator.model_data)["model.txt"] == b"model from a shell script\n"
    assert "shell entry point with args: --mode fast" in estimator.latest_training_job.logs()[0]  # type: ignore[union-attr]


def test_bad_script_requests(server: RunningServer, session: my.Session) -> None:
    with server.http() as http:
        base = {"name": "bad-script", "hyperparameters": {}}
        cases = [
            ({**base, "script": {"entry_point": "../x.py", "source_dir": "s3://modelyard-default/x"}},
             "inside the source dir"),
            ({**base, "script": {"entry_point": "x.py", "source_dir": "s3://modelyard-default/none"}},
             "nothing stored"),
            ({**base, "algorithm": "xgboost",
              "script": {"entry_point": "x.py", "source_dir": "s3://modelyard-default/x"}},
             "exactly one of"),
            ({**base, "script": {"entry_point": "x.py", "source_dir": "s3://modelyard-default/x",
                                 "framework": "tensorflow"}}, "pytorch, sklearn, xgboost"),
            ({**base, "algorithm": "xgboost", "hyperparameters": {"num_round": "1"},
              "metric_definitions": [{"name": "m", "regex": "no group"}]}, "captures the value"),
        ]  # fmt: skip
        for body, expected in cases:
            response = http.post("/api/v1/training-jobs", json=body)
            assert response.status_code == 400, body
            assert expected in response.json()["error"]["message"], (expected, response.text)
    with pytest.raises(ModelyardError, match="not a file"):
        my.Estimator(entry_point="missing.py", session=session).fit(job_name="no-file")


@pytest.mark.skipif(util.find_spec("torch") is not None, reason="torch is installed here")
def test_pytorch_without_torch_says_how_to_install(session: my.Session) -> None:
    estimator = my.PyTorch(
        entry_point=str(SCRIPTS / "misc" / "fails.py"), framework_version="2.1", session=session
    )
    with pytest.raises(InvalidRequest, match=r"pip install 'modelyard\[pytorch\]'"):
        estimator.fit(job_name="needs-torch")


def test_stop_kills_a_script_that_ignores_sigterm(tmp_path: Path) -> None:
    running = RunningServer(
        tmp_path / "home", free_port(), extra_env={"MODELYARD_STOP_GRACE_SECONDS": "1"}
    ).start()
    try:
        session = running.session()
        estimator = my.Estimator(
            entry_point=str(SCRIPTS / "misc" / "ignores_sigterm.py"), session=session
        )
        estimator.fit(job_name="stubborn", wait=False)
        job = estimator.latest_training_job
        assert job is not None
        wait_for(lambda: "ignoring SIGTERM" in job.logs()[0])
        job.stop()
        description = wait_for(lambda: (d := job.describe())["status"] == "Stopped" and d)
        assert description["secondary_status"] == "Stopped"
        from tests.support import processes_using

        wait_for(lambda: not any("ignores_sigterm" in p for p in processes_using(running.home)))
    finally:
        running.cleanup()


def test_script_mode_model_deploys_with_the_scripts_handlers(
    session: my.Session, uris: dict[str, str], test_rows: Any
) -> None:
    estimator = my.SKLearn(
        entry_point="train.py",
        source_dir=str(SCRIPTS / "sklearn_src"),
        hyperparameters={"n-estimators": 10},
        session=session,
    )
    estimator.fit(
        {"train": uris["train"], "test": uris["test"]}, job_name="sklearn-deploy", logs=False
    )
    forest = joblib.load(io.BytesIO(read_tar(session, estimator.model_data)["model.joblib"]))
    predictor = estimator.deploy(endpoint_name="sklearn-script-endpoint")
    try:
        features = test_rows[:5, 1:]
        answer = predictor.predict(features)  # CSV in, the default JSON out
        assert answer == forest.predict(features).tolist()
        with pytest.raises(InvalidRequest):
            predictor.predict("1,2,abc")
        assert predictor.predict(features[:1]) == forest.predict(features[:1]).tolist()
    finally:
        predictor.delete_endpoint()


def test_custom_handlers_and_their_errors(
    server: RunningServer, session: my.Session, test_rows: Any
) -> None:
    model_data = session.describe_training_job("sklearn-script")["model_artifact"]
    forest = joblib.load(io.BytesIO(read_tar(session, model_data)["model.joblib"]))
    model = my.Model(
        model_data,
        entry_point="custom_inference.py",
        source_dir=str(SCRIPTS / "misc"),
        framework="sklearn",
        session=session,
    )
    predictor = model.deploy(endpoint_name="custom-handlers")
    path = "/endpoints/custom-handlers/invocations"
    try:
        features = test_rows[:3, 1:]
        with server.http() as http:
            good = http.post(path, json={"rows": features.tolist()})
            assert good.status_code == 200
            expected = forest.predict_proba(features)[:, 1]
            assert good.json()["probabilities"] == pytest.approx(expected.tolist())
            wrong_type = http.post(path, content=b"1,2,3", headers={"Content-Type": "text/csv"})
            assert wrong_type.status_code == 400
            assert "takes application/json, not text/csv" in wrong_type.json()["error"]["message"]
            crash = http.post(
                path,
                content=json.dumps({"rows": [[None] * 30]}).encode(),
                headers={"Content-Type": "application/json"},
            )
            assert crash.status_code == 500
            assert "cannot handle missing values" in crash.json()["error"]["message"]
            again = http.post(path, json={"rows": features.tolist()})
            assert again.status_code == 200  # still serving after both errors
    finally:
        predictor.delete_endpoint()
    log = next((server.home / "endpoints").glob("custom-handlers*"), None)
    assert log is None  # deleted with the endpoint


def test_model_needs_algorithm_or_framework(server: RunningServer, session: my.Session) -> None:
    model_data = session.describe_training_job("sklearn-script")["model_artifact"]
    with server.http() as http:
        neither = http.post("/api/v1/models", json={"name": "m-none", "model_data": model_data})
        assert neither.status_code == 400 and "exactly one of" in neither.text
        unknown = http.post(
            "/api/v1/models",
            json={"name": "m-bad", "model_data": model_data, "framework": "tensorflow"},
        )
        assert unknown.status_code == 400 and "sklearn, xgboost, pytorch, python" in unknown.text


def make_wheel(directory: Path) -> str:
    """A minimal pure-Python wheel, so the requirements test needs no package index."""
    import base64
    import hashlib
    import zipfile

    files = {
        "modelyard_testdep.py": b"VALUE = 42\n",
        "modelyard_testdep-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: modelyard-testdep\nVersion: 1.0\n"
        ),
        "modelyard_testdep-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("modelyard_testdep-1.0.dist-info/RECORD,,")
    files["modelyard_testdep-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = "modelyard_testdep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(directory / wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def test_requirements_txt_builds_an_environment_once_and_reuses_it(
    tmp_path: Path, session: my.Session
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    wheel = make_wheel(source)
    (source / "requirements.txt").write_text(f"./{wheel}\n")
    (source / "train.py").write_text(
        "import numpy, modelyard_testdep\n"
        "print('dependency value', modelyard_testdep.VALUE, 'numpy', numpy.__version__)\n"
    )
    logs = []
    for name in ("requirements-first", "requirements-cached"):
        estimator = my.Estimator(entry_point="train.py", source_dir=str(source), session=session)
        estimator.fit(job_name=name, logs=False)
        logs.append(estimator.latest_training_job.logs()[0])  # type: ignore[union-attr]
    assert "requirements.txt: building environment" in logs[0]
    assert "Successfully installed modelyard-testdep-1.0" in logs[0]  # pip's output, in the log
    assert "requirements.txt: reusing environment" in logs[1]
    assert all("dependency value 42 numpy" in log for log in logs)
    assert util.find_spec("modelyard_testdep") is None  # the platform's own env is untouched


def test_requirements_that_cannot_install_fail_the_job(tmp_path: Path, session: my.Session) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "requirements.txt").write_text("./no-such-package.whl\n")
    (source / "train.py").write_text("print('never')\n")
    estimator = my.Estimator(entry_point="train.py", source_dir=str(source), session=session)
    with pytest.raises(UnexpectedStatusException, match="could not install requirements.txt"):
        estimator.fit(job_name="requirements-broken", logs=False)


def test_checkpoints_sync_while_running_and_restore_on_the_next_job(session: my.Session) -> None:
    uri = f"s3://{session.default_bucket()}/checkpoints/resumable"
    first = my.Estimator(
        entry_point=str(SCRIPTS / "misc" / "checkpointed.py"),
        checkpoint_s3_uri=uri,
        hyperparameters={"epochs": 200},
        session=session,
    )
    first.fit(job_name="checkpointed-first", wait=False)
    job = first.latest_training_job
    assert job is not None
    wait_for(lambda: "epoch 3 done" in job.logs()[0])
    job.stop()
    wait_for(lambda: job.describe()["status"] == "Stopped")
    stored = session.read_s3_file(session.default_bucket(), "checkpoints/resumable/last-epoch.txt")
    last = int(stored)
    assert last >= 3  # the checkpoint was uploaded while the job ran (or as it stopped)

    second = my.Estimator(
        entry_point=str(SCRIPTS / "misc" / "checkpointed.py"),
        checkpoint_s3_uri=uri,
        hyperparameters={"epochs": last + 3},
        session=session,
    )
    second.fit(job_name="checkpointed-second", logs=False)
    log = second.latest_training_job.logs()[0]  # type: ignore[union-attr]
    assert f"resuming from epoch {last + 1}" in log
    assert "epoch 0 done" not in log
    model = read_tar(session, second.model_data)["model.txt"].decode()
    assert model == f"trained {last + 3} epochs, resumed at {last + 1}"


def test_code_inside_the_model_artifact_with_its_requirements(
    tmp_path: Path, session: my.Session
) -> None:
    code = tmp_path / "artifact" / "code"
    code.mkdir(parents=True)
    wheel = make_wheel(code)
    (code / "requirements.txt").write_text(f"./{wheel}\n")
    (code / "inference.py").write_text(
        "import modelyard_testdep\n\n\n"
        "def model_fn(model_dir):\n"
        "    return modelyard_testdep.VALUE\n\n\n"
        "def predict_fn(data, model):\n"
        "    return data.sum(axis=1) * model\n"
    )
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "artifact", arcname=".")
    model_data = session.upload_data(archive, key_prefix="code-in-artifact")
    predictor = my.Model(model_data, framework="python", session=session).deploy(
        endpoint_name="code-in-artifact"
    )
    try:
        assert predictor.predict([[1.0, 2.0], [3.0, 4.0]]) == [126.0, 294.0]
    finally:
        predictor.delete_endpoint()


def test_metrics_as_a_dataframe_and_from_the_cli(
    server: RunningServer, session: my.Session
) -> None:
    estimator = my.Estimator.attach("sklearn-script", session=session)
    frame = estimator.training_job_analytics.dataframe()
    assert list(frame.columns[:3]) == ["timestamp", "metric_name", "value"]
    losses = frame[frame.metric_name == "train:loss"]
    assert losses["value"].tolist() == [1.0, 0.5, 0.333]
    assert (frame["timestamp"] >= 0).all()
    listing = server.cli("jobs", "metrics", "sklearn-script", "--metric", "train:loss").stdout
    assert listing.count("train:loss") == 3 and "0.333" in listing


@pytest.mark.skipif(util.find_spec("torch") is None, reason="needs modelyard[pytorch]")
def test_pytorch_ddp_across_two_hosts(session: my.Session, test_rows: Any) -> None:
    import re

    estimator = my.PyTorch(
        entry_point="train.py",
        source_dir=str(SCRIPTS / "pytorch_ddp"),
        framework_version="2.13",
        instance_count=2,
        distribution={"torch_distributed": {"enabled": True}},
        hyperparameters={"epochs": 4},
        session=session,
    )
    try:
        estimator.fit(job_name="pytorch-ddp", logs=False)
    finally:
        log = estimator.latest_training_job.logs()[0]  # type: ignore[union-attr]
        print(log[-4000:])  # shown by pytest when the job fails
    sums = dict(re.findall(r"\[(algo-\d)\] host algo-\d rank \d/2 checksum (\S+)", log))
    assert set(sums) == {"algo-1", "algo-2"}
    assert sums["algo-1"] == sums["algo-2"]  # DDP kept the replicas identical
    assert "[algo-1] host algo-1 rank 0/2" in log and "[algo-2] host algo-2 rank 1/2" in log
    files = read_tar(session, estimator.model_data)
    assert "model.pth" in files and "not-kept.txt" not in files  # only algo-1's model
    predictor = estimator.deploy(endpoint_name="pytorch-ddp")
    try:
        answer = predictor.predict([[1.0] * 10, [0.0] * 10])
        assert len(answer) == 2 and all(len(row) == 1 for row in answer)
    finally:
        predictor.delete_endpoint()


def test_built_in_algorithms_stay_on_one_instance(
    server: RunningServer, uris: dict[str, str]
) -> None:
    with server.http() as http:
        response = http.post(
            "/api/v1/training-jobs",
            json={
                "name": "xgb-two-hosts",
                "algorithm": "xgboost",
                "instance_count": 2,
                "hyperparameters": {"num_round": "2"},
                "inputs": [{"channel": "train", "uri": uris["train"]}],
            },
        )
    assert response.status_code == 400 and "one instance" in response.text


def test_xgboost_script_mode_trains_and_serves_with_the_framework_defaults(
    session: my.Session, uris: dict[str, str], test_rows: Any
) -> None:
    import xgboost

    estimator = my.XGBoost(
        entry_point="train.py",
        source_dir=str(SCRIPTS / "xgboost_src"),
        framework_version="1.7-1",
        hyperparameters={"num_round": 15, "max_depth": 3, "objective": "binary:logistic"},
        metric_definitions=[
            {"Name": "validation:logloss", "Regex": r"validation-logloss:([0-9.]+)"}
        ],
        session=session,
    )
    estimator.fit(
        {"train": uris["train"], "validation": uris["validation"]},
        job_name="xgboost-script",
        logs=False,
    )
    final = {
        m["name"]: m["value"]
        for m in session.describe_training_job("xgboost-script")["final_metrics"]
    }
    assert final["validation:logloss"] < 0.3
    booster = xgboost.Booster()
    booster.load_model(bytearray(read_tar(session, estimator.model_data)["xgboost-model"]))
    predictor = estimator.deploy(endpoint_name="xgboost-script")  # no model_fn: the default
    try:
        features = test_rows[:4, 1:]
        expected = booster.inplace_predict(features.astype(np.float32))
        assert np.allclose(predictor.predict(features), expected, atol=1e-6)
    finally:
        predictor.delete_endpoint()
