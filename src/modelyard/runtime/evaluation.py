"""An evaluation job's process: fetch the model and the test rows, predict, measure, report.

`runtime.job` runs it (`run_job`). What the model answers (`Prediction.records`, the same
records an endpoint serves) is read the way a client would: a `predicted_label` means a
classifier, a list `score` holds class probabilities, a scalar `score` is P(class 1) or the
predicted value. The report is computed by `modelyard.evaluation` and both its files are
uploaded as plain objects, so `report.html` opens in a browser straight from the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from modelyard.errors import InvalidRequest
from modelyard.runtime.layout import JobLayout
from modelyard.runtime.reporter import Reporter
from modelyard.runtime.training import fetch_channels


def run_job(
    layout: JobLayout, spec: dict[str, Any], reporter: Reporter, log: Callable[[str], None]
) -> dict[str, Any]:
    from modelyard.algorithms.data import read_channel, summary
    from modelyard.evaluation import evaluate, render_report
    from modelyard.runtime.serving import load_model

    reporter.status("Downloading", "Downloading the model and the test data")
    channels = fetch_channels(layout, spec)
    algorithm, model = load_model(
        spec["model_artifact"], spec["algorithm"], layout.root / "artifact", spec["storage_url"]
    )
    test = spec["channels"][0]
    data = read_channel(
        channels["test"],
        test["content_type"],
        label=spec.get("label"),
        allowed=algorithm.content_types,
        num_features=algorithm.num_features(model),
        channel="test",
    )
    log(summary("test", data))
    if data.y is None:
        raise InvalidRequest(
            f"the test data {test['uri']} has no label column (content type "
            f"{test['content_type']!r}); evaluation compares predictions with labels"
        )
    reporter.status("Training", "Evaluating the model on the test data")
    prediction = algorithm.predict(model, data.X)
    problem = spec.get("problem_type") or infer_problem(prediction.records, data.y)
    predicted, probabilities = read_answers(problem, prediction.records)
    log(f"{spec['algorithm']} model on {len(data.y)} test rows, as a {problem}")
    dense = isinstance(data.X, np.ndarray)
    importance = spec.get("permutation_importance", True) and dense
    result = evaluate(
        problem,
        data.y,
        predicted,
        probabilities=probabilities,
        features=data.X if importance else None,
        predict=(lambda X: read_answers(problem, algorithm.predict(model, X).records)[0])
        if importance
        else None,
        random_seed=int(spec.get("random_seed", 0)),
    )
    for name, value in result["metrics"].items():
        reporter.metric(f"test:{name}", value)
        log(f"test:{name} = {value:.6g}")
    reporter.flush()
    reporter.status("Uploading", "Uploading the evaluation and its report")
    source = spec.get("model_name") or spec.get("training_job_name")
    title = f"{spec['name']}: the {spec['algorithm']} model of {source}"
    uris = upload(spec, {
        "evaluation.json": (json.dumps(result, allow_nan=False, indent=1), "application/json"),
        "report.html": (render_report(result, title), "text/html; charset=utf-8"),
    })  # fmt: skip
    return {"problem_type": problem, "metrics": result["metrics"], **uris}


def infer_problem(records: list[dict[str, Any]], y: np.ndarray) -> str:
    first = records[0] if records else {}
    classes = np.unique(y)
    if isinstance(first.get("score"), list):
        return "multiclass_classifier" if len(first["score"]) > 2 else "binary_classifier"
    if "predicted_label" in first:
        return "binary_classifier" if len(classes) <= 2 else "multiclass_classifier"
    scores = np.asarray([r["score"] for r in records], dtype=float)
    if set(classes.tolist()) <= {0.0, 1.0} and scores.min() >= 0 and scores.max() <= 1:
        return "binary_classifier"  # P(class 1) against 0/1 labels
    return "regressor"


def read_answers(problem: str, records: list[dict[str, Any]]) -> tuple[Any, Any]:
    """(predicted labels or values, class probabilities or None) from the model's records."""
    if problem == "regressor":
        return np.asarray([r["score"] for r in records], dtype=float), None
    scores = [r.get("score") for r in records]
    probabilities: Any = None
    if scores and isinstance(scores[0], list):
        probabilities = np.asarray(scores, dtype=float)
    elif scores and scores[0] is not None:
        values = np.asarray(scores, dtype=float)
        if values.min() >= 0 and values.max() <= 1:  # a margin is not a probability
            probabilities = values
    if records and "predicted_label" in records[0]:
        labels = np.asarray([r["predicted_label"] for r in records])
    elif probabilities is not None and probabilities.ndim == 2:
        labels = probabilities.argmax(axis=1)
    elif probabilities is not None:
        labels = (probabilities >= 0.5).astype(int)
    else:
        raise InvalidRequest(
            f"the model answers {sorted(records[0]) if records else 'nothing'} per row: no "
            f"predicted label or probability to evaluate it as a {problem}"
        )
    return labels, probabilities


def upload(spec: dict[str, Any], files: dict[str, tuple[str, str]]) -> dict[str, str]:
    from modelyard.storage import open_store, parse_s3_uri

    store = open_store(spec["storage_url"])
    uris = {}
    for name, (text, content_type) in files.items():
        uri = f"{spec['output_prefix']}/{name}"
        bucket, key = parse_s3_uri(uri)
        store.put_object(bucket, key, text.encode(), content_type=content_type)
        uris[name.split(".")[0]] = uri
        print(f"[modelyard] {name}: {uri}", flush=True)
    return uris
