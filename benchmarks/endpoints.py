"""Endpoint throughput and latency: modelyard against a minimal app and mlflow, one model.

    .venv/bin/python benchmarks/endpoints.py            # 10 s per run, 3 runs, 5 deploys
    .venv/bin/python benchmarks/endpoints.py --quick    # 3 s per run, 1 run, 2 deploys

Trains xgboost on scikit-learn's breast-cancer data through modelyard (quickstart-like,
50 rounds), times Estimator.deploy → InService, deploys one instance and then loads, with wrk
(one CSV row of 30 features per POST, Content-Type text/csv):

    (i)   control plane   POST /endpoints/NAME/invocations (Bearer token)
    (ii)  instance        POST http://127.0.0.1:PORT/invocations (the model server itself)
    (iii) minimal         benchmarks/minimal_app.py: raw ASGI, same model file
    (iv)  mlflow          `mlflow models serve --env-manager local`, the same booster saved
                          with mlflow.xgboost.save_model, from the side venv .work/mlflow-venv

at concurrency 1 (-t1 -c1) and 32 (-t1 -c32). Every server-side process (control plane,
model server, minimal app, mlflow) is pinned to core 0 and wrk to core 1. Runs are
interleaved across targets so that noise from other work on the machine hits all alike.

Prints the tables and writes benchmarks/results/endpoints[-quick].json.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from common import (
    BENCH_DIR,
    PYTHON,
    WORK,
    Server,
    free_port,
    install_cleanup,
    machine_info,
    median,
    met,
    say,
    spawn,
    spread,
    table,
    wait_http,
    write_results,
)

SERVER_CPUS = {0}
WRK_CPU = "1"
CONCURRENCY = (1, 32)
HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "num_round": 50,
    "max_depth": 4,
    "eta": 0.2,
    "eval_metric": "logloss,auc",
}
MLFLOW_VENV = WORK / "mlflow-venv"
MLFLOW_PACKAGES = ["mlflow", "xgboost", "scikit-learn"]
TARGET_DEPLOY_P50 = 5.0
TARGET_PROXY_US = 60


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    # processes whose CPU a request costs: name -> (pid, count its descendants too)
    pids: dict[str, tuple[int, bool]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# processes and pinning


def check_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        sys.exit("wrk is not installed: run `apt-get install -y wrk` (Debian/Ubuntu) and retry")
    return found


def pin_tree(pid: int, cpus: set[int]) -> list[int]:
    """Pin every thread of pid and of all its descendants to cpus; returns the pids pinned."""
    pids = [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    for each in pids:
        for tid in os.listdir(f"/proc/{each}/task"):
            try:
                os.sched_setaffinity(int(tid), cpus)
            except (ProcessLookupError, PermissionError):
                pass
    return pids


def cpu_seconds(pid: int, descendants: bool) -> float:
    """User + system CPU seconds of a process (and its descendants) so far."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *(proc.children(recursive=True) if descendants else [])]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for each in procs:
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def affinity_of(pid: int) -> list[int]:
    return sorted(
        {c for tid in os.listdir(f"/proc/{pid}/task") for c in os.sched_getaffinity(int(tid))}
    )


def check_pinning(targets: list[Target]) -> dict[str, list[int]]:
    """Every thread of every server-side process (and descendant) may run on core 0 only."""
    found: dict[str, list[int]] = {}
    for target in targets:
        for name, (pid, _) in target.pids.items():
            proc = psutil.Process(pid)
            for each in [proc, *proc.children(recursive=True)]:
                found[f"{name} {each.pid} {each.name()}"] = affinity_of(each.pid)
    wrong = {k: v for k, v in found.items() if set(v) != SERVER_CPUS}
    if wrong:
        raise RuntimeError(f"server-side processes not pinned to {SERVER_CPUS}: {wrong}")
    return found


# --------------------------------------------------------------------------------------------
# modelyard: train, deploy


