"""A Python entry point run in a child forked from this process, with Popen's small interface.

A transform job's model servers are the same `runtime.serving` an endpoint runs, but started
as new interpreters each pays for Python, uvicorn, numpy and the algorithm's library again
(0.5-1 s of CPU, on the cores the job is about to use) although the job process, forked from
the job launcher, has them loaded already. A fork shares those pages and starts at once.

The child keeps only the forking thread (the job's reporter thread is not copied, and the
child never uses it); it gets fresh standard streams on its log, the environment it is
given, a fresh interpreter's signal handling, and leaves with `os._exit`: none of the
parent's exit handlers run twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path


class ForkedProcess:
    """`main(argv)` in a forked child whose stdout and stderr go to `log_path`."""

    def __init__(
        self,
        main: Callable[[list[str]], int],
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path,
    ) -> None:
        # (No flush of this process's streams first: the child writes through new ones and
        # never flushes these, so nothing buffered here is written twice.)
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:
            os._exit(_child(main, argv, env, log_path))

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                # Popen's convention: a signal's death is its negative number
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _child(
    main: Callable[[list[str]], int], argv: list[str], env: Mapping[str, str], log_path: Path
) -> int:
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        # As a fresh interpreter has them (SIGPIPE stays ignored, as Python sets it).
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(env)
        output_to(log_path)
        # New stream objects: the parent's may have been locked by another thread at the fork
        # (they live as long as the process, hence no `with`).
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child must leave through os._exit
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - nothing left to report to
            pass
    return code


def output_to(log_path: str | Path) -> None:
    """Standard output and error appended to `log_path`, standard input from /dev/null."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
