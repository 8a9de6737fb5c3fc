"""What the supervised built-ins share, so that each module declares only its own knobs.

`SupervisedAlgorithm` takes `predictor_type` (regressor | binary_classifier |
multiclass_classifier), `num_classes`, `feature_dim` and `label` like linear-learner; reads the
train channel and the optional validation and test channels; checks the labels (classes are
the integers 0 .. k-1); reports the final metrics of `modelyard.algorithms.metrics` for every
channel; writes `modelyard-model.json`; and answers in linear-learner's format:

    regressor               {"score": 12.5}
    binary_classifier       {"score": P(class 1) (or the margin), "predicted_label": 1}
    multiclass_classifier   {"score": [P(0), P(1), ...], "predicted_label": 2}

(text/csv: the score of a regressor, the predicted label of a classifier).

`SklearnAlgorithm` adds the scikit-learn case: a subclass writes `build_estimator`, and the
fitted estimator is saved with joblib as ``model.joblib``.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms import metrics
from modelyard.algorithms.base import (
    REQUIRED,
    Algorithm,
    Hyperparameter,
    MetricDefinition,
    Prediction,
    TrainingContext,
)
from modelyard.algorithms.data import (
    CSV,
    CSV_HEADER,
    PARQUET,
    ChannelData,
    check_feature_dim,
    is_libsvm,
)
from modelyard.algorithms.metadata import read_model_metadata, write_model_metadata
from modelyard.errors import InvalidHyperparameters, InvalidRequest

REGRESSOR, BINARY, MULTICLASS = "regressor", "binary_classifier", "multiclass_classifier"
PREDICTOR_TYPES = (REGRESSOR, BINARY, MULTICLASS)
PROBLEM_PREDICTOR_TYPES = {
    "Regression": REGRESSOR,
    "BinaryClassification": BINARY,
    "MulticlassClassification": MULTICLASS,
}
SKLEARN_MODEL_FILE = "model.joblib"

COMMON_HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter("predictor_type", str, REQUIRED, "Kind of target.", choices=PREDICTOR_TYPES),
    Hyperparameter(
        "num_classes",
        int,
        None,
        "Number of classes (labels 0 .. num_classes-1); required for multiclass_classifier.",
        min=3,
    ),
    Hyperparameter(
        "feature_dim",
        int,
        None,
        "Number of features; checked against the data (default: taken from the data).",
        min=1,
    ),
    Hyperparameter(
        "label",
        str,
        None,
        "Label column name for text/csv;header=present and parquet input "
        "(default: the first column).",
    ),
)


def supervised_metrics(
    channels: tuple[str, ...] = ("train", "validation", "test"),
) -> tuple[MetricDefinition, ...]:
    return metrics.definitions(
        metrics.REGRESSION_METRICS + metrics.CLASSIFICATION_METRICS, channels
    )


@dataclass
class SupervisedModel:
    """A trained supervised model as `load` returns it."""

    model: Any  # what fit_model returned (an estimator, a torch module ...)
    predictor_type: str
    num_features: int
    num_classes: int | None  # classes of a classifier (2 for binary), None for a regressor

    @property
    def classifier(self) -> bool:
        return self.predictor_type != REGRESSOR


class SupervisedAlgorithm(Algorithm):
    """Base of the regressor / binary / multiclass built-ins (see the module docstring)."""

    problem_types = ("Regression", "BinaryClassification", "MulticlassClassification")
    content_types: tuple[str, ...] = (CSV, CSV_HEADER, PARQUET)
    metrics = supervised_metrics()
    required_channels = ("train",)
    optional_channels = ("validation", "test")
    own_hyperparameters: tuple[Hyperparameter, ...] = ()
    # The final train:* metrics of a big channel come from an evenly spaced sample: predicting
    # on every training row could cost more than the training. 0: no train:* metrics at all.
    train_metric_rows: int = 100_000

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "own_hyperparameters" in cls.__dict__:
            cls.hyperparameters = COMMON_HYPERPARAMETERS + cls.own_hyperparameters

    # --- what a subclass writes --------------------------------------------------------------

    @abstractmethod
    def fit_model(
        self,
        hps: dict[str, Any],
        train: ChannelData,
        others: dict[str, ChannelData],
        ctx: TrainingContext,
    ) -> Any:
        """Fit on `train` (labels already checked; classes 0 .. k-1) and return the model.

        `others` holds the validation and test channels that were given; an algorithm that
        iterates reports `validation:*` metrics on them every round through ctx.report_metric.
        """

    @abstractmethod
    def model_outputs(self, fitted: Any, X: Any, sm: SupervisedModel) -> np.ndarray:
        """Regressor: predictions (n,). Classifier: class probabilities (n, k), or, for a
        model without probabilities, the decision function ((n,) for binary, (n, k))."""

    @abstractmethod
    def save_model(self, fitted: Any, model_dir: Path) -> None: ...

    @abstractmethod
    def load_model(self, model_dir: Path, meta: dict[str, Any]) -> Any: ...

    def has_probabilities(self, fitted: Any) -> bool:
        return True

    def check_own(self, hps: dict[str, Any], problems: dict[str, str]) -> None:
        """Cross-parameter rules of the subclass; add to `problems` by hyperparameter name."""

    def metadata(self, fitted: Any) -> dict[str, Any]:
        """Extra keys for modelyard-model.json (library versions ...)."""
        return {}

    # --- the shared part ----------------------------------------------------------------------

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        kind = PROBLEM_PREDICTOR_TYPES.get(problem_type)
        if kind is None or problem_type not in self.problem_types:
            return None
        return {"predictor_type": kind, **({"num_classes": 3} if kind == MULTICLASS else {})}

    def check(self, hps: dict[str, Any]) -> None:
        problems: dict[str, str] = {}
        if hps["predictor_type"] == MULTICLASS and hps["num_classes"] is None:
            problems["num_classes"] = "required for multiclass_classifier; give an integer >= 3"
        self.check_own(hps, problems)
        if problems:
            raise InvalidHyperparameters(self.name, problems)

    def num_classes(self, hps: dict[str, Any]) -> int | None:
        kind = hps["predictor_type"]
        return None if kind == REGRESSOR else 2 if kind == BINARY else int(hps["num_classes"])

    def read(
        self, ctx: TrainingContext, channel: str, hps: dict[str, Any], num_features: int | None
    ) -> ChannelData:
        data = self.read_labelled(ctx, channel, hps, num_features)
        k = self.num_classes(hps)
        y = data.y
        assert y is not None
        if k is not None:
            if np.any((y < 0) | (y >= k) | (y != np.round(y))):
                raise InvalidRequest(
                    f"channel {channel!r}: {hps['predictor_type']} labels must be the "
                    f"integers 0 .. {k - 1}",
                    {"channel": channel, "num_classes": k},
                )
            data = data._replace(y=y.astype(np.int64))
        if isinstance(data.X, np.ndarray):  # row-major, as users of the libraries hand it
            data = data._replace(X=np.ascontiguousarray(data.X))
        return data

    def train(self, ctx: TrainingContext) -> None:
        hps = self.validate(ctx.hyperparameters)
        kind = hps["predictor_type"]
        # libsvm rows do not say how wide the data is (the last features may be all zero):
        # feature_dim widens them. Any other format must have exactly feature_dim columns.
        libsvm = is_libsvm(ctx.content_types.get("train"))
        train = self.read(ctx, "train", hps, hps["feature_dim"] if libsvm else None)
        rows, num_features = train.X.shape
        check_feature_dim(hps["feature_dim"], num_features)
        others = {
            name: self.read(ctx, name, hps, num_features)
            for name in ("validation", "test")
            if name in ctx.channels
        }
        assert train.y is not None
        if kind != REGRESSOR and len(np.unique(train.y)) < 2:
            raise InvalidRequest("channel 'train': the labels hold a single class")
        ctx.log(f"{self.name} ({kind}): training on {rows} rows x {num_features} features")
        fitted = self.fit_model(hps, train, others, ctx)
        sm = SupervisedModel(fitted, kind, num_features, self.num_classes(hps))
        scored = (
            {"train": train_metric_sample(train, self.train_metric_rows, ctx), **others}
            if self.train_metric_rows
            else others
        )
        for name, data in scored.items():
            assert data.y is not None
            for metric, value in self.evaluate(sm, data.X, data.y).items():
                ctx.report_metric(f"{name}:{metric}", value, None)
                ctx.log(f"#quality_metric: host=algo-1, {name} {metric} <score>={value}")
        ctx.model_dir.mkdir(parents=True, exist_ok=True)
        self.save_model(fitted, ctx.model_dir)
        write_model_metadata(
            ctx.model_dir,
            self.name,
            num_features,
            hps,
            predictor_type=kind,
            num_classes=sm.num_classes,
            **self.metadata(fitted),
        )
        ctx.log(f"saved the model to {ctx.model_dir}")

    def evaluate(self, sm: SupervisedModel, X: Any, y: np.ndarray) -> dict[str, float]:
        outputs = self.model_outputs(sm.model, X, sm)
        if not sm.classifier:
            return metrics.regression(y, outputs)
        assert sm.num_classes is not None
        proba = outputs if self.has_probabilities(sm.model) else None
        return metrics.classification(y, self.labels(outputs, sm), proba, sm.num_classes)

    def labels(self, outputs: np.ndarray, sm: SupervisedModel) -> np.ndarray:
        """Class of each row: the most probable (the first on a tie, as scikit-learn picks),
        or a positive margin for a binary model without probabilities."""
        if outputs.ndim == 1:
            return (outputs > 0).astype(np.int64)
        return outputs.argmax(axis=1).astype(np.int64)

    # --- serving -------------------------------------------------------------------------------

    def load(self, model_dir: Path) -> SupervisedModel:
        model_dir = Path(model_dir)
        meta = read_model_metadata(model_dir)
        if meta is None or meta.get("algorithm") != self.name:
            raise InvalidRequest(
                f"{model_dir} holds no {self.name} model (no modelyard-model.json naming it)",
                {"path": str(model_dir)},
            )
        return SupervisedModel(
            self.load_model(model_dir, meta),
            meta["predictor_type"],
            int(meta["num_features"]),
            meta.get("num_classes"),
        )

    def predict(self, model: SupervisedModel, features: Any) -> Prediction:
        X = np.asarray(features, dtype=np.float32)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != model.num_features:
            raise InvalidRequest(
                f"got {X.shape[-1]} feature columns; the model expects {model.num_features}",
                {"num_features": X.shape[-1], "expected": model.num_features},
            )
        return self.answer(self.model_outputs(model.model, X, model), model)

    def answer(self, outputs: np.ndarray, model: SupervisedModel) -> Prediction:
        """The served answer for model_outputs, in linear-learner's format."""
        if not model.classifier:
            scores = np.asarray(outputs, dtype=np.float64).reshape(-1)
            return Prediction([{"score": s} for s in scores.tolist()], scores)
        labels = self.labels(outputs, model)
        if outputs.ndim == 2 and model.num_classes == 2:
            scores = outputs[:, 1]  # P(class 1), as linear-learner answers
        else:
            scores = outputs
        records = [
            {"score": s, "predicted_label": k}
            for s, k in zip(scores.tolist(), labels.tolist(), strict=True)
        ]
        return Prediction(records, labels)

    def num_features(self, model: SupervisedModel) -> int | None:
        return model.num_features


