"""Routing on a real server: variants and weights, target variants, live weight and capacity
changes, least-busy instances, a stuck instance, overload and slow models.

Every model here answers each row with the pid of the instance that served it (after sleeping
the row's first value in seconds), so a test can count who served what."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

import modelyard as my
from modelyard.errors import Conflict, InvalidRequest
from tests.support import RunningServer, free_port, inference_model, wait_for

INFERENCE = """\
import os
import time


def model_fn(model_dir):
    return None


def predict_fn(data, model):
    time.sleep(float(data[0][0]))
    return [os.getpid()] * len(data)
"""


def pid_model(session: my.Session, directory: Path) -> str:
    """Register the pid-answering model; returns its name."""
    return inference_model(session, directory, INFERENCE)


def invoke(server: RunningServer, endpoint: str, body: str = "0", **headers: str) -> Any:
    return httpx.post(
        f"{server.url}/endpoints/{endpoint}/invocations",
        content=body,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "text/csv", **headers},
        timeout=60,
    )


def served(server: RunningServer, endpoint: str, requests: int, **headers: str) -> Counter:
    """(variant, pid) of each answer, counted; every answer must be a 200."""
    counts: Counter[tuple[str, int]] = Counter()
    for _ in range(requests):
        response = invoke(server, endpoint, **headers)
        assert response.status_code == 200, response.text
        pid = int(response.json()[0])
        counts[(response.headers["x-amzn-invoked-production-variant"], pid)] += 1
    return counts


def pids_by_variant(session: my.Session, endpoint: str) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for instance in session.describe_endpoint(endpoint)["instances"]:
        found.setdefault(instance["variant_name"], set()).add(instance["pid"])
    return found


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def model_name(session: my.Session, tmp_path_factory: pytest.TempPathFactory) -> str:
    return pid_model(session, tmp_path_factory.mktemp("pid-model"))


def test_variants_split_by_weight_and_change_live(
    server: RunningServer, session: my.Session, model_name: str
) -> None:
    session.endpoint_from_production_variants(
        "ab-endpoint",
        [
            my.production_variant(model_name, variant_name="a", initial_weight=1),
            my.production_variant(model_name, variant_name="b", initial_weight=1),
        ],
    )
    pids = pids_by_variant(session, "ab-endpoint")
    assert set(pids) == {"a", "b"} and pids["a"].isdisjoint(pids["b"])

    counts = served(server, "ab-endpoint", 60)
    assert {variant for variant, _ in counts} == {"a", "b"}, counts  # both weights take traffic
    for variant, pid in counts:
        assert pid in pids[variant]  # the header names the variant that really answered

    # A target variant (SageMaker's header, the SDK's argument) always goes there.
    assert set(served(server, "ab-endpoint", 10, **{"X-Amzn-SageMaker-Target-Variant": "b"})) <= {
        ("b", pid) for pid in pids["b"]
    }
    predictor = my.Predictor("ab-endpoint", session=session)
    assert {int(predictor.predict([[0]], target_variant="a")[0]) for _ in range(5)} <= pids["a"]
    wrong = invoke(server, "ab-endpoint", **{"X-Amzn-SageMaker-Target-Variant": "c"})
    assert wrong.status_code == 400 and "a, b" in wrong.json()["error"]["message"]

    # Weight 0: no traffic; and a second instance for b, added live.
    description = session.update_endpoint_weights_and_capacities(
        "ab-endpoint",
        [
            {"VariantName": "a", "DesiredWeight": 0},
            {"VariantName": "b", "DesiredInstanceCount": 2},
        ],
    )
    summary = {v["variant_name"]: v for v in description["production_variants"]}
    assert summary["a"]["current_weight"] == 0 and summary["b"]["current_instance_count"] == 2
    pids = pids_by_variant(session, "ab-endpoint")
    assert len(pids["b"]) == 2
    counts = served(server, "ab-endpoint", 30)
    assert {variant for variant, _ in counts} == {"b"}, counts
    assert {pid for _, pid in counts} == pids["b"], counts  # the new instance serves too

    # Back down to one instance of b, from the CLI: the removed process ends.
    result = server.cli("endpoints", "update-weights", "ab-endpoint", "--variant", "b=1:1")
    assert "b" in result.stdout
    remaining = pids_by_variant(session, "ab-endpoint")["b"]
    assert len(remaining) == 1
    (removed,) = pids["b"] - remaining
    assert not psutil.pid_exists(removed) or psutil.Process(removed).status() == "zombie"
    assert {pid for _, pid in served(server, "ab-endpoint", 10)} == remaining


def test_weight_and_capacity_updates_are_validated(
    server: RunningServer, session: my.Session, model_name: str
) -> None:
    with pytest.raises(InvalidRequest, match="no variant 'zz'; its variants: a, b"):
        session.update_endpoint_weights_and_capacities(
            "ab-endpoint", [{"VariantName": "zz", "DesiredWeight": 1}]
        )
    with pytest.raises(InvalidRequest, match="at least one variant needs a weight"):
        session.update_endpoint_weights_and_capacities(
            "ab-endpoint",
            [{"VariantName": "a", "DesiredWeight": 0}, {"VariantName": "b", "DesiredWeight": 0}],
        )
    with pytest.raises(InvalidRequest, match="desired_instance_count"):
        session.update_endpoint_weights_and_capacities(
            "ab-endpoint", [{"VariantName": "a", "DesiredInstanceCount": 0}]
        )
    bad = server.cli("endpoints", "update-weights", "ab-endpoint", "--variant", "b", check=False)
    assert bad.returncode == 1 and "VARIANT=WEIGHT" in bad.stderr and "Traceback" not in bad.stderr
    # Nothing was changed by the refused requests.
    summary = {
        v["variant_name"]: v
        for v in session.describe_endpoint("ab-endpoint")["production_variants"]
    }
    assert summary["a"]["current_weight"] == 0 and summary["b"]["current_weight"] == 1
    with pytest.raises(InvalidRequest, match="batching is for built-in algorithms"):
        session.client.post(
            "/api/v1/endpoint-configs",
            json={
                "name": "batched-code",
                "production_variants": [
                    {**my.production_variant(model_name), "batching": {"max_batch_size": 8}}
                ],
            },
        )
    with pytest.raises(InvalidRequest, match="unique"):
        session.client.post(
            "/api/v1/endpoint-configs",
            json={
                "name": "twice",
                "production_variants": [
                    my.production_variant("x", variant_name="v"),
                    my.production_variant("x", variant_name="v"),
                ],
            },
        )
    session.delete_endpoint("ab-endpoint")
    with pytest.raises(Conflict, match="only while it is InService"):
        session.update_endpoint_weights_and_capacities(
            "ab-endpoint", [{"VariantName": "a", "DesiredWeight": 1}]
        )
    session.wait_for_endpoint_deleted("ab-endpoint")


@pytest.fixture(scope="module")
def three(session: my.Session, model_name: str) -> Iterator[str]:
    session.endpoint_from_production_variants(
        "three", [my.production_variant(model_name, initial_instance_count=3)]
    )
    yield "three"
    session.delete_endpoint("three")


def test_concurrent_requests_reach_every_instance(
    server: RunningServer, session: my.Session, three: str
) -> None:
    pids = pids_by_variant(session, three)["AllTraffic"]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: invoke(server, three, "0.2"), range(18)))
    assert [a.status_code for a in answers] == [200] * 18
    counts = Counter(int(a.json()[0]) for a in answers)
    assert set(counts) == pids, counts  # the least busy instance is always chosen
    # The answer has a length, not a chunked body.
    assert answers[0].headers["content-length"] == str(len(answers[0].content))
    assert "transfer-encoding" not in answers[0].headers


def scrape(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    with server.http() as http:
        text = http.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_live_traffic_shows_in_the_description_and_in_metrics(
    server: RunningServer, session: my.Session, three: str
) -> None:
    before = scrape(server)
    ok = ("modelyard_invocations_total", (("code", "200"), ("endpoint", three),
          ("variant", "AllTraffic")))  # fmt: skip
    for _ in range(20):
        assert invoke(server, three).status_code == 200
    assert invoke(server, three, **{"X-Amzn-SageMaker-Target-Variant": "x"}).status_code == 400
    after = scrape(server)
    assert after[ok] - before.get(ok, 0) == 20
    assert after[("modelyard_invocations_total", (("code", "400"), ("endpoint", three),
                  ("variant", "")))] >= 1  # fmt: skip
    latency = ("modelyard_invocation_latency_seconds_count", (("endpoint", three),
               ("variant", "AllTraffic")))  # fmt: skip
    assert after[latency] - before.get(latency, 0) == 20
    assert after[("modelyard_endpoint_instances", (("endpoint", three), ("status", "InService"),
                  ("variant", "AllTraffic")))] == 3  # fmt: skip
    setups = ("modelyard_model_setup_seconds_count", (("endpoint", three),
              ("variant", "AllTraffic")))  # fmt: skip
    assert after[setups] >= 3
    with server.http() as http:
        assert "# TYPE modelyard_jobs gauge" in http.get("/metrics").text  # (jobs by status)

    description = session.describe_endpoint(three)
    traffic = description["production_variants"][0]["traffic"]
    assert traffic["invocations_per_second"] >= 20 / 60
    assert traffic["latency_p99_ms"] >= traffic["latency_p50_ms"] > 0
    assert all(i["model_setup_seconds"] > 0 for i in description["instances"])
    unauthorized = httpx.get(f"{server.url}/metrics")
    assert unauthorized.status_code == 401


def test_a_stuck_instance_is_taken_out_and_its_requests_answered_elsewhere(
    server: RunningServer, session: my.Session, three: str
) -> None:
    pids = sorted(pids_by_variant(session, three)["AllTraffic"])
    stuck = pids[0]
    os.kill(stuck, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: invoke(server, three), range(40)))
        assert [a.status_code for a in answers] == [200] * 40  # none lost, none hung
        assert stuck not in {int(a.json()[0]) for a in answers}
    finally:
        os.kill(stuck, signal.SIGCONT)
    # Answering its health checks again, it is back in rotation.
    wait_for(lambda: stuck in {pid for _, pid in served(server, three, 6)})


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(
        tmp_path_factory.mktemp("strict-home"),
        free_port(),
        extra_env={
            "MODELYARD_MAX_REQUESTS_PER_INSTANCE": "2",
            "MODELYARD_INVOCATION_TIMEOUT_SECONDS": "3",
        },
    ).start()
    yield server
    server.cleanup()


def test_overload_is_a_429_and_a_slow_model_a_504(
    strict_server: RunningServer, tmp_path: Path
) -> None:
    session = strict_server.session()
    name = pid_model(session, tmp_path)
    session.endpoint_from_production_variants("strict", [my.production_variant(name)])
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: invoke(strict_server, "strict", "0.3"), range(8)))
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) == {200, 429} and statuses[200] >= 2, statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert "requests in flight" in refused.json()["error"]["message"]

    slow = invoke(strict_server, "strict", "5")
    assert slow.status_code == 504, slow.text
    assert "did not answer within 3s" in slow.json()["error"]["message"]
