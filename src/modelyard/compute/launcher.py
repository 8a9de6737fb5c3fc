"""The control plane's side of the job launcher (`modelyard.runtime.warm`).

Starts the launcher, hands it jobs once it is ready, and learns each job's pid and, later,
its exit code. If the launcher is not running, not ready yet or does not answer, `launch`
returns None and the caller starts the job cold.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("modelyard.launcher")

LAUNCH_TIMEOUT_SECONDS = 60.0


class JobLauncher:
    def __init__(
        self,
        cwd: Path,
        env: Mapping[str, str],
        log_path: Path,
        on_exit: Callable[[int, int], None],
    ) -> None:
        self.cwd = cwd
        self.env = dict(env)
        self.log_path = log_path
        self.on_exit = on_exit
        self.exit_codes: dict[int, int] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._started: queue.Queue[int] = queue.Queue()
        self._lock = threading.Lock()
        self._ready = threading.Event()  # its libraries are loaded: it forks at once
        self.ready_at = 0.0  # time.monotonic() when it became ready

    def start(self) -> None:
        self._ready.clear()
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "modelyard.runtime.warm"],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        threading.Thread(
            target=self._read, args=(self._process,), name="launcher", daemon=True
        ).start()

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ready(self) -> bool:
        return self._ready.is_set() and self.alive()

    def launch(self, order: Mapping[str, Any]) -> int | None:
        """Fork a job from the launcher; its pid, or None when the launcher cannot."""
        with self._lock:
            process = self._process
            if process is None or process.stdin is None or process.poll() is not None:
                return None
            try:
                process.stdin.write((json.dumps(order) + "\n").encode())
                process.stdin.flush()
                return self._started.get(timeout=LAUNCH_TIMEOUT_SECONDS)
            except (OSError, queue.Empty):
                logger.warning("the job launcher did not answer; starting the job cold")
                return None

    def stop(self) -> None:
        """End the launcher (its jobs run in sessions of their own and carry on)."""
        self._ready.clear()
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            words = raw.decode(errors="replace").split()
            if words == ["ready"] and process is self._process:
                logger.info("job launcher ready (pid %d)", process.pid)
                self.ready_at = time.monotonic()
                self._ready.set()
            elif words[:1] == ["started"] and len(words) == 2:
                self._started.put(int(words[1]))
            elif words[:1] == ["exited"] and len(words) == 3:
                pid, code = int(words[1]), int(words[2])
                self.exit_codes[pid] = code
                self.on_exit(pid, code)
        process.wait()
