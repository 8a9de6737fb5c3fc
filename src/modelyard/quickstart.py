"""The quickstart: breast-cancer CSVs → upload → train xgboost → deploy → predict → accuracy."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelyard.sdk.estimator import Estimator
from modelyard.sdk.session import Session


@dataclass
class QuickstartResult:
    accuracy: float
    endpoint_name: str
    endpoint_url: str
    training_job_name: str
    seconds: float
    deleted: bool


def write_dataset(directory: Path, seed: int = 0) -> dict[str, Path]:
    """train/validation/test CSVs in SageMaker's format: label first, no header."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    features, labels = load_breast_cancer(return_X_y=True)
    rows = np.column_stack([labels, features])
    train, rest = train_test_split(rows, test_size=0.3, random_state=seed, stratify=labels)
    validation, test = train_test_split(rest, test_size=0.5, random_state=seed, stratify=rest[:, 0])
    paths = {}
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        path = directory / f"{name}.csv"
        np.savetxt(path, part, delimiter=",", fmt="%.10g")
        paths[name] = path
    return paths


def run(
    keep: bool = False, session: Session | None = None, say: callable = print
) -> QuickstartResult:  # type: ignore[valid-type]
    started = time.monotonic()
    session = session or Session()
    with tempfile.TemporaryDirectory(prefix="modelyard-quickstart-") as tmp:
        paths = write_dataset(Path(tmp))
        uris = {
            name: session.upload_data(path, key_prefix=f"quickstart/{name}")
            for name, path in paths.items()
            if name != "test"
        }
        test = np.loadtxt(paths["test"], delimiter=",")
    say(f"uploaded training data: {uris['train']}, {uris['validation']}")
    estimator = Estimator(
        algorithm="xgboost",
        hyperparameters={
            "objective": "binary:logistic",
            "num_round": 50,
            "max_depth": 4,
            "eta": 0.2,
            "eval_metric": "logloss,auc",
        },
        base_job_name="quickstart-xgboost",
        session=session,
    )
    estimator.fit({"train": uris["train"], "validation": uris["validation"]})
    assert estimator.latest_training_job is not None
    say(f"model artifact: {estimator.model_data}")
    predictor = estimator.deploy(initial_instance_count=1, instance_type="local")
    answer = predictor.predict(test[:, 1:])
    scores = np.array([p["score"] for p in answer["predictions"]])
    accuracy = float(np.mean((scores > 0.5) == test[:, 0].astype(bool)))
    url = predictor.url
    say(
        f"endpoint {predictor.endpoint_name} answered {len(scores)} test rows: accuracy "
        f"{accuracy:.3f}"
    )
    say(f"endpoint URL: {url}")
    if not keep:
        predictor.delete_endpoint()
        say(f"deleted endpoint {predictor.endpoint_name} (use --keep to keep it)")
    return QuickstartResult(
        accuracy=accuracy,
        endpoint_name=predictor.endpoint_name,
        endpoint_url=url,
        training_job_name=estimator.latest_training_job.name,
        seconds=time.monotonic() - started,
        deleted=not keep,
    )
