"""`nearest-centroid`: each row gets the class of the nearest class centroid (scikit-learn's
NearestCentroid), as a modelyard algorithm plug-in."""

from __future__ import annotations

from typing import Any

from modelyard.algorithms.base import Hyperparameter
from modelyard.algorithms.supervised import BINARY, MULTICLASS, SklearnAlgorithm


class NearestCentroidAlgorithm(SklearnAlgorithm):
    name = "nearest-centroid"
    description = "Nearest-centroid classification, by scikit-learn (an example plug-in)."
    problem_types = ("BinaryClassification", "MulticlassClassification")
    own_hyperparameters = (
        Hyperparameter(
            "shrink_threshold",
            float,
            None,
            "Shrink the centroids towards the overall mean by this much (default: none).",
            min=0,
            tuning_range=(0.0, 2.0),
        ),
        Hyperparameter(
            "metric",
            str,
            "euclidean",
            "Distance to the centroids.",
            choices=("euclidean", "manhattan"),
        ),
    )

    def check_own(self, hps: dict[str, Any], problems: dict[str, str]) -> None:
        if hps["predictor_type"] not in (BINARY, MULTICLASS):
            problems["predictor_type"] = (
                "nearest-centroid classifies; use binary_classifier or multiclass_classifier"
            )

    def build_estimator(self, hps: dict[str, Any], rows: int, num_cpus: int) -> Any:
        from sklearn.neighbors import NearestCentroid

        return NearestCentroid(metric=hps["metric"], shrink_threshold=hps["shrink_threshold"])


ALGORITHM = NearestCentroidAlgorithm()
