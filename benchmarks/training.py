"""Training overhead of modelyard: fit() against xgboost called directly, and job start latency.

    .venv/bin/python benchmarks/training.py            # 10k and 1M rows, 3 repeats, 20 jobs
    .venv/bin/python benchmarks/training.py --quick    # 10k rows, 1 repeat, 5 jobs

1. fit() wall time (Estimator(algorithm="xgboost").fit(logs=False), data already uploaded)
   against, in the same run, a fresh process that (a) reads the same CSV with pyarrow.csv,
   builds a DMatrix and runs xgboost.train with the same params and threads, and (b) the
   xgboost.train part of (a) alone. Runs are interleaved (baseline, fit, baseline, fit ...)
   so that load from other work on the machine hits both alike.
2. submit → training code running, over small jobs: from the job's SecondaryStatusTransitions
   (created_at → start of "Training") and from the client's clock (just before
   fit(wait=False) → the algorithm's first log line, "xgboost <version>: train ...").

Prints the tables and writes benchmarks/results/training[-quick].json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    BENCH_DIR,
    PYTHON,
    WORK,
    Server,
    install_cleanup,
    machine_info,
    median,
    met,
    parse_time,
    percentile,
    say,
    spread,
    table,
    write_results,
)

FEATURES = 20
SEED = 42
NUM_ROUND = 100
THREADS = 2
HYPERPARAMETERS: dict[str, Any] = {
    "objective": "binary:logistic",
    "num_round": NUM_ROUND,
    "tree_method": "hist",
    "max_depth": 6,
    "nthread": THREADS,
    "seed": 0,
}
# What modelyard's xgboost algorithm hands xgboost.train for HYPERPARAMETERS (its
# xgboost_params: objective, eta, lambda, alpha, seed, verbosity always, the rest when not the
# default); the direct path gets exactly these.
XGB_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eta": 0.3,
    "lambda": 1.0,
    "alpha": 0.0,
    "seed": 0,
    "verbosity": 1,
    "nthread": THREADS,
    "tree_method": "hist",
    "max_depth": 6,
}
STARTUP_ROUNDS = 10
FIRST_ALGORITHM_LINE = re.compile(rb"^xgboost \S+: train \d+ rows", re.MULTILINE)
TARGET_OVERHEAD = 0.10
TARGET_START_P50 = 0.5


# --------------------------------------------------------------------------------------------
# data


def dataset(rows: int) -> Path:
    """A seeded binary-classification CSV, label first, no header (cached under .work/data)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = WORK / "data" / f"binary-{rows}x{FEATURES}-seed{SEED}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    weights = rng.standard_normal(FEATURES).astype(np.float32)
    noise = rng.standard_normal(rows, dtype=np.float32)
    y = ((X @ weights + 0.5 * noise) > 0).astype(np.int8)
    columns = {"label": y, **{f"f{i}": X[:, i] for i in range(FEATURES)}}
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(pa.table(columns), tmp, pacsv.WriteOptions(include_header=False))
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# fit() against the direct path


def run_direct(csv: Path) -> dict[str, float]:
    argv = [
        PYTHON,
        str(BENCH_DIR / "xgb_direct.py"),
        "--csv",
        str(csv),
        "--params",
        json.dumps(XGB_PARAMS),
        "--num-round",
        str(NUM_ROUND),
    ]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=True)
    wall = time.perf_counter() - t0
    result: dict[str, float] = json.loads(done.stdout)
    result["process_wall"] = wall
    return result


def transition_seconds(description: dict[str, Any]) -> dict[str, float]:
    """Seconds spent in each secondary status (end - start of each transition)."""
    spent = {}
    for t in description["secondary_status_transitions"]:
        if t["end_time"]:
            spent[t["status"]] = parse_time(t["end_time"]) - parse_time(t["start_time"])
    return spent


# Lines of the job log whose arrival splits the Training phase (first match of each).
TIMELINE = {
    "training started": rb"^\[modelyard\] training ",
    "data read (xgboost imported)": rb"^xgboost \S+: train \d+ rows",
    "round 0 done (DMatrix built)": rb"^\[0\]\t",
    "last round done": rb"^\[%d\]\t" % (NUM_ROUND - 1),
    "model saved": rb"^saved xgboost-model",
    "job done": rb"^\[modelyard\] completed in",
}