class SklearnAlgorithm(SupervisedAlgorithm):
    """A supervised built-in that is one scikit-learn estimator, saved with joblib."""

    artifact = (
        "model.joblib: the fitted scikit-learn estimator (joblib.load gives it back, with "
        "predict and, for classifiers, predict_proba); modelyard-model.json: algorithm, "
        "num_features, predictor_type, num_classes, scikit-learn version, hyperparameters."
    )

    @abstractmethod
    def build_estimator(self, hps: dict[str, Any], rows: int, num_cpus: int) -> Any:
        """The unfitted estimator for validated hyperparameters and `rows` training rows (the
        parity tests build the same one by hand)."""

    def fit_model(
        self,
        hps: dict[str, Any],
        train: ChannelData,
        others: dict[str, ChannelData],
        ctx: TrainingContext,
    ) -> Any:
        from sklearn.exceptions import ConvergenceWarning

        estimator = self.build_estimator(hps, train.X.shape[0], ctx.num_cpus)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            estimator.fit(train.X, train.y)
        for warning in caught:
            if issubclass(warning.category, ConvergenceWarning):
                ctx.log(f"warning: {warning.message}")
        return estimator

    def has_probabilities(self, fitted: Any) -> bool:
        return hasattr(fitted, "predict_proba")

    def model_outputs(self, fitted: Any, X: Any, sm: SupervisedModel) -> np.ndarray:
        if not sm.classifier:
            return np.asarray(fitted.predict(X), dtype=np.float64)
        assert sm.num_classes is not None
        fitted_classes = [int(c) for c in fitted.classes_]
        if hasattr(fitted, "predict_proba"):
            proba = np.asarray(fitted.predict_proba(X), dtype=np.float64)
            if len(fitted_classes) == sm.num_classes:
                return proba
            full = np.zeros((proba.shape[0], sm.num_classes))
            full[:, fitted_classes] = proba  # classes absent in training keep probability 0
            return full
        margin = np.asarray(fitted.decision_function(X), dtype=np.float64)
        if margin.ndim == 1 or len(fitted_classes) == sm.num_classes:
            return margin
        full = np.full((margin.shape[0], sm.num_classes), -np.inf)
        full[:, fitted_classes] = margin
        return full

    def save_model(self, fitted: Any, model_dir: Path) -> None:
        import joblib

        joblib.dump(fitted, model_dir / SKLEARN_MODEL_FILE)

    def load_model(self, model_dir: Path, meta: dict[str, Any]) -> Any:
        import joblib

        path = model_dir / SKLEARN_MODEL_FILE
        if not path.is_file():
            raise InvalidRequest(
                f"no {SKLEARN_MODEL_FILE} in {model_dir}", {"path": str(model_dir)}
            )
        return joblib.load(path)

    def metadata(self, fitted: Any) -> dict[str, Any]:
        import sklearn

        return {"sklearn_version": sklearn.__version__, "estimator": type(fitted).__name__}


def train_metric_sample(train: ChannelData, max_rows: int, ctx: TrainingContext) -> ChannelData:
    """At most `max_rows` evenly spaced rows of the training channel, for the final train:*
    metrics: scoring every row of a big channel can cost as much as a fair part of training."""
    rows = train.X.shape[0]
    if rows <= max_rows:
        return train
    step = -(-rows // max_rows)  # ceiling division
    sample = ChannelData(train.X[::step], None if train.y is None else train.y[::step])
    ctx.log(
        f"train:* metrics are computed on {sample.X.shape[0]} evenly spaced rows (one in "
        f"{step}) of the {rows} training rows"
    )
    return sample


def parse_max_features(text: str) -> str | float | int | None:
    """scikit-learn's max_features from its string form: sqrt, log2, all (None), a fraction in
    (0, 1] or a count >= 1; ValueError otherwise."""
    value = text.strip().lower()
    if value in ("sqrt", "log2"):
        return value
    if value == "all":
        return None
    number = float(value)
    if number.is_integer() and number >= 1 and "." not in value:
        return int(number)
    if 0 < number <= 1:
        return number
    raise ValueError(text)
