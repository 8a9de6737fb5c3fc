"""Shared helpers of the benchmarks: servers that clean up after themselves, stats, results.

Every process a benchmark starts is started in its own session (process group) and recorded
here; `cleanup()` runs at exit (also on SIGTERM / SIGINT / an exception) and kills each
recorded group and every descendant of it (the control plane starts job and model-server
processes in sessions of their own, so killing one group is not enough).
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK = BENCH_DIR / ".work"
RESULTS = BENCH_DIR / "results"
PYTHON = sys.executable

_started: list[subprocess.Popen[bytes]] = []


# --------------------------------------------------------------------------------------------
# processes


def _kill_tree(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the group `proc` leads, wait, then SIGKILL it and every descendant left."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # The control plane stops its model servers on SIGTERM; whatever is left goes now.
    for child in descendants:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=10)


def cleanup() -> None:
    while _started:
        _kill_tree(_started.pop())


def _on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """Clean up at exit, also when the benchmark is interrupted or killed with SIGTERM."""
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    cpus: set[int] | None = None,
) -> subprocess.Popen[bytes]:
    """Start argv in its own session, output to log, optionally pinned to cpus; recorded."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    _started.append(proc)
    if cpus is not None:
        os.sched_setaffinity(proc.pid, cpus)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc in _started:
        _started.remove(proc)
    _kill_tree(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    """Wait until GET url answers 200 (or fail with the log's tail if the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{log.name}: process exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s; see {log}")


@dataclass
class Server:
    """A modelyard control plane in a fresh home, on a free loopback port."""

    home: Path
    cpus: set[int] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    @property
    def log(self) -> Path:
        return self.home / "server-bench.log"

    def start(self) -> Server:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
        env.update(self.extra_env)
        argv = [
            PYTHON,
            "-m",
            "modelyard.server",
            "--home",
            str(self.home),
            "--port",
            str(self.port),
        ]
        self.proc = spawn(argv, log=self.log, env=env, cpus=self.cpus)
        wait_http(f"{self.url}/ping", self.proc, self.log)
        return self

    def session(self) -> Any:
        from modelyard.sdk.session import Session

        return Session(self.url, self.token, auto_start=False)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


# --------------------------------------------------------------------------------------------
# numbers


def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def spread(values: Sequence[float]) -> str:
    """min-max of repeated runs, as a noise indication."""
    if not values:
        return "-"
    return f"{_short(min(values))}-{_short(max(values))}"


def _short(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (what the README holds, and what the scripts print)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    return "\n".join([line, rule, *body])


def parse_time(value: str) -> float:
    """An API timestamp as epoch seconds (SQLite hands back naive UTC times)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# --------------------------------------------------------------------------------------------
# the machine and the results


def _versions(names: Sequence[str]) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def source_version() -> dict[str, Any]:
    """The commit measured, and the files under src/ that differ from it (read-only git)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_src": git("status", "--porcelain", "--", "src").splitlines(),
    }


def machine_info() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = os.getloadavg()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "loadavg_at_start": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "source": source_version(),
        "versions": _versions(
            [
                "modelyard",
                "xgboost",
                "numpy",
                "pyarrow",
                "fastapi",
                "uvicorn",
                "aiohttp",
                "httpx",
                "sqlalchemy",
                "scikit-learn",
            ]
        ),
    }


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
