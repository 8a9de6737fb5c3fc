"""Autoscaling on a real server: out under load and back in, to zero and back on the next
request, and serverless variants with their MaxConcurrency.

The model sleeps the request's number of seconds and answers with its instance's pid."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import modelyard as my
from modelyard.errors import InvalidRequest, NotFound
from tests.support import Load, RunningServer, inference_model, wait_for

SLEEPY = """\
import os
import time


def model_fn(model_dir):
    return None


def predict_fn(data, model):
    time.sleep(float(data[0][0]))
    return [os.getpid()] * len(data)
"""


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def model(session: my.Session, tmp_path_factory: pytest.TempPathFactory) -> str:
    return inference_model(session, tmp_path_factory.mktemp("sleepy"), SLEEPY)


def in_service(session: my.Session, endpoint: str) -> int:
    return sum(
        1 for i in session.describe_endpoint(endpoint)["instances"] if i["status"] == "InService"
    )


def invoke(server: RunningServer, endpoint: str, body: str = "0") -> httpx.Response:
    return httpx.post(
        f"{server.url}/endpoints/{endpoint}/invocations",
        content=body,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "text/csv"},
        timeout=120,
    )


def test_a_variant_scales_out_under_load_and_back_in(
    server: RunningServer, session: my.Session, model: str
) -> None:
    session.endpoint_from_production_variants("scaled-out", [my.production_variant(model)])
    description = session.put_scaling_policy(
        "scaled-out", max_capacity=3, target_value=1, scale_in_cooldown=1
    )
    assert description["production_variants"][0]["scaling_policy"]["max_capacity"] == 3
    with Load(server, "scaled-out", threads=6, body="0.3") as load:
        wait_for(lambda: in_service(session, "scaled-out") == 3)  # 6 in flight, 1 per instance
        seen = len(load.answers)
        wait_for(lambda: len(load.answers) > seen + 12)
    assert Counter(status for status, _ in load.answers) == {200: len(load.answers)}
    assert len({pid for _, pid in load.answers[seen:]}) == 3  # the new instances serve
    # Idle, it comes back to its minimum (draining, so nothing is cut).
    wait_for(lambda: len(session.describe_endpoint("scaled-out")["instances"]) == 1)
    assert invoke(server, "scaled-out").status_code == 200
    session.delete_endpoint("scaled-out")


def test_scale_to_zero_and_the_next_request_is_answered(
    server: RunningServer, session: my.Session, model: str
) -> None:
    session.endpoint_from_production_variants("sleeper", [my.production_variant(model)])
    session.put_scaling_policy(
        "sleeper", min_capacity=0, max_capacity=1, target_value=1, scale_to_zero_after_seconds=1
    )
    wait_for(lambda: session.describe_endpoint("sleeper")["instances"] == [])
    variant = session.describe_endpoint("sleeper")["production_variants"][0]
    assert variant["current_instance_count"] == 0 and variant["desired_instance_count"] == 0
    answer = invoke(server, "sleeper")  # waits while an instance starts: no 5xx
    assert answer.status_code == 200, answer.text
    (instance,) = session.describe_endpoint("sleeper")["instances"]
    assert instance["pid"] == int(answer.json()[0]) and instance["model_setup_seconds"] > 0
    session.delete_endpoint("sleeper")


HUNGRY = """\
import time


def model_fn(model_dir):
    return []


def predict_fn(data, model):
    if data[0][0] > 0:  # hold that many MB until the server is stopped for it
        model.append(b"x" * int(data[0][0] * 2**20))
        while True:
            time.sleep(0.05)
    return [0.0] * len(data)
"""


def test_a_serverless_instance_over_its_memory_size_is_stopped_and_says_why(
    server: RunningServer, session: my.Session, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hungry = inference_model(session, tmp_path_factory.mktemp("hungry"), HUNGRY)
    variant = my.production_variant(hungry)
    variant["serverless_config"] = {"memory_size_in_mb": 1024, "max_concurrency": 2}
    session.endpoint_from_production_variants("hungry", [variant])
    assert invoke(server, "hungry").status_code == 200  # small: served
    over = invoke(server, "hungry", "1500")  # the only way this answers is the stop
    assert over.status_code >= 500, over.text
    wait_for(
        lambda: any(
            "MemorySizeInMB of 1024 MB" in (i.get("last_error") or "")
            for i in session.describe_endpoint("hungry")["instances"]
        )
    )
    assert invoke(server, "hungry").status_code == 200  # restarted, and serving again
    session.delete_endpoint("hungry")


def test_a_serverless_variant_starts_on_demand_and_caps_concurrency(
    server: RunningServer, session: my.Session, model: str
) -> None:
    variant = my.production_variant(model)
    variant["serverless_config"] = {"memory_size_in_mb": 2048, "max_concurrency": 2}
    session.endpoint_from_production_variants("serverless", [variant])
    description = session.describe_endpoint("serverless")
    assert description["status"] == "InService" and description["instances"] == []
    assert invoke(server, "serverless").status_code == 200  # the cold start

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: invoke(server, "serverless", "0.5"), range(6)))
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) == {200, 429} and statuses[200] >= 2, statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert "MaxConcurrency of 2" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "1"
    session.delete_endpoint("serverless")


def test_scaling_policies_are_validated(
    server: RunningServer, session: my.Session, model: str, tmp_path: Path
) -> None:
    session.endpoint_from_production_variants("policed", [my.production_variant(model)])
    with pytest.raises(InvalidRequest, match="min_capacity 3 is above max_capacity 2"):
        session.put_scaling_policy("policed", min_capacity=3, max_capacity=2, target_value=1)
    with pytest.raises(InvalidRequest, match="target_value"):
        session.put_scaling_policy("policed", max_capacity=2, target_value=0)
    with pytest.raises(NotFound, match="no variant 'nope'; its variants: AllTraffic"):
        session.put_scaling_policy("policed", "nope", max_capacity=2, target_value=1)
    bad = server.cli("endpoints", "autoscale", "policed", "--max", "2", check=False)
    assert bad.returncode == 1 and "--target" in bad.stderr and "Traceback" not in bad.stderr
    assert session.describe_endpoint("policed")["production_variants"][0]["scaling_policy"] is None
    result = server.cli("endpoints", "autoscale", "policed", "--max", "2", "--target", "4")
    assert "1..2 instances" in result.stdout
    assert session.describe_endpoint("policed")["production_variants"][0]["scaling_policy"]
    server.cli("endpoints", "autoscale", "policed", "--off")
    assert session.describe_endpoint("policed")["production_variants"][0]["scaling_policy"] is None
    session.delete_endpoint("policed")