class LogTimeline(threading.Thread):
    """Notes (time.time()) when each TIMELINE line first appears in a job's log file."""

    def __init__(self, log: Path) -> None:
        super().__init__(daemon=True)
        self.log = log
        self.seen: dict[str, float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        offset, pending = 0, b""
        patterns = {k: re.compile(v) for k, v in TIMELINE.items()}
        while not self._stop_event.wait(0.005):
            try:
                with open(self.log, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
            except FileNotFoundError:
                continue
            offset += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            now = time.time()
            for line in lines:
                for key, pattern in patterns.items():
                    if key not in self.seen and pattern.match(line):
                        self.seen[key] = now

    def stop(self) -> dict[str, float]:
        self._stop_event.set()
        self.join()
        return self.seen


def run_fit(server: Server, session: Any, uri: str, name: str) -> dict[str, Any]:
    import modelyard as my

    estimator = my.Estimator(algorithm="xgboost", hyperparameters=HYPERPARAMETERS, session=session)
    timeline = LogTimeline(server.home / "jobs" / name / "job.log")
    timeline.start()
    t0 = time.perf_counter()
    epoch0 = time.time()
    estimator.fit({"train": uri}, logs=False, job_name=name)
    wall = time.perf_counter() - t0
    seen = timeline.stop()
    description = estimator.latest_training_job.describe()  # type: ignore[union-attr]
    created = parse_time(description["created_at"])
    ended = parse_time(description["ended_at"])
    marks = {
        "created": created,
        **seen,
        "ended (Completed)": ended,
        "fit() returned": epoch0 + wall,
    }
    return {
        "fit": wall,
        "phases": transition_seconds(description),
        "timeline": {k: v - epoch0 for k, v in marks.items()},
    }


def bench_fit(
    server: Server, session: Any, rows: int, uri: str, csv: Path, repeats: int
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for i in range(repeats):
        direct = run_direct(csv)
        fit = run_fit(server, session, uri, f"fit-{rows}-{i}-{int(time.time())}")
        say(
            f"  {rows} rows, run {i + 1}/{repeats}: fit {fit['fit']:.2f}s, direct (a) "
            f"{direct['direct_a']:.2f}s, (b) {direct['direct_b']:.2f}s"
        )
        runs.append({"direct": direct, **fit, "loadavg1": os.getloadavg()[0]})
    fit_s = [r["fit"] for r in runs]
    a_s = [r["direct"]["direct_a"] for r in runs]
    b_s = [r["direct"]["direct_b"] for r in runs]
    wall_s = [r["direct"]["process_wall"] for r in runs]
    phases = sorted({p for r in runs for p in r["phases"]})
    return {
        "rows": rows,
        "runs": runs,
        "median": {
            "fit": median(fit_s),
            "direct_a": median(a_s),
            "direct_b": median(b_s),
            "direct_process_wall": median(wall_s),
            "loadavg1": median([r["loadavg1"] for r in runs]),
            "direct_read": median([r["direct"]["read_s"] for r in runs]),
            "direct_dmatrix": median([r["direct"]["dmatrix_s"] for r in runs]),
            "phases": {p: median([r["phases"].get(p, 0.0) for r in runs]) for p in phases},
            "timeline": {
                k: median([r["timeline"][k] for r in runs if k in r["timeline"]])
                for k in runs[0]["timeline"]
            },
        },
        "spread": {"fit": spread(fit_s), "direct_a": spread(a_s), "direct_b": spread(b_s)},
    }


# --------------------------------------------------------------------------------------------
# submit -> training code running


def wait_for_line(log: Path, deadline: float) -> float | None:
    """time.time() when the algorithm's first log line is in the job log (polled every 2 ms).

    The file is the one TrainingJob.logs() serves; tailing it here costs the server nothing,
    whereas polling the API every few ms would load the 2-core machine under test.
    """
    offset = 0
    seen = b""
    while time.time() < deadline:
        try:
            with open(log, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            offset += len(chunk)
            seen += chunk
            if FIRST_ALGORITHM_LINE.search(seen):
                return time.time()
        time.sleep(0.002)
    return None


def one_start(server: Server, session: Any, uri: str, name: str) -> dict[str, float]:
    import modelyard as my

    estimator = my.Estimator(
        algorithm="xgboost",
        session=session,
        hyperparameters={**HYPERPARAMETERS, "num_round": STARTUP_ROUNDS},
    )
    t0 = time.time()
    estimator.fit({"train": uri}, wait=False, job_name=name)
    submitted = time.time()
    line_at = wait_for_line(server.home / "jobs" / name / "job.log", t0 + 120)
    job = estimator.latest_training_job
    assert job is not None
    description = job.wait(logs=False)
    text = job.logs()[0]
    if line_at is None or not FIRST_ALGORITHM_LINE.search(text.encode()):
        raise RuntimeError(f"{name}: the algorithm's first log line never came:\n{text}")
    created = parse_time(description["created_at"])
    starts = {
        t["status"]: parse_time(t["start_time"])
        for t in description["secondary_status_transitions"]
    }
    spent = transition_seconds(description)
    return {
        "client_to_first_line": line_at - t0,
        "created_to_training": starts["Training"] - created,
        "client_to_created": created - t0,
        "submit_request": submitted - t0,
        "pending": spent.get("Pending", 0.0),
        "starting": spent.get("Starting", 0.0),
        "downloading": spent.get("Downloading", 0.0),
        "training_to_first_line": line_at - starts["Training"],
    }


def bench_start(server: Server, session: Any, uri: str, jobs: int) -> dict[str, Any]:
    runs = []
    stamp = int(time.time())
    for i in range(jobs):
        runs.append(one_start(server, session, uri, f"start-{stamp}-{i}"))
        say(
            f"  job {i + 1}/{jobs}: first algorithm line after "
            f"{runs[-1]['client_to_first_line']:.3f}s, Training after "
            f"{runs[-1]['created_to_training']:.3f}s"
        )
    keys = list(runs[0])
    return {
        "runs": runs,
        "p50": {k: median([r[k] for r in runs]) for k in keys},
        "p90": {k: percentile([r[k] for r in runs], 90) for k in keys},
    }


# --------------------------------------------------------------------------------------------
# report


def fit_table(fits: list[dict[str, Any]]) -> str:
    rows = []
    for f in fits:
        m, s = f["median"], f["spread"]
        over_a = m["fit"] / m["direct_a"] - 1
        over_b = m["fit"] / m["direct_b"] - 1
        rows.append(
            [
                f"{f['rows']:,}",
                f"{m['fit']:.2f} ({s['fit']})",
                f"{m['direct_a']:.2f} ({s['direct_a']})",
                f"{m['direct_b']:.2f} ({s['direct_b']})",
                f"{m['direct_process_wall']:.2f}",
                f"{over_a:+.0%}",
                f"{over_b:+.0%}",
                met(over_a <= TARGET_OVERHEAD) if f["rows"] >= 1_000_000 else "-",
                f"{m['loadavg1']:.1f}",
            ]
        )
    return table(
        [
            "rows",
            "fit() s",
            "direct (a) s",
            "direct (b) s",
            "(a) process wall s",
            "overhead vs (a)",
            "vs (b)",
            "target ≤ +10% (1M)",
            "load avg",
        ],
        rows,
    )


def phase_table(fits: list[dict[str, Any]]) -> str:
    order = ["Pending", "Starting", "Downloading", "Training", "Uploading"]
    rows = []
    for f in fits:
        p = f["median"]["phases"]
        rows.append(
            [
                f"{f['rows']:,}",
                *(f"{p.get(k, 0.0):.2f}" for k in order),
                f"{f['median']['direct_read']:.2f}",
                f"{f['median']['direct_dmatrix']:.2f}",
                f"{f['median']['direct_b']:.2f}",
            ]
        )
    return table(
        ["rows", *(f"{k} s" for k in order), "direct read s", "direct DMatrix s", "direct train s"],
        rows,
    )


def timeline_table(fits: list[dict[str, Any]]) -> str:
    """Median seconds after the fit() call at which each event happened, and the step."""
    rows = []
    for f in fits:
        marks = sorted(f["median"]["timeline"].items(), key=lambda kv: kv[1])
        previous = 0.0
        for event, at in marks:
            rows.append([f"{f['rows']:,}", event, f"{at:.2f}", f"{at - previous:+.2f}"])
            previous = at
    return table(["rows", "event (job log line seen / API time)", "at s", "step s"], rows)


def start_table(start: dict[str, Any]) -> str:
    labels = {
        "client_to_first_line": "client: before fit(wait=False) → first algorithm log line",
        "created_to_training": "server: created_at → start of Training",
        "submit_request": "client: fit(wait=False) call (create request)",
        "client_to_created": "client t0 → created_at",
        "pending": "Pending",
        "starting": "Starting",
        "downloading": "Downloading",
        "training_to_first_line": "start of Training → first algorithm log line",
    }
    rows = [
        [label, f"{start['p50'][k] * 1000:.0f}", f"{start['p90'][k] * 1000:.0f}"]
        for k, label in labels.items()
    ]
    return table(["interval", "p50 ms", "p90 ms"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k rows, 1 repeat, 5 jobs")
    parser.add_argument("--repeats", type=int, default=None, help="fit runs per size (3)")
    parser.add_argument("--jobs", type=int, default=None, help="small jobs for start latency")
    parser.add_argument(
        "--rows", type=int, nargs="+", default=None, help="dataset sizes (10000 1000000)"
    )
    args = parser.parse_args()
    sizes = args.rows or ([10_000] if args.quick else [10_000, 1_000_000])
    repeats = args.repeats or (1 if args.quick else 3)
    jobs = args.jobs or (5 if args.quick else 20)
    install_cleanup()

    info = machine_info()
    say("generating datasets ...")
    csvs = {rows: dataset(rows) for rows in sorted({*sizes, 10_000})}
    home = WORK / "training" / f"home-{int(time.time())}"
    server = Server(home).start()
    session = server.session()
    say(f"server at {server.url}, home {home}; uploading ...")
    uris = {
        rows: session.upload_data(path, key_prefix=f"bench/binary-{rows}")
        for rows, path in csvs.items()
    }

    # The first job of a server process pays for the control plane importing the algorithm
    # (xgboost, scikit-learn: about 1 s) while it validates the request; measured, then left
    # out of the steady-state numbers below.
    say("warm-up job (the control plane imports xgboost on the first request) ...")
    cold = one_start(server, session, uris[10_000], f"warm-up-{int(time.time())}")

    fits = []
    for rows in sizes:
        say(f"fit() vs direct xgboost, {rows} rows x {FEATURES} features, {repeats} run(s)")
        fits.append(bench_fit(server, session, rows, uris[rows], csvs[rows], repeats))
    say(f"submit -> training code running, {jobs} jobs of 10,000 rows, {STARTUP_ROUNDS} rounds")
    start = bench_start(server, session, uris[10_000], jobs)
    server.stop()

    start_ok = start["p50"]["client_to_first_line"] < TARGET_START_P50
    start_ok_server = start["p50"]["created_to_training"] < TARGET_START_P50
    report = "\n\n".join(
        [
            "fit() vs direct xgboost (medians, min-max in parentheses)",
            fit_table(fits),
            "where fit() time goes (median seconds per secondary status)",
            phase_table(fits),
            "fit() timeline (median seconds after the call)",
            timeline_table(fits),
            f"submit → training code running ({jobs} jobs)",
            start_table(start),
            f"target p50 < {TARGET_START_P50 * 1000:.0f} ms: client clock "
            f"{met(start_ok)}, server transitions {met(start_ok_server)}",
        ]
    )
    print(report)
    path = write_results(
        "training-quick" if args.quick else "training",
        {
            "machine": info,
            "hyperparameters": HYPERPARAMETERS,
            "xgboost_params": XGB_PARAMS,
            "repeats": repeats,
            "fit": fits,
            "start": start,
            "cold_first_job": cold,
            "report": report,
        },
    )
    say(f"results: {path}")


if __name__ == "__main__":
    main()
