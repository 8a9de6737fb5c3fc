"""The model server as a real process: train a tiny xgboost model, pack it, serve it, drive it.

The server is `python -m modelyard.runtime.serving` on a free port; predictions must equal the
booster's own, for every request and response format, and bad requests must not hurt it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard.algorithms.base import TrainingContext
from modelyard.algorithms.registry import get_algorithm

xgb = pytest.importorskip("xgboost")
datasets = pytest.importorskip("sklearn.datasets")

NUM_FEATURES = 30  # breast cancer


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _csv(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode() + b"\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """Train through the registry's xgboost; returns (model.tar.gz, test features)."""
    X, y = datasets.load_breast_cancer(return_X_y=True)
    X = X.astype(np.float32)
    work = tmp_path_factory.mktemp("train")
    train_dir = work / "input" / "data" / "train"
    train_dir.mkdir(parents=True)
    np.savetxt(train_dir / "train.csv", np.column_stack([y, X]), delimiter=",", fmt="%.9g")
    algorithm = get_algorithm("xgboost")
    hps = algorithm.validate({"num_round": "20", "objective": "binary:logistic", "max_depth": "3"})
    ctx = TrainingContext(
        work_dir=work,
        hyperparameters=hps,
        channels={"train": train_dir},
        content_types={"train": "text/csv"},
        report_metric=lambda name, value, step=None: None,
        log=lambda line: None,
    )
    ctx.model_dir.mkdir(parents=True, exist_ok=True)
    algorithm.train(ctx)
    assert (ctx.model_dir / "xgboost-model").is_file()
    archive = work / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(ctx.model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive, X


@pytest.fixture(scope="module")
def booster(trained: tuple[Path, np.ndarray], tmp_path_factory: pytest.TempPathFactory):
    archive, _ = trained
    out = tmp_path_factory.mktemp("booster")
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    model = xgb.Booster()
    model.load_model(bytearray((out / "xgboost-model").read_bytes()))
    return model


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "modelyard.runtime.serving", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def server(
    trained: tuple[Path, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    archive, _ = trained
    work = tmp_path_factory.mktemp("serve")
    port = _free_port()
    proc = _start(
        [
            "--model-data",
            str(archive),
            "--algorithm",
            "xgboost",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--work-dir",
            str(work),
        ],
        work,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until ready (or the process dies)
        if not line:
            stderr = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"server exited {proc.wait(10)}: {stderr}")
        assert line.strip() == f"model server listening on {url} (algorithm xgboost)"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server never answered /ping"
            time.sleep(0.05)
        assert (work / "model" / "xgboost-model").is_file()
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture()
def client(server: tuple[subprocess.Popen[str], str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[1], timeout=30) as c:
        yield c


def expected_scores(booster, X: np.ndarray) -> np.ndarray:
    return booster.predict(xgb.DMatrix(X)).astype(np.float32)


def scores_of(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    kind = response.headers["content-type"].split(";")[0]
    if kind == "application/json":
        records = response.json()["predictions"]
        return np.array([r["score"] for r in records], dtype=np.float32)
    if kind == "application/jsonlines":
        lines = response.content.decode().splitlines()
        return np.array([json.loads(line)["score"] for line in lines], dtype=np.float32)
    if kind == "text/csv":
        return np.array([float(v) for v in response.text.split()], dtype=np.float32)
    assert kind == "application/x-npy"
    return np.load(io.BytesIO(response.content), allow_pickle=False).astype(np.float32)


def test_ping_and_execution_parameters(client: httpx.Client) -> None:
    ping = client.get("/ping")
    assert ping.status_code == 200 and ping.content == b""
    params = client.get("/execution-parameters")
    assert params.json() == {
        "MaxConcurrentTransforms": 1,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


REQUESTS = {
    "text/csv": _csv,
    "application/json": lambda rows: json.dumps(rows.tolist()).encode(),
    "application/jsonlines": lambda rows: b"".join(
        json.dumps({"features": row}).encode() + b"\n" for row in rows.tolist()
    ),
    "application/x-npy": _npy,
}


@pytest.mark.parametrize(
    "accept", ["application/json", "application/jsonlines", "text/csv", "application/x-npy"]
)
@pytest.mark.parametrize("content_type", list(REQUESTS))
def test_predictions_match_the_booster(
    client: httpx.Client,
    trained: tuple[Path, np.ndarray],
    booster,
    content_type: str,
    accept: str,
) -> None:
    X = trained[1][:25]
    response = client.post(
        "/invocations",
        content=REQUESTS[content_type](X),
        headers={"Content-Type": content_type, "Accept": accept},
    )
    assert response.headers["content-type"] == accept
    got = scores_of(response)
    np.testing.assert_allclose(got, expected_scores(booster, X), rtol=1e-6, atol=1e-7)


def test_single_row_csv_and_default_accept(client: httpx.Client, trained, booster) -> None:
    X = trained[1][:1]
    body = ",".join(repr(float(v)) for v in X[0])
    response = client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert response.headers["content-type"] == "text/csv"  # csv in, csv out by default
    np.testing.assert_allclose(scores_of(response), expected_scores(booster, X), rtol=1e-6)
    as_json = client.post(
        "/invocations",
        content=json.dumps({"instances": X.tolist()}),
        headers={"Content-Type": "application/json", "Accept": "*/*"},
    )
    assert as_json.headers["content-type"] == "application/json"
    np.testing.assert_allclose(scores_of(as_json), expected_scores(booster, X), rtol=1e-6)


def test_large_batch_goes_through_the_worker_thread(client: httpx.Client, trained, booster) -> None:
    import asyncio
    import threading

    from modelyard.algorithms.base import Prediction
    from modelyard.runtime.serving import INLINE_BYTES, create_app

    X = np.tile(trained[1], (4, 1))  # ~2300 rows, well over the inline threshold
    body = _csv(X)
    assert len(body) > INLINE_BYTES
    response = client.post(
        "/invocations",
        content=body,
        headers={"Content-Type": "text/csv", "Accept": "application/x-npy"},
    )
    np.testing.assert_allclose(scores_of(response), expected_scores(booster, X), rtol=1e-6)

    # Which thread predicts, seen in process: a small body on the event loop's, a large one not.
    predicted_on: list[int] = []

    class Recording:
        def num_features(self, model: object) -> int:
            return NUM_FEATURES

        def predict(self, model: object, features: np.ndarray) -> Prediction:
            predicted_on.append(threading.get_ident())
            total = features.sum(axis=1)
            return Prediction(records=[{"score": float(v)} for v in total], array=total)

    app = create_app(Recording(), None)

    async def drive() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            for content in (_csv(X[:1]), body):
                answer = await c.post(
                    "/invocations", content=content, headers={"Content-Type": "text/csv"}
                )
                assert answer.status_code == 200, answer.text
        return threading.get_ident()

    loop_thread = asyncio.run(drive())
    assert len(predicted_on) == 2
    assert predicted_on[0] == loop_thread
    assert predicted_on[1] != loop_thread


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_client_errors_and_the_server_keeps_serving(client: httpx.Client, trained, booster) -> None:
    row = [repr(float(v)) for v in trained[1][0]]
    bad = row.copy()
    bad[3] = "abc"
    err = _error(
        client.post("/invocations", content=",".join(bad), headers={"Content-Type": "text/csv"}),
        400,
    )
    assert err["message"] == "could not parse 'abc' as a number in row 1, column 4"

    err = _error(
        client.post(
            "/invocations", content=",".join(row[:-1]), headers={"Content-Type": "text/csv"}
        ),
        400,
    )
    assert err["message"] == "expected 30 features per row, got 29 (row 1)"

    err = _error(
        client.post("/invocations", content="{oops", headers={"Content-Type": "application/json"}),
        400,
    )
    assert err["message"].startswith("the request body is not valid JSON")

    err = _error(
        client.post(
            "/invocations",
            content=",".join(row),
            headers={"Content-Type": "text/csv", "Accept": "text/html"},
        ),
        406,
    )
    assert err["code"] == "NotAcceptable" and "accepted: application/json" in err["message"]

    err = _error(
        client.post("/invocations", content=",".join(row), headers={"Content-Type": "text/plain"}),
        415,
    )
    assert err["code"] == "UnsupportedMediaType"

    assert _error(client.get("/invocations"), 405)["code"] == "MethodNotAllowed"
    assert _error(client.get("/nowhere"), 404)["code"] == "NotFound"

    good = client.post("/invocations", content=",".join(row), headers={"Content-Type": "text/csv"})
    np.testing.assert_allclose(scores_of(good), expected_scores(booster, trained[1][:1]), rtol=1e-6)


def test_s3_model_data_body_limit_and_sigterm(
    trained: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """A second server, its model fetched from s3:// in a local object store, with a tiny body
    limit; SIGTERM ends it cleanly."""
    from modelyard.storage import open_store

    archive, X = trained
    store_dir = tmp_path / "objects"
    store = open_store(str(store_dir))
    store.create_bucket("models")
    store.upload_file(archive, "models", "jobs/xgb-1/output/model.tar.gz")
    work = tmp_path / "work"
    proc = _start(
        [
            "--model-data",
            "s3://models/jobs/xgb-1/output/model.tar.gz",
            "--storage-url",
            str(store_dir),
            "--algorithm",
            "xgboost",
            "--port",
            "0",
            "--work-dir",
            str(work),
            "--max-body-mb",
            "0.01",
        ],
        tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("model server listening on http://127.0.0.1:"), line + (
            proc.stderr.read() if proc.stderr else ""
        )
        url = line.split()[4]
        assert (work / "model" / "xgboost-model").is_file()
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.get("/ping").status_code == 200
            err = _error(
                c.post("/invocations", content=_csv(X[:100]), headers={"Content-Type": "text/csv"}),
                413,
            )
            assert err["code"] == "PayloadTooLarge"

            def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
                for row in X[:100]:
                    yield _csv(row[None, :])

            err = _error(
                c.post("/invocations", content=chunks(), headers={"Content-Type": "text/csv"}), 413
            )
            assert err["message"] == ("request body exceeds the limit of 10485 bytes (0.01 MiB)")
            assert (
                c.post(
                    "/invocations", content=_csv(X[:2]), headers={"Content-Type": "text/csv"}
                ).status_code
                == 200
            )
            # SIGTERM with an idle keep-alive connection still open: a quick, clean exit.
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(10)
        assert code == 0, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_load_failures_exit_nonzero(tmp_path: Path) -> None:
    missing = _start(
        [
            "--model-data",
            str(tmp_path / "nope.tar.gz"),
            "--algorithm",
            "xgboost",
            "--port",
            "0",
            "--work-dir",
            str(tmp_path / "w1"),
        ],
        tmp_path,
    )
    _, err = missing.communicate(timeout=60)
    assert missing.returncode == 1 and "does not exist" in err

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    unsafe = _start(
        [
            "--model-data",
            str(evil),
            "--algorithm",
            "xgboost",
            "--port",
            "0",
            "--work-dir",
            str(tmp_path / "w2"),
        ],
        tmp_path,
    )
    _, err = unsafe.communicate(timeout=60)
    assert unsafe.returncode == 1 and "unsafe member path '../escape.txt'" in err
    assert not (tmp_path / "escape.txt").exists()


def test_unexpected_predict_errors_answer_500_and_are_logged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In process, through the ASGI app: a model that raises gives 500, then serves again."""
    import asyncio

    from modelyard.algorithms.base import Prediction
    from modelyard.runtime.serving import create_app

    class Flaky:
        def num_features(self, model: object) -> int:
            return 2

        def predict(self, model: object, features: np.ndarray) -> Prediction:
            if features[0, 0] < 0:
                raise RuntimeError("negative!")
            total = features.sum(axis=1)
            return Prediction(records=[{"score": float(v)} for v in total], array=total)

    app = create_app(Flaky(), None)

    async def drive() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            bad = await c.post("/invocations", content="-1,2", headers={"Content-Type": "text/csv"})
            good = await c.post("/invocations", content="1,2", headers={"Content-Type": "text/csv"})
            return bad, good

    bad, good = asyncio.run(drive())
    err = _error(bad, 500)
    assert err == {
        "code": "InternalError",
        "message": "prediction failed: RuntimeError: negative!",
        "details": {},
    }
    assert "Traceback" in capsys.readouterr().err
    assert good.status_code == 200 and good.text == "3.0\n"


def test_model_data_directory_is_used_in_place(
    trained: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    from modelyard.runtime.serving import fetch_model, load_model

    archive, X = trained
    model_dir = tmp_path / "model-dir"
    with tarfile.open(archive) as tar:
        tar.extractall(model_dir, filter="data")
    assert fetch_model(str(model_dir), tmp_path / "work") == model_dir
    algorithm, model = load_model(str(model_dir), "xgboost", tmp_path / "work")
    assert algorithm.num_features(model) == NUM_FEATURES
    extracted = fetch_model(str(archive), tmp_path / "work2")
    assert extracted == tmp_path / "work2" / "model" and (extracted / "xgboost-model").is_file()
