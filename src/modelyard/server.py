"""Starting, finding and stopping the control-plane server process."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from modelyard.errors import Conflict, ModelyardError, ServerNotRunning
from modelyard.settings import Settings

START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class ServerFiles:
    home: Path

    @property
    def pid_file(self) -> Path:
        return self.home / "server.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"


def ping(url: str, timeout: float = 1.0) -> dict[str, str] | None:
    """The server's /ping answer, or None when no modelyard server answers at url."""
    try:
        response = httpx.get(f"{url.rstrip('/')}/ping", timeout=timeout)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if response.status_code == 200 and body.get("service") == "modelyard":
        return body  # type: ignore[no-any-return]
    return None


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_port_free(host: str, port: int) -> None:
    if not port_in_use(host, port):
        return
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    if ping(url):
        raise Conflict(
            f"a modelyard server is already running at {url}; stop it with "
            "'modelyard server stop' or pick another --port"
        )
    raise Conflict(f"port {port} on {host} is in use by another program; pick another --port")


def control_url(host: str, port: int) -> str:
    # Jobs and model servers call back on loopback when the server listens on every address.
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"


def run_foreground(settings: Settings) -> None:
    """Run the server in this process until SIGTERM or Ctrl-C."""
    import uvicorn

    from modelyard.api.app import create_app
    from modelyard.control_plane import Platform

    check_port_free(settings.host, settings.port)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    files = ServerFiles(settings.resolved_home)
    # Only this user may read what the server and everything it starts keep: the token, the
    # database, logs, jobs' work dirs and environments, stored objects. A home made before
    # keeps its files' modes, but nobody else can get into it.
    os.umask(0o077)
    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    settings.resolved_home.chmod(0o700)
    files.pid_file.write_text(f"{os.getpid()}\n{settings.host}\n{settings.port}\n")
    try:
        platform = Platform(settings, control_url(settings.host, settings.port))
        app = create_app(platform)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            http="httptools",
            loop="uvloop",
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        print(
            f"modelyard server listening on {control_url(settings.host, settings.port)} "
            f"(home {settings.resolved_home})",
            flush=True,
        )
        uvicorn.Server(config).run()
    finally:
        try:
            if files.pid_file.read_text().split()[0] == str(os.getpid()):
                files.pid_file.unlink()
        except (OSError, IndexError):
            pass


def start_background(settings: Settings, timeout: float = START_TIMEOUT_SECONDS) -> str:
    """Start a detached server process and wait until it answers; returns its URL."""
    check_port_free(settings.host, settings.port)
    files = ServerFiles(settings.resolved_home)
    settings.resolved_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    files.log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = dict(os.environ)
    env["MODELYARD_HOME"] = str(settings.resolved_home)
    env["MODELYARD_HOST"] = settings.host
    env["MODELYARD_PORT"] = str(settings.port)
    argv = [sys.executable, "-m", "modelyard.server"]
    fd = os.open(files.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with open(fd, "ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    url = control_url(settings.host, settings.port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(url, timeout=0.5):
            return url
        if process.poll() is not None:
            tail = files.log_file.read_text(errors="replace").strip().splitlines()[-5:]
            raise ModelyardError("the server did not start:\n" + "\n".join(tail))
        time.sleep(0.1)
    raise ModelyardError(f"the server did not answer within {timeout:.0f}s; see {files.log_file}")


def read_pid(settings: Settings) -> int | None:
    try:
        return int(ServerFiles(settings.resolved_home).pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop(settings: Settings, timeout: float = 30.0) -> int:
    """Stop the server whose pid file is in the home; returns its pid."""
    pid = read_pid(settings)
    if pid is None:
        raise ServerNotRunning(f"no modelyard server is running for home {settings.resolved_home}")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        ServerFiles(settings.resolved_home).pid_file.unlink(missing_ok=True)
        raise ServerNotRunning(
            f"no modelyard server is running (stale pid {pid} removed)"
        ) from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return pid


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the modelyard server in the foreground.")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--home")
    args = parser.parse_args()
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    try:
        run_foreground(Settings(**overrides))
    except ModelyardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
