"""The built-in `linear-learner` algorithm: SageMaker Linear Learner's interface on scikit-learn.

Hyperparameters carry SageMaker's names. The model is fitted by scikit-learn, with the
regularization written the way SageMaker documents it, per example:

    mean(loss) + l1 * |w|_1 + wd / 2 * |w|_2^2

Which estimator does the work:

=======================  ==================================================================
predictor_type / loss    estimator
=======================  ==================================================================
regressor, squared_loss  LinearRegression (l1 = wd = 0), Ridge (alpha = n * wd, l1 = 0),
(auto)                   ElasticNet (alpha = l1 + wd, l1_ratio = l1 / (l1 + wd)): closed form
                         or coordinate descent, deterministic
regressor, absolute_loss SGDRegressor (epsilon-insensitive with epsilon 0, huber with
/ huber_loss / eps_*     huber_delta, epsilon-insensitive with loss_insensitivity), at most
                         `epochs` passes, early stopping by patience / tolerance
regressor, quantile_loss QuantileRegressor (quantile, alpha = l1; no wd)
binary, logistic (auto)  LogisticRegression (lbfgs, C = 1 / (n * wd); saga with l1_ratio when
multiclass, softmax_loss l1 > 0; no penalty when both are 0)
binary, hinge_loss       SGDClassifier(hinge); score is the margin, threshold 0
=======================  ==================================================================

`normalize_data` standardizes features (centring only when `use_bias`), `normalize_label`
(regressors; default on) standardizes the label, both inside the saved pipeline; with a
normalized label, `huber_delta` and `loss_insensitivity` are in units of the label's standard
deviation (the metrics are always computed on the original scale).

For binary classifiers, `binary_classifier_model_selection_criteria` is honoured the way
SageMaker does it, by choosing the decision threshold on the validation channel (the training
channel when there is none): accuracy, f_beta (with `f_beta`), precision_at_target_recall
(`target_recall`), recall_at_target_precision (`target_precision`); loss_function keeps 0.5.

Not honoured, accepted for compatibility: `mini_batch_size` (no estimator here takes mini
batches). `epochs`, `learning_rate`, `use_lr_scheduler`, `early_stopping_*` drive only the SGD
estimators; the others are solved to convergence.

Metrics (final, step None) for each of the train, validation and test channels, by SageMaker's
names: objective_loss and, by predictor type, mse / rmse / absolute_loss / r2;
binary_classification_accuracy / binary_f_beta / precision / recall / roc_auc_score;
multiclass_accuracy / multiclass_top_k_accuracy / macro_precision / macro_recall /
macro_f_beta / dcg; plus those every supervised built-in shares (modelyard.algorithms.metrics:
mae, accuracy, f1, auc, log_loss ...) under the names SageMaker does not already use.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    ElasticNet,
    LinearRegression,
    LogisticRegression,
    QuantileRegressor,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelyard.algorithms import metrics as shared_metrics
from modelyard.algorithms.base import (
    REQUIRED,
    Algorithm,
    Hyperparameter,
    MetricDefinition,
    Prediction,
    TrainingContext,
)
from modelyard.algorithms.data import CSV, CSV_HEADER, PARQUET, ChannelData, check_feature_dim
from modelyard.algorithms.metadata import write_model_metadata
from modelyard.algorithms.supervised import PROBLEM_PREDICTOR_TYPES
from modelyard.errors import InvalidHyperparameters, InvalidRequest

MODEL_FILE = "model.joblib"

REGRESSOR, BINARY, MULTICLASS = "regressor", "binary_classifier", "multiclass_classifier"

LOSSES = {
    REGRESSOR: (
        "auto",
        "squared_loss",
        "absolute_loss",
        "eps_insensitive_squared_loss",
        "eps_insensitive_absolute_loss",
        "quantile_loss",
        "huber_loss",
    ),
    BINARY: ("auto", "logistic", "hinge_loss"),
    MULTICLASS: ("auto", "softmax_loss"),
}
AUTO_LOSS = {REGRESSOR: "squared_loss", BINARY: "logistic", MULTICLASS: "softmax_loss"}

CRITERIA = (
    "accuracy",
    "f_beta",
    "precision_at_target_recall",
    "recall_at_target_precision",
    "loss_function",
)

_MAXIMIZE = {
    "binary_classification_accuracy",
    "binary_f_beta",
    "precision",
    "recall",
    "roc_auc_score",
    "multiclass_accuracy",
    "multiclass_top_k_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f_beta",
    "dcg",
    "r2",
}
_METRIC_NAMES = (
    "objective_loss",
    "mse",
    "rmse",
    "absolute_loss",
    "r2",
    "binary_classification_accuracy",
    "binary_f_beta",
    "precision",
    "recall",
    "roc_auc_score",
    "multiclass_accuracy",
    "multiclass_top_k_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f_beta",
    "dcg",
)


def _hp(name: str, type_: type, default: Any, help: str, **kw: Any) -> Hyperparameter:
    return Hyperparameter(name=name, type=type_, default=default, help=help, **kw)


HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    _hp(
        "predictor_type", str, REQUIRED, "Kind of target.", choices=(REGRESSOR, BINARY, MULTICLASS)
    ),
    _hp(
        "num_classes",
        int,
        None,
        "Number of classes (labels 0 .. num_classes-1); required for multiclass_classifier.",
        min=3,
    ),
    _hp(
        "feature_dim",
        int,
        None,
        "Number of features; checked against the data (default: taken from the data).",
        min=1,
    ),
    _hp(
        "loss",
        str,
        "auto",
        "Loss function (auto: squared_loss, logistic or softmax_loss by predictor_type).",
        choices=tuple(dict.fromkeys(sum(LOSSES.values(), ()))),
    ),
    _hp(
        "l1",
        float,
        0.0,
        "L1 regularization per example.",
        min=0,
        tuning_range=(1e-7, 1.0),
        tuning_scale="Logarithmic",
    ),
    _hp(
        "wd",
        float,
        0.0,
        "Weight decay (L2 regularization) per example.",
        min=0,
        tuning_range=(1e-7, 1.0),
        tuning_scale="Logarithmic",
    ),
    _hp("use_bias", bool, True, "Fit a bias (intercept) term.", tuning_range=(True, False)),
    _hp("normalize_data", bool, True, "Standardize the features before fitting."),
    _hp(
        "normalize_label",
        bool,
        None,
        "Standardize the label (regressor only; default true for regressors).",
    ),
    _hp("epochs", int, 15, "Maximum passes over the data (SGD-based losses).", min=1),
    _hp(
        "mini_batch_size",
        int,
        1000,
        "Accepted for compatibility; not used by these solvers.",
        min=1,
    ),
    _hp(
        "learning_rate",
        float,
        None,
        "Initial step size of the SGD-based losses (default 0.01).",
        min=0,
        min_exclusive=True,
        tuning_range=(1e-4, 1.0),
        tuning_scale="Logarithmic",
    ),
    _hp(
        "use_lr_scheduler",
        bool,
        True,
        "Decay the SGD step size (inverse scaling) rather than keep it constant.",
    ),
    _hp(
        "early_stopping_patience", int, 3, "SGD: epochs without improvement before stopping.", min=1
    ),
    _hp(
        "early_stopping_tolerance",
        float,
        0.001,
        "SGD: smallest loss improvement that counts.",
        min=0,
    ),
    _hp("huber_delta", float, 1.0, "Delta of huber_loss.", min=0, min_exclusive=True),
    _hp("loss_insensitivity", float, 0.01, "Epsilon of the eps_insensitive losses.", min=0),
    _hp(
        "quantile",
        float,
        0.5,
        "Quantile of quantile_loss, in (0, 1).",
        min=0,
        min_exclusive=True,
        max=1,
    ),
    _hp(
        "binary_classifier_model_selection_criteria",
        str,
        "accuracy",
        "How the decision "
        "threshold of a binary classifier is chosen on the validation (else train) data.",
        choices=CRITERIA,
    ),
    _hp(
        "f_beta", float, 1.0, "Beta of the f_beta criterion and metric.", min=0, min_exclusive=True
    ),
    _hp("target_recall", float, 0.8, "Recall of precision_at_target_recall.", min=0, max=1),
    _hp("target_precision", float, 0.8, "Precision of recall_at_target_precision.", min=0, max=1),
    _hp(
        "positive_example_weight_mult",
        float,
        1.0,
        "Weight of positive examples (binary).",
        min=0,
        min_exclusive=True,
        tuning_range=(0.5, 10.0),
    ),
    _hp(
        "balance_multiclass_weights",
        bool,
        False,
        "Weight classes inversely to their frequency (multiclass).",
    ),
    _hp("accuracy_top_k", int, 3, "k of multiclass_top_k_accuracy.", min=1),
    _hp("seed", int, 0, "Random seed of the stochastic solvers."),
    _hp(
        "label",
        str,
        None,
        "Label column name for text/csv;header=present and parquet input "
        "(default: the first column).",
    ),
)

METRICS: tuple[MetricDefinition, ...] = tuple(
    MetricDefinition(f"{channel}:{name}", "Maximize" if name in _MAXIMIZE else "Minimize")
    for channel in ("train", "validation", "test")
    for name in _METRIC_NAMES
)
METRICS += tuple(
    m
    for m in shared_metrics.definitions(
        shared_metrics.REGRESSION_METRICS + shared_metrics.CLASSIFICATION_METRICS
    )
    if m.name not in {d.name for d in METRICS}
)


@dataclass
class LinearModel:
    """What `load` returns (also what model.joblib holds, as a dict)."""

    estimator: Any
    predictor_type: str
    loss: str
    num_features: int
    num_classes: int | None
    classes: list[int]
    threshold: float


class LinearLearnerAlgorithm(Algorithm):
    name = "linear-learner"
    description = (
        "Linear models (regression, binary and multiclass classification) with SageMaker "
        "Linear Learner's hyperparameters and metrics, fitted by scikit-learn."
    )
    artifact = (
        "model.joblib: a dict with the fitted scikit-learn estimator (a Pipeline, wrapped in a "
        "TransformedTargetRegressor when the label is normalized) under 'estimator', plus "
        "predictor_type, loss, num_features, num_classes, classes and the decision threshold; "
        "load with joblib.load. modelyard-model.json: the same facts and the hyperparameters."
    )
    hyperparameters = HYPERPARAMETERS
    problem_types = ("Regression", "BinaryClassification", "MulticlassClassification")
    content_types = (CSV, CSV_HEADER, PARQUET)
    metrics = METRICS
    required_channels = ("train",)
    optional_channels = ("validation", "test")

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        kind = PROBLEM_PREDICTOR_TYPES.get(problem_type)
        if kind is None:
            return None
        return {"predictor_type": kind, **({"num_classes": 3} if kind == MULTICLASS else {})}

    def check(self, hps: dict[str, Any]) -> None:
        problems: dict[str, str] = {}
        kind = hps["predictor_type"]
        if kind == MULTICLASS and hps["num_classes"] is None:
            problems["num_classes"] = "required for multiclass_classifier; give an integer >= 3"
        if hps["loss"] not in LOSSES[kind]:
            problems["loss"] = f"{hps['loss']} does not fit {kind}; use one of " + ", ".join(
                LOSSES[kind]
            )
        if hps["normalize_label"] and kind != REGRESSOR:
            problems["normalize_label"] = "only a regressor's label can be normalized"
        if _loss(hps) == "quantile_loss" and hps["wd"] > 0:
            problems["wd"] = "quantile_loss supports l1 only; set wd to 0"
        if problems:
            raise InvalidHyperparameters(self.name, problems)

    # --- training ----------------------------------------------------------------------------

    def _read(
        self, ctx: TrainingContext, channel: str, hps: dict[str, Any], num_features: int | None
    ) -> ChannelData:
        data = self.read_labelled(ctx, channel, hps, num_features)
        kind = hps["predictor_type"]
        y = data.y
        if kind != REGRESSOR:
            k = 2 if kind == BINARY else hps["num_classes"]
            if np.any((y < 0) | (y >= k) | (y != np.round(y))):
                raise InvalidRequest(
                    f"channel {channel!r}: {kind} labels must be integers 0 .. {k - 1}",
                    {"channel": channel},
                )
        # Row-major, as scikit-learn users hand it: the solvers' sums then run in the same
        # order as theirs, so the model equals the library's to the last bit.
        return data._replace(X=np.ascontiguousarray(data.X))

    def build_estimator(self, hps: dict[str, Any], rows: int) -> Any:
        """The unfitted scikit-learn estimator for validated hyperparameters and `rows` rows."""
        kind, loss = hps["predictor_type"], _loss(hps)
        l1, wd, bias, seed = hps["l1"], hps["wd"], hps["use_bias"], hps["seed"]
        total = l1 + wd
        sgd = {
            "penalty": "elasticnet" if total > 0 else None,
            "alpha": total,
            "l1_ratio": l1 / total if total > 0 else 0.0,
            "fit_intercept": bias,
            "max_iter": hps["epochs"],
            "tol": hps["early_stopping_tolerance"],
            "n_iter_no_change": hps["early_stopping_patience"],
            "random_state": seed,
            "learning_rate": "invscaling" if hps["use_lr_scheduler"] else "constant",
            "eta0": hps["learning_rate"] or 0.01,
        }
        model: Any
        if kind == REGRESSOR:
            if loss == "squared_loss":
                if l1 > 0:
                    model = ElasticNet(
                        alpha=total,
                        l1_ratio=l1 / total,
                        fit_intercept=bias,
                        max_iter=10_000,
                        random_state=seed,
                    )
                elif wd > 0:
                    model = Ridge(alpha=rows * wd, fit_intercept=bias)
                else:
                    model = LinearRegression(fit_intercept=bias)
            elif loss == "quantile_loss":
                model = QuantileRegressor(quantile=hps["quantile"], alpha=l1, fit_intercept=bias)
            else:
                sk_loss, epsilon = {
                    "absolute_loss": ("epsilon_insensitive", 0.0),
                    "huber_loss": ("huber", hps["huber_delta"]),
                    "eps_insensitive_absolute_loss": (
                        "epsilon_insensitive",
                        hps["loss_insensitivity"],
                    ),
                    "eps_insensitive_squared_loss": (
                        "squared_epsilon_insensitive",
                        hps["loss_insensitivity"],
                    ),
                }[loss]
                model = SGDRegressor(loss=sk_loss, epsilon=epsilon, **sgd)
        elif loss == "hinge_loss":
            model = SGDClassifier(loss="hinge", **sgd)
        else:
            model = _logistic_regression(
                C=1.0 / (rows * total) if total > 0 else np.inf,
                l1_ratio=l1 / total if total > 0 else 0.0,
                solver="saga" if l1 > 0 else "lbfgs",
                fit_intercept=bias,
                max_iter=1000,
                random_state=seed,
                class_weight="balanced"
                if kind == MULTICLASS and hps["balance_multiclass_weights"]
                else None,
            )
        steps = []
        if hps["normalize_data"]:
            steps.append(("scaler", StandardScaler(with_mean=bias)))
        estimator: Any = Pipeline([*steps, ("model", model)])
        if kind == REGRESSOR and hps["normalize_label"] is not False:
            estimator = TransformedTargetRegressor(
                regressor=estimator, transformer=StandardScaler(with_mean=bias)
            )
        return estimator

    def train(self, ctx: TrainingContext) -> None:
        hps = self.validate(ctx.hyperparameters)
        kind, loss = hps["predictor_type"], _loss(hps)
        train = self._read(ctx, "train", hps, None)
        rows, num_features = train.X.shape
        check_feature_dim(hps["feature_dim"], num_features)
        others = {
            name: self._read(ctx, name, hps, num_features)
            for name in ("validation", "test")
            if name in ctx.channels
        }
        y = train.y
        assert y is not None
        classes = list(range(2 if kind == BINARY else hps["num_classes"] or 0))
        if kind != REGRESSOR and len(np.unique(y)) < 2:
            raise InvalidRequest("channel 'train': the labels hold a single class")
        ctx.log(
            f"linear-learner ({kind}, {loss}): train {rows} rows x {num_features} features"
            + "".join(f", {n} {d.X.shape[0]} rows" for n, d in others.items())
        )

        estimator = self.build_estimator(hps, rows)
        fit_params: dict[str, Any] = {}
        if kind == BINARY and hps["positive_example_weight_mult"] != 1.0:
            fit_params["model__sample_weight"] = np.where(
                y == 1, hps["positive_example_weight_mult"], 1.0
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            estimator.fit(train.X, y if kind == REGRESSOR else y.astype(np.int64), **fit_params)
        for warning in caught:
            if issubclass(warning.category, ConvergenceWarning):
                ctx.log(f"warning: {warning.message}")
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )

        model = LinearModel(
            estimator,
            kind,
            loss,
            num_features,
            hps["num_classes"] if kind == MULTICLASS else None,
            classes,
            0.0 if loss == "hinge_loss" else 0.5,
        )
        if kind == BINARY:
            chosen = others.get("validation", train)
            chosen_y = chosen.y if chosen.y is not None else y
            model.threshold = _choose_threshold(
                _scores(model, chosen.X), chosen_y, hps, model.threshold, ctx.log
            )
            ctx.log(
                f"decision threshold {model.threshold:.6g} "
                f"({hps['binary_classifier_model_selection_criteria']})"
            )

        for name, data in {"train": train, **others}.items():
            assert data.y is not None
            own = _metrics(model, data.X, data.y, hps)
            shared = {
                k: v for k, v in _shared_metrics(model, data.X, data.y).items() if k not in own
            }
            for metric, value in {**own, **shared}.items():
                ctx.report_metric(f"{name}:{metric}", value, None)
                ctx.log(f"#quality_metric: host=algo-1, {name} {metric} <score>={value}")

        ctx.model_dir.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {
                "estimator": estimator,
                "predictor_type": kind,
                "loss": loss,
                "num_features": num_features,
                "num_classes": model.num_classes,
                "classes": classes,
                "threshold": model.threshold,
                "sklearn_version": sklearn.__version__,
            },
            ctx.model_dir / MODEL_FILE,
        )
        write_model_metadata(
            ctx.model_dir,
            self.name,
            num_features,
            hps,
            predictor_type=kind,
            loss=loss,
            num_classes=model.num_classes,
            threshold=model.threshold,
            sklearn_version=sklearn.__version__,
        )
        ctx.log(f"saved {MODEL_FILE}")

    # --- serving -----------------------------------------------------------------------------

    def load(self, model_dir: Path) -> LinearModel:
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise InvalidRequest(f"no {MODEL_FILE} in {model_dir}", {"path": str(model_dir)})
        saved = joblib.load(path)
        return LinearModel(
            saved["estimator"],
            saved["predictor_type"],
            saved["loss"],
            saved["num_features"],
            saved["num_classes"],
            saved["classes"],
            saved["threshold"],
        )

    def predict(self, model: LinearModel, features: Any) -> Prediction:
        X = np.asarray(features, dtype=np.float32)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != model.num_features:
            raise InvalidRequest(
                f"got {X.shape[-1]} feature columns; the model expects {model.num_features}",
                {"num_features": X.shape[-1], "expected": model.num_features},
            )
        if np.isnan(X).any():
            raise InvalidRequest("linear-learner cannot predict for rows with missing values")
        scores = _scores(model, X)
        if model.predictor_type == REGRESSOR:
            return Prediction([{"score": float(s)} for s in scores.tolist()], scores)
        labels = _labels(model, scores)
        if model.predictor_type == BINARY:
            records = [
                {"score": float(s), "predicted_label": int(k)}
                for s, k in zip(scores.tolist(), labels.tolist(), strict=True)
            ]
        else:
            records = [
                {"score": [float(p) for p in row], "predicted_label": int(k)}
                for row, k in zip(scores.tolist(), labels.tolist(), strict=True)
            ]
        return Prediction(records, labels)

    def num_features(self, model: LinearModel) -> int | None:
        return model.num_features


def _loss(hps: dict[str, Any]) -> str:
    return AUTO_LOSS[hps["predictor_type"]] if hps["loss"] == "auto" else hps["loss"]


def _logistic_regression(**kw: Any) -> LogisticRegression:
    """LogisticRegression across scikit-learn versions (`penalty` is deprecated from 1.8)."""
    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    if (major, minor) < (1, 8):
        if kw["C"] == np.inf:
            kw.update(C=1.0, penalty=None)
        elif kw["l1_ratio"] > 0:
            kw["penalty"] = "elasticnet"
        else:
            kw.update(penalty="l2", l1_ratio=None)
    return LogisticRegression(**kw)


def _scores(model: LinearModel, X: np.ndarray) -> np.ndarray:
    """Regressor: predictions; binary: P(1) (hinge: the margin); multiclass: (n, k) probs."""
    est = model.estimator
    if model.predictor_type == REGRESSOR:
        return np.asarray(est.predict(X), dtype=np.float64).reshape(-1)
    if model.loss == "hinge_loss":
        return np.asarray(est.decision_function(X), dtype=np.float64)
    proba = np.asarray(est.predict_proba(X), dtype=np.float64)
    fitted = [int(c) for c in est.classes_]
    if model.predictor_type == BINARY:
        return proba[:, fitted.index(1)]
    full = np.zeros((X.shape[0], len(model.classes)))
    full[:, fitted] = proba  # classes absent from the training data keep probability 0
    return full


def _labels(model: LinearModel, scores: np.ndarray) -> np.ndarray:
    if model.predictor_type == MULTICLASS:
        return scores.argmax(axis=1).astype(np.int64)
    return (scores >= model.threshold).astype(np.int64)


def _choose_threshold(
    score: np.ndarray, y: np.ndarray, hps: dict[str, Any], default: float, log: Any
) -> float:
    """The decision threshold (predict 1 when score >= it) the selection criterion prefers."""
    criterion = hps["binary_classifier_model_selection_criteria"]
    y = (y == 1).astype(np.int64)
    positives = int(y.sum())
    if criterion == "loss_function" or positives in (0, len(y)):
        return default
    order = np.argsort(-score, kind="stable")
    s, t = score[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last row of each distinct score
    tp = np.cumsum(t)[last].astype(np.float64)
    fp = (last + 1) - tp
    negatives = len(y) - positives
    precision = tp / (tp + fp)
    recall = tp / positives
    if criterion == "accuracy":
        goal = (tp + negatives - fp) / len(y)
    elif criterion == "f_beta":
        b2 = hps["f_beta"] ** 2
        goal = np.where(
            tp > 0, (1 + b2) * precision * recall / np.maximum(b2 * precision + recall, 1e-300), 0.0
        )
    elif criterion == "precision_at_target_recall":
        goal = np.where(recall >= hps["target_recall"], precision, -1.0)
    else:  # recall_at_target_precision
        goal = np.where(precision >= hps["target_precision"], recall, -1.0)
    best = int(np.argmax(goal))
    if goal[best] < 0:
        log(f"no threshold reaches the target of {criterion}; keeping {default}")
        return default
    cut = last[best]
    if cut + 1 < len(s):  # halfway to the next lower score
        return float((s[cut] + s[cut + 1]) / 2)
    return float(s[cut])


def _metrics(
    model: LinearModel, X: np.ndarray, y: np.ndarray, hps: dict[str, Any]
) -> dict[str, float]:
    scores = _scores(model, X)
    loss = model.loss
    out: dict[str, float] = {}
    if model.predictor_type == REGRESSOR:
        residual = y.astype(np.float64) - scores
        a = np.abs(residual)
        eps, delta, q = hps["loss_insensitivity"], hps["huber_delta"], hps["quantile"]
        out["objective_loss"] = float(
            np.mean(
                {
                    "squared_loss": residual**2,
                    "absolute_loss": a,
                    "huber_loss": np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta)),
                    "eps_insensitive_absolute_loss": np.maximum(a - eps, 0),
                    "eps_insensitive_squared_loss": np.maximum(a - eps, 0) ** 2,
                    "quantile_loss": np.maximum(q * residual, (q - 1) * residual),
                }[loss]
            )
        )
        mse = float(np.mean(residual**2))
        var = float(np.var(y))
        out.update(
            mse=mse,
            rmse=float(np.sqrt(mse)),
            absolute_loss=float(np.mean(a)),
            r2=1 - mse / var if var > 0 else 0.0,
        )
        return out
    truth = y.astype(np.int64)
    labels = _labels(model, scores)
    beta2 = hps["f_beta"] ** 2
    if model.predictor_type == BINARY:
        if loss == "hinge_loss":
            out["objective_loss"] = float(np.mean(np.maximum(0, 1 - (2 * truth - 1) * scores)))
        else:
            p = np.clip(scores, 1e-15, 1 - 1e-15)
            out["objective_loss"] = float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p)))
        precision, recall, f = _prf(truth, labels, 1, beta2)
        out.update(
            binary_classification_accuracy=float(np.mean(truth == labels)),
            binary_f_beta=f,
            precision=precision,
            recall=recall,
        )
        if 0 < truth.sum() < len(truth):
            from sklearn.metrics import roc_auc_score

            out["roc_auc_score"] = float(roc_auc_score(truth, scores))
        return out
    p = np.clip(scores[np.arange(len(truth)), truth], 1e-15, 1.0)
    out["objective_loss"] = float(-np.mean(np.log(p)))
    k = min(hps["accuracy_top_k"], scores.shape[1])
    top_k = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rank = (scores > scores[np.arange(len(truth)), truth][:, None]).sum(axis=1)  # 0 = top
    per_class = [_prf(truth, labels, c, beta2) for c in np.unique(truth)]
    out.update(
        multiclass_accuracy=float(np.mean(truth == labels)),
        multiclass_top_k_accuracy=float(np.mean((top_k == truth[:, None]).any(axis=1))),
        macro_precision=float(np.mean([c[0] for c in per_class])),
        macro_recall=float(np.mean([c[1] for c in per_class])),
        macro_f_beta=float(np.mean([c[2] for c in per_class])),
        dcg=float(np.mean(1.0 / np.log2(rank + 2))),
    )
    return out


def _shared_metrics(model: LinearModel, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The final metrics every supervised built-in reports (modelyard.algorithms.metrics)."""
    scores = _scores(model, X)
    if model.predictor_type == REGRESSOR:
        return shared_metrics.regression(y, scores)
    labels = _labels(model, scores)
    if model.predictor_type == MULTICLASS:
        return shared_metrics.classification(y, labels, scores, len(model.classes))
    proba = None if model.loss == "hinge_loss" else np.column_stack([1 - scores, scores])
    return shared_metrics.classification(y, labels, proba, 2)


def _prf(
    truth: np.ndarray, predicted: np.ndarray, positive: int, beta2: float
) -> tuple[float, float, float]:
    tp = float(np.sum((predicted == positive) & (truth == positive)))
    fp = float(np.sum((predicted == positive) & (truth != positive)))
    fn = float(np.sum((predicted != positive) & (truth == positive)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f = (
        (1 + beta2) * precision * recall / (beta2 * precision + recall)
        if precision + recall
        else 0.0
    )
    return precision, recall, f


ALGORITHM = LinearLearnerAlgorithm()

__all__ = ["ALGORITHM", "MODEL_FILE", "LinearLearnerAlgorithm", "LinearModel"]
