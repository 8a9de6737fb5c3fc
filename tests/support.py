"""Real servers for tests: each runs as its own process, on a free port, in a temporary home."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    home: Path
    port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    @property
    def log(self) -> Path:
        return self.home / "server-test.log"

    def env(self) -> dict[str, str]:
        """Environment for a client process (CLI, script) talking to this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
        env.update(self.extra_env)
        env.update(
            {
                "MODELYARD_HOME": str(self.home),
                "MODELYARD_URL": self.url,
                "MODELYARD_PORT": str(self.port),
            }
        )
        return env

    def start(self, timeout: float = 60.0) -> RunningServer:
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelyard.server",
                "--home",
                str(self.home),
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        """Stop the server and end whatever it left running (jobs outlive a server by design)."""
        import psutil

        self.stop()
        for proc in processes_of(self.home):
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=30.0, headers={"Authorization": f"Bearer {self.token}"}
        )

    def session(self) -> Any:
        from modelyard.sdk.session import Session

        return Session(self.url, self.token, auto_start=False)

    def cli(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "modelyard", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"modelyard {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result


def processes_of(home: Path) -> list[Any]:
    """Live processes that belong to this home: named in their command line, or working in it
    (a warm job process is started before it knows its job, so only its directory tells)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(home) in cmdline or str(proc.info["cwd"] or "").startswith(str(home)):
            found.append(proc)
    return found


def processes_using(home: Path) -> list[str]:
    """Command lines of what is still running for this home: what a stop should have ended."""
    return [" ".join(proc.cmdline()) for proc in processes_of(home)]


def wait_for(predicate: Any, timeout: float = 60.0, poll: float = 0.1) -> Any:
    """predicate()'s first truthy value, polling; fails the test when the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"condition not met within {timeout:.0f}s")


def inference_model(session: Any, directory: Path, inference_py: str) -> str:
    """Register a model served by `inference_py` (a SageMaker inference script: model_fn,
    predict_fn, ...) with no artifact of its own; returns the model's name."""
    return str(inference_model_of(session, directory, inference_py).create())


def inference_model_of(session: Any, directory: Path, inference_py: str) -> Any:
    """The Model (not yet registered) that `inference_model` registers."""
    import tarfile

    from modelyard.sdk.model import Model

    code = directory / "artifact" / "code"
    code.mkdir(parents=True)
    (code / "inference.py").write_text(inference_py)
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory / "artifact", arcname=".")
    model_data = session.upload_data(archive, key_prefix=f"models/{directory.name}")
    return Model(model_data, framework="python", session=session)


class Load:
    """Requests sent back to back from a few threads while the test does something else;
    every answer's status and body is kept."""

    def __init__(
        self, server: RunningServer, endpoint: str, threads: int = 3, body: str = "0"
    ) -> None:
        self.body = body
        self.url = f"{server.url}/endpoints/{endpoint}/invocations"
        self.headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "text/csv"}
        self.answers: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=60) as http:
            while not self._stop.is_set():
                response = http.post(self.url, content=self.body, headers=self.headers)
                body = response.json()[0] if response.status_code == 200 else response.text
                self.answers.append((response.status_code, body))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def versions(self) -> Counter[str]:
        return Counter(body.split(":")[0] for status, body in self.answers if status == 200)


def fit_xgboost(session: Any, train: str, job_name: str, num_round: int = 10) -> Any:
    """A small binary xgboost model trained on `train` through the server; its estimator."""
    import modelyard as my

    estimator = my.Estimator(
        algorithm="xgboost",
        hyperparameters={"objective": "binary:logistic", "num_round": num_round},
        instance_type="local:1",
        session=session,
    )
    estimator.fit(train, job_name=job_name, logs=False)
    return estimator
