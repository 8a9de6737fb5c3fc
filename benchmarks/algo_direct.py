"""The direct path algorithms.py compares each built-in against, run in a fresh process.

    python benchmarks/algo_direct.py --algorithm decision-tree --csv data.csv \\
        --params '{"max_depth": 10}' --out model-dir

Reads the label-first (or, for unsupervised algorithms, label-free), headerless CSV with
pyarrow.csv, as a user of the library would, fits the library's own estimator with the
parameters given (what modelyard hands the library for the benchmark's hyperparameters),
saves the model the library's usual way, and prints one JSON object: `seconds` (imports
included, as the job's are) and `peak_mib` (this process's peak resident memory).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

started = time.perf_counter()

import numpy as np  # noqa: E402 - the import time is part of what is measured
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402

THREADS = 2


def read_csv(path: str, labelled: bool) -> tuple[np.ndarray, np.ndarray | None]:
    read_options = pacsv.ReadOptions(autogenerate_column_names=True)
    with pacsv.open_csv(path, read_options=read_options) as reader:
        names = reader.schema.names
    convert = pacsv.ConvertOptions(column_types={n: pa.float32() for n in names})
    table = pacsv.read_csv(path, read_options=read_options, convert_options=convert)
    first = 1 if labelled else 0
    X = np.column_stack([table.column(i).to_numpy() for i in range(first, table.num_columns)])
    y = table.column(0).to_numpy() if labelled else None
    return X, y


def fit_and_save(name: str, X: np.ndarray, y: np.ndarray | None, p: dict, out: str) -> None:
    import joblib

    if name == "xgboost":
        import xgboost as xgb

        rounds = p.pop("num_round")
        booster = xgb.train(p, xgb.DMatrix(X, label=y, nthread=THREADS), rounds)
        booster.save_model(f"{out}/xgboost-model.ubj")
        return
    if name == "lightgbm":
        import lightgbm as lgb

        rounds = p.pop("num_boost_round")
        booster = lgb.train(p, lgb.Dataset(X, label=y), rounds)
        booster.save_model(f"{out}/model.txt")
        return
    if name == "random-cut-forest":
        import krcf

        forest = krcf.RandomCutForest({"dimensions": X.shape[1], **p})
        update = forest.update
        for row in X:
            update(row)
        with open(f"{out}/rcf-forest.msgpack", "wb") as handle:
            handle.write(forest.to_msgpack())
        return
    if name in ("mlp", "factorization-machines"):
        from torch_direct import fit_torch  # the same network and loop, written with torch

        fit_torch(name, X, y, p, out)
        return
    estimator = sklearn_estimator(name, p)
    estimator.fit(X) if y is None else estimator.fit(X, y)
    joblib.dump(estimator, f"{out}/model.joblib")


def sklearn_estimator(name: str, p: dict) -> object:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "linear-learner":
        from sklearn.linear_model import LogisticRegression

        return make_pipeline(StandardScaler(), LogisticRegression(**p))
    if name == "decision-tree":
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(**p)
    if name == "random-forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_jobs=THREADS, **p)
    if name == "svm":
        from sklearn.svm import LinearSVC

        return make_pipeline(StandardScaler(), LinearSVC(**p))
    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_jobs=THREADS, **p)
    if name == "kmeans":
        from sklearn.cluster import KMeans

        return KMeans(**p)
    if name == "pca":
        from sklearn.decomposition import PCA

        return PCA(**p)
    raise SystemExit(f"no direct path for {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algorithm", required=True)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--params", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--unlabelled", action="store_true")
    args = parser.parse_args()
    imported = time.perf_counter()
    X, y = read_csv(args.csv, labelled=not args.unlabelled)
    read = time.perf_counter()
    fit_and_save(args.algorithm, X, y, json.loads(args.params), args.out)
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": done - started,
                "import_seconds": imported - started,
                "read_seconds": read - imported,
                "fit_and_save_seconds": done - read,
                "peak_mib": peak,
            }
        )
    )


if __name__ == "__main__":
    main()
