"""Updating live endpoints on a real server: blue/green and rolling under a steady stream of
requests (none may fail), rollback on an alarm and on a model that cannot start, bad input.

Each model answers every row with "<version>:<pid>", so a test can tell which fleet and which
instance served a request."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import modelyard as my
from modelyard.errors import Conflict, InvalidRequest, ModelyardError
from tests.support import Load, RunningServer, inference_model, wait_for

VERSIONED = """\
import os


def model_fn(model_dir):
    return None


def predict_fn(data, model):
    return ["{version}:%d" % os.getpid()] * len(data)
"""

FAILING = """\
def model_fn(model_dir):
    return None


def predict_fn(data, model):
    raise RuntimeError("this model is broken")
"""

UNLOADABLE = """\
def model_fn(model_dir):
    raise RuntimeError("this model cannot load")
"""


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def models(session: my.Session, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    sources = {
        "v1": VERSIONED.format(version="v1"),
        "v2": VERSIONED.format(version="v2"),
        "v3": VERSIONED.format(version="v3"),
        "failing": FAILING,
        "unloadable": UNLOADABLE,
    }
    return {
        key: inference_model(session, tmp_path_factory.mktemp(key), source)
        for key, source in sources.items()
    }


def deploy(session: my.Session, name: str, model: str, count: int = 2) -> my.Predictor:
    session.endpoint_from_production_variants(
        name, [my.production_variant(model, initial_instance_count=count)]
    )
    return my.Predictor(name, session=session)


def config_of(session: my.Session, name: str, model: str, count: int = 2) -> str:
    session.client.post(
        "/api/v1/endpoint-configs",
        json={
            "name": name,
            "production_variants": [my.production_variant(model, initial_instance_count=count)],
        },
    )
    return name


def canary(size_type: str, size: int, wait: int, termination_wait: int = 0) -> dict[str, Any]:
    """SageMaker's DeploymentConfig for a blue/green canary, as boto3 spells it."""
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": size_type, "Value": size},
                "WaitIntervalInSeconds": wait,
            },
            "TerminationWaitInSeconds": termination_wait,
        }
    }


def pids(session: my.Session, endpoint: str) -> set[int]:
    return {i["pid"] for i in session.describe_endpoint(endpoint)["instances"]}


def test_blue_green_canary_update_under_load_loses_no_request(
    server: RunningServer, session: my.Session, models: dict[str, str]
) -> None:
    predictor = deploy(session, "bg", models["v1"])
    old = pids(session, "bg")
    with Load(server, "bg") as load:
        predictor.update_endpoint(
            model_name=models["v2"],
            deployment_config=canary("INSTANCE_COUNT", 1, wait=1, termination_wait=1),
        )
        seen = len(load.answers)
        wait_for(lambda: len(load.answers) >= seen + 30)  # answers after the update ended
    statuses = Counter(status for status, _ in load.answers)
    assert statuses == {200: len(load.answers)}, statuses  # not one request lost
    assert set(load.versions()) == {"v1", "v2"}
    assert {body.split(":")[0] for _, body in load.answers[seen + 6 :]} == {"v2"}

    description = session.describe_endpoint("bg")
    summary = description["last_deployment_summary"]
    assert description["status"] == "InService" and summary["status"] == "Completed"
    assert description["endpoint_config_name"] == summary["endpoint_config_name"] != "bg"
    phases = [p["phase"] for p in summary["phases"]]
    # the canary (half the instances' share), then everything, then the old fleet's wait
    assert phases == ["Provisioning", "Baking", "Baking", "Terminating"], phases
    assert all(p["started_at"] <= p["ended_at"] for p in summary["phases"])
    assert "50%" in summary["phases"][1]["message"] and "100%" in summary["phases"][2]["message"]
    assert pids(session, "bg").isdisjoint(old)
    assert not any(psutil.pid_exists(pid) for pid in old)
    predictor.delete_endpoint()