def train(server: Server, session: Any, data_dir: Path) -> tuple[Any, np.ndarray]:
    import modelyard as my
    from modelyard.quickstart import write_dataset

    data_dir.mkdir(parents=True, exist_ok=True)
    paths = write_dataset(data_dir)
    uris = {
        name: session.upload_data(path, key_prefix=f"bench/{name}")
        for name, path in paths.items()
        if name != "test"
    }
    estimator = my.Estimator(algorithm="xgboost", hyperparameters=HYPERPARAMETERS, session=session)
    estimator.fit(
        {"train": uris["train"], "validation": uris["validation"]},
        logs=False,
        job_name="bench-model",
    )
    test = np.loadtxt(paths["test"], delimiter=",")
    return estimator, test[:, 1:]


def time_deploys(estimator: Any, count: int) -> list[float]:
    seconds = []
    for i in range(count):
        t0 = time.perf_counter()
        predictor = estimator.deploy(initial_instance_count=1, endpoint_name=f"deploy-{i}")
        seconds.append(time.perf_counter() - t0)
        say(f"  deploy {i + 1}/{count}: InService after {seconds[-1]:.2f}s")
        predictor.delete_endpoint()
    return seconds


# --------------------------------------------------------------------------------------------
# the other servers


def start_minimal(model_file: Path, log_dir: Path) -> Target:
    port = free_port()
    log = log_dir / "minimal.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = spawn(
        [
            "taskset",
            "-c",
            "0",
            PYTHON,
            str(BENCH_DIR / "minimal_app.py"),
            "--model",
            str(model_file),
            "--port",
            str(port),
        ],
        log=log,
        env=env,
    )
    wait_http(f"http://127.0.0.1:{port}/ping", proc, log)
    return Target(
        "minimal app",
        f"http://127.0.0.1:{port}/invocations",
        pids={"minimal app": (proc.pid, False)},
    )


def start_bare_proxy(instance_port: int, log_dir: Path, model_server_pid: int) -> Target:
    port = free_port()
    log = log_dir / "bare-proxy.log"
    proc = spawn(
        [
            "taskset",
            "-c",
            "0",
            PYTHON,
            str(BENCH_DIR / "bare_proxy.py"),
            "--upstream",
            f"127.0.0.1:{instance_port}",
            "--port",
            str(port),
        ],
        log=log,
    )
    wait_http(f"http://127.0.0.1:{port}/ping", proc, log)
    return Target(
        "bare proxy",
        f"http://127.0.0.1:{port}/invocations",
        pids={"bare proxy": (proc.pid, False), "model server": (model_server_pid, False)},
    )


def ensure_mlflow(log: Path) -> str | None:
    """Create the side venv with mlflow when missing; None when it works, else why not."""
    mlflow = MLFLOW_VENV / "bin" / "mlflow"
    if mlflow.exists():
        return None
    say(f"installing {' '.join(MLFLOW_PACKAGES)} into {MLFLOW_VENV} (once) ...")
    steps = [
        [PYTHON, "-m", "venv", str(MLFLOW_VENV)],
        [str(MLFLOW_VENV / "bin" / "pip"), "install", "-q", *MLFLOW_PACKAGES],
    ]
    with open(log, "ab") as out:
        for step in steps:
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                shutil.rmtree(MLFLOW_VENV, ignore_errors=True)
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                return f"`{' '.join(step[-3:])}` failed: " + " / ".join(tail)
    return None


