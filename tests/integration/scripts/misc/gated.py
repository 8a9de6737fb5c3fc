"""A script that moves on only when the test says so: it logs metrics in phases, signalling
each phase's end with a file in --control-dir and waiting for the test's file to go on.

--phases "a,b": log --per-phase points, touch `<a>-logged`, wait for `<a>`; the same for b; then
log one last point and exit at once (so only the exit flush can send it).
"""

import argparse
import os
import time
from pathlib import Path

import modelyard

parser = argparse.ArgumentParser()
parser.add_argument("--control-dir", required=True)
parser.add_argument("--phases", default="")
parser.add_argument("--per-phase", type=int, default=5)
args, _ = parser.parse_known_args()
control = Path(args.control_dir)


def wait_for_file(name: str) -> None:
    deadline = time.monotonic() + 600  # only against a test that died without releasing us
    while not (control / name).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} never appeared in {control}")
        time.sleep(0.05)


step = 0
for phase in [p for p in args.phases.split(",") if p]:
    for _ in range(args.per_phase):
        modelyard.log_metric("loss", 1.0 / (step + 1), step=step)
        step += 1
    (control / f"{phase}-logged").touch()
    print(f"logged through step {step - 1}; waiting for {phase}", flush=True)
    wait_for_file(phase)
print(f"accuracy: {0.5 + step / 100:.2f}", flush=True)  # for a metric definition
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as handle:
    handle.write(f"gated, {step} steps\n")
modelyard.log_metric("loss", 1.0 / (step + 1), step=step)
