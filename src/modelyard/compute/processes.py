"""Local processes that outlive the server: started in their own session, found again by pid.

A restarted server cannot `wait()` on a process it did not start, so every process is recorded
as (pid, create time): the pair tells a survivor from an unrelated process that reused the pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class ProcessRef:
    pid: int
    started_at: float
    popen: subprocess.Popen[bytes] | None = None  # only when this server started it

    def is_alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return is_alive(self.pid, self.started_at)

    def exit_code(self) -> int | None:
        """The exit code when known (our own child), else None."""
        if self.popen is not None:
            return self.popen.poll()
        return None


def create_time(pid: int) -> float:
    """When the process started (seconds since the epoch); 0.0 if it is already gone."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return 0.0


def is_alive(pid: int, started_at: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        if started_at is not None and abs(proc.create_time() - started_at) > 1.0:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    on_exit: Callable[[], None] | None = None,
) -> ProcessRef:
    """Start argv in a new session (its own process group) with stdout+stderr to log_path.

    on_exit runs (in a waiter thread) as soon as the process ends, so its owner can react at
    once instead of at its next poll; the waiter also reaps the process.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", buffering=0) as log:
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    try:
        started_at = psutil.Process(popen.pid).create_time()
    except psutil.NoSuchProcess:
        started_at = 0.0
    ref = ProcessRef(popen.pid, started_at, popen)
    if on_exit is not None:
        watch(ref, on_exit)
    return ref


def watch(ref: ProcessRef, on_exit: Callable[[], None]) -> None:
    """Call on_exit (from a waiter thread) when our child ends."""
    popen = ref.popen
    assert popen is not None, "only a process this server started can be waited for"

    def wait() -> None:
        popen.wait()
        on_exit()

    threading.Thread(target=wait, name=f"wait-{popen.pid}", daemon=True).start()


def group_alive(pgid: int) -> bool:
    """Whether any process is left in the process group (a job's session leader's group)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_tree(pid: int, sig: int) -> None:
    """Send sig to the process group the process leads, and to any descendants outside it."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for child in descendants:
        try:
            child.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def terminate(pid: int) -> None:
    signal_tree(pid, signal.SIGTERM)


def kill(pid: int) -> None:
    signal_tree(pid, signal.SIGKILL)


def reap(ref: ProcessRef) -> None:
    if ref.popen is not None:
        ref.popen.poll()
