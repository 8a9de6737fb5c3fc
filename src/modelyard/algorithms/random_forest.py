"""The built-in `random-forest` algorithm: scikit-learn's RandomForestClassifier or
RandomForestRegressor by `predictor_type`.

Hyperparameters carry scikit-learn's names (SageMaker has no such built-in) except `num_trees`
(scikit-learn's `n_estimators`) and `seed` (`random_state`); the trees are grown on every CPU
the job has. The artifact is ``model.joblib`` (the fitted scikit-learn estimator) plus
``modelyard-model.json``.
"""

from __future__ import annotations

from typing import Any

from modelyard.algorithms.base import Hyperparameter
from modelyard.algorithms.decision_tree import check_tree, tree_hyperparameters, tree_params
from modelyard.algorithms.supervised import REGRESSOR, SklearnAlgorithm


class RandomForestAlgorithm(SklearnAlgorithm):
    name = "random-forest"
    description = (
        "A random forest (bagged decision trees) for regression or classification, by scikit-learn."
    )
    own_hyperparameters = (
        Hyperparameter(
            "num_trees",
            int,
            100,
            "Number of trees (scikit-learn's n_estimators).",
            min=1,
            max=10_000,
            tuning_range=(10, 1000),
            tuning_scale="Logarithmic",
        ),
        *tree_hyperparameters("auto"),
        Hyperparameter(
            "bootstrap", bool, True, "Grow each tree on a bootstrap sample (else on every row)."
        ),
        Hyperparameter(
            "max_samples",
            float,
            None,
            "Fraction of the rows drawn for each tree's bootstrap sample (default: all).",
            min=0,
            min_exclusive=True,
            max=1,
            tuning_range=(0.1, 1.0),
        ),
    )

    def check_own(self, hps: dict[str, Any], problems: dict[str, str]) -> None:
        check_tree(hps, problems)
        if hps["max_samples"] is not None and not hps["bootstrap"]:
            problems["max_samples"] = "needs bootstrap=true; leave it unset without bootstrap"

    def build_estimator(self, hps: dict[str, Any], rows: int, num_cpus: int) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        params = tree_params(hps)
        params.update(
            n_estimators=hps["num_trees"],
            bootstrap=hps["bootstrap"],
            max_samples=hps["max_samples"],
            n_jobs=num_cpus,
        )
        if hps["predictor_type"] == REGRESSOR:
            return RandomForestRegressor(**params)
        return RandomForestClassifier(**params)

    def load_model(self, model_dir: Any, meta: dict[str, Any]) -> Any:
        forest = super().load_model(model_dir, meta)
        # A served request is usually a few rows: threads would cost more than they save.
        forest.set_params(n_jobs=1)
        return forest


ALGORITHM = RandomForestAlgorithm()

__all__ = ["ALGORITHM", "RandomForestAlgorithm"]
