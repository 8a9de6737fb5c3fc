"""The local executor: processes on this machine, in sessions of their own.

Warm launches are forked by the job launcher (`runtime.warm`, libraries already imported)
once it is ready. It is started on demand, when jobs come in a series (a second warm launch
within SERIES_SECONDS of the one before: tuning trials, folds, a script run again), as soon
as a CPU slot is free (its imports take seconds of CPU that a running job must not lose), and
released after `release_after` seconds without a job: a lone job starts cold in a fraction of
the launcher's own start, and its ~200 MB are not held for nobody. Everything else, and a
warm launch the launcher cannot take yet, is spawned cold. A process is
found again by (pid, create time), so a reused pid is never mistaken for a survivor.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from modelyard.compute import processes
from modelyard.compute.executor import Executor, Handle, Launch
from modelyard.compute.launcher import JobLauncher
from modelyard.compute.processes import ProcessRef

logger = logging.getLogger("modelyard.launcher")
SERIES_SECONDS = 60.0


class LocalExecutor(Executor):
    def __init__(
        self,
        cpu_slots: int,
        work_dir: Path,
        env: Mapping[str, str],
        warm: bool = True,
        on_exit: Callable[[], None] = lambda: None,
        release_after: float = 0.0,
    ) -> None:
        super().__init__(on_exit)
        self._cpu_slots = cpu_slots
        self._warm = warm
        self._release_after = release_after  # seconds without a job; 0: keep the launcher
        self._idle_since: float | None = None
        self._last_warm: float | None = None  # when the last warm launch was asked for
        self._wanted = False  # jobs come in a series: start the launcher when a slot is free
        self._children: dict[int, ProcessRef] = {}  # processes this server started
        self._launcher = JobLauncher(
            work_dir, env, work_dir / "launcher.log", on_exit=lambda pid, code: self.on_exit()
        )

    def _start_wanted(self) -> None:
        if self._wanted and not self._launcher.alive():
            logger.info("jobs come in a series: starting the job launcher")
            self._launcher.start()
        self._wanted = False

    def idle(self) -> None:
        now = time.monotonic()
        self._start_wanted()
        if self._idle_since is None:
            self._idle_since = now
        elif (
            self._release_after > 0
            and self._launcher.ready()  # (one still loading has not been idle yet)
            and now - max(self._idle_since, self._launcher.ready_at) >= self._release_after
        ):
            logger.info("releasing the job launcher after %.0fs without a job", self._release_after)
            self._launcher.stop()

    def busy(self, used: int) -> None:
        self._idle_since = None
        if self._wanted and used < self._cpu_slots:
            self._start_wanted()

    def close(self) -> None:
        self._launcher.stop()

    def capacity(self) -> int:
        return self._cpu_slots

    def start(self, launch: Launch) -> Handle:
        if launch.warm and self._warm:
            now = time.monotonic()
            self._idle_since = None
            in_series = self._last_warm is not None and now - self._last_warm < SERIES_SECONDS
            self._last_warm = now
            if self._launcher.ready():
                pid = self._launcher.launch(
                    {
                        "work_dir": str(launch.cwd),
                        "log": str(launch.log_path),
                        "env": dict(launch.env),
                    }
                )
                if pid is not None:
                    return Handle(pid, processes.create_time(pid))
            elif in_series and not self._launcher.alive():
                self._wanted = True  # for the next ones; this one starts cold
        ref = processes.spawn(
            launch.argv(),
            cwd=launch.cwd,
            env=launch.env,
            log_path=launch.log_path,
            on_exit=self.on_exit,
        )
        self._children[ref.pid] = ref
        return Handle(ref.pid, ref.started_at)

    def alive(self, handle: Handle) -> bool:
        child = self._children.get(handle.pid)
        if child is not None:
            return child.is_alive()
        return processes.is_alive(handle.pid, handle.started_at)

    def group_alive(self, handle: Handle) -> bool:
        return processes.group_alive(handle.pid)

    def signal(self, handle: Handle, sig: int) -> None:
        processes.signal_tree(handle.pid, sig)

    def exit_code(self, handle: Handle) -> int | None:
        child = self._children.pop(handle.pid, None)
        if child is not None:
            code = child.exit_code()
            if code is not None:
                return code
        return self._launcher.exit_codes.pop(handle.pid, None)

    def kill(self, handle: Handle) -> None:
        self.signal(handle, signal.SIGKILL)
