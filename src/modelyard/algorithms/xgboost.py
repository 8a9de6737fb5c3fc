"""The built-in `xgboost` algorithm, shaped like SageMaker's XGBoost container.

Hyperparameters carry SageMaker's names, types and defaults. Training reads the `train` and
optional `validation` channels (text/csv, text/csv;header=present, application/x-parquet,
text/libsvm), runs `xgboost.train`, reports every evaluation metric of every round as
``train:<metric>`` / ``validation:<metric>`` (step = round) plus the value of the model that was
kept (step None), and logs one line per round as the SageMaker container does.

Artifacts in the model directory:

- ``xgboost-model``: the booster in xgboost's UBJSON format, loadable by plain
  ``xgboost.Booster(model_file=path)`` (xgboost then logs that it guessed the format from a file
  name without extension; `load` below reads the bytes and avoids that warning).
- ``modelyard-model.json``: algorithm, num_features, objective, num_class, hyperparameters.

With early stopping, the saved model is cut back to the best round (the model whose validation
score was reported as final), so that any reader of ``xgboost-model`` gets the best model.

Besides xgboost's own metrics, ``eval_metric`` accepts the SageMaker container's extra ones:
accuracy, balanced_accuracy, f1, f1_binary, f1_macro, mse and r2. ``_tuning_objective_metric``
(set by a tuning job, e.g. ``validation:auc``) adds its metric to the evaluated ones and makes
it the early-stopping metric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from modelyard.algorithms import metrics as shared_metrics
from modelyard.algorithms.base import (
    REQUIRED,
    Algorithm,
    Hyperparameter,
    MetricDefinition,
    Prediction,
    TrainingContext,
)
from modelyard.algorithms.data import CSV, CSV_HEADER, LIBSVM, PARQUET, ChannelData
from modelyard.algorithms.metadata import read_model_metadata, write_model_metadata
from modelyard.algorithms.xgboost_predict import DensePredictor
from modelyard.errors import InvalidHyperparameters, InvalidRequest

MODEL_FILE = "xgboost-model"

OBJECTIVES = (
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:logistic",
    "reg:pseudohubererror",
    "reg:absoluteerror",
    "reg:gamma",
    "reg:tweedie",
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "multi:softmax",
    "multi:softprob",
    "count:poisson",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "survival:cox",
)

# xgboost's own evaluation metrics (the part before any "@"); True = higher is better.
NATIVE_METRICS: dict[str, bool] = {
    "rmse": False,
    "rmsle": False,
    "mae": False,
    "mape": False,
    "mphe": False,
    "logloss": False,
    "error": False,
    "merror": False,
    "mlogloss": False,
    "auc": True,
    "aucpr": True,
    "pre": True,
    "ndcg": True,
    "map": True,
    "poisson-nloglik": False,
    "gamma-nloglik": False,
    "gamma-deviance": False,
    "tweedie-nloglik": False,
    "cox-nloglik": False,
    "aft-nloglik": False,
    "interval-regression-accuracy": True,
}
# The SageMaker container's extra metrics, computed here in Python.
CUSTOM_METRICS: dict[str, bool] = {
    "accuracy": True,
    "balanced_accuracy": True,
    "f1": True,
    "f1_binary": True,
    "f1_macro": True,
    "mse": False,
    "r2": True,
}


def _metric_base(name: str) -> str:
    return name.split("@", 1)[0].rstrip("-")


def metric_maximize(name: str) -> bool | None:
    """Whether a higher value of this eval metric is better (None: not a known metric)."""
    base = _metric_base(name)
    if base in CUSTOM_METRICS:
        return CUSTOM_METRICS[base]
    return NATIVE_METRICS.get(base)


def _hp(name: str, type_: type, default: Any, help: str, **kw: Any) -> Hyperparameter:
    return Hyperparameter(name=name, type=type_, default=default, help=help, **kw)


HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    _hp("num_round", int, REQUIRED, "Number of boosting rounds.", min=1, tuning_range=(1, 4000)),
    _hp("objective", str, "reg:squarederror", "Learning task and objective.", choices=OBJECTIVES),
    _hp(
        "num_class",
        int,
        None,
        "Number of classes; required by the multi:* objectives (labels 0 .. num_class-1).",
        min=2,
    ),
    _hp(
        "booster",
        str,
        "gbtree",
        "Booster: trees, linear or DART trees.",
        choices=("gbtree", "gblinear", "dart"),
    ),
    _hp(
        "eta",
        float,
        0.3,
        "Step size shrinkage (learning rate).",
        min=0,
        max=1,
        tuning_range=(0.1, 0.5),
    ),
    _hp(
        "gamma",
        float,
        0.0,
        "Minimum loss reduction to make a further split.",
        min=0,
        tuning_range=(0, 5),
    ),
    _hp(
        "max_depth",
        int,
        6,
        "Maximum depth of a tree (0: no limit, lossguide only).",
        min=0,
        tuning_range=(0, 10),
    ),
    _hp(
        "min_child_weight",
        float,
        1.0,
        "Minimum sum of instance weight (hessian) in a child.",
        min=0,
        tuning_range=(0, 120),
    ),
    _hp(
        "max_delta_step",
        float,
        0.0,
        "Maximum delta step of each leaf output (0: none).",
        min=0,
        tuning_range=(0, 10),
    ),
    _hp(
        "subsample",
        float,
        1.0,
        "Fraction of rows sampled for each tree.",
        min=0,
        min_exclusive=True,
        max=1,
        tuning_range=(0.5, 1),
    ),
    _hp(
        "colsample_bytree",
        float,
        1.0,
        "Fraction of columns sampled for each tree.",
        min=0,
        min_exclusive=True,
        max=1,
        tuning_range=(0.5, 1),
    ),
    _hp(
        "colsample_bylevel",
        float,
        1.0,
        "Fraction of columns sampled for each level.",
        min=0,
        min_exclusive=True,
        max=1,
        tuning_range=(0.1, 1),
    ),
    _hp(
        "colsample_bynode",
        float,
        1.0,
        "Fraction of columns sampled for each split.",
        min=0,
        min_exclusive=True,
        max=1,
        tuning_range=(0.1, 1),
    ),
    _hp("lambda", float, 1.0, "L2 regularization on weights.", min=0, tuning_range=(0, 1000)),
    _hp("alpha", float, 0.0, "L1 regularization on weights.", min=0, tuning_range=(0, 1000)),
    _hp(
        "tree_method",
        str,
        "auto",
        "Tree construction algorithm (auto is hist).",
        choices=("auto", "exact", "approx", "hist"),
    ),
    _hp(
        "grow_policy",
        str,
        "depthwise",
        "How new nodes are added (lossguide needs hist).",
        choices=("depthwise", "lossguide"),
    ),
    _hp("max_leaves", int, 0, "Maximum number of leaves (0: no limit).", min=0),
    _hp("max_bin", int, 256, "Maximum number of histogram bins (hist / approx).", min=2),
    _hp("num_parallel_tree", int, 1, "Trees built per round (random-forest style).", min=1),
    _hp(
        "scale_pos_weight",
        float,
        1.0,
        "Weight of positive examples (binary objectives).",
        min=0,
        min_exclusive=True,
    ),
    _hp(
        "base_score",
        float,
        None,
        "Initial prediction of every row (default: estimated from the labels).",
    ),
    _hp(
        "tweedie_variance_power",
        float,
        1.5,
        "Variance power of reg:tweedie, in (1, 2).",
        min=1,
        min_exclusive=True,
        max=2,
    ),
    _hp("huber_slope", float, 1.0, "Delta of reg:pseudohubererror.", min=0, min_exclusive=True),
    _hp("rate_drop", float, 0.0, "DART: fraction of trees dropped each round.", min=0, max=1),
    _hp("skip_drop", float, 0.0, "DART: probability of skipping dropout in a round.", min=0, max=1),
    _hp("one_drop", bool, False, "DART: always drop at least one tree."),
    _hp(
        "sample_type",
        str,
        "uniform",
        "DART: how dropped trees are chosen.",
        choices=("uniform", "weighted"),
    ),
    _hp(
        "normalize_type",
        str,
        "tree",
        "DART: how new trees are weighted.",
        choices=("tree", "forest"),
    ),
    _hp("monotone_constraints", str, None, "Monotone constraint per feature, e.g. (1,0,-1)."),
    _hp("interaction_constraints", str, None, "Allowed feature interactions, e.g. [[0,1],[2,3]]."),
    _hp(
        "eval_metric",
        str,
        None,
        "Evaluation metric(s), comma-separated (default: the "
        "objective's, as xgboost picks). xgboost's metrics plus accuracy, balanced_accuracy, "
        "f1, f1_binary, f1_macro, mse, r2. The last one drives early stopping.",
    ),
    _hp(
        "early_stopping_rounds",
        int,
        None,
        "Stop when the validation metric has not improved "
        "for this many rounds (needs a validation channel).",
        min=1,
    ),
    _hp("seed", int, 0, "Random seed."),
    _hp("nthread", int, None, "Threads used for training (default: the job's CPU count).", min=1),
    _hp(
        "verbosity",
        int,
        1,
        "xgboost's own log level: 0 silent, 1 warning, 2 info, 3 debug.",
        min=0,
        max=3,
    ),
    _hp(
        "label",
        str,
        None,
        "Label column name for text/csv;header=present and parquet input "
        "(default: the first column).",
    ),
    _hp(
        "_tuning_objective_metric",
        str,
        None,
        "Set by tuning jobs, e.g. validation:auc: that "
        "metric is evaluated and drives early stopping.",
    ),
)

# Parameters handed to xgboost only when they differ from the declared default (which is
# xgboost's own default), so that a parameter a booster does not use is never passed and
# xgboost never warns about it; the ones in ALWAYS are passed every time.
_XGB_PARAMS = (
    "booster",
    "gamma",
    "max_depth",
    "min_child_weight",
    "max_delta_step",
    "subsample",
    "colsample_bytree",
    "colsample_bylevel",
    "colsample_bynode",
    "tree_method",
    "grow_policy",
    "max_leaves",
    "max_bin",
    "num_parallel_tree",
    "scale_pos_weight",
    "base_score",
    "monotone_constraints",
    "interaction_constraints",
)
_ALWAYS = ("objective", "eta", "lambda", "alpha", "seed", "verbosity")
_DART_PARAMS = ("rate_drop", "skip_drop", "one_drop", "sample_type", "normalize_type")

METRICS: tuple[MetricDefinition, ...] = tuple(
    MetricDefinition(f"{channel}:{name}", "Maximize" if maximize else "Minimize")
    for channel in ("train", "validation", "test")
    for name, maximize in {
        **NATIVE_METRICS,
        **CUSTOM_METRICS,
    }.items()
    if name not in ("aft-nloglik", "interval-regression-accuracy")
)
METRICS += tuple(
    m
    for m in shared_metrics.definitions(
        shared_metrics.REGRESSION_METRICS + shared_metrics.CLASSIFICATION_METRICS,
        ("train", "validation", "test"),
    )
    if m.name not in {d.name for d in METRICS}
)


TRAIN_METRIC_ROWS = 100_000


@dataclass
class XGBoostModel:
    """What `load` returns."""

    booster: xgb.Booster
    objective: str
    num_class: int | None
    num_features: int
    dense: DensePredictor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.dense = DensePredictor(self.booster)


def _eval_metrics(hps: dict[str, Any]) -> list[str]:
    """The metrics asked for, in order, the tuning objective's metric last."""
    names = [m.strip() for m in (hps.get("eval_metric") or "").split(",") if m.strip()]
    tuning = hps.get("_tuning_objective_metric")
    if tuning:
        metric = tuning.split(":", 1)[-1].strip()
        names = [n for n in names if n != metric] + [metric]
    return names


