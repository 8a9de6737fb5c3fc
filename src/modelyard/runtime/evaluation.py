"""An evaluation job's process: fetch the model and the test rows, predict, measure, report.

`runtime.job` runs it (`run_job`). What the model answers (`Prediction.records`, the same
records an endpoint serves) is read the way a client would: a `predicted_label` means a
classifier, a list `score` holds class probabilities, a scalar `score` is P(class 1) or the
predicted value. The report is computed by `modelyard.evaluation` and both its files are
uploaded as plain objects, so `report.html` opens in a browser straight from the store.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.algorithms.data import SUPPORTED
from modelyard.errors import InvalidRequest
from modelyard.runtime.layout import JobLayout
from modelyard.runtime.reporter import Reporter
from modelyard.runtime.training import fetch_channels


def run_job(
    layout: JobLayout, spec: dict[str, Any], reporter: Reporter, log: Callable[[str], None]
) -> dict[str, Any]:
    from modelyard.algorithms.data import read_channel, summary
    from modelyard.evaluation import evaluate, render_report

    reporter.status("Downloading", "Downloading the model and the test data")
    channels = fetch_channels(layout, spec)
    scorer = built_in(spec, layout) if spec.get("algorithm") else user_code(spec, layout)
    test = spec["channels"][0]
    data = read_channel(
        channels["test"],
        test["content_type"],
        label=spec.get("label"),
        allowed=scorer.content_types,
        num_features=scorer.num_features,
        channel="test",
    )
    log(summary("test", data))
    if data.y is None:
        raise InvalidRequest(
            f"the test data {test['uri']} has no label column (content type "
            f"{test['content_type']!r}); evaluation compares predictions with labels"
        )
    reporter.status("Training", "Evaluating the model on the test data")
    records = scorer.predict(data.X)
    if len(records) != len(data.y):
        raise InvalidRequest(
            f"the model answered {len(records)} predictions for {len(data.y)} test rows"
        )
    problem = spec.get("problem_type") or infer_problem(records, data.y)
    predicted, probabilities = read_answers(problem, records)
    log(f"{scorer.what} on {len(data.y)} test rows, as a {problem}")
    dense = isinstance(data.X, np.ndarray)
    importance = spec.get("permutation_importance", True) and dense
    result = evaluate(
        problem,
        data.y,
        predicted,
        probabilities=probabilities,
        features=data.X if importance else None,
        predict=(lambda X: read_answers(problem, scorer.predict(X))[0]) if importance else None,
        random_seed=int(spec.get("random_seed", 0)),
    )
    for name, value in result["metrics"].items():
        reporter.metric(f"test:{name}", value)
        log(f"test:{name} = {value:.6g}")
    reporter.flush()
    reporter.status("Uploading", "Uploading the evaluation and its report")
    source = spec.get("model_name") or spec.get("training_job_name")
    title = f"{spec['name']}: the {scorer.what} of {source}"
    uris = upload(spec, {
        "evaluation.json": (json.dumps(result, allow_nan=False, indent=1), "application/json"),
        "report.html": (render_report(result, title), "text/html; charset=utf-8"),
    })  # fmt: skip
    return {"problem_type": problem, "metrics": result["metrics"], **uris}


@dataclass(frozen=True)
class Scorer:
    """A loaded model as the evaluation sees it: rows in, one answer record per row out."""

    predict: Callable[[Any], list[dict[str, Any]]]
    what: str  # "xgboost model", "sklearn model (train.py)"
    num_features: int | None = None
    content_types: tuple[str, ...] = SUPPORTED


def built_in(spec: dict[str, Any], layout: JobLayout) -> Scorer:
    from modelyard.runtime.serving import load_model

    algorithm, model = load_model(
        spec["model_artifact"], spec["algorithm"], layout.root / "artifact", spec["storage_url"]
    )
    return Scorer(
        lambda X: algorithm.predict(model, X).records,
        f"{algorithm.name} model",
        algorithm.num_features(model),
        algorithm.content_types,
    )


def user_code(spec: dict[str, Any], layout: JobLayout) -> Scorer:
    """A script-mode model, answered by its own inference code (model_fn, input_fn,
    predict_fn, output_fn, or the framework's defaults) exactly as its endpoint would be."""
    from modelyard.runtime.serving import load_user_handler

    script = spec["script"]
    handle = load_user_handler(
        argparse.Namespace(
            model_data=spec["model_artifact"],
            framework=script.get("framework") or "python",
            entry_point=script.get("entry_point"),
            source_dir=script.get("source_dir"),
            storage_url=spec["storage_url"],
            envs_dir=None,
        ),
        layout.root / "artifact",
    )

    def predict(X: Any) -> list[dict[str, Any]]:
        rows = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        body = io.BytesIO()
        np.savetxt(body, rows, delimiter=",", fmt="%.9g")
        answer, _ = handle(body.getvalue(), "text/csv", "application/json")
        return as_records(json.loads(answer))

    framework = script.get("framework") or "python"
    return Scorer(predict, f"{framework} model ({script.get('entry_point') or 'inference.py'})")


def as_records(answer: Any) -> list[dict[str, Any]]:
    """The JSON a model's output_fn wrote, as per-row records like the built-ins': a list of
    values, of class-probability lists or of records, possibly under one top-level key."""
    if isinstance(answer, dict) and len(answer) == 1:
        answer = next(iter(answer.values()))  # {"predictions": [...]}
    if not isinstance(answer, list):
        raise InvalidRequest(
            f"the model's output_fn answered {type(answer).__name__}; evaluation needs one "
            "prediction per row (a JSON list)"
        )
    return [row if isinstance(row, dict) else {"score": row} for row in answer]


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
    from modelyard.runtime.store import job_store
    from modelyard.storage import parse_s3_uri

    store = job_store(spec["storage_url"])
    uris = {}
    for name, (text, content_type) in files.items():
        uri = f"{spec['output_prefix']}/{name}"
        bucket, key = parse_s3_uri(uri)
        store.put_object(bucket, key, text.encode(), content_type=content_type)
        uris[name.split(".")[0]] = uri
        print(f"[modelyard] {name}: {uri}", flush=True)
    return uris
