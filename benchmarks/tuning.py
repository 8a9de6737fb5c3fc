"""Hyperparameter tuning: dispatch overhead, throughput, sample efficiency, early stopping.

    .venv/bin/python benchmarks/tuning.py            # the full run, ~11 min on 2 cores
    .venv/bin/python benchmarks/tuning.py --quick    # every section shrunk, ~1.5 min

Each section is measured against a baseline in the same run:
1. Dispatch: trivial trials (a script that prints "score: S", read by a metric_definitions
   regex) one at a time, against the same script run as plain training jobs. From the jobs'
   timestamps: created → process running, trial ended → next trial created, and the cadence of
   trials minus a bare job's duration, which is what the tuning job adds per trial.
2. Throughput: N trivial trials, max_parallel_jobs=2, Random and Bayesian, against Optuna
   running the same objective as `python trial.py -x X` subprocesses, 2 at a time (n_jobs=2,
   in-memory storage, the matching sampler), and against Ray Tune when ray is installed.
3. Sample efficiency: Bayesian against Random tuning the built-in xgboost on a hard synthetic
   classification set (validation:auc), best objective after a third, two thirds and all of
   the trials, mean over seeds.
4. Early stopping: the same Bayesian search with training_job_early_stopping_type "Auto"
   against "Off" and more rounds per trial: training seconds and rounds saved, best lost.

Prints the tables and writes benchmarks/results/tuning[-quick].json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import psutil
from common import (
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

import modelyard as my

SEED = 42
POLL_SECONDS = 0.1  # the client's poll of a running tuning job (wall time on its clock)
TARGET_OVERHEAD_P50 = 0.050  # tuning overhead per trial
TARGET_VS_OPTUNA = 3.0  # modelyard's wall within 3x of Optuna's

TRIAL_SCRIPT = '''\
"""A trivial trial: a known objective of x, printed for a metric_definitions regex."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("-x", type=float, required=True)
x = parser.parse_args().x
print(f"score: {1.0 - (x - 0.3) ** 2}")
'''
SCORE = re.compile(r"score: ([-0-9.e]+)")
SCORE_DEFINITION = [{"Name": "score", "Regex": SCORE.pattern}]
TRIVIAL_RANGES = {"x": my.ContinuousParameter(0.0, 1.0)}

# A hard binary problem: many noisy and redundant features, overlapping clusters, flipped
# labels, so that validation AUC spreads from ~0.7 to ~0.89 over the search space below and a
# better strategy has room to show.
DATA = {
    "n_features": 40,
    "n_informative": 10,
    "n_redundant": 10,
    "n_clusters_per_class": 4,
    "flip_y": 0.08,
    "class_sep": 0.6,
}
TRAIN_ROWS, VALIDATION_ROWS = 10_000, 4_000
XGB_STATIC = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "tree_method": "hist",
    "seed": "0",
}
XGB_RANGES = {
    "eta": my.ContinuousParameter(0.005, 0.5, "Logarithmic"),
    "max_depth": my.IntegerParameter(1, 8),
    "min_child_weight": my.ContinuousParameter(0.5, 50.0, "Logarithmic"),
    "subsample": my.ContinuousParameter(0.4, 1.0),
    "colsample_bytree": my.ContinuousParameter(0.3, 1.0),
    "lambda": my.ContinuousParameter(0.01, 100.0, "Logarithmic"),
}
XGB_OBJECTIVE = "validation:auc"
EFFICIENCY_ROUNDS = 100
# Metrics reach the control plane in batches once a second, so early stopping can only cut a
# trial that runs for several seconds: 300 rounds on 10k rows take 1-8 s here.
EARLY_STOPPING_ROUNDS = 300
ROUND_LINE = re.compile(r"^\[(\d+)\]\t", re.MULTILINE)
PHASES = ("Pending", "Starting", "Downloading", "Training", "Uploading")
STOP_DECIDED = re.compile(r"early stopping at step (\d+)")


@dataclass
class Config:
    dispatch_trials: int
    throughput_trials: int
    seeds: int
    search_trials: int


FULL = Config(dispatch_trials=30, throughput_trials=200, seeds=3, search_trials=30)
QUICK = Config(dispatch_trials=12, throughput_trials=40, seeds=1, search_trials=12)


@dataclass
class Trial:
    """One trial's numbers, from the tuning job's list of its training jobs."""

    number: int
    name: str
    status: str
    objective: float | None
    created: float
    started: float | None
    ended: float | None

    @property
    def training_seconds(self) -> float:
        return (self.ended or 0.0) - (self.started or self.ended or 0.0)


@dataclass
class TuningRun:
    name: str
    status: str
    best: float | None
    client_wall: float
    server_wall: float
    created: float
    trials: list[Trial] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# running things


class CpuMeter:
    """User + system CPU seconds of the control plane's process (all its threads) over a span:
    what driving the trials costs it, which wall times on a shared machine hide."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._start = self._now()

    def _now(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def seconds(self) -> float:
        return self._now() - self._start


@contextmanager
def quiet() -> Iterator[TextIO]:
    """Where the SDK's live status lines go: nowhere, to keep the benchmark's own output."""
    with open(os.devnull, "w") as sink:
        yield sink


def trial_source(work: Path) -> Path:
    source = work / "trial-src"
    source.mkdir(parents=True, exist_ok=True)
    (source / "trial.py").write_text(TRIAL_SCRIPT)
    return source


def script_estimator(session: Any, source: Path, **hyperparameters: Any) -> my.Estimator:
    return my.Estimator(
        entry_point="trial.py",
        source_dir=str(source),
        hyperparameters=hyperparameters,
        metric_definitions=SCORE_DEFINITION,
        instance_type="local:1",  # one CPU slot, so two trials run at once on this machine
        session=session,
    )


def xgboost_estimator(session: Any, rounds: int) -> my.Estimator:
    return my.Estimator(
        algorithm="xgboost",
        hyperparameters={**XGB_STATIC, "num_round": rounds},
        instance_type="local:1",
        session=session,
    )


def trial_of(summary: dict[str, Any], tuning_job: str) -> Trial:
    metric = summary.get("final_hyper_parameter_tuning_job_objective_metric")
    started, ended = summary.get("training_start_time"), summary.get("training_end_time")
    return Trial(
        number=int(summary["training_job_name"][len(tuning_job) + 1 :]),
        name=summary["training_job_name"],
        status=summary["training_job_status"],
        objective=None if metric is None else float(metric["value"]),
        created=parse_time(summary["creation_time"]),
        started=parse_time(started) if started else None,
        ended=parse_time(ended) if ended else None,
    )


def tune(
    estimator: my.Estimator,
    name: str,
    *,
    objective: str,
    ranges: dict[str, Any],
    strategy: str,
    max_jobs: int,
    parallel: int,
    seed: int,
    early_stopping: str = "Off",
    inputs: dict[str, str] | None = None,
) -> TuningRun:
    """Run one tuning job to its end; the client's wall is fit() → the poll that sees it end."""
    tuner = my.HyperparameterTuner(
        estimator,
        objective,
        ranges,
        strategy=strategy,
        max_jobs=max_jobs,
        max_parallel_jobs=parallel,
        early_stopping_type=early_stopping,
        random_seed=seed,
    )
    t0 = time.perf_counter()
    tuner.fit(inputs, job_name=name, wait=False)
    description = tuner.describe()
    while description["status"] not in ("Completed", "Failed", "Stopped"):
        time.sleep(POLL_SECONDS)
        description = tuner.describe()
    client_wall = time.perf_counter() - t0
    if description["status"] != "Completed":
        raise RuntimeError(f"tuning job {name} ended {description['status']}: {description}")
    job = tuner.latest_tuning_job
    assert job is not None
    trials = sorted((trial_of(t, name) for t in job.trials()), key=lambda t: t.number)
    best = description.get("best_training_job") or {}
    metric = best.get("final_hyper_parameter_tuning_job_objective_metric")
    created = parse_time(description["created_at"])
    return TuningRun(
        name=name,
        status=description["status"],
        best=None if metric is None else float(metric["value"]),
        client_wall=client_wall,
        server_wall=parse_time(description["ended_at"]) - created,
        created=created,
        trials=trials,
    )


def phase_seconds(description: dict[str, Any]) -> dict[str, float]:
    """Seconds a training job spent in each secondary status."""
    return {
        t["status"]: parse_time(t["end_time"]) - parse_time(t["start_time"])
        for t in description["secondary_status_transitions"]
        if t["end_time"]
    }


def bare_job(session: Any, source: Path, name: str) -> dict[str, Any]:
    """One trivial training job outside any tuning job; its own timestamps."""
    estimator = script_estimator(session, source, x=0.5)
    estimator.fit(job_name=name, wait=False)
    job = estimator.latest_training_job
    assert job is not None
    with quiet() as sink:
        description = job.wait(logs=False, out=sink)
    created = parse_time(description["created_at"])
    return {
        "created_to_running": parse_time(description["started_at"]) - created,
        "created_to_ended": parse_time(description["ended_at"]) - created,
        "phases": phase_seconds(description),
    }


def bare_python(source: Path, runs: int) -> list[float]:
    """`python trial.py -x 0.5` alone: what any runner pays per trial at the least."""
    seconds = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [PYTHON, "trial.py", "-x", "0.5"], cwd=source, check=True, capture_output=True
        )
        seconds.append(time.perf_counter() - t0)
    return seconds


# --------------------------------------------------------------------------------------------
# 1. dispatch overhead


def bench_dispatch(session: Any, source: Path, trials: int) -> dict[str, Any]:
    """Bare jobs and sequential tuning jobs in alternating blocks, so that load from other work
    on the machine, which drifts over minutes, hits both alike."""
    blocks = 3 if trials >= 6 else 1
    size = max(2, trials // blocks)
    say(f"dispatch: {blocks} block(s) of {size} trivial jobs, then {size} trivial trials")
    bare_job(session, source, "dispatch-warm-up")  # the first job pays for the job launcher
    bare: list[dict[str, Any]] = []
    runs: list[TuningRun] = []
    python: list[float] = []
    for block in range(blocks):
        bare += [bare_job(session, source, f"dispatch-bare-{block}-{i}") for i in range(size)]
        runs.append(
            tune(
                script_estimator(session, source),
                f"dispatch-sequential-{block}",
                objective="score",
                ranges=TRIVIAL_RANGES,
                strategy="Random",
                max_jobs=size,
                parallel=1,
                seed=SEED + block,
            )
        )
        python += bare_python(source, size)
    bare_span = median([b["created_to_ended"] for b in bare])
    ts = [t for run in runs for t in run.trials]
    following = [pair for run in runs for pair in pairs(run.trials)]
    per_trial = {
        "created_to_running": [(t.started or t.created) - t.created for t in ts],
        "created_to_ended": [(t.ended or t.created) - t.created for t in ts],
        "ended_to_next_created": [b.created - (a.ended or b.created) for a, b in following],
        "ended_to_next_running": [(b.started or b.created) - (a.ended or 0) for a, b in following],
        # What the tuning job adds per trial: how often trials start, less a bare job's length.
        "overhead": [b.created - a.created - bare_span for a, b in following],
    }
    tuning_wall = sum(run.server_wall for run in runs)
    result = {
        "bare": bare,
        "python_seconds": python,
        "trials": [asdict(t) for t in ts],
        "trial_phases": [phase_seconds(session.describe_training_job(t.name)) for t in ts],
        "per_trial": per_trial,
        "bare_span_p50": bare_span,
        "tuning_wall": tuning_wall,
        "tuning_created_to_first_trial": [run.trials[0].created - run.created for run in runs],
        "overhead_from_wall": tuning_wall / len(ts) - bare_span,
    }
    say(
        f"  bare job {bare_span * 1000:.0f} ms; tuning {tuning_wall:.2f} s for {len(ts)}, "
        f"overhead p50 {median(per_trial['overhead']) * 1000:.0f} ms per trial"
    )
    return result


def pairs(trials: Sequence[Trial]) -> list[tuple[Trial, Trial]]:
    return list(zip(trials, trials[1:], strict=False))


def dispatch_table(d: dict[str, Any]) -> str:
    def ms(values: Sequence[float]) -> list[str]:
        return [f"{median(values) * 1000:.0f}", f"{percentile(values, 95) * 1000:.0f}"]

    bare = {k: [b[k] for b in d["bare"]] for k in ("created_to_running", "created_to_ended")}
    p = d["per_trial"]
    rows = [
        ["created → process running (Training)", *ms(bare["created_to_running"]),
         *ms(p["created_to_running"])],
        ["created → ended", *ms(bare["created_to_ended"]), *ms(p["created_to_ended"])],
        ["trial ended → next trial created", "-", "-", *ms(p["ended_to_next_created"])],
        ["trial ended → next trial running", "-", "-", *ms(p["ended_to_next_running"])],
        ["next trial created − this one's − bare job p50", "-", "-", *ms(p["overhead"])],
        ["`python trial.py` alone (client clock)", *ms(d["python_seconds"]), "-", "-"],
    ]  # fmt: skip
    return table(["interval", "bare job p50 ms", "p95", "trial p50 ms", "p95"], rows)


def phase_table(d: dict[str, Any]) -> str:
    """Where a trivial job's time goes: p50 ms in each secondary status."""
    kinds = (("bare job", [b["phases"] for b in d["bare"]]), ("trial", d["trial_phases"]))
    rows = [
        [kind, *(f"{median([p.get(k, 0.0) for p in phases]) * 1000:.0f}" for k in PHASES)]
        for kind, phases in kinds
    ]
    return table(["job", *(f"{k} ms" for k in PHASES)], rows)


def dispatch_checks(d: dict[str, Any]) -> str:
    n = len(d["trials"])
    overhead = median(d["per_trial"]["overhead"])
    first = median(d["tuning_created_to_first_trial"])
    return "\n".join(
        [
            f"- {n} trials one at a time: {d['tuning_wall']:.2f} s from the tuning jobs' creation "
            f"to their end, against {n} × {d['bare_span_p50'] * 1000:.0f} ms (a bare job's p50) ="
            f" {n * d['bare_span_p50']:.2f} s: {d['overhead_from_wall'] * 1000:+.0f} ms per trial"
            f" (a tuning job's first trial was created {first * 1000:.0f} ms after it, p50)",
            f"- tuning overhead per trial p50 {overhead * 1000:.0f} ms (target < "
            f"{TARGET_OVERHEAD_P50 * 1000:.0f} ms): {met(overhead < TARGET_OVERHEAD_P50)}",
        ]
    )


# --------------------------------------------------------------------------------------------
# 2. throughput


def optuna_sampler(strategy: str, seed: int) -> Any:
    """The sampler modelyard's strategy builds (tuning_search.Search._sampler: TPE with
    constant liar, 10 random start-up trials for this many), so that the baselines differ only
    in how trials run."""
    from optuna.samplers import RandomSampler, TPESampler

    if strategy == "Random":
        return RandomSampler(seed=seed)
    with warnings.catch_warnings():  # multivariate is "experimental" in Optuna
        warnings.simplefilter("ignore")
        return TPESampler(seed=seed, n_startup_trials=10, constant_liar=True, multivariate=True)


def run_trial_script(source: Path, x: float) -> float:
    done = subprocess.run(
        [PYTHON, "trial.py", "-x", repr(x)], cwd=source, check=True, capture_output=True, text=True
    )
    found = SCORE.search(done.stdout)
    if found is None:
        raise RuntimeError(f"trial.py printed no score: {done.stdout!r}")
    return float(found.group(1))


def optuna_wall(source: Path | None, trials: int, strategy: str) -> float:
    """Optuna's in-memory study, 2 trials at a time; each trial a subprocess, or (source None)
    the objective computed in-process, which leaves the sampler and study alone."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna_sampler(strategy, SEED))

    def objective(trial: Any) -> float:
        x = float(trial.suggest_float("x", 0.0, 1.0))
        return 1.0 - (x - 0.3) ** 2 if source is None else run_trial_script(source, x)

    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=2)
    return time.perf_counter() - t0


def ray_wall(source: Path, trials: int, ray_python: str | None) -> dict[str, Any]:
    """Ray Tune (not a project dependency): `ray_tune_baseline.py` under the interpreter that
    has ray (--ray-python, else this one if ray imports here), each trial the same subprocess
    of this interpreter, 2 concurrent trials of 1 CPU each, its default random search."""
    if ray_python is None:
        if importlib.util.find_spec("ray") is None:
            return {"skipped": "ray is not installed (give --ray-python)"}
        ray_python = PYTHON
    done = subprocess.run(
        [ray_python, str(Path(__file__).with_name("ray_tune_baseline.py")), str(source),
         str(trials), PYTHON],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        return {"skipped": f"Ray Tune failed: {done.stderr.strip().splitlines()[-1:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_throughput(
    session: Any, server_pid: int, source: Path, trials: int, ray_python: str | None
) -> dict[str, Any]:
    say(f"throughput: {trials} trivial trials, 2 at a time")
    result: dict[str, Any] = {"trials": trials, "by_strategy": {}}
    for strategy in ("Random", "Bayesian"):
        load = os.getloadavg()[0]
        cpu = CpuMeter(server_pid)
        run = tune(
            script_estimator(session, source),
            f"throughput-{strategy.lower()}",
            objective="score",
            ranges=TRIVIAL_RANGES,
            strategy=strategy,
            max_jobs=trials,
            parallel=2,
            seed=SEED,
        )
        control_plane_cpu = cpu.seconds()
        spans = [(t.ended or t.created) - t.created for t in run.trials]
        subprocesses = optuna_wall(source, trials, strategy)
        in_process = optuna_wall(None, trials, strategy)
        overlap = max_overlap(run.trials)
        result["by_strategy"][strategy] = {
            "loadavg1": load,
            "control_plane_cpu": control_plane_cpu,
            "modelyard_server_wall": run.server_wall,
            "modelyard_client_wall": run.client_wall,
            "modelyard_max_running": overlap,
            "optuna_subprocess_wall": subprocesses,
            "optuna_in_process_wall": in_process,
            "trial_created_to_ended_p50": median(spans),
            "trial_created_to_ended_p95": percentile(spans, 95),
        }
        say(
            f"  {strategy}: modelyard {run.server_wall:.1f} s (client {run.client_wall:.1f} s), "
            f"Optuna with subprocesses {subprocesses:.1f} s, in-process {in_process:.2f} s"
        )
    result["ray"] = ray_wall(source, trials, ray_python)
    return result


def max_overlap(trials: Sequence[Trial]) -> int:
    """The most trials that were between created and ended at one moment."""
    events = sorted(
        [(t.created, 1) for t in trials] + [(t.ended or t.created, -1) for t in trials],
        key=lambda e: (e[0], e[1]),
    )
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def throughput_table(t: dict[str, Any]) -> tuple[str, str]:
    n = t["trials"]
    rows, checks = [], []
    for strategy, s in t["by_strategy"].items():
        base = s["optuna_subprocess_wall"]
        ratio = s["modelyard_server_wall"] / base
        rows += [
            [f"modelyard, server clock (at most {s['modelyard_max_running']} at once)", strategy,
             f"{s['modelyard_server_wall']:.1f}", f"{n / s['modelyard_server_wall']:.1f}",
             f"{ratio:.2f}×", f"{s['control_plane_cpu'] / n * 1000:.0f}"],
            ["modelyard, client clock (fit() → seen ended)", strategy,
             f"{s['modelyard_client_wall']:.1f}", f"{n / s['modelyard_client_wall']:.1f}",
             f"{s['modelyard_client_wall'] / base:.2f}×", "-"],
            ["Optuna, `python trial.py` subprocess, n_jobs=2", strategy, f"{base:.1f}",
             f"{n / base:.1f}", "1.00×", "-"],
            ["Optuna, objective in-process (sampler only)", strategy,
             f"{s['optuna_in_process_wall']:.2f}", f"{n / s['optuna_in_process_wall']:.0f}",
             f"{s['optuna_in_process_wall'] / base:.2f}×", "-"],
        ]  # fmt: skip
        checks.append(
            f"- {strategy}: modelyard {ratio:.2f}× Optuna's wall (target ≤ "
            f"{TARGET_VS_OPTUNA:.0f}×): {met(ratio <= TARGET_VS_OPTUNA)}; a trial's created → "
            f"ended p50 {s['trial_created_to_ended_p50'] * 1000:.0f} ms, p95 "
            f"{s['trial_created_to_ended_p95'] * 1000:.0f} ms"
        )
    ray = t["ray"]
    if "skipped" in ray:
        rows.append(["Ray Tune", "-", "-", "-", f"skipped: {ray['skipped']}", "-"])
    else:
        rows.append(
            [
                f"Ray Tune {ray['version']} (ray.init {ray['init']:.1f} s not counted)",
                "Random",
                f"{ray['wall']:.1f}",
                f"{n / ray['wall']:.1f}",
                f"{ray['wall'] / t['by_strategy']['Random']['optuna_subprocess_wall']:.2f}×",
                "-",
            ]
        )
    headers = [
        "runner", "strategy", "wall s", "trials/s", "vs Optuna subprocess",
        "control plane CPU ms a trial",
    ]  # fmt: skip
    return table(headers, rows), "\n".join(checks)


# --------------------------------------------------------------------------------------------
# 3 and 4. xgboost searches


def xgboost_data(session: Any, work: Path) -> dict[str, str]:
    """The hard classification set as SageMaker CSV (label first, no header), uploaded."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=TRAIN_ROWS + VALIDATION_ROWS, random_state=SEED, **DATA)
    uris = {}
    for channel, rows in (("train", slice(0, TRAIN_ROWS)), ("validation", slice(TRAIN_ROWS, None))):
        columns = {"label": y[rows].astype(np.int8)}
        columns |= {f"f{i}": X[rows, i].astype(np.float32) for i in range(X.shape[1])}
        path = work / "data" / f"{channel}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(pa.table(columns), path, pacsv.WriteOptions(include_header=False))
        uris[channel] = session.upload_data(path, key_prefix=f"bench/tuning-{channel}")
    return uris


def xgboost_search(
    session: Any,
    server_pid: int,
    inputs: dict[str, str],
    name: str,
    *,
    rounds: int,
    strategy: str,
    trials: int,
    seed: int,
    early_stopping: str = "Off",
) -> tuple[TuningRun, dict[str, float]]:
    """One search, with the control plane's CPU seconds and the load average at its start."""
    load = os.getloadavg()[0]
    cpu = CpuMeter(server_pid)
    run = tune(
        xgboost_estimator(session, rounds),
        name,
        objective=XGB_OBJECTIVE,
        ranges=XGB_RANGES,
        strategy=strategy,
        max_jobs=trials,
        parallel=2,
        seed=seed,
        early_stopping=early_stopping,
        inputs=inputs,
    )
    return run, {"control_plane_cpu": cpu.seconds(), "loadavg1": load}


def best_so_far(trials: Sequence[Trial], checkpoints: Sequence[int]) -> list[float]:
    """The best objective among the first k trials (by number), for each k."""
    values = [t.objective if t.status == "Completed" else None for t in trials]
    best = []
    for k in checkpoints:
        seen = [v for v in values[:k] if v is not None]
        best.append(max(seen) if seen else float("nan"))
    return best


def checkpoints_of(trials: int) -> list[int]:
    return sorted({max(1, trials // 3), max(1, 2 * trials // 3), trials})


def bench_efficiency(
    session: Any, server_pid: int, inputs: dict[str, str], config: Config
) -> dict[str, Any]:
    marks = checkpoints_of(config.search_trials)
    say(
        f"sample efficiency: Bayesian vs Random, {config.search_trials} trials, "
        f"{config.seeds} seed(s)"
    )
    runs: dict[str, list[dict[str, Any]]] = {"Random": [], "Bayesian": []}
    for seed in range(config.seeds):
        for strategy in runs:
            run, costs = xgboost_search(
                session,
                server_pid,
                inputs,
                f"efficiency-{strategy.lower()}-{seed}",
                rounds=EFFICIENCY_ROUNDS,
                strategy=strategy,
                trials=config.search_trials,
                seed=seed,
            )
            best = best_so_far(run.trials, marks)
            runs[strategy].append(
                {
                    "seed": seed,
                    "best": best,
                    "wall": run.server_wall,
                    "objectives": [t.objective for t in run.trials],
                    **costs,
                }
            )
            say(
                f"  seed {seed} {strategy}: best {' / '.join(f'{b:.4f}' for b in best)} "
                f"after {' / '.join(map(str, marks))} trials ({run.server_wall:.0f} s)"
            )
    return {"checkpoints": marks, "runs": runs}


def efficiency_table(e: dict[str, Any]) -> str:
    marks = e["checkpoints"]
    means: dict[str, list[float]] = {}
    rows = []
    for strategy, runs in e["runs"].items():
        best = np.array([r["best"] for r in runs])
        means[strategy] = list(best.mean(axis=0))
        last = [float(b) for b in best[:, -1]]
        rows.append(
            [
                strategy,
                *(f"{m:.4f}" for m in means[strategy]),
                spread(last),
                f"{median([r['wall'] for r in runs]):.0f}",
            ]
        )
    gain = [b - r for b, r in zip(means["Bayesian"], means["Random"], strict=True)]
    rows.append(["Bayesian − Random", *(f"{g:+.4f}" for g in gain), "-", "-"])
    headers = [
        "strategy", *(f"best after {k}" for k in marks), f"min-max at {marks[-1]}",
        "wall s (median)",
    ]  # fmt: skip
    return table(headers, rows)


def rounds_run(session: Any, trial: Trial) -> int:
    """Rounds a trial trained, from its job log ("[N]\t..." per round, written as it goes;
    the metrics API can miss the last second of a stopped trial, sent in the next batch)."""
    text = my.TrainingJob(session, trial.name).logs()[0]
    found = ROUND_LINE.findall(text)
    return int(found[-1]) + 1 if found else 0


def stop_of(session: Any, trial: Trial, rounds: int) -> dict[str, Any]:
    """When early stopping judged a stopped trial (the step, from its Stopping message) and
    how far it got: metrics arrive in 1 s batches, so it runs on after the judged step."""
    decided = None
    for t in session.describe_training_job(trial.name)["secondary_status_transitions"]:
        found = STOP_DECIDED.search(t["status_message"] or "")
        decided = int(found.group(1)) if found else decided
    return {"judged_at_step": decided, "rounds": rounds, "seconds": trial.training_seconds}


def bench_early_stopping(
    session: Any, server_pid: int, inputs: dict[str, str], config: Config
) -> dict[str, Any]:
    say(
        f"early stopping: Auto vs Off, Bayesian, {config.search_trials} trials of "
        f"{EARLY_STOPPING_ROUNDS} rounds, {config.seeds} seed(s)"
    )
    runs: dict[str, list[dict[str, Any]]] = {"Off": [], "Auto": []}
    for seed in range(config.seeds):
        # Alternate which goes first, so that load from other work hits both alike.
        order = ("Off", "Auto") if seed % 2 == 0 else ("Auto", "Off")
        for mode in order:
            run, costs = xgboost_search(
                session,
                server_pid,
                inputs,
                f"early-{mode.lower()}-{seed}",
                rounds=EARLY_STOPPING_ROUNDS,
                strategy="Bayesian",
                trials=config.search_trials,
                seed=seed,
                early_stopping=mode,
            )
            rounds = {t.name: rounds_run(session, t) for t in run.trials}
            stopped = [t for t in run.trials if t.status == "Stopped"]
            entry = {
                "seed": seed,
                "best": run.best,
                "wall": run.server_wall,
                "stopped": len(stopped),
                "training_seconds": sum(t.training_seconds for t in run.trials),
                "rounds": sum(rounds.values()),
                "stops": [stop_of(session, t, rounds[t.name]) for t in stopped],
                "trials": [asdict(t) | {"rounds": rounds[t.name]} for t in run.trials],
                **costs,
            }
            runs[mode].append(entry)
            say(
                f"  seed {seed} {mode}: best {run.best:.4f}, {entry['stopped']} stopped, "
                f"{entry['training_seconds']:.0f} training s, {entry['rounds']} rounds, "
                f"{run.server_wall:.0f} s, control plane {costs['control_plane_cpu']:.1f} CPU s"
            )
    return {"rounds_per_trial": EARLY_STOPPING_ROUNDS, "trials": config.search_trials, "runs": runs}


def early_stopping_table(e: dict[str, Any]) -> tuple[str, str]:
    def mean(mode: str, key: str) -> float:
        return float(np.mean([r[key] for r in e["runs"][mode]]))

    rows = [
        [mode, f"{mean(mode, 'stopped'):.1f}", f"{mean(mode, 'training_seconds'):.0f}",
         f"{mean(mode, 'rounds'):.0f}", f"{mean(mode, 'wall'):.0f}",
         f"{mean(mode, 'control_plane_cpu'):.1f}", f"{mean(mode, 'loadavg1'):.1f}",
         f"{mean(mode, 'best'):.4f}", spread([r["best"] for r in e["runs"][mode]])]
        for mode in ("Off", "Auto")
    ]  # fmt: skip
    saved = {
        k: 1 - mean("Auto", k) / mean("Off", k) for k in ("training_seconds", "rounds", "wall")
    }
    lost = mean("Off", "best") - mean("Auto", "best")
    stops = [stop for r in e["runs"]["Auto"] for stop in r["stops"]]
    judged = [s["judged_at_step"] for s in stops if s["judged_at_step"] is not None]
    summary = (
        f"- Auto saved {saved['training_seconds']:.0%} of the trials' training seconds, "
        f"{saved['rounds']:.0%} of the rounds and {saved['wall']:.0%} of the wall time; "
        f"the best {XGB_OBJECTIVE} lost {lost:+.4f} (mean over seeds)"
        + (
            f"\n- {len(stops)} stopped trials: judged at step {median(judged):.0f} (p50; "
            f"{min(judged)}-{max(judged)}), ended after {median([s['rounds'] for s in stops]):.0f}"
            f" of {e['rounds_per_trial']} rounds and {median([s['seconds'] for s in stops]):.1f}"
            " s of training (p50)"
            if judged
            else ""
        )
    )
    headers = [
        "early stopping",
        "trials stopped",
        "training s (sum)",
        "rounds run",
        "wall s",
        "control plane CPU s",
        "load avg",
        f"best {XGB_OBJECTIVE}",
        "min-max",
    ]
    return table(headers, rows), summary


# --------------------------------------------------------------------------------------------
# main


def rounded(value: Any) -> Any:
    """Floats to 0.1 ms (or 1e-4 of an objective), so that the results file stays readable."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def versions() -> dict[str, str]:
    found = {}
    for name in ("optuna",):  # ray's version is in its row: it runs under its own Python
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def timed(label: str, section: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = section()
    result["section_seconds"] = time.perf_counter() - t0
    say(f"  ({label}: {result['section_seconds']:.0f} s)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every section shrunk, 1 seed")
    parser.add_argument(
        "--dispatch-trials", type=int, help="trials one at a time, in 3 blocks (30)"
    )
    parser.add_argument("--throughput-trials", type=int, help="trials 2 at a time (200)")
    parser.add_argument("--seeds", type=int, help="seeds of each xgboost search (3)")
    parser.add_argument("--search-trials", type=int, help="trials of each xgboost search (30)")
    parser.add_argument(
        "--ray-python", help="a Python with ray[tune] installed, for the Ray Tune baseline"
    )
    args = parser.parse_args()
    base = QUICK if args.quick else FULL
    config = Config(
        dispatch_trials=args.dispatch_trials or base.dispatch_trials,
        throughput_trials=args.throughput_trials or base.throughput_trials,
        seeds=args.seeds or base.seeds,
        search_trials=args.search_trials or base.search_trials,
    )
    install_cleanup()
    info = {**machine_info(), "tuning_versions": versions()}
    work = WORK / "tuning" / f"run-{int(time.time())}"
    server = Server(work / "home").start()
    session = server.session()
    assert server.proc is not None
    pid = server.proc.pid
    say(f"server at {server.url}, home {work / 'home'}")
    source = trial_source(work)
    inputs = xgboost_data(session, work)

    dispatch = timed("dispatch", lambda: bench_dispatch(session, source, config.dispatch_trials))
    throughput = timed(
        "throughput",
        lambda: bench_throughput(session, pid, source, config.throughput_trials, args.ray_python),
    )
    efficiency = timed("efficiency", lambda: bench_efficiency(session, pid, inputs, config))
    early = timed("early stopping", lambda: bench_early_stopping(session, pid, inputs, config))
    server.stop()

    throughput_rows, throughput_checks = throughput_table(throughput)
    early_rows, early_summary = early_stopping_table(early)
    report = "\n\n".join(
        [
            f"Dispatch: {config.dispatch_trials} trivial trials one at a time, against as many "
            "bare training jobs of the same script (server timestamps)",
            dispatch_table(dispatch),
            "Where a trivial job's time goes (p50 per secondary status)",
            phase_table(dispatch),
            dispatch_checks(dispatch),
            f"Throughput: {config.throughput_trials} trivial trials, 2 at a time",
            throughput_rows,
            throughput_checks,
            f"Sample efficiency: xgboost, {XGB_OBJECTIVE}, {EFFICIENCY_ROUNDS} rounds, "
            f"{len(XGB_RANGES)} ranges, mean over {config.seeds} seed(s)",
            efficiency_table(efficiency),
            f"Early stopping: Bayesian, {config.search_trials} trials of "
            f"{EARLY_STOPPING_ROUNDS} rounds, mean over {config.seeds} seed(s)",
            early_rows,
            early_summary,
        ]
    )
    print(report)
    path = write_results(
        "tuning-quick" if args.quick else "tuning",
        {
            "machine": info,
            "config": asdict(config),
            "data": {**DATA, "train_rows": TRAIN_ROWS, "validation_rows": VALIDATION_ROWS},
            "xgboost_static": XGB_STATIC,
            "xgboost_ranges": {k: asdict(v) for k, v in XGB_RANGES.items()},
            **rounded(
                {
                    "dispatch": dispatch,
                    "throughput": throughput,
                    "efficiency": efficiency,
                    "early_stopping": early,
                }
            ),
            "report": report,
        },
    )
    say(f"results: {path}")


if __name__ == "__main__":
    main()
