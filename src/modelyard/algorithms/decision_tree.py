"""The built-in `decision-tree` algorithm: one CART tree, scikit-learn's DecisionTreeClassifier or
DecisionTreeRegressor by `predictor_type`.

Hyperparameters carry scikit-learn's names (SageMaker has no such built-in), with `seed` for
`random_state`. The artifact is ``model.joblib`` (the fitted scikit-learn estimator) plus
``modelyard-model.json``.
"""

from __future__ import annotations

from typing import Any

from modelyard.algorithms.base import Hyperparameter
from modelyard.algorithms.supervised import (
    REGRESSOR,
    SklearnAlgorithm,
    parse_max_features,
)

CLASSIFIER_CRITERIA = ("gini", "entropy", "log_loss")
REGRESSOR_CRITERIA = ("squared_error", "friedman_mse", "absolute_error", "poisson")


def tree_hyperparameters(max_features_default: str) -> tuple[Hyperparameter, ...]:
    """The knobs of one tree, shared with random-forest."""
    return (
        Hyperparameter(
            "max_depth",
            int,
            None,
            "Maximum depth of a tree (default: grow until the leaves are pure or small).",
            min=1,
            tuning_range=(2, 30),
        ),
        Hyperparameter(
            "min_samples_split",
            int,
            2,
            "Fewest rows a node needs to be split.",
            min=2,
            tuning_range=(2, 100),
            tuning_scale="Logarithmic",
        ),
        Hyperparameter(
            "min_samples_leaf",
            int,
            1,
            "Fewest rows in a leaf.",
            min=1,
            tuning_range=(1, 50),
            tuning_scale="Logarithmic",
        ),
        Hyperparameter(
            "max_features",
            str,
            max_features_default,
            "Features tried at each split: sqrt, log2, all, a fraction in (0, 1] or a count"
            + (
                " (auto: sqrt for classifiers, all for regressors)."
                if max_features_default == "auto"
                else "."
            ),
        ),
        Hyperparameter(
            "max_leaf_nodes", int, None, "Most leaves per tree (default: unlimited).", min=2
        ),
        Hyperparameter(
            "min_impurity_decrease",
            float,
            0.0,
            "Smallest impurity decrease a split must bring.",
            min=0,
        ),
        Hyperparameter(
            "criterion",
            str,
            "auto",
            "Split quality (auto: gini for classifiers, squared_error for regressors).",
            choices=("auto", *CLASSIFIER_CRITERIA, *REGRESSOR_CRITERIA),
        ),
        Hyperparameter(
            "ccp_alpha",
            float,
            0.0,
            "Cost-complexity pruning strength (0: no pruning).",
            min=0,
            tuning_range=(1e-6, 0.1),
            tuning_scale="Logarithmic",
        ),
        Hyperparameter(
            "class_weight",
            str,
            "none",
            "Class weights of a classifier: none, or balanced (inverse to class frequency).",
            choices=("none", "balanced"),
        ),
        Hyperparameter("seed", int, 0, "Random seed (scikit-learn's random_state)."),
    )


def check_tree(hps: dict[str, Any], problems: dict[str, str]) -> None:
    regressor = hps["predictor_type"] == REGRESSOR
    criterion = hps["criterion"]
    allowed = REGRESSOR_CRITERIA if regressor else CLASSIFIER_CRITERIA
    if criterion != "auto" and criterion not in allowed:
        problems["criterion"] = (
            f"{criterion} does not fit {hps['predictor_type']}; use auto or one of "
            + ", ".join(allowed)
        )
    if regressor and hps["class_weight"] != "none":
        problems["class_weight"] = "only a classifier has class weights; leave it none"
    if hps["max_features"] != "auto":
        try:
            parse_max_features(hps["max_features"])
        except ValueError:
            problems["max_features"] = (
                f"got {hps['max_features']!r}; expected sqrt, log2, all, a fraction in (0, 1] "
                "or a whole count >= 1"
            )


def tree_params(hps: dict[str, Any]) -> dict[str, Any]:
    """scikit-learn keyword arguments of the tree hyperparameters."""
    regressor = hps["predictor_type"] == REGRESSOR
    criterion = hps["criterion"]
    if criterion == "auto":
        criterion = "squared_error" if regressor else "gini"
    params: dict[str, Any] = {
        "criterion": criterion,
        "max_depth": hps["max_depth"],
        "min_samples_split": hps["min_samples_split"],
        "min_samples_leaf": hps["min_samples_leaf"],
        "max_leaf_nodes": hps["max_leaf_nodes"],
        "min_impurity_decrease": hps["min_impurity_decrease"],
        "ccp_alpha": hps["ccp_alpha"],
        "random_state": hps["seed"],
    }
    if hps["max_features"] != "auto":
        params["max_features"] = parse_max_features(hps["max_features"])
    if not regressor:
        params["class_weight"] = None if hps["class_weight"] == "none" else "balanced"
    return params


class DecisionTreeAlgorithm(SklearnAlgorithm):
    name = "decision-tree"
    description = "A single decision tree (CART) for regression or classification, by scikit-learn."
    own_hyperparameters = tree_hyperparameters("all")

    def check_own(self, hps: dict[str, Any], problems: dict[str, str]) -> None:
        check_tree(hps, problems)

    def build_estimator(self, hps: dict[str, Any], rows: int, num_cpus: int) -> Any:
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        params = tree_params(hps)
        if hps["predictor_type"] == REGRESSOR:
            return DecisionTreeRegressor(**params)
        return DecisionTreeClassifier(**params)


ALGORITHM = DecisionTreeAlgorithm()

__all__ = [
    "ALGORITHM",
    "DecisionTreeAlgorithm",
    "check_tree",
    "tree_hyperparameters",
    "tree_params",
]