class XGBoostAlgorithm(Algorithm):
    name = "xgboost"
    description = (
        "Gradient-boosted trees (XGBoost) for regression, classification and ranking, with "
        "SageMaker XGBoost's hyperparameters, metrics and model file."
    )
    artifact = (
        "xgboost-model: the booster in xgboost's UBJSON format (cut back to the best round "
        "after early stopping), loadable by plain xgboost: "
        "xgboost.Booster(model_file='xgboost-model'); modelyard-model.json: algorithm, "
        "num_features, objective, num_class, hyperparameters."
    )
    hyperparameters = HYPERPARAMETERS
    problem_types = ("Regression", "BinaryClassification", "MulticlassClassification", "Ranking")
    content_types = (CSV, CSV_HEADER, PARQUET, LIBSVM)
    metrics = METRICS
    required_channels = ("train",)
    optional_channels = ("validation", "test")

    # --- hyperparameters -------------------------------------------------------------------

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        examples: dict[str, dict[str, Any]] = {
            "Regression": {"objective": "reg:squarederror"},
            "BinaryClassification": {"objective": "binary:logistic"},
            "MulticlassClassification": {"objective": "multi:softprob", "num_class": 3},
        }
        example = examples.get(problem_type)
        return None if example is None else {"num_round": 10, "max_depth": 3, **example}

    def check(self, hps: dict[str, Any]) -> None:
        problems: dict[str, str] = {}
        objective = hps["objective"]
        if objective.startswith("multi:") and hps["num_class"] is None:
            problems["num_class"] = f"required for objective {objective}; give an integer >= 2"
        if hps["tweedie_variance_power"] >= 2:
            problems["tweedie_variance_power"] = "must be < 2"
        known = ", ".join(sorted({*NATIVE_METRICS, *CUSTOM_METRICS}))
        unknown = [
            m
            for m in _eval_metrics({"eval_metric": hps["eval_metric"]})
            if metric_maximize(m) is None
        ]
        if unknown:
            problems["eval_metric"] = (
                f"unknown metric(s) {', '.join(unknown)}; valid metrics: {known} (xgboost's "
                "may take @<n>, e.g. ndcg@5)"
            )
        tuning = hps.get("_tuning_objective_metric")
        if tuning:
            channel, _, metric = tuning.partition(":")
            if channel not in ("train", "validation") or metric_maximize(metric) is None:
                problems["_tuning_objective_metric"] = (
                    f"got {tuning!r}; expected train:<metric> or validation:<metric> with one "
                    f"of {known}"
                )
        if hps["grow_policy"] == "lossguide" and hps["tree_method"] == "exact":
            problems["grow_policy"] = "lossguide needs tree_method hist, approx or auto"
        if problems:
            raise InvalidHyperparameters(self.name, problems)

    def xgboost_params(self, hps: dict[str, Any], num_cpus: int = 1) -> dict[str, Any]:
        """The parameter dict handed to xgboost.train for validated hyperparameters."""
        defaults = {hp.name: hp.default for hp in self.hyperparameters}
        params: dict[str, Any] = {name: hps[name] for name in _ALWAYS}
        params["nthread"] = hps["nthread"] or num_cpus
        optional = list(_XGB_PARAMS)
        if hps["booster"] == "dart":
            optional += _DART_PARAMS
        if hps["objective"] == "reg:tweedie":
            optional.append("tweedie_variance_power")
        if hps["objective"] == "reg:pseudohubererror":
            optional.append("huber_slope")
        for name in optional:
            if hps[name] != defaults[name]:
                params[name] = int(hps[name]) if isinstance(hps[name], bool) else hps[name]
        if hps["objective"].startswith("multi:"):
            params["num_class"] = hps["num_class"]
        metrics = _eval_metrics(hps)
        native = [m for m in metrics if _metric_base(m) in NATIVE_METRICS]
        if native:
            params["eval_metric"] = native
        if metrics and not native:
            params["disable_default_eval_metric"] = 1
        return params

    # --- training ----------------------------------------------------------------------------

    def _read(
        self,
        ctx: TrainingContext,
        channel: str,
        hps: dict[str, Any],
        num_features: int | None = None,
    ) -> ChannelData:
        data = self.read_labelled(ctx, channel, hps, num_features)
        _check_labels(data.y, hps, channel)
        return data

    @staticmethod
    def _train_eval_set(
        ctx: TrainingContext,
        train: Any,
        dtrain: xgb.DMatrix,
        quantile: bool,
        nthread: int,
        hps: dict[str, Any],
    ) -> xgb.DMatrix:
        """What the per-round train:* metrics are computed on: the training set, or for a
        large one a fixed random sample of it. Scoring every row every round cost a quarter
        of the training time of a 1M-row job; a 100k-row sample estimates the same curve."""
        rows = train.X.shape[0]
        if rows <= TRAIN_METRIC_ROWS:
            return dtrain
        picked = np.sort(np.random.default_rng(hps["seed"]).choice(rows, TRAIN_METRIC_ROWS, False))
        ctx.log(
            f"train:* metrics are computed on a {TRAIN_METRIC_ROWS}-row random sample of the "
            f"{rows} training rows"
        )
        features, labels = train.X[picked], train.y[picked]
        if quantile:
            return xgb.QuantileDMatrix(features, label=labels, nthread=nthread, ref=dtrain)
        return xgb.DMatrix(features, label=labels, nthread=nthread)

    def train(self, ctx: TrainingContext) -> None:
        hps = self.validate(ctx.hyperparameters)  # idempotent on parsed values; fills defaults
        train = self._read(ctx, "train", hps)
        validation = None
        if "validation" in ctx.channels:
            validation = self._read(ctx, "validation", hps, num_features=train.X.shape[1])
        params = self.xgboost_params(hps, ctx.num_cpus)
        nthread = params["nthread"]
        rows, num_features = train.X.shape
        ctx.log(
            f"xgboost {xgb.__version__}: train {rows} rows x {num_features} features"
            + (f", validation {validation.X.shape[0]} rows" if validation else "")
        )

        # QuantileDMatrix bins the data once, up front: for the hist method it gives the same
        # model as a DMatrix, at equal or better speed and about a third of the memory.
        quantile = params.get("booster", "gbtree") != "gblinear" and hps["tree_method"] in (
            "auto",
            "hist",
        )
        if quantile:
            dtrain: xgb.DMatrix = xgb.QuantileDMatrix(
                train.X, label=train.y, nthread=nthread, max_bin=hps["max_bin"]
            )
        else:
            dtrain = xgb.DMatrix(train.X, label=train.y, nthread=nthread)
        evals = [(self._train_eval_set(ctx, train, dtrain, quantile, nthread, hps), "train")]
        if validation is not None:
            if quantile:
                dvalid: xgb.DMatrix = xgb.QuantileDMatrix(
                    validation.X, label=validation.y, nthread=nthread, ref=dtrain
                )
            else:
                dvalid = xgb.DMatrix(validation.X, label=validation.y, nthread=nthread)
            evals.append((dvalid, "validation"))

        metrics = _eval_metrics(hps)
        custom = [m for m in metrics if _metric_base(m) in CUSTOM_METRICS]
        reporter = _RoundReporter(ctx)
        callbacks: list[xgb.callback.TrainingCallback] = [reporter]
        early = hps["early_stopping_rounds"]
        if early is not None and validation is None:
            ctx.log("early_stopping_rounds ignored: there is no validation channel")
            early = None
        if early is not None:
            stop_metric = metrics[-1] if metrics else None
            callbacks.append(
                xgb.callback.EarlyStopping(
                    rounds=early,
                    metric_name=stop_metric,
                    data_name="validation",
                    maximize=metric_maximize(stop_metric) if stop_metric else None,
                    save_best=False,
                )
            )
        try:
            booster = xgb.train(
                params,
                dtrain,
                num_boost_round=hps["num_round"],
                evals=evals,
                custom_metric=_custom_metric(custom, hps["objective"]) if custom else None,
                callbacks=callbacks,
                verbose_eval=False,
            )
        except xgb.core.XGBoostError as exc:
            message = str(exc).split("\nStack trace:")[0].strip()
            raise InvalidRequest(f"xgboost rejected the training job: {message}") from None

        best_round = booster.num_boosted_rounds() - 1
        if early is not None and booster.attr("best_iteration") is not None:
            best_round = int(booster.attr("best_iteration") or 0)
            ctx.log(f"stopping: best round {best_round} of {booster.num_boosted_rounds()}")
            if hps["booster"] != "gblinear" and best_round + 1 < booster.num_boosted_rounds():
                booster = booster[: best_round + 1]
        for name, values in reporter.history.items():
            if best_round < len(values):  # the kept model's score, as the final value
                ctx.report_metric(name, values[best_round], None)
        scored = list(evals)
        reported = set(reporter.history)
        if "test" in ctx.channels:  # final metrics only: xgboost's own, then the shared ones
            test = self._read(ctx, "test", hps, num_features=num_features)
            dtest = xgb.DMatrix(test.X, label=test.y, nthread=nthread)
            scored.append((dtest, "test"))
            feval = _custom_metric(custom, hps["objective"]) if custom else None
            # eval_set answers "[round]\ttest-<metric>:<value>\t..." (booster: the kept rounds)
            for item in booster.eval_set([(dtest, "test")], feval=feval).split("\t")[1:]:
                name, _, value = item.partition(":")
                metric = "test:" + name.removeprefix("test-")
                ctx.report_metric(metric, float(value), None)
                reported.add(metric)
        for dmatrix, channel in scored:
            outputs = booster.predict(dmatrix, iteration_range=(0, best_round + 1))
            for metric, value in _shared_metrics(hps, dmatrix.get_label(), outputs).items():
                if f"{channel}:{metric}" not in reported:
                    ctx.report_metric(f"{channel}:{metric}", value, None)

        ctx.model_dir.mkdir(parents=True, exist_ok=True)
        (ctx.model_dir / MODEL_FILE).write_bytes(bytes(booster.save_raw("ubj")))
        write_model_metadata(
            ctx.model_dir,
            self.name,
            num_features,
            hps,
            objective=hps["objective"],
            num_class=hps["num_class"] if hps["objective"].startswith("multi:") else None,
            num_round=booster.num_boosted_rounds(),
            best_round=best_round,
            xgboost_version=xgb.__version__,
        )
        ctx.log(f"saved {MODEL_FILE} ({booster.num_boosted_rounds()} rounds)")

    # --- serving -----------------------------------------------------------------------------

    def load(self, model_dir: Path) -> XGBoostModel:
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise InvalidRequest(f"no {MODEL_FILE} in {model_dir}", {"path": str(model_dir)})
        booster = xgb.Booster()
        # Loading from bytes: xgboost does not have to guess the format from the file name.
        booster.load_model(bytearray(path.read_bytes()))
        meta = read_model_metadata(Path(model_dir)) or {}
        objective = meta.get("objective")
        num_class = meta.get("num_class")
        if objective is None:  # a model trained elsewhere: ask the booster
            import json

            config = json.loads(booster.save_config())["learner"]
            objective = config["objective"]["name"]
            classes = int(config["learner_model_param"].get("num_class", "0"))
            num_class = classes if classes > 1 else None
        return XGBoostModel(booster, objective, num_class, booster.num_features())

    def predict(self, model: XGBoostModel, features: Any) -> Prediction:
        features = _as_rows(features)
        if features.shape[1] != model.num_features:
            raise InvalidRequest(
                f"got {features.shape[1]} feature columns; the model expects {model.num_features}",
                {"num_features": features.shape[1], "expected": model.num_features},
            )
        scores = model.dense.predict(features) if isinstance(features, np.ndarray) else None
        if scores is None:
            try:
                scores = model.booster.inplace_predict(features, validate_features=False)
            except xgb.core.XGBoostError:  # gblinear has no inplace prediction
                scores = model.booster.predict(xgb.DMatrix(features), validate_features=False)
        scores = np.asarray(scores)
        if scores.ndim == 2 and scores.shape[1] > 1:  # multi:softprob
            labels = scores.argmax(axis=1)
            records = [
                {"score": [float(p) for p in row], "predicted_label": int(k)}
                for row, k in zip(scores.tolist(), labels.tolist(), strict=True)
            ]
            return Prediction(records, scores)
        scores = scores.reshape(-1)
        return Prediction([{"score": float(s)} for s in scores.tolist()], scores)

    def num_features(self, model: XGBoostModel) -> int | None:
        return model.num_features


