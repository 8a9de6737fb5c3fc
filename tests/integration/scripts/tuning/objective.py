"""A training script with a known objective, for tuning tests: score = 1 - (x - 0.3)^2.

It reports the score each step with modelyard.log_metric (step = i) and prints "score: S" at
the end for a metric_definitions regex. --steps and --sleep shape how long it runs; --gate
makes it wait for a file before finishing; --silent-above makes it report nothing when x is
above a value (a trial that never emits the objective).
"""

import argparse
import os
import time
from pathlib import Path

import modelyard

parser = argparse.ArgumentParser()
parser.add_argument("-x", "--x", type=float, required=True)
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--gate", default="")
parser.add_argument("--silent-above", type=float, default=None)
parser.add_argument("--constant", type=float, default=None)
args = parser.parse_args()

score = args.constant if args.constant is not None else 1.0 - (args.x - 0.3) ** 2
silent = args.silent_above is not None and args.x > args.silent_above
steps = args.steps if args.x >= 0 else args.steps * 50  # negative x: a long, bad trial
for step in range(steps):
    if not silent:
        modelyard.log_metric("score", score, step=step)
    time.sleep(args.sleep)
if args.gate:
    while not Path(args.gate).exists():
        time.sleep(0.05)
if not silent:
    print(f"score: {score}")
Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text(str(args.x))
