"""Asynchronous inference on a real server: answers and failures in the store, a webhook,
request checks, expiry, and a queue that survives kill -9 of the server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

import modelyard as my
from modelyard.errors import InvalidRequest, NotFound
from tests.support import RunningServer, free_port, inference_model_of, wait_for

ECHO = """\
import os
import time


def model_fn(model_dir):
    return None


def predict_fn(data, model):
    if float(data[0][0]) < 0:
        raise ValueError("negative input")
    time.sleep(float(data[0][0]))
    return [[float(row[0]) * 2, os.getpid()] for row in data]
"""


class Hook:
    """A local webhook receiver: every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers["content-length"])
                calls.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/done"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.close()


def async_endpoint(
    session: my.Session, directory: Path, name: str, per_instance: int = 4, hook: Hook | None = None
) -> my.AsyncPredictor:
    return inference_model_of(session, directory, ECHO).deploy(
        endpoint_name=name,
        async_inference_config=my.AsyncInferenceConfig(
            output_path=f"s3://{session.default_bucket()}/async/{name}/out",
            failure_path=f"s3://{session.default_bucket()}/async/{name}/failed",
            max_concurrent_invocations_per_instance=per_instance,
            notification_config={"webhook_url": hook.url} if hook else None,
        ),
    )


@pytest.fixture(scope="module")
def predictor(
    server: RunningServer, hook: Hook, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[my.AsyncPredictor]:
    session = server.session()
    predictor = async_endpoint(session, tmp_path_factory.mktemp("echo"), "echo", hook=hook)
    yield predictor
    predictor.delete_endpoint()


def test_answers_and_failures_land_in_the_store_and_the_webhook_hears(
    predictor: my.AsyncPredictor, hook: Hook
) -> None:
    response = predictor.predict_async([[1.5]], inference_id="first")
    assert response.output_path.endswith("/async/echo/out/first.out")
    answer = response.get_result(my.WaiterConfig(max_attempts=200, delay=0.1))
    assert answer[0][0] == 3.0
    assert predictor.predict([[2.0]])[0][0] == 4.0  # predict = queue + wait

    failing = predictor.predict_async([[-1]], inference_id="bad")
    with pytest.raises(my.errors.ModelyardError, match="negative input"):
        failing.get_result(my.WaiterConfig(max_attempts=200, delay=0.1))
    assert failing.failure_path.endswith("/async/echo/failed/bad-error.out")
    described = predictor.session.client.get("/api/v1/endpoints/echo/async-invocations/bad")
    assert described["status"] == "Failed" and "answered 500" in described["failure_reason"]

    wait_for(lambda: {c["inference_id"] for c in hook.calls} >= {"first", "bad"})
    by_id = {c["inference_id"]: c for c in hook.calls}
    assert by_id["first"]["status"] == "Completed"
    assert by_id["first"]["output_location"] == response.output_path
    assert by_id["bad"]["status"] == "Failed" and "negative input" in by_id["bad"]["failure_reason"]


def test_bad_async_requests_say_what_is_wrong(
    server: RunningServer, predictor: my.AsyncPredictor
) -> None:
    session = predictor.session
    with pytest.raises(InvalidRequest, match="X-Amzn-SageMaker-InputLocation"):
        session.client.request("POST", "/endpoints/echo/async-invocations")
    with pytest.raises(InvalidRequest, match="does not exist; upload it first"):
        predictor.predict_async(input_path=f"s3://{session.default_bucket()}/no/such/object")
    with pytest.raises(InvalidRequest, match="RequestTTLSeconds must be a whole number"):
        predictor.predict_async([[1]], initial_args={"RequestTTLSeconds": "0"})
    with pytest.raises(NotFound, match="'ghost' does not exist"):
        session.client.request(
            "POST",
            "/endpoints/ghost/async-invocations",
            headers={"X-Amzn-SageMaker-InputLocation": "s3://b/k"},
        )
    predictor.predict_async([[0]], inference_id="dup").get_result(
        my.WaiterConfig(max_attempts=200, delay=0.1)
    )
    with pytest.raises(my.errors.Conflict, match="already has a request 'dup'"):
        predictor.predict_async([[0]], inference_id="dup")


def test_a_request_past_its_ttl_expires(predictor: my.AsyncPredictor) -> None:
    session = predictor.session
    blockers = [predictor.predict_async([[2]]) for _ in range(4)]  # fill the instance
    late = predictor.predict_async([[0]], initial_args={"RequestTTLSeconds": "1"})
    with pytest.raises(my.errors.ModelyardError, match="RequestTTLSeconds passed"):
        late.get_result(my.WaiterConfig(max_attempts=200, delay=0.1))
    described = session.client.get(f"/api/v1/endpoints/echo/async-invocations/{late.inference_id}")
    assert described["status"] == "Expired"
    for blocker in blockers:
        assert blocker.get_result(my.WaiterConfig(max_attempts=200, delay=0.1))[0][0] == 4.0


def test_the_queue_survives_kill_9_of_the_server(
    fresh_server: RunningServer, tmp_path: Path
) -> None:
    session = fresh_server.session()
    predictor = async_endpoint(session, tmp_path, "durable", per_instance=1)
    queued = [predictor.predict_async([[0.5]], inference_id=f"r{i}") for i in range(6)]
    fresh_server.kill9()  # some answered, one in flight, the rest queued
    fresh_server.start()
    for number, response in enumerate(queued):
        assert response.get_result(my.WaiterConfig(max_attempts=600, delay=0.1))[0][0] == 1.0, (
            number
        )
    statuses = {
        session.client.get(f"/api/v1/endpoints/durable/async-invocations/r{i}")["status"]
        for i in range(6)
    }
    assert statuses == {"Completed"}
