"""The built-in `random-cut-forest` algorithm: SageMaker Random Cut Forest's interface on AWS's
Random Cut Forest library (``krcf``: Python bindings of AWS's Rust implementation,
Apache-2.0).

Each of `num_trees` trees holds a uniform random sample of `num_samples_per_tree` training rows
(reservoir sampling over the whole channel, as SageMaker's batch training does) and cuts it at
random, each cut on a feature chosen in proportion to its range. A row's anomaly score is the
library's standard one: how early, on average over the trees, the row would be cut off from
the sample, normalized so that typical rows score about 1 or less and anomalies score higher,
as SageMaker's do. SageMaker suggests treating scores above mean + 3 standard deviations
of the training scores as anomalies; that threshold is kept with the model and used for the
test metrics.

The library's forest is a streaming one; it is set up for batch training like this:

    krcf.RandomCutForest({
        "dimensions": feature count, "shingle_size": 1,
        "num_trees": num_trees, "sample_size": num_samples_per_tree, "random_seed": seed,
        "output_after": 1,               # score from the first row (by default: 0 until the
                                         # sample is partly filled)
        "lambda": 0.0,                   # no time decay: a uniform sample of every row
        "initial_accept_fraction": 1.0,  # plain reservoir sampling
        "parallel_execution_enabled": False,  # one thread; the scores are the same either way
    })

then `update(row)` for every training row in order and `score(row)` per row to answer.

Metrics (final): ``train:score_mean`` and ``train:score_std`` (of at most 10,000 evenly spaced
training rows: scoring walks every tree); on a test channel ``test:score_mean`` /
``test:score_std`` and, when it is labelled (content type ``text/csv;label_size=1``, label 1 for
an anomaly, as SageMaker's test channel), ``test:accuracy`` and ``test:precision`` /
``test:recall`` / ``test:f1`` of the anomaly class, as chosen by `eval_metrics`.

Answers follow SageMaker: ``{"scores": [{"score": 1.3}]}``; text/csv: the score of each row.
The artifact is ``rcf-forest.msgpack`` (the forest in the library's own format:
``krcf.RandomCutForest.from_msgpack(data)``) plus ``modelyard-model.json`` (with the
threshold).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms import metrics
from modelyard.algorithms.base import (
    Hyperparameter,
    MetricDefinition,
    Prediction,
    TrainingContext,
)
from modelyard.algorithms.metadata import write_model_metadata
from modelyard.algorithms.unsupervised import (
    FEATURE_DIM,
    UnsupervisedAlgorithm,
    parse_metric_list,
    seed_hyperparameter,
)
from modelyard.errors import InvalidHyperparameters, InvalidRequest

MODEL_FILE = "rcf-forest.msgpack"
KRCF_INSTALL = "pip install 'krcf>=0.4,<0.5'"
EVAL_METRICS = ("accuracy", "precision_recall_fscore")
TRAIN_SCORE_ROWS = 10_000
THRESHOLD_STDS = 3.0

HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "num_trees",
        int,
        100,
        "Number of trees; more trees give steadier scores.",
        min=50,
        max=1000,
        tuning_range=(50, 1000),
        tuning_scale="Logarithmic",
    ),
    Hyperparameter(
        "num_samples_per_tree",
        int,
        256,
        "Training rows sampled into each tree; about 1 / (expected share of anomalies). "
        "At least 3 (the library's smallest tree).",
        min=3,
        max=2048,
        tuning_range=(16, 2048),
        tuning_scale="Logarithmic",
    ),
    FEATURE_DIM,
    Hyperparameter(
        "eval_metrics",
        str,
        '["accuracy", "precision_recall_fscore"]',
        "Metrics of a labelled test channel: a list of accuracy and precision_recall_fscore "
        "(precision, recall and F1 of the anomaly class).",
    ),
    seed_hyperparameter("Random seed of the sampling and of the cuts."),
)

METRICS: tuple[MetricDefinition, ...] = (
    MetricDefinition("train:score_mean", "Minimize"),
    MetricDefinition("train:score_std", "Minimize"),
    MetricDefinition("test:score_mean", "Minimize"),
    MetricDefinition("test:score_std", "Minimize"),
    MetricDefinition("test:accuracy", "Maximize"),
    MetricDefinition("test:precision", "Maximize"),
    MetricDefinition("test:recall", "Maximize"),
    MetricDefinition("test:f1", "Maximize"),
)


def import_krcf() -> Any:
    """The krcf module, or a clear error naming the package to install."""
    try:
        import krcf
    except ImportError:
        raise InvalidRequest(
            f"the random-cut-forest algorithm needs the krcf package: {KRCF_INSTALL}",
            {"algorithm": "random-cut-forest", "missing": "krcf", "install": KRCF_INSTALL},
        ) from None
    return krcf


def forest_options(hps: dict[str, Any], num_features: int) -> dict[str, Any]:
    """The library's options for validated hyperparameters (see the module docstring)."""
    return {
        "dimensions": num_features,
        "shingle_size": 1,
        "num_trees": hps["num_trees"],
        "sample_size": hps["num_samples_per_tree"],
        "random_seed": hps["seed"],
        "output_after": 1,
        "lambda": 0.0,
        "initial_accept_fraction": 1.0,
        "parallel_execution_enabled": False,
    }


def score_rows(forest: Any, X: np.ndarray) -> np.ndarray:
    """The anomaly score of each row (the library scores one row per call)."""
    score = forest.score
    return np.fromiter((score(row) for row in X), dtype=np.float64, count=len(X))


