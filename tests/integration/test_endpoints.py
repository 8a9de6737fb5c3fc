"""Real-time endpoints on a real server: deploy, predict in every format, bad input, crashes."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost

import modelyard as my
from modelyard.errors import InvalidRequest, NotFound
from modelyard.sdk.deserializers import CSVDeserializer, JSONLinesDeserializer, NumpyDeserializer
from modelyard.sdk.serializers import JSONSerializer, NumpySerializer
from tests.support import RunningServer, wait_for


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def trained(session: my.Session, breast_cancer_csvs: dict[str, Path]) -> my.Estimator:
    uris = {
        name: session.upload_data(path, key_prefix=f"endpoints-test/{name}")
        for name, path in breast_cancer_csvs.items()
        if name != "test"
    }
    estimator = my.Estimator(
        algorithm="xgboost",
        session=session,
        hyperparameters={"objective": "binary:logistic", "num_round": 20, "max_depth": 3},
    )
    estimator.fit(
        {"train": uris["train"], "validation": uris["validation"]},
        job_name="endpoint-model",
        logs=False,
    )
    return estimator


@pytest.fixture(scope="module")
def local_booster(server: RunningServer) -> xgboost.Booster:
    path = server.home / "jobs" / "endpoint-model" / "model" / "xgboost-model"
    booster = xgboost.Booster()
    booster.load_model(bytearray(path.read_bytes()))
    return booster


@pytest.fixture(scope="module")
def predictor(trained: my.Estimator) -> Any:
    predictor = trained.deploy(initial_instance_count=2, endpoint_name="main-endpoint")
    yield predictor
    try:
        predictor.delete_endpoint()
    except NotFound:
        pass


def scores(answer: dict[str, Any]) -> np.ndarray:
    return np.array([p["score"] for p in answer["predictions"]])


def test_deploy_reaches_in_service_with_all_instances(predictor: Any) -> None:
    description = predictor.describe()
    assert description["status"] == "InService"
    assert [i["status"] for i in description["instances"]] == ["InService", "InService"]
    assert description["url"].endswith("/endpoints/main-endpoint/invocations")


def test_predictions_equal_the_library_in_process(
    predictor: Any, test_rows: np.ndarray, local_booster: xgboost.Booster
) -> None:
    features = test_rows[:, 1:]
    expected = local_booster.inplace_predict(features.astype(np.float32))
    assert np.allclose(scores(predictor.predict(features)), expected, atol=1e-6)
    assert np.allclose(scores(predictor.predict(pd.DataFrame(features))), expected, atol=1e-6)
    assert np.allclose(scores(predictor.predict(features[0].tolist())), expected[:1], atol=1e-6)
    csv_text = "\n".join(",".join(str(float(v)) for v in row) for row in features[:3])
    assert np.allclose(scores(predictor.predict(csv_text)), expected[:3], atol=1e-6)


def test_batched_concurrent_requests_each_get_their_own_rows_answer(
    session: my.Session,
    trained: my.Estimator,
    test_rows: np.ndarray,
    local_booster: xgboost.Booster,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = trained.create_model().create()
    variant = my.production_variant(model)
    variant["batching"] = {"max_batch_size": 16, "max_wait_ms": 5}
    session.endpoint_from_production_variants("batched", [variant])
    predictor = my.Predictor("batched", session=session)
    features = test_rows[:48, 1:]
    expected = local_booster.inplace_predict(features.astype(np.float32))
    # Concurrent requests of 1 to 3 rows: batched together, each must get its rows' scores.
    chunks = [features[i : i + 1 + i % 3] for i in range(0, 45, 3)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda rows: scores(predictor.predict(rows)), chunks))
    for start, answer, rows in zip(range(0, 45, 3), answers, chunks, strict=True):
        assert np.allclose(answer, expected[start : start + len(rows)], atol=1e-6)
    with pytest.raises(InvalidRequest, match="features"):  # checked before it joins a batch
        predictor.predict([1.0, 2.0])
    predictor.delete_endpoint()


def test_every_content_type_both_ways(
    predictor: Any, test_rows: np.ndarray, local_booster: xgboost.Booster
) -> None:
    features = test_rows[:5, 1:]
    expected = local_booster.inplace_predict(features.astype(np.float32))
    as_json = my.Predictor(
        predictor.endpoint_name, session=predictor.session, serializer=JSONSerializer()
    )
    assert np.allclose(scores(as_json.predict(features.tolist())), expected, atol=1e-6)
    as_npy = my.Predictor(
        predictor.endpoint_name,
        session=predictor.session,
        serializer=NumpySerializer(),
        deserializer=NumpyDeserializer(),
    )
    assert np.allclose(as_npy.predict(features), expected, atol=1e-6)
    as_csv = my.Predictor(
        predictor.endpoint_name, session=predictor.session, deserializer=CSVDeserializer()
    )
    assert np.allclose(np.array(as_csv.predict(features), dtype=float).ravel(), expected, atol=1e-6)
    as_lines = my.Predictor(
        predictor.endpoint_name, session=predictor.session, deserializer=JSONLinesDeserializer()
    )
    assert np.allclose([r["score"] for r in as_lines.predict(features)], expected, atol=1e-6)


def test_bad_requests_are_4xx_and_the_endpoint_keeps_serving(
    server: RunningServer, predictor: Any, test_rows: np.ndarray
) -> None:
    path = f"/endpoints/{predictor.endpoint_name}/invocations"
    row = ",".join(str(v) for v in test_rows[0, 1:])
    with server.http() as http:
        cases = [
            (b"1,2,abc", "text/csv", "application/json", 400, "abc"),
            (row.rsplit(",", 1)[0].encode(), "text/csv", "application/json", 400, "29"),
            (b"{bad json", "application/json", "application/json", 400, "JSON"),
            (row.encode(), "image/png", "application/json", 415, "text/csv"),
            (row.encode(), "text/csv", "image/png", 406, "application/json"),
        ]
        for body, content_type, accept, status, words in cases:
            response = http.post(
                path, content=body, headers={"Content-Type": content_type, "Accept": accept}
            )
            assert response.status_code == status, (body, response.text)
            error = response.json()["error"]
            assert words in error["message"], (words, error)
        good = http.post(path, content=row.encode(), headers={"Content-Type": "text/csv"})
        assert good.status_code == 200
    with pytest.raises(InvalidRequest, match="features"):
        predictor.predict([1.0, 2.0])


def test_invocations_need_a_token_and_a_known_endpoint(server: RunningServer) -> None:
    import httpx

    response = httpx.post(f"{server.url}/endpoints/main-endpoint/invocations", content=b"1")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Unauthorized"
    with server.http() as http:
        missing = http.post("/endpoints/no-such-endpoint/invocations", content=b"1")
        assert missing.status_code == 404
        assert "no-such-endpoint" in missing.json()["error"]["message"]


def read_answers(stream: Any, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """count HTTP/1.1 answers, in order, from a socket's file (Content-Length bodies)."""
    answers = []
    for _ in range(count):
        status = int(stream.readline().split()[1])
        while status == 100:  # an interim 100 Continue: its blank line, then the answer
            stream.readline()
            status = int(stream.readline().split()[1])
        headers = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        answers.append((status, headers, stream.read(int(headers["content-length"]))))
    return answers


