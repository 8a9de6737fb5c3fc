"""The job launcher: one process with Python and the algorithms' libraries loaded, forking
a training process per job.

Importing numpy, pyarrow, xgboost and scikit-learn takes about a second, longer than the rest
of a small job's start, and re-importing them for each job (or preparing a spare process
while a job runs) competes with running jobs for the cores. So the control plane starts this
launcher once; for each job it writes one line to the launcher's stdin — the work dir, the log
file and the job's environment — and the launcher forks a child that becomes the job's
job process (`runtime.job.run`) in a session of its own. The launcher answers on
stdout with `started PID` and, when a child ends, `exited PID CODE`. No computation runs here
before a fork, so no library thread pool exists yet to be broken by it. When the control
plane goes away, stdin closes and the launcher exits; running jobs carry on.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import sys
from pathlib import Path
from typing import Any


def preload() -> None:
    import importlib

    import httpx
    from zlib_ng import gzip_ng  # noqa: F401 - every training job packs its model with it

    from modelyard.algorithms.registry import algorithm_names, get_algorithm
    from modelyard.kinds import job_kinds
    from modelyard.runtime import job  # noqa: F401 - its dependencies
    from modelyard.storage import open_store  # noqa: F401

    # Every kind's declaration (pydantic schemas: ~80 ms to build) and runtime module, so a
    # forked job finds its kind and code already imported.
    for kind in job_kinds().values():
        if kind.runtime is not None:
            importlib.import_module(kind.runtime)

    # A transform job forks its model servers (runtime.forked): the server and what uvicorn
    # loads when it is configured, shared by them all.
    import uvicorn.loops.uvloop  # noqa: F401
    import uvicorn.protocols.http.httptools_impl  # noqa: F401

    from modelyard.runtime import serving  # noqa: F401

    # The first client imports its transport (httpcore, h11, ssl setup): 80 ms a job if left
    # to each child.
    httpx.Client(verify=False).close()
    for name in algorithm_names():
        try:
            get_algorithm(name)
        except Exception:  # noqa: BLE001 - a broken plug-in fails its own jobs, not this one
            pass


def become_job(order: dict[str, Any]) -> int:
    """In the forked child: take the job's environment, directory and log, then run it."""
    from modelyard.runtime.forked import output_to
    from modelyard.runtime.job import run

    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(order["env"])
    work_dir = Path(order["work_dir"])
    os.chdir(work_dir)
    output_to(order["log"])
    return run(work_dir)


def reap(say: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        say(f"exited {pid} {os.waitstatus_to_exitcode(status)}")


def serve() -> None:
    """Fork a job per order line until stdin closes."""
    from modelyard.runtime.job import exit_now

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "order")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    pending = b""
    say("ready")
    while True:
        for key, _ in selector.select():
            if key.data == "child":
                os.read(wake_read, 4096)
                reap(say)
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                return  # the control plane is gone
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                pid = os.fork()
                if pid == 0:
                    code = 1
                    try:
                        selector.close()
                        signal.set_wakeup_fd(-1)
                        code = become_job(json.loads(line))
                    finally:
                        exit_now(code)  # a child never returns to this loop
                say(f"started {pid}")


def main() -> None:
    preload()
    # Every object so far is shared with each forked job until someone writes to it, and a
    # garbage collection in the child writes to every object it traverses: frozen, they are
    # never traversed, and a job copies only the pages it really changes.
    gc.freeze()
    serve()


if __name__ == "__main__":
    main()
