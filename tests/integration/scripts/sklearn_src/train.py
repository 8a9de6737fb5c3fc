"""A scikit-learn training script written the way SageMaker's examples write them."""

import argparse
import json
import os
import sys

import joblib
from helpers import load_csv  # a module beside the entry point, in the source dir
from sklearn.ensemble import RandomForestClassifier

import modelyard


def model_fn(model_dir):
    """Used when the model is deployed: SageMaker's scikit-learn examples keep it here."""
    return joblib.load(os.path.join(model_dir, "model.joblib"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-estimators", type=int, default=10)
    parser.add_argument("--max-depth", type=int, default=None)
    parser.add_argument("--class-weights", type=str, default="")
    parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--test", type=str, default=os.environ.get("SM_CHANNEL_TEST"))
    args, _ = parser.parse_known_args()

    train = load_csv(args.train)
    test = load_csv(args.test)
    model = RandomForestClassifier(
        n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=0
    ).fit(train[:, 1:], train[:, 0])
    accuracy = model.score(test[:, 1:], test[:, 0])
    for epoch in range(3):
        print(f"epoch {epoch}: train-loss={1.0 / (epoch + 1):.3f}")
    print(f"test-accuracy: {accuracy:.4f}")
    modelyard.log_metric("test:accuracy", accuracy)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    output = os.environ["SM_OUTPUT_DATA_DIR"]
    with open(os.path.join(output, "report.json"), "w") as handle:
        json.dump({"accuracy": accuracy}, handle)
    with open(os.path.join(output, "contract.json"), "w") as handle:
        seen = {k: v for k, v in os.environ.items() if k.startswith("SM_")}
        json.dump({"argv": sys.argv[1:], "env": seen, "cwd": os.getcwd()}, handle)
    print("done", file=sys.stderr)
