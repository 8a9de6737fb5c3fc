"""Evaluation jobs on a real server: a trained model's metrics and report on test data for a
binary, a multiclass and a regression model, through the SDK, REST and CLI, checked against
scikit-learn on the same model's predictions; bad requests refused before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import datasets
from sklearn import metrics as skm

import modelyard as my
from modelyard.errors import InvalidRequest, UnexpectedStatusException
from modelyard.runtime.serving import load_model
from modelyard.storage.uri import parse_s3_uri
from tests.support import RunningServer


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


def upload_rows(
    session: my.Session, tmp: Path, name: str, y: Any, X: Any
) -> tuple[str, np.ndarray]:
    """The rows' URI, and the features as written (a tree's thresholds are values of the
    data it saw, so the check below must predict on exactly those)."""
    path = tmp / f"{name}.csv"
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", fmt="%.6g")
    written = np.loadtxt(path, delimiter=",")[:, 1:]
    return session.upload_data(path, key_prefix=f"evaluation-test/{name}"), written


def trained(session: my.Session, name: str, train: str, **hyperparameters: Any) -> my.Estimator:
    estimator = my.Estimator(
        algorithm="xgboost",
        hyperparameters={"num_round": 20, **hyperparameters},
        instance_type="local:1",
        session=session,
    )
    estimator.fit(train, job_name=name, logs=False)
    return estimator


def model_predictions(estimator: my.Estimator, X: np.ndarray, tmp: Path) -> Any:
    """The trained model's own answers, loaded as an endpoint loads it."""
    bucket, key = parse_s3_uri(estimator.model_data)
    archive = estimator._session().download_file(bucket, key, tmp / "model.tar.gz")
    algorithm, model = load_model(str(archive), "xgboost", tmp)
    return algorithm.predict(model, X).array


@pytest.fixture(scope="module")
def binary(session: my.Session, breast_cancer_csvs: dict[str, Path]) -> dict[str, Any]:
    train = session.upload_data(breast_cancer_csvs["train"], key_prefix="evaluation-test/bc")
    test = session.upload_data(breast_cancer_csvs["test"], key_prefix="evaluation-test/bc-test")
    estimator = trained(session, "eval-binary", train, objective="binary:logistic")
    rows = np.loadtxt(breast_cancer_csvs["test"], delimiter=",")
    return {"estimator": estimator, "test": test, "y": rows[:, 0], "X": rows[:, 1:]}


def test_a_binary_model_is_evaluated_as_scikit_learn_would_score_it(
    session: my.Session, binary: dict[str, Any], server: RunningServer, tmp_path: Path
) -> None:
    job = binary["estimator"].evaluate(binary["test"], job_name="eval-binary-test")
    description = job.describe()
    assert description["status"] == "Completed"
    assert description["problem_type"] == "binary_classifier"  # inferred: P(1) vs 0/1 labels
    scores = model_predictions(binary["estimator"], binary["X"], tmp_path)
    y = binary["y"]
    assert job.metrics["auc"] == pytest.approx(skm.roc_auc_score(y, scores))
    assert job.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, scores >= 0.5))
    evaluation = job.evaluation()
    assert evaluation["rows"] == len(y)
    assert np.asarray(evaluation["confusion_matrix"]["matrix"]).sum() == len(y)
    assert evaluation["feature_importance"] is not None  # permutation importance ran
    # The headline metrics are the job's metrics, as test:<name>.
    points = session.client.get("/api/v1/evaluation-jobs/eval-binary-test/metrics")
    names = {m["name"] for m in points}
    assert {"test:auc", "test:accuracy"} <= names
    # The report is self-contained HTML beside the model, and the training job links to it.
    report = job.report()
    assert report.startswith("<!DOCTYPE html>") and "<svg" in report and "<script" not in report
    model_dir = binary["estimator"].model_data.rsplit("/", 1)[0]
    assert description["report"] == f"{model_dir}/evaluation/eval-binary-test/report.html"
    links = session.describe_training_job("eval-binary")["evaluations"]
    assert [(e["name"], e["status"]) for e in links] == [("eval-binary-test", "Completed")]
    assert links[0]["metrics"]["auc"] == pytest.approx(job.metrics["auc"])