@dataclass
class ForestModel:
    """What `load` returns."""

    forest: Any  # krcf.RandomCutForest
    num_features: int
    threshold: float  # mean + 3 std of the training scores


class RandomCutForestAlgorithm(UnsupervisedAlgorithm):
    name = "random-cut-forest"
    description = (
        "Anomaly detection with SageMaker Random Cut Forest's hyperparameters and answers, "
        "by AWS's Random Cut Forest library (krcf)."
    )
    artifact = (
        "rcf-forest.msgpack: the trained forest in the krcf library's own format "
        "(krcf.RandomCutForest.from_msgpack(bytes) gives it back, with score(row)); "
        "modelyard-model.json: algorithm, num_features, the library's options, the training "
        "score mean, standard deviation and anomaly threshold, krcf version, hyperparameters."
    )
    hyperparameters = HYPERPARAMETERS
    problem_types = ("AnomalyDetection",)
    metrics = METRICS

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        if problem_type not in self.problem_types:
            return None
        return {"num_trees": 50, "num_samples_per_tree": 64}

    def check(self, hps: dict[str, Any]) -> None:
        try:
            parse_metric_list(hps["eval_metrics"], EVAL_METRICS)
        except ValueError as exc:
            raise InvalidHyperparameters(self.name, {"eval_metrics": str(exc)}) from None

    # --- training ------------------------------------------------------------------------------

    def train(self, ctx: TrainingContext) -> None:
        hps = self.validate(ctx.hyperparameters)
        krcf = import_krcf()
        train = self.read_train(ctx, hps)
        rows, num_features = train.X.shape
        test = self.read_test(ctx, num_features)
        if test is not None and test.y is not None:
            _check_labels(test.y)
        options = forest_options(hps, num_features)
        ctx.log(
            f"random-cut-forest: {hps['num_trees']} trees of {hps['num_samples_per_tree']} "
            f"sampled rows, from {rows} rows x {num_features} features (krcf {krcf.__version__})"
        )
        started = time.perf_counter()
        forest = krcf.RandomCutForest(options)
        update = forest.update
        for row in train.X:
            update(row)
        ctx.log(f"random-cut-forest: sampled and built in {time.perf_counter() - started:.1f}s")

        step = -(-rows // TRAIN_SCORE_ROWS)  # ceiling division
        if step > 1:
            ctx.log(f"train:* scores are computed on one in {step} of the {rows} training rows")
        train_scores = score_rows(forest, train.X[::step])
        mean, std = float(train_scores.mean()), float(train_scores.std())
        threshold = mean + THRESHOLD_STDS * std
        ctx.log(f"random-cut-forest: anomaly threshold (mean + 3 std) {threshold:.6g}")
        self.report(ctx, "train", {"score_mean": mean, "score_std": std})
        if test is not None:
            self.report(ctx, "test", self.evaluate(test.X, test.y, forest, threshold, hps, ctx))

        ctx.model_dir.mkdir(parents=True, exist_ok=True)
        (ctx.model_dir / MODEL_FILE).write_bytes(forest.to_msgpack())
        write_model_metadata(
            ctx.model_dir,
            self.name,
            num_features,
            hps,
            options=options,
            score_mean=mean,
            score_std=std,
            threshold=threshold,
            krcf_version=krcf.__version__,
        )
        ctx.log(f"saved {MODEL_FILE}")

    def evaluate(
        self,
        X: np.ndarray,
        y: np.ndarray | None,
        forest: Any,
        threshold: float,
        hps: dict[str, Any],
        ctx: TrainingContext,
    ) -> dict[str, float]:
        scores = score_rows(forest, X)
        values = {"score_mean": float(scores.mean()), "score_std": float(scores.std())}
        if y is None:
            ctx.log(
                "the test channel has no labels: give it content type text/csv;label_size=1 "
                "(label 1 for an anomaly) for accuracy, precision, recall and F1"
            )
            return values
        found = metrics.classification(
            y.astype(np.int64), (scores > threshold).astype(np.int64), None, 2
        )
        wanted = parse_metric_list(hps["eval_metrics"], EVAL_METRICS)
        if "accuracy" in wanted:
            values["accuracy"] = found["accuracy"]
        if "precision_recall_fscore" in wanted:
            values.update(precision=found["precision"], recall=found["recall"], f1=found["f1"])
        return values

    # --- serving -------------------------------------------------------------------------------

    def load(self, model_dir: Path) -> ForestModel:
        meta = self.model_metadata(model_dir)
        krcf = import_krcf()
        data = self.model_file(model_dir, MODEL_FILE).read_bytes()
        forest = krcf.RandomCutForest.from_msgpack(data)
        return ForestModel(forest, int(meta["num_features"]), float(meta["threshold"]))

    def predict(self, model: ForestModel, features: Any) -> Prediction:
        X = self.request_rows(features, model.num_features)
        scores = score_rows(model.forest, X)
        return Prediction([{"score": s} for s in scores.tolist()], scores, key="scores")

    def num_features(self, model: ForestModel) -> int | None:
        return model.num_features


def _check_labels(y: np.ndarray) -> None:
    if not np.isin(y, (0.0, 1.0)).all():
        raise InvalidRequest(
            "channel 'test': labels must be 0 (normal) or 1 (anomaly)", {"channel": "test"}
        )


ALGORITHM = RandomCutForestAlgorithm()

__all__ = [
    "ALGORITHM",
    "MODEL_FILE",
    "ForestModel",
    "RandomCutForestAlgorithm",
    "forest_options",
    "import_krcf",
    "score_rows",
]
