"""Where the invocation path spends its CPU: py-spy on the control plane and the model server.

    .venv/bin/pip install py-spy        # not a project dependency
    .venv/bin/python benchmarks/profile_endpoint.py [--seconds 10] [--connections 32]

Sets up what endpoints.py measures (breast-cancer model, one instance, both pinned to core 0),
drives POST /endpoints/NAME/invocations with wrk from core 1, and samples both processes with
`py-spy record --nonblocking --format raw` (py-spy also on core 1). Prints, per process, the
functions with the most samples (self and inclusive) and writes the collapsed stacks under
benchmarks/.work/profile/ (for flamegraph.pl or speedscope).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from common import WORK, Server, install_cleanup, say, table
from endpoints import SERVER_CPUS, Target, lua_script, pin_tree, run_wrk, train


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            pyspy,
            "record",
            "--nonblocking",
            "--format",
            "raw",
            "-r",
            "500",
            "-d",
            f"{seconds:g}",
            "-p",
            str(pid),
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def top_functions(collapsed: Path, limit: int) -> str:
    """Functions by self and inclusive share of the samples in a collapsed-stack file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
            for f in stack.split(";")
        ]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    rows = [
        [name, f"{own[name] / total:.1%}", f"{inclusive[name] / total:.1%}"]
        for name, _ in inclusive.most_common(limit)
    ]
    rows.sort(key=lambda r: -float(r[2].rstrip("%")))
    by_self = [[name, f"{n / total:.1%}"] for name, n in own.most_common(limit)]
    return "\n\n".join(
        [
            f"{total} samples; by inclusive share",
            table(["function", "self", "inclusive"], rows),
            "by self share",
            table(["function", "self"], by_self),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--limit", type=int, default=25)
    args = parser.parse_args()
    install_cleanup()
    work = WORK / "profile" / f"run-{int(time.time())}"
    work.mkdir(parents=True)
    server = Server(work / "home").start()
    session = server.session()
    estimator, features = train(server, session, work / "data")
    predictor = estimator.deploy(initial_instance_count=1, endpoint_name="bench")
    instance = predictor.describe()["instances"][0]
    assert server.proc is not None
    pin_tree(server.proc.pid, SERVER_CPUS)
    target = Target(
        "control plane",
        f"{server.url}/endpoints/bench/invocations",
        {"Authorization": f"Bearer {server.token}"},
        ",".join(repr(float(v)) for v in features[0]),
    )
    script = lua_script(target, work / "control-plane.lua")
    run_wrk(target, args.connections, 2, script)  # warm-up
    outputs = {"control plane": work / "control-plane.txt", "model server": work / "instance.txt"}
    recorders = [
        record(server.proc.pid, args.seconds, outputs["control plane"]),
        record(instance["pid"], args.seconds, outputs["model server"]),
    ]
    time.sleep(0.5)
    result = run_wrk(target, args.connections, args.seconds, script)
    for recorder in recorders:
        recorder.wait(timeout=60)
    say(f"under py-spy: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.3f} ms")
    for name, path in outputs.items():
        print(f"## {name}\n\n{top_functions(path, args.limit)}\n")
    say(f"collapsed stacks: {work}")
    server.stop()


if __name__ == "__main__":
    main()