def _as_rows(features: Any) -> Any:
    if hasattr(features, "tocsr"):  # scipy sparse
        return features.tocsr().astype(np.float32)
    array = np.asarray(features, dtype=np.float32)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise InvalidRequest(f"features must be a 2-D array of rows; got {array.ndim}-D")
    return np.ascontiguousarray(array)


def _check_labels(y: np.ndarray, hps: dict[str, Any], channel: str) -> None:
    objective = hps["objective"]
    problem = None
    if objective.startswith("multi:"):
        k = hps["num_class"]
        if np.any((y < 0) | (y >= k) | (y != np.round(y))):
            problem = f"labels must be integers 0 .. {k - 1} (num_class={k})"
    elif objective in ("binary:logistic", "binary:logitraw", "reg:logistic", "binary:hinge"):
        if np.any((y < 0) | (y > 1)):
            problem = "labels must be in [0, 1]"
    elif objective in ("count:poisson", "reg:tweedie") and np.any(y < 0):
        problem = "labels must be >= 0"
    elif objective == "reg:gamma" and np.any(y <= 0):
        problem = "labels must be > 0"
    if problem:
        raise InvalidRequest(
            f"channel {channel!r}, objective {objective}: {problem}",
            {"channel": channel, "objective": objective},
        )


SHARED_REGRESSION_OBJECTIVES = (
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:pseudohubererror",
    "reg:absoluteerror",
    "reg:logistic",
)


