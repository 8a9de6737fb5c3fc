"""The built-in `knn` algorithm: k-nearest neighbours by scikit-learn, with SageMaker k-NN's
interface where it has the same knob.

SageMaker's names: `k`, `sample_size` (train on a random sample of that many rows; default: all
rows), `index_metric` (L2 or COSINE) and `feature_dim`. scikit-learn's: `weights`,
`algorithm` (the neighbour index: auto, ball_tree, kd_tree, brute) and `leaf_size`. A
classifier votes among the k neighbours (`weights=distance`: votes weighted by 1/distance), a
regressor averages their labels.

Served answers follow SageMaker k-NN: ``{"predictions": [{"predicted_label": 1}]}`` (the mean
label of a regressor); text/csv answers the predicted labels. There are no train:* metrics
(each training row would find itself); give a validation or test channel to measure quality.

The artifact is ``model.joblib`` (the fitted scikit-learn pipeline, which holds the training
rows) plus ``modelyard-model.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelyard.algorithms.base import REQUIRED, Hyperparameter, Prediction, TrainingContext
from modelyard.algorithms.data import ChannelData
from modelyard.algorithms.supervised import REGRESSOR, SklearnAlgorithm, SupervisedModel
from modelyard.errors import InvalidRequest

METRICS = {"L2": "euclidean", "COSINE": "cosine"}


class KNNAlgorithm(SklearnAlgorithm):
    name = "knn"
    description = (
        "k-nearest neighbours for regression or classification, by scikit-learn, with "
        "SageMaker k-NN's hyperparameter names."
    )
    # Every training row is its own nearest neighbour, so train:* metrics would only flatter
    # the model (and cost a search of the whole index per row): quality comes from validation.
    train_metric_rows = 0
    own_hyperparameters = (
        Hyperparameter(
            "k",
            int,
            REQUIRED,
            "Number of neighbours.",
            min=1,
            max=1024,
            tuning_range=(1, 200),
            tuning_scale="Logarithmic",
        ),
        Hyperparameter(
            "sample_size",
            int,
            None,
            "Train on a random sample of this many rows (default: every row).",
            min=1,
        ),
        Hyperparameter(
            "index_metric",
            str,
            "L2",
            "Distance between rows: L2 (euclidean) or COSINE.",
            choices=tuple(METRICS),
        ),
        Hyperparameter(
            "weights",
            str,
            "uniform",
            "uniform: each neighbour counts the same; distance: by the inverse of its distance.",
            choices=("uniform", "distance"),
            tuning_range=("uniform", "distance"),
        ),
        Hyperparameter(
            "algorithm",
            str,
            "auto",
            "Neighbour index: auto, ball_tree, kd_tree or brute.",
            choices=("auto", "ball_tree", "kd_tree", "brute"),
        ),
        Hyperparameter("leaf_size", int, 30, "Leaf size of the tree indexes.", min=1),
        Hyperparameter("normalize_data", bool, False, "Standardize the features first."),
        Hyperparameter("seed", int, 0, "Random seed of the sample_size sample."),
    )

    def check_own(self, hps: dict[str, Any], problems: dict[str, str]) -> None:
        if hps["index_metric"] == "COSINE" and hps["algorithm"] in ("kd_tree", "ball_tree"):
            problems["algorithm"] = "a COSINE index needs algorithm auto or brute"

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        example = super().example_hyperparameters(problem_type)
        return None if example is None else {**example, "k": 3}

    def build_estimator(self, hps: dict[str, Any], rows: int, num_cpus: int) -> Any:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        params = {
            "n_neighbors": hps["k"],
            "weights": hps["weights"],
            "algorithm": hps["algorithm"],
            "leaf_size": hps["leaf_size"],
            "metric": METRICS[hps["index_metric"]],
            "n_jobs": num_cpus,
        }
        model = (
            KNeighborsRegressor(**params)
            if hps["predictor_type"] == REGRESSOR
            else KNeighborsClassifier(**params)
        )
        steps = [("scaler", StandardScaler())] if hps["normalize_data"] else []
        return Pipeline([*steps, ("model", model)])

    def fit_model(
        self,
        hps: dict[str, Any],
        train: ChannelData,
        others: dict[str, ChannelData],
        ctx: TrainingContext,
    ) -> Any:
        rows = train.X.shape[0]
        if hps["k"] > rows:
            raise InvalidRequest(
                f"k is {hps['k']} but channel 'train' has only {rows} rows",
                {"k": hps["k"], "rows": rows},
            )
        if hps["sample_size"] is not None and hps["sample_size"] < rows:
            if hps["k"] > hps["sample_size"]:
                raise InvalidRequest(
                    f"k is {hps['k']} but sample_size is {hps['sample_size']}",
                    {"k": hps["k"], "sample_size": hps["sample_size"]},
                )
            train = sample_rows(train, hps["sample_size"], hps["seed"])
            ctx.log(f"indexing a random sample of {hps['sample_size']} of the {rows} rows")
        return super().fit_model(hps, train, others, ctx)

    def answer(self, outputs: np.ndarray, model: SupervisedModel) -> Prediction:
        if model.classifier:
            labels = self.labels(outputs, model)
        else:
            labels = np.asarray(outputs, dtype=np.float64).reshape(-1)
        return Prediction([{"predicted_label": v} for v in labels.tolist()], labels)

    def load_model(self, model_dir: Any, meta: dict[str, Any]) -> Any:
        pipeline = super().load_model(model_dir, meta)
        # A served request is usually a few rows: threads would cost more than they save.
        pipeline.set_params(model__n_jobs=1)
        return pipeline


def sample_rows(data: ChannelData, size: int, seed: int) -> ChannelData:
    """`size` rows drawn without replacement, kept in their original order."""
    picked = np.sort(np.random.default_rng(seed).choice(data.X.shape[0], size, replace=False))
    assert data.y is not None
    return ChannelData(data.X[picked], data.y[picked])


ALGORITHM = KNNAlgorithm()

__all__ = ["ALGORITHM", "KNNAlgorithm", "sample_rows"]
