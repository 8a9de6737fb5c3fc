"""The direct path that training.py compares fit() against, run in a fresh process.

    python benchmarks/xgb_direct.py --csv data.csv --params '{"objective": ...}' --num-round 100

Reads the label-first, headerless CSV with pyarrow.csv, builds an xgboost.DMatrix and runs
xgboost.train with the given params (no evaluation sets). Prints one JSON object: the seconds
each step took, and `direct_a` = read + DMatrix + train, `direct_b` = train alone (on the
DMatrix already in memory).
"""

from __future__ import annotations

import argparse
import json
import time

started = time.perf_counter()

import numpy as np  # noqa: E402 - the import time is part of what is measured
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import xgboost as xgb  # noqa: E402

imported = time.perf_counter()


def read_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    read_options = pacsv.ReadOptions(autogenerate_column_names=True)
    with pacsv.open_csv(path, read_options=read_options) as reader:
        names = reader.schema.names
    convert = pacsv.ConvertOptions(column_types={n: pa.float32() for n in names})
    table = pacsv.read_csv(path, read_options=read_options, convert_options=convert)
    y = table.column(0).to_numpy()
    X = np.column_stack([table.column(i).to_numpy() for i in range(1, table.num_columns)])
    return X, y


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", required=True)
    parser.add_argument("--params", required=True, help="xgboost params as JSON")
    parser.add_argument("--num-round", type=int, required=True)
    args = parser.parse_args()
    params = json.loads(args.params)

    t0 = time.perf_counter()
    X, y = read_csv(args.csv)
    t1 = time.perf_counter()
    dtrain = xgb.DMatrix(X, label=y, nthread=params["nthread"])
    t2 = time.perf_counter()
    booster = xgb.train(params, dtrain, num_boost_round=args.num_round)
    t3 = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "read_s": t1 - t0,
                "dmatrix_s": t2 - t1,
                "train_s": t3 - t2,
                "direct_a": t3 - t0,
                "direct_b": t3 - t2,
                "rows": int(X.shape[0]),
                "features": int(X.shape[1]),
                "rounds": booster.num_boosted_rounds(),
            }
        )
    )


if __name__ == "__main__":
    main()
