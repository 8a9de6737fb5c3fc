"""A job's process, for every kind: `python -m modelyard.runtime.job WORK_DIR`.

The control plane has written WORK_DIR/job.json (the kind's spec plus where the control plane
and the object store are) and passes the job's own token in MODELYARD_JOB_TOKEN. The kind's
declaration names the runtime module whose `run_job` does the work; this wrapper gives it the
laid-out work dir and a reporter, and whatever happens leaves result.json behind, so a control
plane that restarted meanwhile still learns how the job ended. It never touches the metadata
store: everything goes over HTTP.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

from modelyard.errors import InvalidRequest, ModelyardError
from modelyard.kinds import job_kind
from modelyard.runtime.layout import JobLayout, write_json
from modelyard.runtime.reporter import Reporter
from modelyard.runtime.script_mode import ScriptFailed


def log(message: str) -> None:
    print(f"[modelyard] {message}", flush=True)


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, ScriptFailed):
        return str(exc)
    if isinstance(exc, InvalidRequest):
        return f"ClientError: {exc.message}"
    if isinstance(exc, ModelyardError):
        return f"AlgorithmError: {exc.message}"
    return f"AlgorithmError: {type(exc).__name__}: {exc}"


def run(work_dir: Path) -> int:
    layout = JobLayout(work_dir)
    spec = json.loads(layout.spec_file.read_text())
    reporter = Reporter(
        spec["control_url"], spec["name"], os.environ.get("MODELYARD_JOB_TOKEN", "")
    )
    started = time.monotonic()
    try:
        layout.create()
        runtime = job_kind(spec.get("kind", "training")).runtime
        assert runtime is not None, f"kind {spec.get('kind')!r} runs no process"
        result = importlib.import_module(runtime).run_job(layout, spec, reporter, log)
        outcome, code = {"status": "Completed", **result}, 0
        log(f"completed in {time.monotonic() - started:.1f}s")
    except BaseException as exc:  # noqa: BLE001 - every failure must leave a reason behind
        if not isinstance(exc, ScriptFailed):
            traceback.print_exc()
        reason = (
            layout.failure_file.read_text().strip()
            if layout.failure_file.exists()
            else failure_reason(exc)
        )
        if not layout.failure_file.exists():
            layout.failure_file.parent.mkdir(parents=True, exist_ok=True)
            layout.failure_file.write_text(reason + "\n")
        outcome, code = {"status": "Failed", "failure_reason": reason[:4000]}, 1
    # What is still unsent (often all of a short job's statuses and metrics) goes with the
    # result, which the control plane reads when this process ends: no last round trip.
    unsent = reporter.detach()
    write_json(layout.result_file, {**outcome, **({"unsent_report": unsent} if unsent else {})})
    return code


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown of numpy, scikit-learn and friends (a quarter
    of a second): by now every result is written and every report sent."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    if len(sys.argv) != 2:
        print("usage: python -m modelyard.runtime.job WORK_DIR", file=sys.stderr)
        raise SystemExit(2)
    exit_now(run(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
