"""Cross-validation jobs on a real server: folds as training jobs that split the channel
themselves, per-fold and summary metrics through the SDK, REST and CLI, a failing fold, a stop,
and requests refused before anything runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from statistics import fmean, pstdev
from typing import Any

import httpx
import numpy as np
import pytest

import modelyard as my
from modelyard.errors import InvalidRequest, UnexpectedStatusException
from tests.support import RunningServer, wait_for

FOLD_SCRIPT = str(Path(__file__).parent / "scripts" / "cross_validation" / "fold.py")
OBJECTIVE_SCRIPT = str(Path(__file__).parent / "scripts" / "tuning" / "objective.py")
ROWS = 60


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def labelled(session: my.Session, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """60 rows `y,id,x` with a header, a fifth of them positive, ids far apart and random."""
    rng = np.random.default_rng(7)
    ids = rng.choice(10**6, size=ROWS, replace=False)
    labels = np.array([1] * (ROWS // 5) + [0] * (ROWS - ROWS // 5))
    path = tmp_path_factory.mktemp("cv") / "rows.csv"
    path.write_text(
        "y,id,x\n"
        + "".join(f"{y},{i},{rng.normal():.4f}\n" for y, i in zip(labels, ids, strict=True))
    )
    uri = session.upload_data(path, key_prefix="cv-test/labelled")
    return {"uri": uri, "ids": ids, "labels": labels}


def fold_script(session: my.Session, **hyperparameters: Any) -> my.Estimator:
    return my.Estimator(
        entry_point=FOLD_SCRIPT,
        hyperparameters=hyperparameters,
        instance_type="local:1",
        session=session,
    )


def header_csv(uri: str) -> my.TrainingInput:
    return my.TrainingInput(uri, content_type="text/csv;header=present")


# -- the split itself -------------------------------------------------------------------
def test_stratified_folds_are_disjoint_cover_the_channel_and_keep_the_label_share(
    session: my.Session, labelled: dict[str, Any]
) -> None:
    job = fold_script(session).cross_validate(
        {"train": header_csv(labelled["uri"])}, folds=4, stratify=True, job_name="cv-split"
    )
    description = job.describe()
    assert description["status"] == "Completed"
    folds = description["fold_jobs"]
    assert [f["training_job_name"] for f in folds] == [f"cv-split-fold-{k}" for k in (1, 2, 3, 4)]
    held = [f["metrics"]["held_rows"] for f in folds]
    assert sum(held) == ROWS and all(h == ROWS / 4 for h in held)
    assert all(f["metrics"]["train_rows"] == ROWS - f["metrics"]["held_rows"] for f in folds)
    # The ids are random and far apart: equal sums mean each row was held out exactly once.
    assert sum(f["metrics"]["held_id_sum"] for f in folds) == int(labelled["ids"].sum())
    # Stratified: every fold holds out the channel's share of positives (a fifth).
    assert all(f["metrics"]["held_positive_share"] == pytest.approx(0.2) for f in folds)
    # The summary is each metric's per-fold values, their mean and population std.
    sums = [f["metrics"]["held_id_sum"] for f in folds]
    summary = job.metrics["held_id_sum"]
    assert summary["folds"] == sums
    assert summary["mean"] == pytest.approx(fmean(sums))
    assert summary["std"] == pytest.approx(pstdev(sums))
    assert (summary["min"], summary["max"]) == (min(sums), max(sums))
    # Each fold is an ordinary training job, tagged with its cross-validation job.
    fold_job = session.describe_training_job("cv-split-fold-2")
    assert fold_job["tags"]["modelyard:cross-validation-job"] == "cv-split"
    assert [c["channel"] for c in fold_job["inputs"]] == ["train", "validation"]


def test_the_same_seed_gives_the_same_folds_and_another_seed_other_ones(
    session: my.Session, labelled: dict[str, Any]
) -> None:
    def held_sums(name: str, seed: int) -> list[float]:
        job = fold_script(session).cross_validate(
            {"train": header_csv(labelled["uri"])}, folds=3, random_seed=seed, job_name=name,
            logs=False,
        )  # fmt: skip
        return [f["metrics"]["held_id_sum"] for f in job.describe()["fold_jobs"]]

    first = held_sums("cv-seed-a", 11)
    assert held_sums("cv-seed-b", 11) == first
    assert held_sums("cv-seed-c", 12) != first


def test_xgboost_cross_validation_summarises_auc_and_prints_a_dataframe(
    session: my.Session, breast_cancer_csvs: dict[str, Path], capsys: Any
) -> None:
    train = session.upload_data(breast_cancer_csvs["train"], key_prefix="cv-test/bc-train")
    estimator = my.Estimator(
        algorithm="xgboost",
        hyperparameters={"objective": "binary:logistic", "num_round": 10, "eval_metric": "auc"},
        instance_type="local:1",
        session=session,
    )
    job = estimator.cross_validate(train, folds=3, stratify=True, job_name="cv-xgboost")
    auc = job.metrics["validation:auc"]
    assert len(auc["folds"]) == 3 and 0.9 < auc["mean"] <= 1.0
    frame = job.dataframe()
    assert list(frame.index) == [1, 2, 3, "mean", "std"]
    assert frame.loc["mean", "validation:auc"] == pytest.approx(auc["mean"])
    assert list(frame["TrainingJobStatus"][:3]) == ["Completed"] * 3
    printed = capsys.readouterr().err
    assert "fold 3 (cv-xgboost-fold-3): Completed" in printed
    assert "validation:auc: " in printed and "±" in printed
    # The fold's log says how the channel was dealt out.
    logs = session.client.get("/api/v1/training-jobs/cv-xgboost-fold-1/logs")["text"]
    assert "fold 1 of 3:" in logs and "held out as validation" in logs


# -- failures and stops -----------------------------------------------------------------
def test_a_failing_fold_fails_the_job_naming_the_fold_and_its_reason(
    session: my.Session, labelled: dict[str, Any]
) -> None:
    poison = int(labelled["ids"][5])
    with pytest.raises(UnexpectedStatusException) as raised:
        fold_script(session, **{"fail-if-held": poison}).cross_validate(
            {"train": header_csv(labelled["uri"])}, folds=3, max_parallel_jobs=1,
            shuffle=False, job_name="cv-poison", logs=False,
        )  # fmt: skip
    description = session.client.get("/api/v1/cross-validation-jobs/cv-poison")
    assert description["status"] == "Failed"
    # Unshuffled, row 5 of 60 is in the first fold: fold 1 fails, and nothing more starts.
    assert description["failure_reason"].startswith("fold 1 (cv-poison-fold-1) failed:")
    assert "poison" in description["failure_reason"]
    assert [f["training_job_status"] for f in description["fold_jobs"]] == ["Failed"]
    assert "poison" in str(raised.value)


def test_stopping_a_cross_validation_job_stops_its_folds(
    session: my.Session, labelled: dict[str, Any]
) -> None:
    estimator = my.Estimator(
        entry_point=OBJECTIVE_SCRIPT,
        hyperparameters={"x": 0.3, "steps": 10000, "sleep": 0.05},
        instance_type="local:1",
        session=session,
    )
    job = estimator.cross_validate(
        {"train": header_csv(labelled["uri"])}, folds=2, job_name="cv-stop", wait=False
    )
    wait_for(
        lambda: (
            len(job.folds()) == 2
            and all(f["training_job_status"] == "InProgress" for f in job.folds())
        )
    )
    job.stop()
    with pytest.raises(UnexpectedStatusException):
        job.wait(logs=False)
    assert job.describe()["status"] == "Stopped"
    assert [f["training_job_status"] for f in job.folds()] == ["Stopped", "Stopped"]


# -- refused before anything runs ---------------------------------------------------------
def bad_request(session: my.Session, **change: Any) -> str:
    body: dict[str, Any] = {
        "name": "cv-bad",
        "folds": 3,
        "training_job_definition": {
            "algorithm": "xgboost",
            "hyperparameters": {"objective": "binary:logistic", "num_round": "5"},
            "inputs": [{"channel": "train", "uri": "s3://modelyard-default/cv-test/bc-train"}],
        },
    }
    for key, value in change.items():
        if key.startswith("definition_"):
            body["training_job_definition"][key[len("definition_") :]] = value
        else:
            body[key] = value
    with pytest.raises(InvalidRequest) as raised:
        session.client.post("/api/v1/cross-validation-jobs", json=body)
    return raised.value.message


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"channel": "training"}, "no 'training' channel to split"),
        ({"validation_channel": "train"}, "validation_channel must differ"),
        ({"folds": 1}, "folds"),
        ({"folds": 21}, "folds"),
        ({"definition_hyperparameters": {"num_round": "-3"}}, "num_round"),
        ({"definition_inputs": [
            {"channel": "train", "uri": "s3://modelyard-default/cv-test/bc-train"},
            {"channel": "validation", "uri": "s3://modelyard-default/cv-test/bc-train"},
        ]}, "leave the 'validation' channel out"),
        ({"definition_inputs": [{"channel": "train", "uri": "s3://modelyard-default/cv-test/bc-train",
                                 "content_type": "image/png"}]}, "unsupported content type"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_saying_what_is_wrong(
    session: my.Session, breast_cancer_csvs: dict[str, Path], change: dict[str, Any], says: str
) -> None:
    session.upload_data(breast_cancer_csvs["train"], key_prefix="cv-test/bc-train")
    assert says in bad_request(session, **change)
    with pytest.raises(my.errors.NotFound):
        session.client.get("/api/v1/cross-validation-jobs/cv-bad")


def test_too_few_rows_for_the_folds_fail_with_a_clear_reason(
    session: my.Session, tmp_path: Path
) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text("y,id,x\n1,1,0.5\n0,2,0.1\n0,3,0.2\n")
    uri = session.upload_data(path, key_prefix="cv-test/tiny")
    with pytest.raises(UnexpectedStatusException):
        fold_script(session).cross_validate(
            {"train": header_csv(uri)}, folds=3, stratify=True, job_name="cv-tiny", logs=False
        )
    reason = session.client.get("/api/v1/cross-validation-jobs/cv-tiny")["failure_reason"]
    assert "a label of channel 'train' has only 1 row(s), fewer than the 3 folds" in reason


# -- REST and CLI -------------------------------------------------------------------------
def test_rest_and_cli_list_and_describe_cross_validation_jobs(
    server: RunningServer, session: my.Session, labelled: dict[str, Any]
) -> None:
    fold_script(session).cross_validate(
        {"train": header_csv(labelled["uri"])}, folds=2, job_name="cv-cli", logs=False
    )
    listed = httpx.get(
        f"{server.url}/api/v1/cross-validation-jobs",
        params={"name_contains": "cv-cli"},
        headers={"Authorization": f"Bearer {server.token}"},
    ).json()
    assert [(j["name"], j["folds"], j["done"]) for j in listed["items"]] == [("cv-cli", 2, 2)]

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "modelyard", *args],
            env=server.env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "cv-cli" in cli("cv", "list")
    described = json.loads(cli("cv", "describe", "cv-cli"))
    assert described["metrics"]["held_rows"]["folds"] == [30.0, 30.0]
    missing = subprocess.run(
        [sys.executable, "-m", "modelyard", "cv", "describe", "cv-nope"],
        env=server.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode != 0 and "cross-validation job 'cv-nope' does not exist" in (
        missing.stdout + missing.stderr
    )


# -- tuning with cross-validated trials ---------------------------------------------------
def test_a_tuner_with_cross_validation_folds_tunes_on_the_folds_mean(
    session: my.Session, labelled: dict[str, Any]
) -> None:
    estimator = my.Estimator(entry_point=OBJECTIVE_SCRIPT, instance_type="local:1", session=session)
    tuner = my.HyperparameterTuner(
        estimator, "score", {"x": my.ContinuousParameter(0.0, 1.0)},
        strategy="Random", max_jobs=3, max_parallel_jobs=2, random_seed=5,
        cross_validation_folds=2,
    )  # fmt: skip
    tuner.fit({"train": header_csv(labelled["uri"])}, job_name="tune-cv", logs=False)
    description = tuner.describe()
    assert description["status"] == "Completed"
    assert description["cross_validation"]["folds"] == 2
    trials = tuner.analytics().dataframe()
    assert sorted(trials["TrainingJobName"]) == ["tune-cv-001", "tune-cv-002", "tune-cv-003"]
    for _, trial in trials.iterrows():
        cv = my.CrossValidationJob(session, trial["TrainingJobName"]).describe()
        assert [f["training_job_name"] for f in cv["fold_jobs"]] == [
            f"{trial['TrainingJobName']}-fold-1",
            f"{trial['TrainingJobName']}-fold-2",
        ]
        x = float(trial["x"])
        # The objective is the mean of the folds' scores (each fold's is 1 - (x - 0.3)^2).
        assert trial["FinalObjectiveValue"] == pytest.approx(cv["metrics"]["score"]["mean"])
        assert cv["metrics"]["score"]["mean"] == pytest.approx(1 - (x - 0.3) ** 2)
    best = tuner.best_training_job()
    assert best == trials.loc[trials["FinalObjectiveValue"].idxmax(), "TrainingJobName"]
    # The best trial's hyperparameters, trained on all of the data, once.
    estimator = tuner.best_estimator()
    assert estimator.latest_training_job is not None
    assert estimator.latest_training_job.name == f"{best}-full"
    full = session.describe_training_job(f"{best}-full")
    assert full["status"] == "Completed" and [c["channel"] for c in full["inputs"]] == ["train"]
    best_x = trials.loc[trials["TrainingJobName"] == best, "x"].iloc[0]
    assert json.loads(full["hyperparameters"]["x"]) == pytest.approx(float(best_x))
    assert tuner.best_estimator().latest_training_job.name == f"{best}-full"  # not trained again


def test_cross_validated_tuning_refuses_early_stopping(
    session: my.Session, labelled: dict[str, Any]
) -> None:
    estimator = my.Estimator(entry_point=OBJECTIVE_SCRIPT, instance_type="local:1", session=session)
    tuner = my.HyperparameterTuner(
        estimator, "score", {"x": my.ContinuousParameter(0.0, 1.0)},
        max_jobs=2, early_stopping_type="Auto", cross_validation_folds=3,
    )  # fmt: skip
    with pytest.raises(InvalidRequest, match="Use training_job_early_stopping_type Off"):
        tuner.fit({"train": header_csv(labelled["uri"])}, job_name="tune-cv-es")