def _shared_metrics(hps: dict[str, Any], y: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """The final metrics every supervised built-in reports (modelyard.algorithms.metrics), for
    the regression, binary and multiclass objectives; none for ranking, counts or survival."""
    from modelyard.algorithms import metrics

    objective = hps["objective"]
    outputs = np.asarray(outputs, dtype=np.float64)  # probabilities that sum to 1 in float64
    if objective in SHARED_REGRESSION_OBJECTIVES:
        return metrics.regression(y, outputs)
    if objective in ("binary:logistic", "binary:logitraw", "binary:hinge"):
        if objective == "binary:hinge":
            return metrics.classification(y, outputs, None, 2)
        p = outputs if objective == "binary:logistic" else 1 / (1 + np.exp(-outputs))
        proba = np.column_stack([1 - p, p])
        return metrics.classification(y, (p > 0.5).astype(np.int64), proba, 2)
    if objective == "multi:softprob":
        proba = outputs.reshape(len(y), -1)
        return metrics.classification(y, proba.argmax(axis=1), proba, proba.shape[1])
    if objective == "multi:softmax":
        return metrics.classification(y, outputs, None, int(hps["num_class"]))
    return {}


class _RoundReporter(xgb.callback.TrainingCallback):
    """Report every metric of every round and log a SageMaker-style line."""

    def __init__(self, ctx: TrainingContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.history: dict[str, list[float]] = {}

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        parts = [f"[{epoch}]"]
        for data_name, metrics in evals_log.items():
            for metric, values in metrics.items():
                value = values[-1]
                value = float(value[0] if isinstance(value, tuple) else value)
                name = f"{data_name}:{metric}"
                self.history.setdefault(name, []).append(value)
                self.ctx.report_metric(name, value, epoch)
                parts.append(f"{data_name}-{metric}:{value:.5f}")
        self.ctx.log("\t".join(parts))
        return False


def _custom_metric(names: list[str], objective: str) -> Callable[..., list[tuple[str, float]]]:
    """One xgboost custom_metric computing the container's extra metrics (transformed preds)."""

    def labels_of(preds: np.ndarray) -> np.ndarray:
        if preds.ndim == 2:
            return preds.argmax(axis=1)
        if objective == "binary:logitraw":
            return (preds > 0).astype(np.int64)
        if objective in ("binary:logistic", "reg:logistic"):
            return (preds > 0.5).astype(np.int64)
        return np.round(preds).astype(np.int64)

    def metric(preds: np.ndarray, dmatrix: xgb.DMatrix) -> list[tuple[str, float]]:
        y = dmatrix.get_label()
        out = []
        for name in names:
            if name in ("mse", "r2"):
                p = preds if preds.ndim == 1 else labels_of(preds)
                mse = float(np.mean((y - p) ** 2))
                if name == "mse":
                    out.append((name, mse))
                else:
                    var = float(np.var(y))
                    out.append((name, 1 - mse / var if var > 0 else 0.0))
                continue
            truth = np.round(y).astype(np.int64)
            predicted = labels_of(preds)
            if name == "accuracy":
                out.append((name, float(np.mean(truth == predicted))))
            elif name == "balanced_accuracy":
                recalls = [np.mean(predicted[truth == c] == c) for c in np.unique(truth)]
                out.append((name, float(np.mean(recalls))))
            elif name == "f1_binary" or (name == "f1" and preds.ndim == 1):
                out.append((name, _f1(truth, predicted, 1)))
            else:  # f1_macro, or f1 of a multiclass objective
                classes = np.union1d(np.unique(truth), np.unique(predicted))
                out.append((name, float(np.mean([_f1(truth, predicted, c) for c in classes]))))
        return out

    return metric


def _f1(truth: np.ndarray, predicted: np.ndarray, positive: int) -> float:
    tp = float(np.sum((predicted == positive) & (truth == positive)))
    fp = float(np.sum((predicted == positive) & (truth != positive)))
    fn = float(np.sum((predicted != positive) & (truth == positive)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


ALGORITHM = XGBoostAlgorithm()

__all__ = ["ALGORITHM", "MODEL_FILE", "XGBoostAlgorithm", "XGBoostModel", "metric_maximize"]
