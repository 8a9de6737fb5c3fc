"""Batch transform: a 1M-row CSV through a transform job against the model's own predict.

    .venv/bin/python benchmarks/transform.py            # 1M rows x 20 features, ~5 min
    .venv/bin/python benchmarks/transform.py --quick    # 100k rows, 1 round

The same xgboost model and the same CSV object for every row of the table:
- in-process: the model loaded as the model server loads it (`runtime.serving.load_model`),
  the file decoded by the model server's own CSV reader and predicted in one call, and the
  answers written as CSV (the floor a transform cannot beat);
- transform jobs: MultiRecord with the default 6 MB payload, 1 instance with 1 and 2
  requests in flight, and 2 instances of one CPU each (the machine has two), from the job's
  creation to its end on the server's clock (model servers started, every batch answered
  and every answer written); "of which the object" is the time the job's log gives the
  object itself, the rest being the job's start, its model servers' and its end.

Each is run 3 times, the rounds interleaved, and the medians compared.

Target (issue): the transform job within 1.3x of in-process. Prints the table and writes
benchmarks/results/transform[-quick].json.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    WORK,
    Server,
    install_cleanup,
    machine_info,
    median,
    met,
    parse_time,
    say,
    spread,
    table,
    write_results,
)

import modelyard as my

SEED = 42
FEATURES = 20
TARGET = 1.3
CONFIGS: dict[str, dict[str, Any]] = {
    "1 instance, 1 in flight": {"instance_type": "local"},
    "1 instance, 2 in flight": {"instance_type": "local", "max_concurrent_transforms": 2},
    "2 instances of 1 CPU": {"instance_count": 2, "instance_type": "local:1"},
}


def make_rows(path: Path, rows: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    np.savetxt(path, X, delimiter=",", fmt="%.5f")
    return X


def train(session: my.Session, work: Path) -> my.Estimator:
    rng = np.random.default_rng(SEED + 1)
    X = rng.normal(size=(20_000, FEATURES))
    y = (X[:, 0] + X[:, 1] ** 2 + rng.normal(scale=0.5, size=len(X)) > 1).astype(int)
    path = work / "train.csv"
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", fmt="%.5f")
    estimator = my.Estimator(
        algorithm="xgboost",
        hyperparameters={"objective": "binary:logistic", "num_round": 100, "max_depth": 6},
        instance_type="local",
        session=session,
    )
    estimator.fit(session.upload_data(path, key_prefix="bench/transform-train"), logs=False)
    return estimator


def in_process(estimator: my.Estimator, session: my.Session, data: Path, work: Path) -> float:
    from modelyard.runtime import codecs
    from modelyard.runtime.serving import load_model
    from modelyard.storage.uri import parse_s3_uri

    bucket, key = parse_s3_uri(estimator.model_data)
    archive = session.download_file(bucket, key, work / "model.tar.gz")
    algorithm, model = load_model(str(archive), "xgboost", work / "in-process")
    t0 = time.perf_counter()
    features = codecs.decode(data.read_bytes(), "text/csv")
    answer = algorithm.predict(model, features)
    out, _ = codecs.encode(answer, "text/csv", "text/csv")
    (work / "in-process.out").write_bytes(out)
    return time.perf_counter() - t0


def transform(
    estimator: my.Estimator, session: my.Session, data_uri: str, name: str, **options: Any
) -> dict[str, float]:
    transformer = estimator.transformer(
        assemble_with="Line", accept="text/csv",
        output_path=f"s3://{session.default_bucket()}/bench/transform-out/{name}", **options,
    )  # fmt: skip
    transformer.transform(data_uri, content_type="text/csv", split_type="Line", job_name=name,
                          logs=False)  # fmt: skip
    d = transformer.describe()
    assert d["status"] == "Completed", d.get("failure_reason")
    job = session.client.get(f"/api/v1/transform-jobs/{name}")
    created, ended = parse_time(job["created_at"]), parse_time(job["ended_at"])
    # The job's log times each object: the rest is its start, the model servers' and the end.
    log = session.client.get(f"/api/v1/transform-jobs/{name}/logs")["text"]
    objects = sum(float(x) for x in re.findall(r"\(([\d.]+)s\)$", log, re.MULTILINE))
    ready = re.search(r"ready after ([\d.]+)s", log)
    return {"wall": ended - created, "objects": objects,
            "servers_ready": float(ready.group(1)) if ready else float("nan"),
            "records": d["progress"]["records_done"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, 1 round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of every run (3)")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    rounds = args.rounds or (1 if args.quick else 3)
    install_cleanup()
    work = WORK / "transform" / f"run-{int(time.time())}"
    work.mkdir(parents=True)
    server = Server(work / "home").start()
    session = server.session()
    say(f"server at {server.url}; {rows} rows x {FEATURES} features")
    data = work / "rows.csv"
    make_rows(data, rows)
    data_uri = session.upload_data(data, key_prefix="bench/transform-rows")
    estimator = train(session, work)
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in CONFIGS}
    results: dict[str, Any] = {"rows": rows, "bytes": data.stat().st_size, "rounds": rounds,
                               "in_process": [], "runs": runs}  # fmt: skip
    # Rounds interleave every configuration, so that a noisy minute hits them all alike.
    for round_ in range(rounds):
        results["in_process"].append(in_process(estimator, session, data, work))
        say(f"round {round_ + 1}/{rounds} in-process: {results['in_process'][-1]:.2f} s")
        for label, options in CONFIGS.items():
            name = f"bench-transform-{round_ + 1}-{len(runs[label])}-{int(time.time())}"
            run = transform(estimator, session, data_uri, name, **options)
            assert run["records"] == rows, run
            runs[label].append(run)
            say(
                f"round {round_ + 1}/{rounds} {label}: {run['wall']:.2f} s (model servers "
                f"ready after {run['servers_ready']:.2f} s, objects {run['objects']:.2f} s)"
            )
    server.stop()
    baseline = median(results["in_process"])
    body = [["in-process (decode, predict, encode)", f"{baseline:.2f}", "-", "1.00×", "-"]]
    for label, done in runs.items():
        wall = median([r["wall"] for r in done])
        objects = median([r["objects"] for r in done])
        ratio = wall / baseline
        body.append([f"transform job, {label}", f"{wall:.2f} ({spread([r['wall'] for r in done])})",
                     f"{objects:.2f}", f"{ratio:.2f}×", met(ratio <= TARGET)])  # fmt: skip
    report = (
        f"{rows} rows x {FEATURES} features ({data.stat().st_size / 1e6:.0f} MB CSV), xgboost "
        "100 rounds depth 6; transform: MultiRecord, 6 MB payloads, job created -> ended; "
        f"median of {rounds} interleaved rounds (min-max)\n\n"
        + table(["run", "seconds", "of which the object", "vs in-process", f"≤ {TARGET}×"], body)
    )
    print(report)
    results["report"] = report
    results["machine"] = machine_info()
    write_results("transform-quick" if args.quick else "transform", results)


if __name__ == "__main__":
    main()