def test_multiclass_and_regression_models_get_their_own_metrics(
    session: my.Session, tmp_path: Path
) -> None:
    X, y = datasets.load_iris(return_X_y=True)
    iris, X = upload_rows(session, tmp_path, "iris", y, X)
    estimator = trained(session, "eval-iris", iris, objective="multi:softprob", num_class=3)
    job = estimator.evaluate(iris, job_name="eval-iris-test", logs=False)
    assert job.describe()["problem_type"] == "multiclass_classifier"
    probabilities = model_predictions(estimator, X, tmp_path / "iris")
    assert job.metrics["accuracy"] == pytest.approx(
        skm.accuracy_score(y, probabilities.argmax(axis=1))
    )
    assert len(job.evaluation()["confusion_matrix"]["labels"]) == 3

    X, y = datasets.load_diabetes(return_X_y=True)
    diabetes, X = upload_rows(session, tmp_path, "diabetes", y, X)
    estimator = trained(session, "eval-diabetes", diabetes, objective="reg:squarederror")
    job = estimator.evaluate(diabetes, job_name="eval-diabetes-test", logs=False)
    assert job.describe()["problem_type"] == "regressor"
    values = model_predictions(estimator, X, tmp_path / "diabetes")
    assert job.metrics["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, values)))
    assert job.metrics["r2"] == pytest.approx(skm.r2_score(y, values), rel=1e-6)


def test_a_model_answering_probabilities_can_be_evaluated_as_asked(
    session: my.Session, binary: dict[str, Any]
) -> None:
    job = binary["estimator"].evaluate(
        binary["test"], problem_type="Regression", permutation_importance=False,
        job_name="eval-binary-as-regression", logs=False,
    )  # fmt: skip
    assert job.describe()["problem_type"] == "regressor"
    assert "rmse" in job.metrics and "auc" not in job.metrics
    assert job.evaluation()["feature_importance"] is None


def test_a_registered_model_can_be_evaluated_by_its_name(
    session: my.Session, binary: dict[str, Any]
) -> None:
    session.client.post(
        "/api/v1/models",
        json={"name": "eval-registered", "model_data": binary["estimator"].model_data,
              "algorithm": "xgboost"},
    )  # fmt: skip
    session.client.post(
        "/api/v1/evaluation-jobs",
        json={"name": "eval-by-model", "model_name": "eval-registered",
              "test_data": binary["test"]},
    )  # fmt: skip
    job = my.EvaluationJob(session, "eval-by-model")
    description = job.wait(logs=False)
    assert description["model_name"] == "eval-registered"
    assert description["model_artifact"] == binary["estimator"].model_data
    # The same model on the same rows: the same numbers as evaluating its training job.
    by_job = binary["estimator"].evaluate(binary["test"], job_name="eval-by-job", logs=False)
    assert job.metrics == pytest.approx(by_job.metrics)


# -- the CLI ------------------------------------------------------------------------------
def test_the_cli_evaluates_a_training_job_and_lists_evaluations(
    server: RunningServer, binary: dict[str, Any]
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelyard", *args],
            env=server.env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    result = cli("jobs", "evaluate", "eval-binary", "--test", binary["test"], "--name", "eval-cli")
    assert result.returncode == 0, result.stderr
    assert "auc" in result.stdout and "report: s3://" in result.stdout
    assert "eval-cli" in cli("evaluations", "list").stdout
    missing = cli("jobs", "evaluate", "no-such-job", "--test", binary["test"])
    assert missing.returncode != 0
    assert "training job 'no-such-job' does not exist" in missing.stdout + missing.stderr
    assert "Traceback" not in missing.stderr


# -- refused, or failing with a reason ----------------------------------------------------
def test_bad_requests_are_refused_saying_what_is_wrong(
    session: my.Session, binary: dict[str, Any]
) -> None:
    def refused(**body: Any) -> str:
        with pytest.raises(InvalidRequest) as raised:
            session.client.post("/api/v1/evaluation-jobs", json={"name": "eval-bad", **body})
        return raised.value.message

    test = binary["test"]
    assert "give exactly one of training_job_name" in refused(test_data=test)
    assert "does not exist" in refused(training_job_name="nope", test_data=test)
    assert "nothing stored at" in refused(
        training_job_name="eval-binary",
        test_data=test.rsplit("/evaluation-test/", 1)[0] + "/evaluation-test/none",
    )
    assert "model 'nope' does not exist" in refused(model_name="nope", test_data=test)
    with pytest.raises(my.errors.NotFound):
        session.client.get("/api/v1/evaluation-jobs/eval-bad")


def test_a_script_mode_model_is_evaluated_by_its_own_inference_code(
    session: my.Session, binary: dict[str, Any], breast_cancer_csvs: dict[str, Path]
) -> None:
    estimator = my.SKLearn(
        entry_point="train.py",
        source_dir=str(Path(__file__).parent / "scripts" / "sklearn_src"),
        hyperparameters={"n-estimators": 10, "max-depth": 4},
        instance_type="local:1",
        session=session,
    )
    train = session.upload_data(breast_cancer_csvs["train"], key_prefix="evaluation-test/sk")
    estimator.fit({"train": train, "test": binary["test"]}, job_name="eval-sklearn", logs=False)
    job = estimator.evaluate(binary["test"], job_name="eval-sklearn-test", logs=False)
    description = job.describe()
    assert (description["algorithm"], description["framework"]) == (None, "sklearn")
    assert description["problem_type"] == "binary_classifier"
    # The script measured its forest's accuracy on the same rows while it trained.
    reported = {m["name"]: m["value"] for m in
                session.describe_training_job("eval-sklearn")["final_metrics"]}  # fmt: skip
    assert job.metrics["accuracy"] == pytest.approx(reported["test:accuracy"])
    assert job.evaluation()["feature_importance"] is not None


def test_test_data_without_labels_fails_with_a_clear_reason(
    session: my.Session, binary: dict[str, Any], tmp_path: Path
) -> None:
    features_only = tmp_path / "features.csv"
    np.savetxt(features_only, binary["X"], delimiter=",")
    uri = session.upload_data(features_only, key_prefix="evaluation-test/features-only")
    with pytest.raises(UnexpectedStatusException):
        binary["estimator"].evaluate(
            my.TrainingInput(uri, content_type="text/csv;label_size=0"),
            job_name="eval-unlabelled", logs=False,
        )  # fmt: skip
    reason = session.client.get("/api/v1/evaluation-jobs/eval-unlabelled")["failure_reason"]
    assert "has no label column" in reason