def start_mlflow(model_file: Path, work: Path) -> tuple[Target | None, str | None]:
    """mlflow models serve for the same booster; (target, None) or (None, why it could not)."""
    problem = ensure_mlflow(work / "mlflow-install.log")
    if problem:
        return None, problem
    python = MLFLOW_VENV / "bin" / "python"
    model_dir = work / "mlflow-model"
    shutil.rmtree(model_dir, ignore_errors=True)
    save = (
        "import sys, mlflow.xgboost, xgboost as xgb\n"
        "b = xgb.Booster(); b.load_model(bytearray(open(sys.argv[1], 'rb').read()))\n"
        "mlflow.xgboost.save_model(b, sys.argv[2])\n"
    )
    saved = subprocess.run(
        [str(python), "-c", save, str(model_file), str(model_dir)], capture_output=True, text=True
    )
    if saved.returncode != 0:
        return None, f"mlflow.xgboost.save_model failed: {saved.stderr.strip()[-500:]}"
    port = free_port()
    log = work / "mlflow.log"
    env = {
        **os.environ,
        "PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
        "MLFLOW_TRACKING_URI": f"file://{work / 'mlruns'}",
    }
    proc = spawn(
        [
            "taskset",
            "-c",
            "0",
            str(MLFLOW_VENV / "bin" / "mlflow"),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--env-manager",
            "local",
        ],
        log=log,
        env=env,
    )
    wait_http(f"http://127.0.0.1:{port}/ping", proc, log, timeout=180)
    return Target(
        "mlflow", f"http://127.0.0.1:{port}/invocations", pids={"mlflow": (proc.pid, True)}
    ), None


# --------------------------------------------------------------------------------------------
# wrk


