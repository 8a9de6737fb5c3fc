"""A job process started before its job, with Python and the algorithms' libraries loaded.

Importing numpy, pyarrow, xgboost and scikit-learn takes most of a second, longer than the
rest of a small job's start. The job controller keeps one of these processes waiting; when a
job is launched it writes one line to its stdin — the work dir, the log file and the job's
environment — and the process becomes that job's training process (`runtime.training.run`).
If the control plane goes away first, stdin closes and the process exits.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def preload() -> None:
    from modelyard.algorithms.registry import algorithm_names, get_algorithm
    from modelyard.runtime import training  # noqa: F401 - imported for its dependencies
    from modelyard.storage import open_store  # noqa: F401

    for name in algorithm_names():
        try:
            get_algorithm(name)
        except Exception:  # noqa: BLE001 - a broken plug-in fails its own jobs, not this one
            pass


def exit_now(code: int) -> None:
    from modelyard.runtime.training import exit_now as exit_job

    exit_job(code)


def become_job(order: dict[str, str | dict[str, str]]) -> int:
    from modelyard.runtime.training import run

    env = order["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update(env)
    work_dir = Path(str(order["work_dir"]))
    os.chdir(work_dir)
    log = os.open(str(order["log"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return run(work_dir)


def main() -> None:
    preload()
    print("warm job process ready", flush=True)
    line = sys.stdin.readline()
    if not line.strip():
        raise SystemExit(0)  # the control plane stopped before it needed this process
    exit_now(become_job(json.loads(line)))


if __name__ == "__main__":
    main()
