"""Built-in and plug-in algorithms: the contract (`base`), the registry and the data readers.

Importing this package stays light: xgboost and scikit-learn are imported only when an
algorithm that needs them is asked for (`get_algorithm`).
"""

from modelyard.algorithms.base import (
    REQUIRED,
    Algorithm,
    Hyperparameter,
    MetricDefinition,
    Prediction,
    TrainingContext,
)
from modelyard.algorithms.catalog import catalog, describe
from modelyard.algorithms.registry import algorithm_names, get_algorithm, list_algorithms

__all__ = [
    "REQUIRED",
    "Algorithm",
    "Hyperparameter",
    "MetricDefinition",
    "Prediction",
    "TrainingContext",
    "algorithm_names",
    "catalog",
    "describe",
    "get_algorithm",
    "list_algorithms",
]
