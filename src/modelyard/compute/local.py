"""The local executor: processes on this machine, in sessions of their own.

Warm launches are forked by the job launcher (`runtime.warm`, libraries already imported);
everything else, and a warm launch the launcher cannot take, is spawned cold. A process is
found again by (pid, create time), so a reused pid is never mistaken for a survivor.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from modelyard.compute import processes
from modelyard.compute.executor import Executor, Handle, Launch
from modelyard.compute.launcher import JobLauncher
from modelyard.compute.processes import ProcessRef


class LocalExecutor(Executor):
    def __init__(
        self,
        cpu_slots: int,
        work_dir: Path,
        env: Mapping[str, str],
        warm: bool = True,
        on_exit: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(on_exit)
        self._cpu_slots = cpu_slots
        self._warm = warm
        self._children: dict[int, ProcessRef] = {}  # processes this server started
        self._launcher = JobLauncher(
            work_dir, env, work_dir / "launcher.log", on_exit=lambda pid, code: self.on_exit()
        )

    def open(self) -> None:
        if self._warm:
            self._launcher.start()

    def idle(self) -> None:
        if self._warm and not self._launcher.alive():
            self._launcher.start()  # it died; bring it back while no job needs the cores

    def close(self) -> None:
        self._launcher.stop()

    def capacity(self) -> int:
        return self._cpu_slots

    def start(self, launch: Launch) -> Handle:
        if launch.warm and self._warm:
            pid = self._launcher.launch(
                {"work_dir": str(launch.cwd), "log": str(launch.log_path), "env": dict(launch.env)}
            )
            if pid is not None:
                return Handle(pid, processes.create_time(pid))
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