def lua_script(target: Target, path: Path) -> Path:
    body = target.body.replace("\n", "\\n")
    lines = [
        'wrk.method = "POST"',
        f'wrk.body = "{body}"',
        'wrk.headers["Content-Type"] = "text/csv"',
    ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in target.headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        raise RuntimeError(f"wrk saw {non2xx.group(1)} non-2xx responses:\n{output}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors and any(int(n) for n in errors.groups()):
        raise RuntimeError(f"wrk saw socket errors:\n{output}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    count = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and count):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "requests": int(count.group(1)),
    }


def run_wrk(target: Target, connections: int, seconds: float, script: Path) -> dict[str, float]:
    argv = [
        "taskset",
        "-c",
        WRK_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        target.url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


def check_answers(targets: list[Target], expected: float) -> None:
    """Every target answers the benchmark request with 200 and the model's score."""
    for target in targets:
        response = httpx.post(
            target.url, content=target.body, headers={"Content-Type": "text/csv", **target.headers}
        )
        if response.status_code != 200:
            raise RuntimeError(f"{target.name}: HTTP {response.status_code}: {response.text}")
        score = float(re.findall(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?|\d+", response.text)[0])
        if abs(score - expected) > 1e-5:
            raise RuntimeError(f"{target.name}: score {score}, expected {expected}")


def load(
    targets: list[Target], seconds: float, runs: int, work: Path
) -> dict[str, dict[int, list[dict[str, float]]]]:
    scripts = {
        t.name: lua_script(t, work / (re.sub(r"\W+", "-", t.name) + ".lua")) for t in targets
    }
    results: dict[str, dict[int, list[dict[str, float]]]] = {
        t.name: {c: [] for c in CONCURRENCY} for t in targets
    }
    for connections in CONCURRENCY:
        for target in targets:  # warm-up: connections, caches, lazy imports
            run_wrk(target, connections, min(2.0, seconds), scripts[target.name])
        for i in range(runs):
            for target in targets:
                before = {name: cpu_seconds(*p) for name, p in target.pids.items()}
                result = run_wrk(target, connections, seconds, scripts[target.name])
                for name, p in target.pids.items():
                    used = cpu_seconds(*p) - before[name]
                    result[f"cpu_us_per_request[{name}]"] = used / result["requests"] * 1e6
                result["loadavg1"] = os.getloadavg()[0]
                results[target.name][connections].append(result)
                say(
                    f"  c={connections} run {i + 1}/{runs} {target.name}: "
                    f"{result['rps']:.0f} req/s, p50 {result['p50_ms']:.3f} ms, "
                    f"p99 {result['p99_ms']:.3f} ms"
                )
    return results


# --------------------------------------------------------------------------------------------
# report


def summarize(results: dict[str, dict[int, list[dict[str, float]]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, by_c in results.items():
        summary[name] = {}
        for c, runs in by_c.items():
            keys = [k for k in runs[0] if k == "rps" or k.endswith("_ms") or k.startswith("cpu")]
            summary[name][str(c)] = {k: median([r[k] for r in runs]) for k in keys}
            summary[name][str(c)]["rps_spread"] = spread([r["rps"] for r in runs])
    return summary


def load_table(summary: dict[str, Any]) -> str:
    rows = []
    for name, by_c in summary.items():
        for c, s in by_c.items():
            cpu = ", ".join(
                f"{k[len('cpu_us_per_request[') : -1]} {v:.0f}"
                for k, v in s.items()
                if k.startswith("cpu")
            )
            rows.append(
                [
                    name,
                    c,
                    f"{s['rps']:.0f} ({s['rps_spread']})",
                    f"{s['p50_ms']:.3f}",
                    f"{s['p99_ms']:.3f}",
                    cpu,
                ]
            )
    return table(
        [
            "target",
            "connections",
            "req/s (min-max)",
            "p50 ms",
            "p99 ms",
            "server CPU µs per request",
        ],
        rows,
    )


def cpu_total(stats: dict[str, float]) -> float:
    """Server-side CPU µs one request costs (all processes of a target, on core 0)."""
    return sum(v for k, v in stats.items() if k.startswith("cpu_us_per_request"))


def ratio_check(name: str, ratio: float, floor: float, cpu_ratio: float) -> dict[str, Any]:
    """A throughput ratio; the CPU-based one (µs per request) is less sensitive to noise."""
    return {
        "check": name,
        "value": f"{ratio:.0%} (by CPU per request: {cpu_ratio:.0%})",
        "ok": ratio >= floor,
    }


def checks(summary: dict[str, Any]) -> list[dict[str, Any]]:
    cp, inst, mini = (summary["control plane"], summary["instance"], summary["minimal app"])
    mlf = summary.get("mlflow")
    found = []
    for c in map(str, CONCURRENCY):
        found.append(
            ratio_check(
                f"instance req/s ≥ 85% of minimal (c={c})",
                inst[c]["rps"] / mini[c]["rps"],
                0.85,
                cpu_total(mini[c]) / cpu_total(inst[c]),
            )
        )
        found.append(
            ratio_check(
                f"control plane req/s ≥ 80% of minimal (c={c})",
                cp[c]["rps"] / mini[c]["rps"],
                0.80,
                cpu_total(mini[c]) / cpu_total(cp[c]),
            )
        )
        proxy = cp[c]["cpu_us_per_request[control plane]"]
        bare = summary["bare proxy"][c]["cpu_us_per_request[bare proxy]"]
        found.append(
            {
                "check": f"proxy CPU per request ≤ {TARGET_PROXY_US} µs (c={c})",
                "value": f"{proxy:.0f} µs (bare proxy {bare:.0f} µs: {proxy / bare:.2f}×)",
                "ok": proxy <= TARGET_PROXY_US,
            }
        )
        if mlf:
            ratio = cp[c]["rps"] / mlf[c]["rps"]
            found.append(
                {
                    "check": f"control plane req/s ≥ 3× mlflow (c={c})",
                    "value": f"{ratio:.1f}×",
                    "ok": ratio >= 3.0,
                }
            )
    added = cp["1"]["p50_ms"] - inst["1"]["p50_ms"]
    found.append(
        {
            "check": "added p50 at c=1 (control plane − instance) < 1 ms",
            "value": f"{added:.3f} ms",
            "ok": added < 1.0,
        }
    )
    ratio = cp["32"]["p99_ms"] / mini["32"]["p99_ms"]
    found.append(
        {
            "check": "control plane p99 at c=32 ≤ 1.5× minimal's",
            "value": f"{ratio:.2f}×",
            "ok": ratio <= 1.5,
        }
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 run, 2 deploys")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per wrk run (10)")
    parser.add_argument("--runs", type=int, default=None, help="runs per target (3)")
    parser.add_argument("--deploys", type=int, default=None, help="deploys to time (5)")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    runs = args.runs or (1 if args.quick else 3)
    deploys = args.deploys or (2 if args.quick else 5)
    check_wrk()
    install_cleanup()
    info = machine_info()
    work = WORK / "endpoints" / f"run-{int(time.time())}"
    work.mkdir(parents=True)

    server = Server(work / "home").start()
    session = server.session()
    say(f"server at {server.url}; training the breast-cancer model ...")
    estimator, features = train(server, session, work / "data")
    say(f"deploy → InService, {deploys} deploys")
    deploy_s = time_deploys(estimator, deploys)

    predictor = estimator.deploy(initial_instance_count=1, endpoint_name="bench")
    instance = predictor.describe()["instances"][0]
    model_file = server.home / "jobs" / "bench-model" / "model" / "xgboost-model"
    row = ",".join(repr(float(v)) for v in features[0])
    expected = float(predictor.predict(features[:1])["predictions"][0]["score"])

    assert server.proc is not None
    targets = [
        Target(
            "control plane",
            f"{server.url}/endpoints/bench/invocations",
            {"Authorization": f"Bearer {server.token}"},
            pids={
                "control plane": (server.proc.pid, False),
                "model server": (instance["pid"], False),
            },
        ),
        Target(
            "instance",
            f"http://127.0.0.1:{instance['port']}/invocations",
            pids={"model server": (instance["pid"], False)},
        ),
        start_bare_proxy(instance["port"], work, instance["pid"]),
        start_minimal(model_file, work),
    ]
    mlflow_problem = None
    if not args.skip_mlflow:
        mlflow, mlflow_problem = start_mlflow(model_file, work)
        if mlflow is not None:
            targets.append(mlflow)
        else:
            say(f"mlflow left out: {mlflow_problem}")
    for target in targets:
        # mlflow reads text/csv with pandas.read_csv: its first line is the header.
        header = ",".join(f"f{i}" for i in range(features.shape[1])) + "\n"
        target.body = header + row if target.name == "mlflow" else row
    pinned = pin_tree(server.proc.pid, SERVER_CPUS)
    check_answers(targets, expected)
    affinity = check_pinning(targets)
    say(f"pinned control plane and model server ({pinned}) to core 0; wrk on core {WRK_CPU}")
    results = load(targets, seconds, runs, work)

    summary = summarize(results)
    found = checks(summary)
    deploy_p50 = median(deploy_s)
    report = "\n\n".join(
        [
            f"throughput and latency (median of {runs} run(s) of {seconds:g} s; min-max of req/s)",
            load_table(summary),
            "targets",
            table(
                ["check", "value", "target"],
                [[f["check"], f["value"], met(f["ok"])] for f in found]
                + [
                    [
                        "deploy → InService p50 < 5 s",
                        f"{deploy_p50:.2f} s ({spread(deploy_s)})",
                        met(deploy_p50 < TARGET_DEPLOY_P50),
                    ]
                ],
            ),
            *([f"mlflow left out: {mlflow_problem}"] if mlflow_problem else []),
        ]
    )
    print(report)
    path = write_results(
        "endpoints-quick" if args.quick else "endpoints",
        {
            "machine": info,
            "hyperparameters": HYPERPARAMETERS,
            "seconds": seconds,
            "runs": runs,
            "body_bytes": len(row),
            "deploy_seconds": deploy_s,
            "raw": results,
            "summary": summary,
            "checks": found,
            "mlflow_problem": mlflow_problem,
            "server_affinity": affinity,
            "report": report,
        },
    )
    say(f"results: {path}")
    server.stop()


if __name__ == "__main__":
    main()
