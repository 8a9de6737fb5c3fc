"""Every built-in algorithm through modelyard against its library called directly, in one run.

    .venv/bin/python benchmarks/algorithms.py                 # the sizes in SPECS, 2 repeats
    .venv/bin/python benchmarks/algorithms.py --quick         # 20k rows each, 1 repeat
    .venv/bin/python benchmarks/algorithms.py --only svm,knn  # some of them

For each algorithm, on the same seeded CSV (label first, no header; 1M rows x 20 features
where the algorithm scales, fewer where it does not):

- modelyard: `Estimator(algorithm=NAME).fit()` through a real server (job scheduling, reading
  the channel, training, the final metrics, writing and uploading model.tar.gz), timed by the
  client; the job's peak memory is the "process peak memory" line of its log.
- direct: a fresh process (algo_direct.py) that reads the CSV with pyarrow, fits the library's
  estimator with the parameters modelyard hands it, and saves the model the library's way.

Runs are interleaved (direct, modelyard, direct, modelyard ...) so that load from other work
hits both alike; the medians are compared. Targets: within 10% of the direct time and 1.3x its
peak memory. Writes benchmarks/results/algorithms[-quick].json.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    BENCH_DIR,
    PYTHON,
    RESULTS,
    WORK,
    Server,
    install_cleanup,
    machine_info,
    median,
    met,
    say,
    source_version,
    table,
    write_results,
)

FEATURES = 20
SEED = 42
THREADS = 2
TARGET_TIME = 0.10
TARGET_MEMORY = 1.3
PEAK_LINE = re.compile(r"process peak memory (\d+) MiB")


@dataclass
class Spec:
    """One algorithm's benchmark: its hyperparameters and what the library is handed directly."""

    name: str
    rows: int
    hyperparameters: dict[str, Any]
    direct: dict[str, Any]
    problem: str = "binary"  # binary | unlabelled
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


SPECS: list[Spec] = [
    Spec(
        "linear-learner",
        1_000_000,
        {"predictor_type": "binary_classifier"},
        # modelyard's defaults: standardized features, no regularization (C = inf), lbfgs.
        {"C": math.inf, "l1_ratio": 0.0, "solver": "lbfgs", "max_iter": 1000, "random_state": 0},
    ),
    Spec(
        "xgboost",
        1_000_000,
        {"objective": "binary:logistic", "num_round": 50, "max_depth": 6},
        {
            "objective": "binary:logistic",
            "eta": 0.3,
            "lambda": 1.0,
            "alpha": 0.0,
            "seed": 0,
            "verbosity": 1,
            "nthread": THREADS,
            "max_depth": 6,
            "num_round": 50,
        },
    ),
    Spec(
        "lightgbm",
        1_000_000,
        {"objective": "binary", "num_boost_round": 100},
        # What LightGBMAlgorithm.lightgbm_params hands lightgbm.train for these.
        {
            "objective": "binary",
            "num_threads": THREADS,
            "verbosity": 1,
            "deterministic": True,
            "force_col_wise": True,
            "num_boost_round": 100,
        },
    ),
    Spec(
        "decision-tree",
        1_000_000,
        {"predictor_type": "binary_classifier", "max_depth": 12},
        {"max_depth": 12, "random_state": 0},
    ),
    Spec(
        "random-forest",
        200_000,
        {"predictor_type": "binary_classifier", "num_trees": 20, "max_depth": 12},
        {"n_estimators": 20, "max_depth": 12, "random_state": 0},
        note="20 trees of depth 12 on 200k rows: unbounded trees on 1M rows outgrow the box",
    ),
    Spec(
        "svm",
        1_000_000,
        {"predictor_type": "binary_classifier"},
        {"random_state": 0},
        note="kernel=auto picks liblinear (LinearSVC) above 10,000 rows",
    ),
    Spec(
        "knn",
        1_000_000,
        {"predictor_type": "binary_classifier", "k": 10},
        {"n_neighbors": 10},
        note="fit builds the index; no train:* metrics by design",
    ),
    Spec(
        "mlp",
        200_000,
        {"predictor_type": "binary_classifier", "epochs": 3, "mini_batch_size": 256},
        # build_network reads hidden_units, activation and dropout; the loop the rest.
        {
            "hidden_units": "64,64",
            "activation": "relu",
            "dropout": 0.0,
            "learning_rate": 0.001,
            "epochs": 3,
            "mini_batch_size": 256,
            "seed": 0,
        },
        note="3 epochs of 782 mini-batches, on the CPU",
    ),
    Spec(
        "factorization-machines",
        1_000_000,
        {"predictor_type": "binary_classifier", "num_factors": 8},
        {
            "num_factors": 8,
            "epochs": 1,
            "mini_batch_size": 1000,
            "seed": 0,
            "bias_lr": 0.1,
            "bias_wd": 0.01,
            "bias_init_method": "normal",
            "bias_init_sigma": 0.01,
            "linear_lr": 0.001,
            "linear_wd": 0.001,
            "linear_init_method": "normal",
            "linear_init_sigma": 0.01,
            "factors_lr": 0.0001,
            "factors_wd": 1e-05,
            "factors_init_method": "normal",
            "factors_init_sigma": 0.001,
        },
        note="dense rows; one epoch (SageMaker's default)",
    ),
    Spec(
        "kmeans",
        1_000_000,
        {"k": 8},
        {
            "n_clusters": 8,
            "init": "k-means++",
            "max_iter": 300,
            "tol": 1e-4,
            "n_init": "auto",
            "random_state": 0,
        },
        problem="unlabelled",
    ),
    Spec(
        "pca",
        1_000_000,
        {"num_components": 5},
        {"n_components": 5, "svd_solver": "full"},
        problem="unlabelled",
    ),
    Spec(
        "random-cut-forest",
        1_000_000,
        {"num_trees": 100, "num_samples_per_tree": 256},
        # What random_cut_forest.forest_options hands krcf (dimensions added by the direct path).
        {
            "shingle_size": 1,
            "num_trees": 100,
            "sample_size": 256,
            "random_seed": 0,
            "output_after": 1,
            "lambda": 0.0,
            "initial_accept_fraction": 1.0,
            "parallel_execution_enabled": False,
        },
        problem="unlabelled",
        note="modelyard also scores 10,000 training rows for the anomaly threshold",
    ),
]


