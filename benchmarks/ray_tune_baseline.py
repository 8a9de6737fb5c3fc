"""Ray Tune baseline for tuning.py, run by whichever interpreter has ray installed.

    RAY_PYTHON benchmarks/ray_tune_baseline.py SOURCE_DIR TRIALS TRIAL_PYTHON

Runs TRIALS trials of `TRIAL_PYTHON trial.py -x X` (in SOURCE_DIR) with Ray Tune's default
random search, 2 concurrent trials of 1 CPU each, and prints one JSON line: the wall time of
`Tuner.fit()`, of `ray.init()` (not counted) and ray's version. It imports nothing of
modelyard, so ray can live in its own virtualenv, outside the project's dependencies.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time

import ray
from ray import tune

SCORE = re.compile(r"score: ([-0-9.e]+)")


def main() -> None:
    source, trials, python = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    def trial(config: dict[str, float]) -> dict[str, float]:
        done = subprocess.run(
            [python, "trial.py", "-x", repr(config["x"])],
            cwd=source, check=True, capture_output=True, text=True,
        )  # fmt: skip
        found = SCORE.search(done.stdout)
        if found is None:
            raise RuntimeError(f"trial.py printed no score: {done.stdout!r}")
        return {"score": float(found.group(1))}

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    init = time.perf_counter() - t0
    try:
        tuner = tune.Tuner(
            tune.with_resources(trial, {"cpu": 1}),
            param_space={"x": tune.uniform(0.0, 1.0)},
            tune_config=tune.TuneConfig(
                metric="score", mode="max", num_samples=trials, max_concurrent_trials=2
            ),
            run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="ray-"), verbose=0),
        )
        t1 = time.perf_counter()
        tuner.fit()
        wall = time.perf_counter() - t1
    finally:
        ray.shutdown()
    print(json.dumps({"wall": wall, "init": init, "version": ray.__version__}))


if __name__ == "__main__":
    main()