def test_raw_http_on_one_connection(
    server: RunningServer, predictor: Any, test_rows: np.ndarray
) -> None:
    """What clients do on a keep-alive connection, byte by byte: a refused request whose body
    must be skipped, pipelined requests answered in order (one of them an API call), an
    Expect: 100-continue, HTTP/1.0 and Connection: close."""
    row = ",".join(str(v) for v in test_rows[0, 1:]).encode()
    path = f"/endpoints/{predictor.endpoint_name}/invocations".encode()

    def invocation(token: str, body: bytes, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
        return (
            b"POST " + path + b" HTTP/" + version + b"\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Authorization: Bearer "
            + token.encode()
            + b"\r\n"
            + extra
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    api = (
        b"GET /api/v1/endpoints/" + predictor.endpoint_name.encode() + b" HTTP/1.1\r\n"
        b"Host: x\r\nAuthorization: Bearer " + server.token.encode() + b"\r\n\r\n"
    )
    expected = float(predictor.predict(test_rows[:1, 1:])["predictions"][0]["score"])
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        stream = sock.makefile("rb")
        sock.sendall(invocation("wrong", b"9," * 5000))
        sock.sendall(invocation(server.token, row) + api + invocation(server.token, row))
        refused, first, described, second = read_answers(stream, 4)
        assert refused[0] == 401 and b"invalid API token" in refused[2]
        for status, headers, body in (first, second):
            assert status == 200, body
            assert headers["x-amzn-invoked-production-variant"] == "AllTraffic"
            assert abs(float(body.split(b",")[0]) - expected) < 1e-6, body
        assert described[0] == 200 and json.loads(described[2])["status"] == "InService"
        sock.sendall(invocation(server.token, row, b"Expect: 100-continue\r\n"))
        assert read_answers(stream, 1)[0][0] == 200
        sock.sendall(invocation(server.token, row, b"Connection: close\r\n"))
        ((status, headers, _),) = read_answers(stream, 1)
        assert status == 200 and headers["connection"] == "close"
        assert stream.read() == b""  # closed by the server
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(invocation(server.token, row, version=b"1.0"))
        ((status, _, body),) = read_answers(sock.makefile("rb"), 1)
        assert status == 200 and abs(float(body.split(b",")[0]) - expected) < 1e-6


def pid_model(session: my.Session, directory: Path) -> my.Model:
    """A model whose every prediction is the pid of the instance that made it."""
    code = directory / "artifact" / "code"
    code.mkdir(parents=True)
    (code / "inference.py").write_text(
        "import os\n\n\n"
        "def model_fn(model_dir):\n"
        "    return None\n\n\n"
        "def predict_fn(data, model):\n"
        "    return [os.getpid()] * len(data)\n"
    )
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory / "artifact", arcname=".")
    model_data = session.upload_data(archive, key_prefix="pid-model")
    return my.Model(model_data, framework="python", session=session)


@pytest.fixture(scope="module")
def pid_predictor(session: my.Session, tmp_path_factory: pytest.TempPathFactory) -> Any:
    predictor = pid_model(session, tmp_path_factory.mktemp("pid-model")).deploy(
        initial_instance_count=2, endpoint_name="pid-endpoint"
    )
    yield predictor
    predictor.delete_endpoint()


def served_by(predictor: Any, requests: int) -> Counter[int]:
    """How many of `requests` predictions each instance (by pid) answered."""
    return Counter(int(predictor.predict([[0.0]])[0]) for _ in range(requests))


def instance_pids(predictor: Any) -> list[int]:
    return [i["pid"] for i in predictor.describe()["instances"]]


def test_requests_are_balanced_across_instances(pid_predictor: Any) -> None:
    pids = instance_pids(pid_predictor)
    assert len(set(pids)) == 2
    counts = served_by(pid_predictor, 40)
    assert set(counts) <= set(pids)  # the pid an instance reports is the one answering
    assert [counts[pid] >= 10 for pid in pids] == [True, True], counts  # round robin: 20 each


def test_a_crashed_instance_is_restarted_while_the_other_answers(pid_predictor: Any) -> None:
    victim, survivor = instance_pids(pid_predictor)
    os.kill(victim, signal.SIGKILL)
    # The other instance answers while the crashed one comes back.
    assert set(served_by(pid_predictor, 10)) <= {survivor}
    instances = wait_for(
        lambda: (
            (found := pid_predictor.describe()["instances"])[0]["restarts"] >= 1
            and found[0]["status"] == "InService"
            and found
        )
    )
    assert instances[0]["pid"] not in (victim, survivor)
    assert instances[1]["pid"] == survivor and instances[1]["restarts"] == 0
    assert set(served_by(pid_predictor, 10)) <= {instances[0]["pid"], survivor}


def test_model_deploy_from_model_data(
    session: my.Session,
    trained: my.Estimator,
    test_rows: np.ndarray,
    local_booster: xgboost.Booster,
) -> None:
    model = my.Model(
        trained.model_data, algorithm="xgboost", session=session, name="from-model-data"
    )
    predictor = model.deploy(endpoint_name="from-model-data-ep")
    try:
        expected = local_booster.inplace_predict(test_rows[:3, 1:].astype(np.float32))
        assert np.allclose(scores(predictor.predict(test_rows[:3, 1:])), expected, atol=1e-6)
    finally:
        predictor.delete_endpoint()
    with pytest.raises(NotFound):
        session.describe_endpoint("from-model-data-ep")


def test_a_model_that_cannot_load_fails_the_endpoint(session: my.Session) -> None:
    data = session.upload_string_as_file_body(
        "not a tarball", session.default_bucket(), "broken/model.tar.gz"
    )
    model = my.Model(data, algorithm="xgboost", session=session, name="broken-model")
    with pytest.raises(my.errors.ModelyardError, match="failed") as caught:  # type: ignore[attr-defined]
        model.deploy(endpoint_name="broken-endpoint")
    assert "broken-endpoint" in str(caught.value)
    assert session.describe_endpoint("broken-endpoint")["status"] == "Failed"
    session.delete_endpoint("broken-endpoint")


def test_model_requests_are_validated(server: RunningServer) -> None:
    with server.http() as http:
        response = http.post(
            "/api/v1/models",
            json={
                "name": "m1",
                "model_data": "s3://modelyard-default/none.tar.gz",
                "algorithm": "xgboost",
            },
        )
        assert response.status_code == 400 and "nothing stored" in response.text
        response = http.post(
            "/api/v1/endpoint-configs",
            json={"name": "c1", "production_variants": [{"model_name": "nope"}]},
        )
        assert response.status_code == 400 and "'nope' does not exist" in response.text
        response = http.post(
            "/api/v1/endpoint-configs",
            json={
                "name": "c1",
                "production_variants": [{"model_name": "nope", "initial_instance_count": 0}],
            },
        )
        assert response.status_code == 400 and "initial_instance_count" in response.text
        response = http.post(
            "/api/v1/endpoints", json={"name": "e1", "endpoint_config_name": "nope"}
        )
        assert response.status_code == 400 and "does not exist" in response.text


def test_cli_endpoints_and_models(
    server: RunningServer, predictor: Any, test_rows: np.ndarray
) -> None:
    listing = server.cli("endpoints", "list").stdout
    assert "main-endpoint" in listing and "InService" in listing
    described = json.loads(server.cli("endpoints", "describe", "main-endpoint").stdout)
    assert described["status"] == "InService"
    row = ",".join(str(v) for v in test_rows[0, 1:])
    answer = json.loads(server.cli("endpoints", "invoke", "main-endpoint", "--body", row).stdout)
    assert len(answer["predictions"]) == 1
    csv_answer = server.cli(
        "endpoints", "invoke", "main-endpoint", "--body", row, "--accept", "text/csv"
    ).stdout
    assert float(csv_answer.strip()) == pytest.approx(answer["predictions"][0]["score"])
    bad = server.cli("endpoints", "invoke", "main-endpoint", "--body", "1,2", check=False)
    assert bad.returncode == 1 and "features" in bad.stderr and "Traceback" not in bad.stderr
    assert "endpoint-model" in server.cli("models", "list").stdout


def test_npy_body_round_trip_through_http(
    server: RunningServer, predictor: Any, test_rows: np.ndarray
) -> None:
    buffer = io.BytesIO()
    np.save(buffer, test_rows[:4, 1:])
    with server.http() as http:
        response = http.post(
            f"/endpoints/{predictor.endpoint_name}/invocations",
            content=buffer.getvalue(),
            headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"},
        )
    assert response.status_code == 200
    assert np.load(io.BytesIO(response.content)).shape == (4,)
