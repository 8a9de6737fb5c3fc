"""Trains 'epochs' slowly, checkpointing after each, and resumes from the last checkpoint."""

import argparse
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--checkpoint-dir", default=os.environ.get("SM_CHECKPOINT_DIR"))
args, _ = parser.parse_known_args()

marker = os.path.join(args.checkpoint_dir, "last-epoch.txt")
start = 0
if os.path.exists(marker):
    start = int(open(marker).read()) + 1
    print(f"resuming from epoch {start}", flush=True)
for epoch in range(start, args.epochs):
    time.sleep(0.3)
    with open(marker, "w") as handle:
        handle.write(str(epoch))
    print(f"epoch {epoch} done", flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as handle:
    handle.write(f"trained {args.epochs} epochs, resumed at {start}")
