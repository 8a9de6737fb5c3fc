"""A fresh server's first answer, deploy → InService, and what one endpoint's processes hold,
everything server-side pinned to one core (core 0; this script's client on core 1), against a
bare app serving the same model.

    .venv/bin/python benchmarks/cold_start.py [--runs N]     # ~1 min with 3 runs

First a breast-cancer xgboost model is trained on a server of its own (not timed). Then each
run, in a fresh home:

1. Fresh server to first answer: start the control plane, upload the model.tar.gz, create
   the model, deploy one instance, predict one row; the clock runs from starting the
   process to the answer.
2. Deploy → InService on that server, now up: `Model(...).deploy()` of another endpoint.
3. Memory (PSS, from /proc/PID/smaps_rollup): the control plane alone before any deploy, and
   the tree with one endpoint; whether anything else (a job launcher) runs.

The bare app is benchmarks/minimal_app.py (raw ASGI on uvicorn, the same model file): its
start to first answer and its PSS. Targets (issue: production inference): first answer ≤ 4 s;
deploy → InService ≤ 1.5 s; the control plane ≤ 110 MB PSS after deploying an xgboost model
(it never imports an ML library); nothing idle beyond it; the tree ≤ 1.3 × the bare app plus
the control plane.

Prints the tables and writes benchmarks/results/cold-start.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
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
    stop,
    table,
    wait_http,
    write_results,
)
from endpoints import SERVER_CPUS, train

CLIENT_CPUS = {1}
MB = 1024 * 1024


def pss(pid: int) -> float:
    """The process's proportional set size in MB."""
    return psutil.Process(pid).memory_full_info().pss / MB


def tree(pid: int) -> dict[str, float]:
    """PSS of a process and its descendants, by a short name of each."""
    root = psutil.Process(pid)
    found = {}
    for proc in [root, *root.children(recursive=True)]:
        try:
            cmdline = proc.cmdline()
            name = next((a for a in cmdline if a.startswith("modelyard.")), cmdline[-1])
            found[f"{name} ({proc.pid})"] = proc.memory_full_info().pss / MB
        except psutil.Error:
            continue
    return found


def fresh_run(home: Path, archive: Path, row: str) -> dict[str, Any]:
    import modelyard as my

    started = time.perf_counter()
    server = Server(home, cpus=SERVER_CPUS).start()
    up = time.perf_counter() - started
    try:
        assert server.proc is not None
        session = server.session()
        time.sleep(1.0)  # let the control plane settle before its memory is read
        idle = tree(server.proc.pid)
        started_deploy = time.perf_counter()
        uri = session.upload_file(archive, session.default_bucket(), "cold/model.tar.gz")
        predictor = my.Model(uri, algorithm="xgboost", session=session).deploy(
            endpoint_name="first"
        )
        answer = predictor.predict([[float(v) for v in row.split(",")]])
        # From the process's start, less the pause taken to read the idle memory.
        first = up + time.perf_counter() - started_deploy
        assert "predictions" in answer, answer
        setup = predictor.describe()["instances"][0]["model_setup_seconds"]
        # Deploy → InService on a server that is up.
        t0 = time.perf_counter()
        second = my.Model(uri, algorithm="xgboost", session=session).deploy(endpoint_name="second")
        deploy = time.perf_counter() - t0
        second_setup = second.describe()["instances"][0]["model_setup_seconds"]
        second.delete_endpoint()
        session.wait_for_endpoint_deleted("second")
        time.sleep(1.0)
        with_endpoint = tree(server.proc.pid)
        return {
            "server_up_s": up,
            "first_answer_s": first,
            "upload_deploy_predict_s": first - up,
            "deploy_s": deploy,
            "model_setup_s": [setup, second_setup],
            "idle_tree_mb": idle,
            "endpoint_tree_mb": with_endpoint,
        }
    finally:
        server.stop()


