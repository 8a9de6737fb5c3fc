"""The built-in `svm` algorithm: support vector machines by scikit-learn.

Which estimator does the work (`kernel`):

- ``linear``: LinearSVC / LinearSVR (liblinear): time linear in the rows, for large data.
- ``rbf``, ``poly``, ``sigmoid``: SVC / SVR (libsvm): kernel machines, whose training time grows
  with the square of the rows or faster, for small data.
- ``auto`` (the default): ``linear`` above `kernel_rows_limit` training rows (10,000 unless
  given), ``rbf`` up to it.

With `normalize_data` (default true) the features are standardized first, inside the saved
pipeline. A multiclass kernel machine breaks one-vs-one ties by its decision function
(scikit-learn's ``break_ties``), so that its predicted label is always the class of the
highest score it reports.

Served answers follow linear-learner's format; an SVM has no probabilities, so ``score`` is
the signed distance to the margin (binary: the class is 1 when it is positive) or, for
multiclass, the decision function of each class. Final metrics are therefore the regression
ones, or accuracy / precision / recall / f1 (no log_loss, no auc).

The artifact is ``model.joblib`` (the fitted scikit-learn pipeline) plus
``modelyard-model.json``.
"""

from __future__ import annotations

from typing import Any

from modelyard.algorithms.base import Hyperparameter
from modelyard.algorithms.supervised import MULTICLASS, REGRESSOR, SklearnAlgorithm

KERNELS = ("auto", "linear", "rbf", "poly", "sigmoid")


def _parse_gamma(text: str) -> str | float:
    value = text.strip().lower()
    if value in ("scale", "auto"):
        return value
    number = float(value)
    if not number > 0:
        raise ValueError(text)
    return number


class SVMAlgorithm(SklearnAlgorithm):
    name = "svm"
    description = (
        "Support vector machines for regression or classification, by scikit-learn: linear "
        "for large data, kernel (rbf, poly, sigmoid) for small."
    )
    own_hyperparameters = (
        Hyperparameter(
            "kernel",
            str,
            "auto",
            "linear, rbf, poly or sigmoid; auto: linear above kernel_rows_limit rows, else rbf.",
            choices=KERNELS,
        ),
        Hyperparameter(
            "kernel_rows_limit",
            int,
            10_000,
            "Most training rows for which kernel=auto picks rbf.",
            min=1,
        ),
        Hyperparameter(
            "C",
            float,
            1.0,
            "Inverse regularization strength.",
            min=0,
            min_exclusive=True,
            tuning_range=(1e-3, 1e3),
            tuning_scale="Logarithmic",
        ),
        Hyperparameter(
            "epsilon",
            float,
            None,
            "Regressor: width of the loss-free tube (default 0.1 for kernels, 0 for linear).",
            min=0,
        ),
        Hyperparameter(
            "gamma",
            str,
            "scale",
            "Kernel coefficient of rbf, poly and sigmoid: scale, auto or a number > 0.",
        ),
        Hyperparameter("degree", int, 3, "Degree of the poly kernel.", min=1, max=10),
        Hyperparameter("coef0", float, 0.0, "Independent term of the poly and sigmoid kernels."),
        Hyperparameter(
            "tol",
            float,
            None,
            "Stopping tolerance (default: the solver's, 1e-3 for kernels, 1e-4 for linear).",
            min=0,
            min_exclusive=True,
        ),
        Hyperparameter(
            "max_iter",
            int,
            None,
            "Most solver iterations (default: the solver's; unlimited for kernels).",
            min=1,
        ),
        Hyperparameter("normalize_data", bool, True, "Standardize the features first."),
        Hyperparameter(
            "class_weight",
            str,
            "none",
            "Class weights of a classifier: none, or balanced (inverse to class frequency).",
            choices=("none", "balanced"),
        ),
        Hyperparameter("seed", int, 0, "Random seed (scikit-learn's random_state)."),
    )

    def check_own(self, hps: dict[str, Any], problems: dict[str, str]) -> None:
        regressor = hps["predictor_type"] == REGRESSOR
        try:
            _parse_gamma(hps["gamma"])
        except ValueError:
            problems["gamma"] = f"got {hps['gamma']!r}; expected scale, auto or a number > 0"
        if hps["epsilon"] is not None and not regressor:
            problems["epsilon"] = "only a regressor has an epsilon tube; leave it unset"
        if regressor and hps["class_weight"] != "none":
            problems["class_weight"] = "only a classifier has class weights; leave it none"

    def kernel(self, hps: dict[str, Any], rows: int) -> str:
        """The kernel used for `rows` training rows (resolves auto)."""
        if hps["kernel"] != "auto":
            return str(hps["kernel"])
        return "linear" if rows > hps["kernel_rows_limit"] else "rbf"

    def build_estimator(self, hps: dict[str, Any], rows: int, num_cpus: int) -> Any:
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR

        regressor = hps["predictor_type"] == REGRESSOR
        kernel = self.kernel(hps, rows)
        given = {"tol": hps["tol"], "max_iter": hps["max_iter"], "epsilon": hps["epsilon"]}
        params: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        params["C"] = hps["C"]
        if not regressor:
            params["class_weight"] = None if hps["class_weight"] == "none" else "balanced"
        model: Any
        if kernel == "linear":
            params["random_state"] = hps["seed"]
            model = LinearSVR(**params) if regressor else LinearSVC(**params)
        else:
            params.update(
                kernel=kernel,
                gamma=_parse_gamma(hps["gamma"]),
                degree=hps["degree"],
                coef0=hps["coef0"],
            )
            if regressor:
                model = SVR(**params)
            else:
                model = SVC(
                    random_state=hps["seed"],
                    break_ties=hps["predictor_type"] == MULTICLASS,
                    **params,
                )
        steps = [("scaler", StandardScaler())] if hps["normalize_data"] else []
        return Pipeline([*steps, ("model", model)])


ALGORITHM = SVMAlgorithm()

__all__ = ["ALGORITHM", "SVMAlgorithm"]