# --------------------------------------------------------------------------------------------
# data


def dataset(rows: int, labelled: bool) -> Path:
    """A seeded CSV (label first when labelled, no header), cached under .work/data."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    kind = "binary" if labelled else "blobs"
    path = WORK / "data" / f"{kind}-{rows}x{FEATURES}-seed{SEED}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    if labelled:
        X = rng.standard_normal((rows, FEATURES), dtype=np.float32)
        weights = rng.standard_normal(FEATURES).astype(np.float32)
        noise = rng.standard_normal(rows, dtype=np.float32)
        y = ((X @ weights + 0.5 * noise) > 0).astype(np.int8)
        columns = {"label": y, **{f"f{i}": X[:, i] for i in range(FEATURES)}}
    else:
        centers = rng.standard_normal((8, FEATURES)).astype(np.float32) * 4
        X = centers[rng.integers(0, 8, rows)] + rng.standard_normal((rows, FEATURES), np.float32)
        columns = {f"f{i}": X[:, i] for i in range(FEATURES)}
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(pa.table(columns), tmp, pacsv.WriteOptions(include_header=False))
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# the two paths


def run_direct(spec: Spec, csv: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=WORK) as out:
        argv = [
            PYTHON,
            str(BENCH_DIR / "algo_direct.py"),
            "--algorithm",
            spec.name,
            "--csv",
            str(csv),
            "--params",
            json.dumps(spec.direct),
            "--out",
            out,
        ]
        if spec.problem == "unlabelled":
            argv.append("--unlabelled")
        t0 = time.perf_counter()
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=3600, check=False, cwd=BENCH_DIR
        )
        wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"direct {spec.name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def run_modelyard(session: Any, spec: Spec, uri: str, server: Server, run: int) -> dict[str, float]:
    import modelyard as my

    name = f"bench-{spec.name}-{run}"
    estimator = my.Estimator(
        algorithm=spec.name, session=session, hyperparameters=spec.hyperparameters
    )
    content_type = "text/csv;label_size=0" if spec.problem == "unlabelled" else "text/csv"
    t0 = time.perf_counter()
    estimator.fit(my.TrainingInput(uri, content_type=content_type), job_name=name, logs=False)
    wall = time.perf_counter() - t0
    log = (server.home / "jobs" / name / "job.log").read_text()
    peaks = PEAK_LINE.findall(log)
    if not peaks:
        raise RuntimeError(f"{name}: no peak-memory line in the job log:\n{log[-2000:]}")
    return {"wall": wall, "peak_mib": float(peaks[-1])}


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated algorithm names")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    install_cleanup()
    repeats = args.repeats or (1 if args.quick else 2)
    only = {n for n in args.only.split(",") if n}
    specs = [s for s in SPECS if not only or s.name in only]

    server = Server(WORK / f"algorithms-home-{int(time.time())}").start()
    session = server.session()
    results: list[dict[str, Any]] = []
    try:
        for spec in specs:
            rows = 20_000 if args.quick else spec.rows
            csv = dataset(rows, labelled=spec.problem != "unlabelled")
            uri = session.upload_data(str(csv), key_prefix=f"bench/{csv.stem}")
            say(f"{spec.name}: {rows} rows x {FEATURES} features, {repeats} repeat(s)")
            direct, through = [], []
            for run in range(repeats):
                direct.append(run_direct(spec, csv))
                through.append(run_modelyard(session, spec, uri, server, run))
                say(
                    f"  run {run}: direct {direct[-1]['wall']:.2f}s "
                    f"{direct[-1]['peak_mib']:.0f} MiB, modelyard {through[-1]['wall']:.2f}s "
                    f"{through[-1]['peak_mib']:.0f} MiB"
                )
            d_time = median([r["wall"] for r in direct])
            m_time = median([r["wall"] for r in through])
            d_mem = median([r["peak_mib"] for r in direct])
            m_mem = median([r["peak_mib"] for r in through])
            results.append(
                {
                    "algorithm": spec.name,
                    "rows": rows,
                    "features": FEATURES,
                    "hyperparameters": spec.hyperparameters,
                    "direct_params": {k: str(v) for k, v in spec.direct.items()},
                    "direct_seconds": [r["wall"] for r in direct],
                    "direct_fit_and_save_seconds": [r["fit_and_save_seconds"] for r in direct],
                    "modelyard_seconds": [r["wall"] for r in through],
                    "direct_peak_mib": [r["peak_mib"] for r in direct],
                    "modelyard_peak_mib": [r["peak_mib"] for r in through],
                    "time_overhead": m_time / d_time - 1,
                    "memory_ratio": m_mem / d_mem,
                    "time_met": m_time / d_time - 1 <= TARGET_TIME,
                    "memory_met": m_mem / d_mem <= TARGET_MEMORY,
                    "note": spec.note,
                    "measured": {
                        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        **source_version(),
                    },
                }
            )
    finally:
        server.stop()

    name = "algorithms-quick" if args.quick else "algorithms"
    measured = {r["algorithm"] for r in results}
    if only:
        # Re-measuring some algorithms replaces their rows in the full results and keeps the
        # others' (each row says which commit and machine measured it).
        previous = RESULTS / f"{name}.json"
        if previous.exists():
            kept = json.loads(previous.read_text())["results"]
            results = [r for r in kept if r["algorithm"] not in measured] + results
            order = [s.name for s in SPECS]
            results.sort(
                key=lambda r: order.index(r["algorithm"]) if r["algorithm"] in order else 99
            )
    rows_out = [
        [
            r["algorithm"],
            f"{r['rows']:,}",
            f"{median(r['direct_seconds']):.2f}",
            f"{median(r['direct_fit_and_save_seconds']):.2f}",
            f"{median(r['modelyard_seconds']):.2f}",
            f"{r['time_overhead'] * 100:+.1f}% {met(r['time_met'])}",
            f"{median(r['direct_peak_mib']):.0f}",
            f"{median(r['modelyard_peak_mib']):.0f}",
            f"{r['memory_ratio']:.2f}x {met(r['memory_met'])}",
        ]
        for r in results
    ]
    print(
        table(
            [
                "algorithm",
                "rows",
                "direct s",
                "of which fit+save",
                "modelyard s",
                "time (target +10%)",
                "direct MiB",
                "modelyard MiB",
                "memory (target 1.3x)",
            ],
            rows_out,
        )
    )
    path = write_results(
        name,
        {
            "machine": machine_info(),
            "repeats": repeats,
            "targets": {"time_overhead": TARGET_TIME, "memory_ratio": TARGET_MEMORY},
            "results": results,
        },
    )
    say(f"results written to {path}")


if __name__ == "__main__":
    main()