def bare_run(model_file: Path, work: Path, row: str) -> dict[str, Any]:
    port = free_port()
    started = time.perf_counter()
    proc = spawn(
        [PYTHON, str(BENCH_DIR / "minimal_app.py"), "--model", str(model_file),
         "--port", str(port)],
        log=work / "minimal.log",
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cpus=SERVER_CPUS,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", proc, work / "minimal.log")
        response = httpx.post(
            f"http://127.0.0.1:{port}/invocations",
            content=row,
            headers={"Content-Type": "text/csv"},
        )
        first = time.perf_counter() - started
        response.raise_for_status()
        time.sleep(1.0)
        return {"first_answer_s": first, "pss_mb": pss(proc.pid)}
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    install_cleanup()
    os.sched_setaffinity(0, CLIENT_CPUS)
    info = machine_info()
    work = WORK / "cold-start" / f"run-{int(time.time())}"
    work.mkdir(parents=True)

    say("training the model on a server of its own ...")
    trainer = Server(work / "train-home").start()
    try:
        estimator, features = train(trainer, trainer.session(), work / "data")
        archive = work / "model.tar.gz"
        from modelyard.storage import parse_s3_uri

        trainer.session().download_file(*parse_s3_uri(estimator.model_data), archive)
        model_file = work / "xgboost-model"
        shutil.copy(trainer.home / "jobs" / "bench-model" / "model" / "xgboost-model", model_file)
    finally:
        trainer.stop()
    row = ",".join(repr(float(v)) for v in features[0])

    fresh, bare = [], []
    for i in range(args.runs):
        fresh.append(fresh_run(work / f"home-{i}", archive, row))
        bare.append(bare_run(model_file, work, row))
        say(
            f"run {i + 1}: first answer {fresh[-1]['first_answer_s']:.2f}s (bare app "
            f"{bare[-1]['first_answer_s']:.2f}s), deploy → InService {fresh[-1]['deploy_s']:.2f}s"
        )

    def control_plane(found: dict[str, float]) -> float:
        return sum(v for k, v in found.items() if k.startswith("modelyard.server"))

    def others(found: dict[str, float], *besides: str) -> list[str]:
        return [k for k in found if not k.startswith(besides)]

    first = [r["first_answer_s"] for r in fresh]
    up = [r["server_up_s"] for r in fresh]
    setup = [r["model_setup_s"][1] for r in fresh]
    deploy = [r["deploy_s"] for r in fresh]
    bare_first = [r["first_answer_s"] for r in bare]
    idle_cp = [control_plane(r["idle_tree_mb"]) for r in fresh]
    endpoint_cp = [control_plane(r["endpoint_tree_mb"]) for r in fresh]
    endpoint_tree = [sum(r["endpoint_tree_mb"].values()) for r in fresh]
    bare_pss = [r["pss_mb"] for r in bare]
    idle_extra = sorted(
        {k.split(" ")[0] for r in fresh for k in others(r["idle_tree_mb"], "modelyard.server")}
    )
    endpoint_extra = sorted({
        k.split(" ")[0] for r in fresh
        for k in others(r["endpoint_tree_mb"], "modelyard.server", "modelyard.runtime.serving")
    })  # fmt: skip
    bound = median(bare_pss) * 1.3 + median(endpoint_cp)

    rows = [
        ["fresh server → first answer", f"{median(first):.2f} s ({spread(first)})",
         f"bare app {median(bare_first):.2f} s", "≤ 4 s", met(median(first) <= 4)],
        ["server start → /ping", f"{median(up):.2f} s ({spread(up)})", "", "", ""],
        ["deploy → InService", f"{median(deploy):.2f} s ({spread(deploy)})", "", "≤ 1.5 s",
         met(median(deploy) <= 1.5)],
        ["of which the model server's start → /ping", f"{median(setup):.2f} s", "", "", ""],
        ["control plane PSS, idle", f"{median(idle_cp):.0f} MB", "", "", ""],
        ["control plane PSS after an xgboost deploy", f"{median(endpoint_cp):.0f} MB", "",
         "≤ 110 MB", met(median(endpoint_cp) <= 110)],
        ["anything else running, idle", ", ".join(idle_extra) or "nothing", "", "nothing",
         met(not idle_extra)],
        ["one endpoint's tree PSS", f"{median(endpoint_tree):.0f} MB",
         f"bare app {median(bare_pss):.0f} MB", f"≤ 1.3 × bare + control plane = {bound:.0f} MB",
         met(median(endpoint_tree) <= bound)],
        ["anything else running, one endpoint", ", ".join(endpoint_extra) or "nothing", "",
         "nothing", met(not endpoint_extra)],
    ]  # fmt: skip
    print(table(["measure", "modelyard (median, min–max)", "yardstick", "target", ""], rows))
    path = write_results(
        "cold-start",
        {"machine": info, "runs": args.runs, "fresh": fresh, "bare": bare, "table": rows},
    )
    say(f"results: {path}")


if __name__ == "__main__":
    main()
