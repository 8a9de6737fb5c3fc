"""Splits a CSV into train and test sets, as SageMaker's processing examples do."""

import argparse
import glob
import os

import numpy as np

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-test-split-ratio", type=float, default=0.3)
    parser.add_argument("--input-dir", default="/opt/ml/processing/input")
    parser.add_argument("--train-dir", default="/opt/ml/processing/train")
    parser.add_argument("--test-dir", default="/opt/ml/processing/test")
    args, _ = parser.parse_known_args()
    files = sorted(glob.glob(os.path.join(args.input_dir, "*.csv")))
    rows = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    order = np.random.default_rng(0).permutation(len(rows))
    cut = int(len(rows) * (1 - args.train_test_split_ratio))
    train, test = rows[order[:cut]], rows[order[cut:]]
    print(f"rows {len(rows)}: train {len(train)}, test {len(test)}", flush=True)
    np.savetxt(os.path.join(args.train_dir, "train.csv"), train, delimiter=",", fmt="%.10g")
    np.savetxt(os.path.join(args.test_dir, "test.csv"), test, delimiter=",", fmt="%.10g")
