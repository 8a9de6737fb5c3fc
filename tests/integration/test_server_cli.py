"""The server's life cycle from the CLI, and the SDK starting one by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import RunningServer, free_port


def client_env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update({"MODELYARD_HOME": str(home), "MODELYARD_PORT": str(port)})
    return env


def modelyard(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelyard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_start_status_stop_and_busy_port(tmp_path: Path) -> None:
    port = free_port()
    env = client_env(tmp_path / "home", port)
    started = modelyard(
        env, "server", "start", "--port", str(port), "--home", str(tmp_path / "home")
    )
    assert started.returncode == 0, started.stderr
    assert f"running at http://127.0.0.1:{port}" in started.stdout
    try:
        assert (tmp_path / "home" / "token").exists()
        status = modelyard(env, "server", "status")
        assert status.returncode == 0 and "running at" in status.stdout
        again = modelyard(env, "server", "start", "--port", str(port))
        assert again.returncode == 1
        assert "already running" in again.stderr and "Traceback" not in again.stderr
    finally:
        stopped = modelyard(env, "server", "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
    down = modelyard(env, "server", "status")
    assert down.returncode == 1 and "no modelyard server" in down.stderr
    not_running = modelyard(env, "server", "stop")
    assert not_running.returncode == 1 and "no modelyard server is running" in not_running.stderr


def test_start_on_a_port_another_program_holds(tmp_path: Path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = client_env(tmp_path / "home", port)
        result = modelyard(env, "server", "start", "--port", str(port))
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "in use by another program" in result.stderr


def test_session_starts_a_server_when_none_answers(tmp_path: Path) -> None:
    port = free_port()
    env = client_env(tmp_path / "home", port)
    script = "import modelyard as my; s = my.Session(); print(s.url); print(s.default_bucket())"
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    try:
        assert result.returncode == 0, result.stderr
        assert "Started a local modelyard server" in result.stderr
        assert result.stdout.split() == [f"http://127.0.0.1:{port}", "modelyard-default"]
        # a second Session finds the running server and starts nothing
        second = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 0 and "Started" not in second.stderr
    finally:
        modelyard(env, "server", "stop")


def test_session_with_an_explicit_url_does_not_start_a_server(tmp_path: Path) -> None:
    env = client_env(tmp_path / "home", free_port())
    env["MODELYARD_URL"] = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-c", "import modelyard as my; my.Session()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "ServerNotRunning" in result.stderr


def test_quickstart_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    env = client_env(tmp_path / "home", port)
    try:
        result = modelyard(env, "quickstart", timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        output = result.stdout
        accuracy = float(output.split("accuracy ")[-1].split()[0])
        assert accuracy > 0.9
        assert f"endpoint URL: http://127.0.0.1:{port}/endpoints/" in output
        assert "validation-logloss" in result.stderr  # the training log was streamed
        assert "deleted endpoint" in output
        token = (tmp_path / "home" / "token").read_text().strip()
        endpoints = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/endpoints",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert endpoints["items"] == []
    finally:
        modelyard(env, "server", "stop")


def test_server_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    server = RunningServer(
        tmp_path / "home", free_port(), extra_env={"MODELYARD_DATABASE_URL": postgres_url}
    ).start()
    try:
        with server.http() as http:
            info = http.get("/api/v1/info").json()
            assert info["database"].startswith("postgresql")
        session = server.session()
        uri = session.upload_string_as_file_body(
            "1,0.5\n0,0.1\n1,0.9\n0,0.2\n", session.default_bucket(), "pg/train.csv"
        )
        import modelyard as my

        estimator = my.Estimator(
            algorithm="xgboost", session=session, hyperparameters={"num_round": 3}
        )
        estimator.fit(uri, job_name="on-postgres", logs=False)
        assert session.describe_training_job("on-postgres")["status"] == "Completed"
    finally:
        server.stop()
