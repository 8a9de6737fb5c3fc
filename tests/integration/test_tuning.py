"""Hyperparameter tuning jobs on a real server: SDK, REST and CLI, every strategy, early
stopping, warm start, completion criteria, limits raised while running, bad requests, and a
kill -9 of the server in the middle of a tuning job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import modelyard as my
from modelyard.errors import InvalidRequest
from tests.support import RunningServer, free_port, wait_for

OBJECTIVE_SCRIPT = str(Path(__file__).parent / "scripts" / "tuning" / "objective.py")


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def uris(session: my.Session, breast_cancer_csvs: dict[str, Path]) -> dict[str, str]:
    return {
        name: session.upload_data(path, key_prefix=f"tuning-test/{name}")
        for name, path in breast_cancer_csvs.items()
    }


def xgboost(session: my.Session, **hyperparameters: Any) -> my.Estimator:
    hps = {"objective": "binary:logistic", "num_round": 8, "eval_metric": "auc", **hyperparameters}
    return my.Estimator(
        algorithm="xgboost", hyperparameters=hps, instance_type="local:1", session=session
    )


def script(session: my.Session, **hyperparameters: Any) -> my.Estimator:
    return my.Estimator(
        entry_point=OBJECTIVE_SCRIPT,
        hyperparameters=hyperparameters,
        instance_type="local:1",
        session=session,
    )


def channels(uris: dict[str, str]) -> dict[str, str]:
    return {"train": uris["train"], "validation": uris["validation"]}


def trials(session: my.Session, name: str, **params: str) -> list[dict[str, Any]]:
    path = f"/api/v1/hyper-parameter-tuning-jobs/{name}/training-jobs"
    return session.client.get(path, params=params)  # type: ignore[no-any-return]


def objective(trial: dict[str, Any]) -> float | None:
    metric = trial["final_hyper_parameter_tuning_job_objective_metric"]
    return None if metric is None else float(metric["value"])


# -- the SDK end to end ------------------------------------------------------------------
def test_random_search_tunes_xgboost_and_deploys_the_best(
    session: my.Session, uris: dict[str, str], test_rows: np.ndarray, capsys: Any
) -> None:
    tuner = my.HyperparameterTuner(
        xgboost(session),
        "validation:auc",
        {"eta": my.ContinuousParameter(0.05, 0.5, "Logarithmic"),
         "max_depth": my.IntegerParameter(2, 6)},
        strategy="Random",
        max_jobs=4,
        max_parallel_jobs=2,
        random_seed=3,
    )  # fmt: skip
    tuner.fit(channels(uris), job_name="tune-random")
    description = tuner.describe()
    assert description["status"] == "Completed"
    assert description["training_job_status_counters"]["completed"] == 4
    assert description["objective_status_counters"] == {"succeeded": 4, "pending": 0, "failed": 0}
    assert "MaxNumberOfTrainingJobs" in description["completion_reason"]

    listed = trials(session, "tune-random", sort_by="FinalObjectiveMetricValue")
    values = [objective(t) for t in listed]
    assert len(listed) == 4 and values == sorted(values, reverse=True)  # type: ignore[type-var]
    for trial in listed:
        eta, depth = trial["tuned_hyper_parameters"].values()
        assert 0.05 <= float(eta) <= 0.5 and depth in {"2", "3", "4", "5", "6"}
        job = session.describe_training_job(trial["training_job_name"])
        assert job["tuning_job_name"] == "tune-random" and job["status"] == "Completed"
        assert job["hyperparameters"]["eta"] == eta  # the trial trained what was proposed
    best = description["best_training_job"]
    assert best["training_job_name"] == listed[0]["training_job_name"] == tuner.best_training_job()
    assert objective(best) == max(values)  # type: ignore[type-var]
    assert "tune-random-00" in capsys.readouterr().err  # trials are shown as they end

    frame = tuner.analytics().dataframe()
    assert list(frame.columns) == [
        "eta", "max_depth", "TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue",
        "TrainingStartTime", "TrainingEndTime", "TrainingElapsedTimeSeconds",
    ]  # fmt: skip
    assert frame["FinalObjectiveValue"].max() == max(values)  # type: ignore[type-var]

    attached = my.HyperparameterTuner.attach("tune-random", session=session)
    assert attached.best_training_job() == tuner.best_training_job()
    predictor = tuner.deploy(initial_instance_count=1, instance_type="local")
    try:
        predictions = predictor.predict(test_rows[:5, 1:])["predictions"]
        assert len(predictions) == 5 and all(0 <= p["score"] <= 1 for p in predictions)
    finally:
        predictor.delete_endpoint()


def test_grid_search_tries_every_combination_once(
    session: my.Session, uris: dict[str, str]
) -> None:
    tuner = my.HyperparameterTuner(
        xgboost(session),
        "validation:auc",
        {
            "max_depth": my.CategoricalParameter([2, 3]),
            "eta": my.CategoricalParameter(["0.1", "0.3"]),
        },
        strategy="Grid",
        max_parallel_jobs=2,
    )  # fmt: skip
    tuner.fit(channels(uris), job_name="tune-grid", logs=False)
    description = tuner.describe()
    assert description["resource_limits"]["max_number_of_training_jobs"] == 4  # the grid
    tried = {
        tuple(sorted(t["tuned_hyper_parameters"].items())) for t in trials(session, "tune-grid")
    }
    assert tried == {
        (("eta", eta), ("max_depth", depth)) for eta in ("0.1", "0.3") for depth in ("2", "3")
    }


def test_bayesian_search_of_a_script_with_a_regex_objective(session: my.Session) -> None:
    tuner = my.HyperparameterTuner(
        script(session, steps=1),
        "score",
        {"x": my.ContinuousParameter(0.0, 1.0)},
        metric_definitions=[{"Name": "score", "Regex": "score: ([-0-9.e]+)"}],
        max_jobs=4,
        random_seed=0,
    )
    tuner.fit(job_name="tune-bayes-script", logs=False)
    listed = trials(session, "tune-bayes-script")
    assert len(listed) == 4 and all(t["objective_status"] == "Succeeded" for t in listed)
    for trial in listed:  # the objective is what the script computed from its x
        x = float(trial["tuned_hyper_parameters"]["x"])
        assert objective(trial) == pytest.approx(1 - (x - 0.3) ** 2, abs=1e-9)


def test_a_trial_that_never_reports_the_objective_is_a_failed_objective(
    session: my.Session,
) -> None:
    tuner = my.HyperparameterTuner(
        script(session, **{"silent-above": 0.5}),
        "score",
        {"x": my.CategoricalParameter(["0.2", "0.9"])},
        strategy="Grid",
    )
    tuner.fit(job_name="tune-silent", logs=False)
    description = tuner.describe()
    assert description["status"] == "Completed"
    assert description["objective_status_counters"] == {"succeeded": 1, "pending": 0, "failed": 1}
    silent = next(t for t in trials(session, "tune-silent")
                  if t["tuned_hyper_parameters"]["x"] == "0.9")  # fmt: skip
    assert silent["objective_status"] == "Failed"
    assert "did not report the objective metric 'score'" in silent["failure_reason"]
    assert description["best_training_job"]["tuned_hyper_parameters"] == {"x": "0.2"}


def test_every_trial_failing_fails_the_tuning_job_with_the_reason(session: my.Session) -> None:
    tuner = my.HyperparameterTuner(
        script(session, **{"silent-above": -1}),
        "score",
        {"x": my.CategoricalParameter(["0.1", "0.2"])},
        strategy="Grid",
    )
    with pytest.raises(my.errors.UnexpectedStatusException, match="objective metric 'score'"):
        tuner.fit(job_name="tune-all-silent", logs=False)
    assert tuner.describe()["status"] == "Failed"


# -- early stopping, Hyperband, completion criteria ------------------------------------------
def test_early_stopping_auto_stops_trials_worse_than_the_median(session: my.Session) -> None:
    # Six good, short trials come first (Grid keeps the order); the last two are bad and
    # would run 150 steps: early stopping must cut them short.
    good = ["0.3", "0.31", "0.29", "0.32", "0.28", "0.33"]
    tuner = my.HyperparameterTuner(
        script(session, steps=3, sleep=0.05),
        "score",
        {"x": my.CategoricalParameter([*good, "-0.7", "-0.8"])},
        strategy="Grid",
        early_stopping_type="Auto",
    )
    tuner.fit(job_name="tune-early", logs=False)
    by_x = {t["tuned_hyper_parameters"]["x"]: t for t in trials(session, "tune-early")}
    assert {by_x[x]["training_job_status"] for x in good} == {"Completed"}
    for bad in ("-0.7", "-0.8"):
        assert by_x[bad]["training_job_status"] == "Stopped"
        job = session.describe_training_job(by_x[bad]["training_job_name"])
        steps = [m for m in my.TrainingJob(session, job["name"]).metrics() if m["name"] == "score"]
        assert len(steps) < 150  # stopped well before its end
        assert any("early stopping" in t["status_message"]
                   for t in job["secondary_status_transitions"])  # fmt: skip
    assert tuner.describe()["training_job_status_counters"]["stopped"] == 2


def test_hyperband_completes_and_prunes_bad_trials(session: my.Session) -> None:
    # x < 0 is a bad trial that would run 450 steps; x >= 0 a good one of 9 steps.
    tuner = my.HyperparameterTuner(
        script(session, steps=9, sleep=0.02),
        "score",
        {"x": my.ContinuousParameter(-1.0, 0.6)},
        strategy="Hyperband",
        strategy_config={"hyperband_strategy_config": {"min_resource": 1, "max_resource": 9}},
        max_jobs=6,
        random_seed=7,
    )
    tuner.fit(job_name="tune-hyperband", logs=False)
    description = tuner.describe()
    assert description["status"] == "Completed"
    listed = trials(session, "tune-hyperband")
    counts = description["training_job_status_counters"]
    assert counts["completed"] + counts["stopped"] == 6
    # Hyperband may also cut a good trial that loses its rung to a better one; what it
    # guarantees is that no trial runs past MaxResource, so every long, bad one is stopped.
    bad = [t for t in listed if float(t["tuned_hyper_parameters"]["x"]) < 0]
    assert bad  # the seed's first, random trials include one
    for trial in bad:
        assert trial["training_job_status"] == "Stopped"
        name = trial["training_job_name"]
        steps = [m for m in my.TrainingJob(session, name).metrics() if m["name"] == "score"]
        assert len(steps) < 450
    assert float(description["best_training_job"]["tuned_hyper_parameters"]["x"]) >= 0


def test_target_objective_value_ends_the_tuning_job_early(session: my.Session) -> None:
    tuner = my.HyperparameterTuner(
        script(session),
        "score",
        {"x": my.ContinuousParameter(0.0, 1.0)},
        max_jobs=8,
        completion_criteria_config=my.TuningJobCompletionCriteriaConfig(
            target_objective_metric_value=-10.0
        ),
    )
    tuner.fit(job_name="tune-target", logs=False)
    description = tuner.describe()
    assert len(trials(session, "tune-target")) == 1
    assert "TargetObjectiveMetricValue" in description["completion_reason"]


def test_best_objective_not_improving_ends_the_tuning_job(session: my.Session) -> None:
    tuner = my.HyperparameterTuner(
        script(session, constant=0.5),
        "score",
        {"x": my.ContinuousParameter(0.0, 1.0)},
        strategy="Random",
        max_jobs=10,
        completion_criteria_config=my.TuningJobCompletionCriteriaConfig(
            max_number_training_jobs_not_improving=3
        ),
    )
    tuner.fit(job_name="tune-plateau", logs=False)
    assert len(trials(session, "tune-plateau")) == 4  # the first, then three that tie it
    assert "BestObjectiveNotImproving" in tuner.describe()["completion_reason"]


# -- warm start ------------------------------------------------------------------------
def test_warm_start_from_a_parent_and_the_incompatible_parents(
    server: RunningServer, session: my.Session, uris: dict[str, str]
) -> None:
    parent = my.HyperparameterTuner(
        script(session), "score", {"x": my.ContinuousParameter(0.0, 1.0)}, max_jobs=3,
        random_seed=1,
    )  # fmt: skip
    parent.fit(job_name="tune-parent", logs=False)
    child = my.HyperparameterTuner(
        script(session),
        "score",
        {"x": my.ContinuousParameter(0.0, 0.8)},  # changed ranges are allowed
        max_jobs=2,
        warm_start_config=my.WarmStartConfig(
            my.WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM, {"tune-parent"}
        ),
    )
    child.fit(job_name="tune-child", logs=False)
    description = child.describe()
    assert description["status"] == "Completed"
    assert description["warm_start_config"]["parent_hyper_parameter_tuning_jobs"] == ["tune-parent"]
    assert len(trials(session, "tune-child")) == 2  # parents' trials are not re-run

    other_algorithm = my.HyperparameterTuner(
        xgboost(session), "validation:auc", {"eta": my.ContinuousParameter(0.1, 0.3)},
        max_jobs=1,
        warm_start_config=my.WarmStartConfig(
            my.WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM, {"tune-parent"}
        ),
    )  # fmt: skip
    with pytest.raises(InvalidRequest, match="tune-parent.*different algorithm"):
        other_algorithm.fit(channels(uris), job_name="tune-bad-parent", logs=False)
    missing = my.HyperparameterTuner(
        script(session), "score", {"x": my.ContinuousParameter(0.0, 1.0)}, max_jobs=1,
        warm_start_config=my.WarmStartConfig(my.WarmStartTypes.TRANSFER_LEARNING, {"nope"}),
    )  # fmt: skip
    with pytest.raises(InvalidRequest, match="no hyperparameter tuning job named 'nope'"):
        missing.fit(job_name="tune-no-parent", logs=False)


# -- bad requests: a 400 naming the problem, and nothing runs -------------------------------
def test_bad_tuning_requests_are_refused_before_anything_runs(
    server: RunningServer, uris: dict[str, str]
) -> None:
    template = {
        "algorithm": "xgboost",
        "hyperparameters": {"objective": "binary:logistic", "num_round": "5"},
        "inputs": [{"channel": "train", "uri": uris["train"]},
                   {"channel": "validation", "uri": uris["validation"]}],
    }  # fmt: skip

    def body(**changes: Any) -> dict[str, Any]:
        ranges = changes.pop("ranges", {"continuous_parameter_ranges": [
            {"name": "eta", "min_value": 0.1, "max_value": 0.3}]})  # fmt: skip
        return {
            "name": "tune-bad",
            "objective": {"type": "Maximize", "metric_name": "validation:auc"},
            "parameter_ranges": ranges,
            "resource_limits": {"max_number_of_training_jobs": 2},
            "training_job_definition": template,
            **changes,
        }

    cont = "continuous_parameter_ranges"
    cases = [
        (body(ranges={cont: [{"name": "nope", "min_value": 0, "max_value": 1}]}), "nope"),
        (body(ranges={cont: [{"name": "eta", "min_value": 0.1, "max_value": 5}]}), "eta"),
        (body(ranges={cont: [{"name": "eta", "min_value": 0.3, "max_value": 0.1}]}), "eta"),
        (body(ranges={"categorical_parameter_ranges": [{"name": "booster", "values": []}]}),
         "booster"),
        (body(objective={"type": "Maximize", "metric_name": "validation:nope"}),
         "validation:nope"),
        (body(strategy="Grid"), "categorical"),
        (body(strategy="Hyperband", training_job_early_stopping_type="Auto"), "Hyperband"),
        (body(name="x" * 40), "name"),
        (body(training_job_definition={**template, "algorithm": "no-such-algo"}), "no-such-algo"),
    ]  # fmt: skip
    with server.http() as http:
        for request, named in cases:
            response = http.post("/api/v1/hyper-parameter-tuning-jobs", json=request)
            assert response.status_code in (400, 422), (request, response.text)
            assert named in response.text, (named, response.text)
        assert http.get("/api/v1/hyper-parameter-tuning-jobs", params={
            "name_contains": "tune-bad"}).json()["items"] == []  # fmt: skip
        assert http.get("/api/v1/training-jobs", params={
            "name_contains": "tune-bad"}).json()["items"] == []  # fmt: skip
        response = http.post("/api/v1/hyper-parameter-tuning-jobs", json=body())
        assert response.status_code == 201
        again = http.post("/api/v1/hyper-parameter-tuning-jobs", json=body())
        assert again.status_code == 409


# -- while it runs: raise the limits, stop it, kill the server --------------------------------
def gated_tuner(session: my.Session, gate: Path, **kwargs: Any) -> my.HyperparameterTuner:
    return my.HyperparameterTuner(
        script(session, gate=str(gate)),
        "score",
        {"x": my.ContinuousParameter(0.0, 1.0)},
        strategy="Random",
        **kwargs,
    )


def test_limits_can_be_raised_while_it_runs(session: my.Session, tmp_path: Path) -> None:
    gate = tmp_path / "open"
    tuner = gated_tuner(session, gate, max_jobs=2, max_parallel_jobs=2)
    tuner.fit(job_name="tune-raise", wait=False)
    wait_for(lambda: len(trials(session, "tune-raise")) == 2)  # both wait at the gate
    with pytest.raises(InvalidRequest, match="at least 2"):
        tuner.raise_limits(max_jobs=1)
    changed = tuner.raise_limits(max_jobs=4, max_parallel_jobs=4)
    assert changed["resource_limits"] == {
        "max_number_of_training_jobs": 4, "max_parallel_training_jobs": 4}  # fmt: skip
    wait_for(lambda: len(trials(session, "tune-raise")) == 4)  # two more start at once
    gate.touch()
    description = tuner.wait()
    assert description["training_job_status_counters"]["completed"] == 4


def test_stopping_a_tuning_job_stops_its_running_trials(
    session: my.Session, tmp_path: Path
) -> None:
    tuner = gated_tuner(session, tmp_path / "never", max_jobs=3, max_parallel_jobs=2)
    tuner.fit(job_name="tune-stop", wait=False)
    wait_for(lambda: len(trials(session, "tune-stop", status_equals="InProgress")) == 2)
    tuner.stop_tuning_job()
    description = wait_for(
        lambda: (d := tuner.describe())["status"] in ("Stopped", "Failed", "Completed") and d
    )
    assert description["status"] == "Stopped"
    assert {t["training_job_status"] for t in trials(session, "tune-stop")} == {"Stopped"}
    assert len(trials(session, "tune-stop")) == 2  # nothing new started after the stop


def test_kill9_during_tuning_goes_on_to_max_jobs_without_rerunning_a_trial(
    tmp_path: Path,
) -> None:
    server = RunningServer(tmp_path / "home", free_port()).start()
    gate = tmp_path / "open"
    try:
        session = server.session()
        tuner = gated_tuner(session, gate, max_jobs=3, random_seed=5)
        tuner.fit(job_name="tune-kill", wait=False)
        first = wait_for(lambda: trials(session, "tune-kill"))[0]
        running = session.describe_training_job(first["training_job_name"])
        assert running["status"] == "InProgress"  # killed mid-trial, not after
        assert tuner.describe()["status"] == "InProgress"
        server.kill9()
        server.start()
        session = server.session()
        gate.touch()
        description = my.HyperparameterTuner.attach("tune-kill", session=session).wait()
        names = [t["training_job_name"] for t in trials(session, "tune-kill")]
        assert sorted(names) == ["tune-kill-001", "tune-kill-002", "tune-kill-003"]
        assert description["training_job_status_counters"]["completed"] == 3
        assert objective(trials(session, "tune-kill", sort_by="Name", sort_order="Ascending")[0])
        with server.http() as http:  # each trial ran once: one job per name, one log
            for name in names:
                log = http.get(f"/api/v1/training-jobs/{name}/logs").json()["text"]
                assert log.count("completed in") == 1
    finally:
        server.cleanup()


# -- the CLI ----------------------------------------------------------------------------
def test_cli_starts_lists_describes_and_shows_the_trials(
    server: RunningServer, tmp_path: Path
) -> None:
    config = {
        "name": "tune-cli",
        "strategy": "Random",
        "objective": {"type": "Maximize", "metric_name": "score"},
        "parameter_ranges": {
            "continuous_parameter_ranges": [{"name": "x", "min_value": 0.0, "max_value": 1.0}]
        },  # fmt: skip
        "resource_limits": {"max_number_of_training_jobs": 3},
        "random_seed": 2,
    }
    path = tmp_path / "tuning.json"
    path.write_text(json.dumps(config))
    started = server.cli("tuning", "start", "--config", str(path), "--entry-point",
                         OBJECTIVE_SCRIPT, "--instance-type", "local:1")  # fmt: skip
    assert "tune-cli: Completed" in started.stdout + started.stderr
    listed = server.cli("tuning", "list").stdout
    assert "tune-cli" in listed and "Completed" in listed
    described = server.cli("tuning", "describe", "tune-cli").stdout
    assert "best so far" in described and "tune-cli-00" in described
    jobs = server.cli("tuning", "jobs", "tune-cli").stdout
    assert jobs.count("tune-cli-00") == 3
    missing = server.cli("tuning", "describe", "no-such-tuning", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_openapi_lists_the_tuning_routes(server: RunningServer) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for path in ("/api/v1/hyper-parameter-tuning-jobs",
                 "/api/v1/hyper-parameter-tuning-jobs/{name}",
                 "/api/v1/hyper-parameter-tuning-jobs/{name}/stop",
                 "/api/v1/hyper-parameter-tuning-jobs/{name}/training-jobs"):  # fmt: skip
        assert path in paths
