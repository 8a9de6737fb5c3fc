"""Processing jobs: a SageMaker-style preprocessing script splits a CSV into two outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import modelyard as my
from modelyard.errors import InvalidRequest, UnexpectedStatusException
from tests.support import RunningServer

SCRIPTS = Path(__file__).parent / "scripts" / "misc"


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


def test_split_a_csv_into_train_and_test_outputs(
    server: RunningServer, session: my.Session, breast_cancer_csvs: dict[str, Path]
) -> None:
    raw = session.upload_data(breast_cancer_csvs["train"], key_prefix="processing/raw")
    processor = my.SKLearnProcessor(framework_version="1.2-1", session=session)
    processor.run(
        code=str(SCRIPTS / "preprocess.py"),
        inputs=[my.ProcessingInput(source=raw, destination="/opt/ml/processing/input")],
        outputs=[
            my.ProcessingOutput(source="/opt/ml/processing/train", output_name="train"),
            my.ProcessingOutput(
                source="/opt/ml/processing/test",
                output_name="test",
                destination="s3://modelyard-default/processing/split/test",
            ),
        ],
        arguments=[
            "--train-test-split-ratio",
            "0.25",
            "--input-dir",
            "/opt/ml/processing/input",
            "--train-dir",
            "/opt/ml/processing/train",
            "--test-dir",
            "/opt/ml/processing/test",
        ],  # fmt: skip
        job_name="split-csv",
        logs=False,
    )
    description = processor.latest_job.describe()  # type: ignore[union-attr]
    assert description["status"] == "Completed"
    bucket = session.default_bucket()
    rows = len(np.loadtxt(breast_cancer_csvs["train"], delimiter=","))
    train = session.read_s3_file(bucket, "split-csv/output/train/train.csv").splitlines()
    test = session.read_s3_file(bucket, "processing/split/test/test.csv").splitlines()
    assert len(train) + len(test) == rows and len(test) == rows - int(rows * 0.75)
    log = processor.latest_job.logs()[0]  # type: ignore[union-attr]
    assert f"rows {rows}: train {len(train)}, test {len(test)}" in log
    config = json.loads(
        (server.home / "jobs" / "split-csv" / "config" / "processingjobconfig.json").read_text()
    )
    assert config["ProcessingJobName"] == "split-csv"
    # a processing job is not a training job, and the CLI shows it
    assert (
        session.client.get("/api/v1/training-jobs", params={"name_contains": "split-csv"})["items"]
        == []
    )
    assert "split-csv" in server.cli("processing", "list").stdout
    assert json.loads(server.cli("processing", "describe", "split-csv").stdout)["status"] == (
        "Completed"
    )
    assert "train" in server.cli("processing", "logs", "split-csv").stdout


def test_a_failing_processing_script(session: my.Session) -> None:
    processor = my.ScriptProcessor(command=["python3"], session=session)
    with pytest.raises(UnexpectedStatusException, match="bad learning rate"):
        processor.run(code=str(SCRIPTS / "fails.py"), job_name="processing-fails", logs=False)
    reason = processor.latest_job.describe()["failure_reason"]  # type: ignore[union-attr]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError")


def test_bad_processing_requests(server: RunningServer, session: my.Session) -> None:
    code = session.upload_string_as_file_body("print(1)\n", session.default_bucket(), "p/code.py")
    base = {"name": "bad-processing", "code": code}
    cases = [
        ({**base, "code": "s3://modelyard-default/none.py"}, "nothing stored"),
        (
            {**base, "inputs": [{"input_name": "in", "source": code, "destination": "/tmp/x"}]},
            "under /opt/ml/processing",
        ),
        (
            {
                **base,
                "outputs": [
                    {
                        "output_name": "out",
                        "source": "/opt/ml/processing/../etc",
                        "destination": "s3://modelyard-default/o",
                    }
                ],
            },
            "under /opt/ml/processing",
        ),
        (
            {
                **base,
                "inputs": [
                    {
                        "input_name": "in",
                        "source": "s3://modelyard-default/nothing",
                        "destination": "/opt/ml/processing/in",
                    }
                ],
            },
            "nothing stored",
        ),
    ]
    with server.http() as http:
        for body, expected in cases:
            response = http.post("/api/v1/processing-jobs", json=body)
            assert response.status_code == 400, body
            assert expected in response.json()["error"]["message"]
    with pytest.raises(InvalidRequest):
        my.ScriptProcessor(session=session).run(
            code=code,
            inputs=[my.ProcessingInput(source=code, destination="/data")],
            job_name="bad-destination",
        )


def test_framework_processor_runs_an_entry_point_from_a_source_dir(
    session: my.Session, breast_cancer_csvs: dict[str, Path]
) -> None:
    raw = session.upload_data(breast_cancer_csvs["test"], key_prefix="processing/framework")
    processor = my.FrameworkProcessor(framework_version="1.2-1", session=session)
    processor.run(
        code="run.py",
        source_dir=str(Path(__file__).parent / "scripts" / "processing_src"),
        inputs=[my.ProcessingInput(source=raw, destination="/opt/ml/processing/input")],
        outputs=[my.ProcessingOutput(source="/opt/ml/processing/report", output_name="report")],
        arguments=[
            "--input-dir",
            "/opt/ml/processing/input",
            "--output-dir",
            "/opt/ml/processing/report",
        ],
        job_name="framework-processing",
        logs=False,
    )
    rows = len(breast_cancer_csvs["test"].read_text().splitlines())
    summary = session.read_s3_file(
        session.default_bucket(), "framework-processing/output/report/summary.json"
    )
    assert json.loads(summary) == {"files": 1, "rows": rows}
