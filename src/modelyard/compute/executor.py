"""Where a process runs: one interface the controllers speak to, one module per executor.

A controller asks an executor to start a process (a job, a model server) with an environment,
a working directory, a log file and a CPU request. It gets back a `Handle`: plain data it stores
in the metadata store, so that a restarted control plane can find the process again, signal it
and learn whether it ended. The local executor runs processes on this machine; another executor
(a Ray cluster) is one more module implementing the same five verbs.
"""

from __future__ import annotations

import signal
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Handle:
    """How to find a started process again; `record()` is what the metadata store keeps."""

    pid: int
    started_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"pid": self.pid, "started_at": self.started_at, **self.extra}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Handle:
        extra = {k: v for k, v in record.items() if k not in ("pid", "started_at")}
        return cls(int(record["pid"]), float(record.get("started_at") or 0.0), extra)


@dataclass(frozen=True)
class Launch:
    """One process to start. `module` is run as `python -m module *args`; a warm executor may
    fork it from a process that has the libraries loaded instead (`warm=True`)."""

    module: str
    args: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    log_path: Path
    cpus: int = 1
    warm: bool = False

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, *self.args]


class Executor(ABC):
    """Start, find again, signal, wait for, and count room for processes."""

    def __init__(self, on_exit: Callable[[], None] = lambda: None) -> None:
        self.on_exit = on_exit  # called (from any thread) as soon as a process is seen to end

    @abstractmethod
    def start(self, launch: Launch) -> Handle:
        """Start the process; it runs on even if the control plane goes away."""

    @abstractmethod
    def alive(self, handle: Handle) -> bool:
        """Whether the process is still running (false for a reused pid, after a restart too)."""

    @abstractmethod
    def group_alive(self, handle: Handle) -> bool:
        """Whether anything the process started is still running."""

    @abstractmethod
    def signal(self, handle: Handle, sig: int) -> None:
        """Send sig to the process and everything it started."""

    @abstractmethod
    def exit_code(self, handle: Handle) -> int | None:
        """The exit code once ended, when this executor can know it (None otherwise)."""

    @abstractmethod
    def capacity(self) -> int:
        """CPU slots jobs may use at once."""

    def terminate(self, handle: Handle) -> None:
        self.signal(handle, signal.SIGTERM)

    def kill(self, handle: Handle) -> None:
        self.signal(handle, signal.SIGKILL)

    def open(self) -> None:  # noqa: B027 - optional, does nothing by default
        """Get ready to start processes."""

    def idle(self) -> None:  # noqa: B027 - optional, does nothing by default
        """Called each pass in which no job runs: a time to release what is kept warm."""

    def busy(self, used: int) -> None:  # noqa: B027 - optional, does nothing by default
        """Called each pass in which jobs run, with the CPU slots they hold."""

    def close(self) -> None:  # noqa: B027 - optional, does nothing by default
        """Release what open() took; running processes carry on."""


def open_executor(
    compute_url: str, cpu_slots: int, jobs_dir: Path, env: Mapping[str, str], warm: bool,
    on_exit: Callable[[], None], release_after: float = 0.0,
) -> Executor:  # fmt: skip
    """The executor a compute URL names; the one place that chooses."""
    if compute_url in ("", "local"):
        from modelyard.compute.local import LocalExecutor

        return LocalExecutor(
            cpu_slots, jobs_dir, env, warm=warm, on_exit=on_exit, release_after=release_after
        )
    from modelyard.errors import InvalidRequest

    raise InvalidRequest(
        f"MODELYARD_COMPUTE={compute_url!r} is not supported yet; use 'local'",
        {"field": "compute"},
    )
