"""`modelyard.log_metric`: report a metric from inside a training script, no regex needed.

In a job, the job's own token and the control plane's address are in the environment. A call
costs the training loop an append: the points are sent in batches by a background thread (the
job runtime's `Reporter`), each send retried with backoff, so a control plane that is briefly
away (a server restart in the middle of the job) neither blocks nor breaks the script, and the
points arrive once it is back. What is still buffered when the interpreter exits is flushed
then, waiting at most EXIT_FLUSH_SECONDS. Nothing here raises into the user's script: a value
that cannot be recorded (not finite, not a number) and a report the control plane refuses are
warned about and dropped.

Outside a job it does nothing and warns once, so the same script runs on a laptop unchanged.
"""

from __future__ import annotations

import atexit
import math
import operator
import os
import sys
import threading
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.runtime.reporter import Reporter

EXIT_FLUSH_SECONDS = 30.0

_lock = threading.Lock()
_reporter: Reporter | None = None
_reporter_key: tuple[str, str, str, int] | None = None
_exit_hook_registered = False
_warned = False


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record `value` for the metric `name` (at `step`, when given) on the current job."""
    global _warned
    token = os.environ.get("MODELYARD_JOB_TOKEN")
    url = os.environ.get("MODELYARD_JOB_CONTROL_URL")
    job = os.environ.get("TRAINING_JOB_NAME")
    if not (token and url and job):
        if not _warned:
            _warned = True
            warnings.warn(
                "modelyard.log_metric: not inside a modelyard training job; metrics are dropped",
                stacklevel=2,
            )
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        warnings.warn(
            f"modelyard.log_metric: {name} is not a number ({value!r}); not recorded",
            stacklevel=2,
        )
        return
    if not math.isfinite(number):
        warnings.warn(f"modelyard.log_metric: {name} is {number}; not recorded", stacklevel=2)
        return
    try:
        index = None if step is None else operator.index(step)
    except TypeError:
        warnings.warn(
            f"modelyard.log_metric: step {step!r} of {name} is not an integer; not recorded",
            stacklevel=2,
        )
        return
    try:
        _reporter_for(url, job, token).metric(str(name), number, index)
    except Exception as exc:  # noqa: BLE001 - a metric is never fatal to the job
        warnings.warn(f"modelyard.log_metric: {name} not recorded: {exc}", stacklevel=2)


def _reporter_for(url: str, job: str, token: str) -> Reporter:
    """This process's reporter for this job, started on first use (and again after a fork:
    a child does not inherit its parent's sending thread, nor sends its parent's points)."""
    global _reporter, _reporter_key, _exit_hook_registered
    key = (url, job, token, os.getpid())
    with _lock:
        if _reporter is not None and _reporter_key == key:
            return _reporter
        from modelyard.runtime.reporter import Reporter

        previous = _reporter if _reporter_key and _reporter_key[3] == key[3] else None
        _reporter, _reporter_key = Reporter(url, job, token), key
        if not _exit_hook_registered:
            atexit.register(_flush_at_exit)
            _exit_hook_registered = True
    if previous is not None:  # the environment now names another job: send the old one's
        threading.Thread(target=_close_quietly, args=(previous,), daemon=True).start()
    return _reporter


def _flush_at_exit() -> None:
    """Send what is still buffered, waiting at most EXIT_FLUSH_SECONDS; never raises."""
    global _reporter, _reporter_key
    with _lock:
        reporter = _reporter if _reporter_key and _reporter_key[3] == os.getpid() else None
        _reporter, _reporter_key = None, None
    if reporter is None:
        return
    closing = threading.Thread(target=_close_quietly, args=(reporter,), daemon=True)
    closing.start()
    closing.join(EXIT_FLUSH_SECONDS)
    if closing.is_alive():
        print(
            "[modelyard] log_metric: the control plane did not answer within "
            f"{EXIT_FLUSH_SECONDS:.0f}s of exit; buffered metrics were dropped",
            file=sys.stderr,
            flush=True,
        )


def _close_quietly(reporter: Any) -> None:
    try:
        reporter.close()
    except Exception as exc:  # noqa: BLE001 - at exit, a warning is all that is left to give
        print(f"[modelyard] log_metric: metrics not sent: {exc}", file=sys.stderr, flush=True)


def _forget_after_fork() -> None:
    global _lock, _reporter, _reporter_key
    _lock = threading.Lock()
    _reporter, _reporter_key = None, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
