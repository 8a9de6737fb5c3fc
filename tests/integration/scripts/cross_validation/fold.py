"""A training script for cross-validation tests: it reports what its fold gave it.

The data is CSV with a header row `y,id,x`. It logs how many rows it trains on and holds
out, the sum of the held-out ids (so a test can check the folds are disjoint and cover the
channel) and the share of positive labels held out. --fail-if-held ID makes the fold whose
validation rows hold that id fail.
"""

import argparse
import csv
import os
from pathlib import Path

import modelyard


def rows(channel: str) -> list[dict[str, str]]:
    found = []
    for path in sorted(Path(os.environ[f"SM_CHANNEL_{channel.upper()}"]).iterdir()):
        with open(path) as handle:
            found.extend(csv.DictReader(handle))
    return found


parser = argparse.ArgumentParser()
parser.add_argument("--fail-if-held", type=int, default=None)
parser.add_argument("--label", default="y")
args = parser.parse_args()

train, held = rows("train"), rows("validation")
ids = [int(r["id"]) for r in held]
if args.fail_if_held in ids:
    raise SystemExit(f"held-out row {args.fail_if_held} is poison")
modelyard.log_metric("train_rows", len(train))
modelyard.log_metric("held_rows", len(held))
modelyard.log_metric("held_id_sum", sum(ids))
modelyard.log_metric("held_positive_share", sum(r["y"] == "1" for r in held) / len(held))
Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text(str(len(train)))