def test_rolling_update_from_the_cli_under_load_loses_no_request(
    server: RunningServer, session: my.Session, models: dict[str, str], tmp_path: Path
) -> None:
    deploy(session, "rolling", models["v1"])
    config_of(session, "rolling-v2", models["v2"])
    policy = tmp_path / "rolling.json"
    policy.write_text(
        '{"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},'
        ' "WaitIntervalInSeconds": 0}}'
    )
    with Load(server, "rolling") as load:
        result = server.cli(
            "endpoints", "update", "rolling", "--config", "rolling-v2", "--deployment-config",
            str(policy),
        )  # fmt: skip
    assert Counter(s for s, _ in load.answers) == {200: len(load.answers)}
    assert "Baking: 50% of traffic" in result.stdout and "Baking: 100%" in result.stdout
    assert "config rolling-v2" in result.stdout
    summary = session.describe_endpoint("rolling")["last_deployment_summary"]
    assert [p["phase"] for p in summary["phases"]].count("Provisioning") == 2  # one per batch
    session.delete_endpoint("rolling")


def test_an_alarm_on_the_new_fleet_rolls_the_update_back(
    server: RunningServer, session: my.Session, models: dict[str, str]
) -> None:
    predictor = deploy(session, "alarmed", models["v1"])
    old = pids(session, "alarmed")
    failures: list[str] = []

    def update() -> None:
        try:
            predictor.update_endpoint(
                model_name=models["failing"],
                deployment_config={
                    **canary("CAPACITY_PERCENT", 50, wait=600),
                    "AutoRollbackConfiguration": {
                        "Alarms": [
                            {
                                "AlarmName": "errors",
                                "MetricName": "Invocation5XXErrors",
                                "Statistic": "Sum",
                                "Threshold": 0,
                            }
                        ]
                    },
                },
            )
        except ModelyardError as exc:
            failures.append(exc.message)

    updating = threading.Thread(target=update)
    with Load(server, "alarmed") as load:
        updating.start()
        updating.join()  # the canary's 500s fire the alarm long before its 600 s bake
    assert failures and "rolled back: alarm errors" in failures[0], failures
    assert "Invocation5XXErrors Sum" in failures[0]
    description = session.describe_endpoint("alarmed")
    assert description["status"] == "InService" and description["endpoint_config_name"] == "alarmed"
    assert description["last_deployment_summary"]["status"] == "RolledBack"
    assert [p["phase"] for p in description["last_deployment_summary"]["phases"]][-1] == (
        "RollingBack"
    )
    assert pids(session, "alarmed") == old  # the old fleet served throughout
    assert {status for status, _ in load.answers} <= {200, 500}
    assert all(body.startswith("v1:") for status, body in load.answers if status == 200)
    assert {predictor.predict([[0]])[0].split(":")[0] for _ in range(10)} == {"v1"}
    predictor.delete_endpoint()


def test_a_new_model_that_cannot_start_rolls_back_and_nothing_is_lost(
    server: RunningServer, session: my.Session, models: dict[str, str]
) -> None:
    predictor = deploy(session, "unloadable", models["v1"], count=1)
    with Load(server, "unloadable") as load:
        with pytest.raises(ModelyardError, match="failed to start 3 times"):
            predictor.update_endpoint(model_name=models["unloadable"])
    assert Counter(s for s, _ in load.answers) == {200: len(load.answers)}
    description = session.describe_endpoint("unloadable")
    assert description["endpoint_config_name"] == "unloadable"
    assert "this model cannot load" in description["failure_reason"]
    assert len(description["instances"]) == 1
    predictor.delete_endpoint()


@pytest.fixture
def live(session: my.Session, models: dict[str, str]) -> Iterator[str]:
    deploy(session, "checked", models["v1"], count=1)
    yield "checked"
    session.delete_endpoint("checked")


def test_updates_are_validated(
    server: RunningServer, session: my.Session, models: dict[str, str], live: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequest, match="'nope' does not exist"):
        session.update_endpoint(live, "nope")
    with pytest.raises(InvalidRequest, match="already serves config 'checked'"):
        session.update_endpoint(live, "checked")
    config_of(session, "checked-v3", models["v3"], count=1)
    with pytest.raises(InvalidRequest, match="type: Input should be 'ALL_AT_ONCE'"):
        session.update_endpoint(
            live,
            "checked-v3",
            {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "SIDEWAYS"}}},
        )
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = server.cli(
        "endpoints", "update", live, "--config", "checked-v3", "--deployment-config", str(bad),
        check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "bad.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert session.describe_endpoint(live)["status"] == "InService"  # nothing started
    session.update_endpoint(live, "checked-v3", wait=False)
    with pytest.raises(Conflict, match="Updating"):
        session.update_endpoint(live, "checked")
    session.wait_for_update(live)
    assert my.Predictor(live, session=session).predict([[0]])[0].startswith("v3:")
