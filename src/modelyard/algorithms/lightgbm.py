"""The built-in `lightgbm` algorithm: LightGBM gradient-boosted trees for regression and
binary / multiclass classification.

Hyperparameters carry the names of SageMaker's LightGBM built-in (`num_boost_round`,
`learning_rate`, `num_leaves`, `feature_fraction`, ...) plus `objective`, which picks the
problem; every default is LightGBM's own, so that a job trains the model `lightgbm.train`
trains on the same data with the parameters of `LightGBMAlgorithm.lightgbm_params` (only those
that differ from LightGBM's defaults, plus ``num_threads``, ``deterministic=true`` and
``force_col_wise=true``). Training is deterministic for given data and hyperparameters:
LightGBM's seeds are fixed numbers unless `seed` is given.

Channels: `train` (required), `validation` and `test` (optional), in text/csv (label first, no
header), text/csv;header=present and application/x-parquet (label column named by `label`,
the first by default) or text/libsvm (read as a sparse matrix). Missing feature values (empty
cells, NaN) are left to LightGBM, which routes them at every split.

Metrics:

- every round (step = round index, from 0): ``train:<metric>`` and, with a validation channel,
  ``validation:<metric>``, under LightGBM's own metric names (``l2``, ``binary_logloss``,
  ``multi_logloss``, ``auc`` ...: the objective's default metric, or those `metric` lists). The
  first metric of `metric` drives early stopping on the validation channel. One tab-separated
  line per round is logged (every n-th round for long runs): ``[3] train-l2:0.51
  validation-l2:0.62``.
- at the end (step None), for the kept model (on at most 100,000 evenly spaced rows of the
  training channel): ``<channel>:<name>`` for every given channel with
  the names all supervised built-ins share (`modelyard.algorithms.metrics`): rmse, mae, mse, r2
  for regression; accuracy, precision, recall, f1, auc, log_loss for classification. The
  per-round LightGBM metrics are reported once more with their value at the kept round, except
  where a LightGBM name is also a shared name (``rmse``, ``auc``): there only the shared value
  is reported, so that no name has two final values. `cross_entropy` (labels in [0, 1]) gets
  the classification metrics on a channel whose labels are all 0 or 1, the regression ones on
  any other.

Artifacts in the model directory:

- ``model.txt``: the booster in LightGBM's text format (`Booster.save_model`), loadable by
  plain ``lightgbm.Booster(model_file="model.txt")``. With early stopping it holds the rounds
  up to the best one only, so any reader of the file gets the model whose validation score was
  the best.
- ``modelyard-model.json``: algorithm, num_features, predictor_type, objective, num_class
  (multiclass objectives only), lightgbm_version, num_iterations (rounds in ``model.txt``),
  best_iteration (LightGBM's 1-based best round when early stopping ran, else null) and the
  hyperparameters.

Serving answers in linear-learner's format:

    regression        {"score": 12.5}
    binary            {"score": P(class 1), "predicted_label": 1}
    multiclass        {"score": [P(0), P(1), ...], "predicted_label": 2}

and text/csv answers the score of a regression model, the predicted label of a classifier.
`multiclassova` scores are LightGBM's per-class sigmoid outputs as they are (they need not sum
to 1); the final log_loss and auc of training use them normalised per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
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
    LIBSVM,
    PARQUET,
    ChannelData,
    check_feature_dim,
    is_libsvm,
)
from modelyard.algorithms.metadata import read_model_metadata, write_model_metadata
from modelyard.algorithms.supervised import (
    BINARY,
    MULTICLASS,
    REGRESSOR,
    train_metric_sample,
)
from modelyard.errors import InvalidHyperparameters, InvalidRequest

MODEL_FILE = "model.txt"
# The final train:* metrics of a bigger channel come from this many evenly spaced rows: scoring
# a million rows took a third as long as training them.
TRAIN_METRIC_ROWS = 100_000

REGRESSION_OBJECTIVES = (
    "regression",
    "regression_l1",
    "huber",
    "fair",
    "poisson",
    "quantile",
    "mape",
    "gamma",
    "tweedie",
)
BINARY_OBJECTIVES = ("binary", "cross_entropy")
MULTICLASS_OBJECTIVES = ("multiclass", "multiclassova")
OBJECTIVES = REGRESSION_OBJECTIVES + BINARY_OBJECTIVES + MULTICLASS_OBJECTIVES

# LightGBM's evaluation metrics by their canonical names (the names it reports them under);
# True = higher is better. The ranking metrics (ndcg, map) are left out: there are no query
# groups here.
POINT_METRICS: dict[str, bool] = {
    "l1": False,
    "l2": False,
    "rmse": False,
    "quantile": False,
    "mape": False,
    "huber": False,
    "fair": False,
    "poisson": False,
    "gamma": False,
    "gamma_deviance": False,
    "tweedie": False,
    "binary_logloss": False,
    "binary_error": False,
    "auc": True,
    "average_precision": True,
    "cross_entropy": False,
    "cross_entropy_lambda": False,
    "kullback_leibler": False,
}
MULTICLASS_METRICS: dict[str, bool] = {
    "multi_logloss": False,
    "multi_error": False,
    "auc_mu": True,
}
LIGHTGBM_METRICS: dict[str, bool] = {**POINT_METRICS, **MULTICLASS_METRICS}

# Aliases LightGBM accepts, refused here so that a per-round series always carries the name
# LightGBM reports it under (asking for "mse" would otherwise give a series named "l2" next to
# the final "mse" of a different meaning); the error names the one to use.
_METRIC_ALIASES = {
    "mse": "l2",
    "mean_squared_error": "l2",
    "regression": "l2",
    "regression_l2": "l2",
    "mae": "l1",
    "mean_absolute_error": "l1",
    "regression_l1": "l1",
    "l2_root": "rmse",
    "root_mean_squared_error": "rmse",
    "mean_absolute_percentage_error": "mape",
    "binary": "binary_logloss",
    "logloss": "binary_logloss",
    "error": "binary_error",
    "multiclass": "multi_logloss",
    "softmax": "multi_logloss",
    "multiclassova": "multi_logloss",
    "ova": "multi_logloss",
    "mlogloss": "multi_logloss",
    "merror": "multi_error",
    "xentropy": "cross_entropy",
    "xentlambda": "cross_entropy_lambda",
    "kldiv": "kullback_leibler",
}


def _hp(name: str, type_: type, default: Any, help: str, **kw: Any) -> Hyperparameter:
    return Hyperparameter(name=name, type=type_, default=default, help=help, **kw)


HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    _hp(
        "objective",
        str,
        REQUIRED,
        "Loss to minimise, and with it the problem: regression objectives (regression is L2), "
        "binary or cross_entropy (labels in [0, 1]), multiclass or multiclassova.",
        choices=OBJECTIVES,
    ),
    _hp(
        "num_boost_round",
        int,
        100,
        "Number of boosting rounds (trees per class).",
        min=1,
        tuning_range=(10, 1000),
        tuning_scale="Logarithmic",
    ),
    _hp(
        "num_class",
        int,
        None,
        "Number of classes (labels 0 .. num_class-1); required by multiclass and multiclassova, "
        "not given otherwise.",
        min=2,
    ),
    _hp(
        "early_stopping_rounds",
        int,
        None,
        "Stop when the first validation metric has not improved for this many rounds and keep "
        "the best round (needs a validation channel; not with boosting dart).",
        min=1,
    ),
    _hp(
        "metric",
        str,
        None,
        "LightGBM evaluation metric(s), comma-separated (default: the objective's): "
        + ", ".join(LIGHTGBM_METRICS)
        + ". The first one drives early stopping.",
    ),
    _hp(
        "learning_rate",
        float,
        0.1,
        "Shrinkage of every tree's contribution.",
        min=0,
        min_exclusive=True,
        tuning_range=(0.001, 0.5),
        tuning_scale="Logarithmic",
    ),
    _hp(
        "num_leaves",
        int,
        31,
        "Maximum number of leaves of one tree.",
        min=2,
        max=131072,
        tuning_range=(8, 256),
        tuning_scale="Logarithmic",
    ),
    _hp(
        "max_depth",
        int,
        -1,
        "Maximum depth of a tree (-1 or 0: no limit; num_leaves bounds the tree).",
        min=-1,
        tuning_range=(3, 15),
    ),
    _hp(
        "min_data_in_leaf",
        int,
        20,
        "Fewest rows in a leaf.",
        min=0,
        tuning_range=(5, 200),
        tuning_scale="Logarithmic",
    ),
    _hp(
        "feature_fraction",
        float,
        1.0,
        "Fraction of the features each tree may use.",
        min=0,
        min_exclusive=True,
        max=1,
        tuning_range=(0.5, 1.0),
    ),
    _hp(
        "bagging_fraction",
        float,
        1.0,
        "Fraction of the rows sampled for a tree (with bagging_freq > 0).",
        min=0,
        min_exclusive=True,
        max=1,
        tuning_range=(0.5, 1.0),
    ),
    _hp(
        "bagging_freq",
        int,
        0,
        "Resample the rows every this many rounds (0: no bagging).",
        min=0,
        tuning_range=(0, 10),
    ),
    _hp(
        "lambda_l1",
        float,
        0.0,
        "L1 regularisation of the leaf values.",
        min=0,
        tuning_range=(0, 10),
    ),
    _hp(
        "lambda_l2",
        float,
        0.0,
        "L2 regularisation of the leaf values.",
        min=0,
        tuning_range=(0, 10),
    ),
    _hp(
        "min_gain_to_split",
        float,
        0.0,
        "Smallest gain a split must bring.",
        min=0,
        tuning_range=(0, 5),
    ),
    _hp(
        "max_delta_step",
        float,
        0.0,
        "Largest output of a leaf, before shrinkage (0: no limit).",
        min=0,
    ),
    _hp(
        "scale_pos_weight",
        float,
        1.0,
        "Weight of the positive class (binary and multiclassova; not with is_unbalance).",
        min=0,
        min_exclusive=True,
    ),
    _hp(
        "is_unbalance",
        bool,
        False,
        "Weight the classes by their frequency (binary and multiclassova; not with "
        "scale_pos_weight).",
    ),
    _hp(
        "max_bin",
        int,
        255,
        "Most histogram bins per feature.",
        min=2,
    ),
    _hp(
        "boosting",
        str,
        "gbdt",
        "gbdt (gradient boosting), dart (with dropout) or rf (random forest: needs bagging, "
        "or feature_fraction < 1).",
        choices=("gbdt", "dart", "rf"),
    ),
    _hp(
        "alpha",
        float,
        0.9,
        "huber: the delta; quantile: the quantile, in (0, 1).",
        min=0,
        min_exclusive=True,
    ),
    _hp(
        "tweedie_variance_power",
        float,
        1.5,
        "tweedie: the variance power, in [1, 2).",
        min=1,
        max=2,
    ),
    _hp(
        "seed",
        int,
        None,
        "Seed of every random choice (default: LightGBM's fixed seeds).",
        min=0,
        max=2**31 - 1,
    ),
    _hp(
        "verbosity",
        int,
        1,
        "LightGBM's own log level: -1 fatal only, 0 warnings, 1 info, 2 debug.",
        min=-1,
        max=2,
    ),
    _hp(
        "feature_dim",
        int,
        None,
        "Number of features; checked against the data (default: taken from the data). "
        "text/libsvm data is widened to it.",
        min=1,
    ),
    _hp(
        "label",
        str,
        None,
        "Label column name for text/csv;header=present and parquet input "
        "(default: the first column).",
    ),
)

# Handed to LightGBM only when they differ from the declared default (which is LightGBM's),
# so the parameters of a job read like what a user would pass; objective-specific ones only
# with their objective.
_TREE_PARAMS = (
    "learning_rate",
    "num_leaves",
    "max_depth",
    "min_data_in_leaf",
    "feature_fraction",
    "bagging_fraction",
    "bagging_freq",
    "lambda_l1",
    "lambda_l2",
    "min_gain_to_split",
    "max_delta_step",
    "max_bin",
    "boosting",
)
_OBJECTIVE_PARAMS: dict[str, tuple[str, ...]] = {
    "binary": ("is_unbalance", "scale_pos_weight"),
    "multiclassova": ("is_unbalance", "scale_pos_weight"),
    "huber": ("alpha",),
    "quantile": ("alpha",),
    "tweedie": ("tweedie_variance_power",),
}


def _metrics_table() -> tuple[MetricDefinition, ...]:
    per_round = [
        MetricDefinition(f"{channel}:{name}", "Maximize" if up else "Minimize")
        for channel in ("train", "validation")
        for name, up in LIGHTGBM_METRICS.items()
    ]
    final = metrics.definitions(metrics.REGRESSION_METRICS + metrics.CLASSIFICATION_METRICS)
    by_name = {m.name: m for m in (*per_round, *final)}  # rmse, auc: same name, same direction
    return tuple(by_name.values())


METRICS: tuple[MetricDefinition, ...] = _metrics_table()


def predictor_type(objective: str) -> str:
    """regressor, binary_classifier or multiclass_classifier, by objective."""
    if objective in MULTICLASS_OBJECTIVES:
        return MULTICLASS
    if objective in BINARY_OBJECTIVES:
        return BINARY
    return REGRESSOR


def _metric_names(hps: dict[str, Any]) -> list[str]:
    """The metrics asked for, in order, without repeats."""
    names = [m.strip() for m in (hps.get("metric") or "").split(",") if m.strip()]
    return list(dict.fromkeys(names))


@dataclass
class LightGBMModel:
    """What `load` returns."""

    booster: lgb.Booster
    objective: str
    predictor_type: str
    num_class: int | None  # multiclass objectives only
    num_features: int


class LightGBMAlgorithm(Algorithm):
    name = "lightgbm"
    description = (
        "Gradient-boosted trees (LightGBM) for regression and binary or multiclass "
        "classification, with SageMaker LightGBM's hyperparameter names and LightGBM's "
        "model file."
    )
    hyperparameters = HYPERPARAMETERS
    problem_types = ("Regression", "BinaryClassification", "MulticlassClassification")
    content_types = (CSV, CSV_HEADER, PARQUET, LIBSVM)
    metrics = METRICS
    required_channels = ("train",)
    optional_channels = ("validation", "test")
    artifact = (
        "model.txt: the booster in LightGBM's text format (cut back to the best round after "
        "early stopping), loadable by plain lightgbm: lightgbm.Booster(model_file='model.txt'); "
        "modelyard-model.json: algorithm, num_features, predictor_type, objective, num_class, "
        "lightgbm version, best_iteration, hyperparameters."
    )

    # --- hyperparameters -------------------------------------------------------------------

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        examples: dict[str, dict[str, Any]] = {
            "Regression": {"objective": "regression"},
            "BinaryClassification": {"objective": "binary"},
            "MulticlassClassification": {"objective": "multiclass", "num_class": 3},
        }
        example = examples.get(problem_type)
        return None if example is None else {"num_boost_round": 10, "verbosity": -1, **example}

    def check(self, hps: dict[str, Any]) -> None:
        problems: dict[str, str] = {}
        objective = hps["objective"]
        multiclass = objective in MULTICLASS_OBJECTIVES
        if multiclass and hps["num_class"] is None:
            problems["num_class"] = f"required for objective {objective}; give an integer >= 2"
        if not multiclass and hps["num_class"] is not None:
            # LightGBM refuses it too ("Number of classes must be 1 for non-multiclass").
            problems["num_class"] = (
                f"only for objectives {', '.join(MULTICLASS_OBJECTIVES)}; objective "
                f"{objective} takes none"
            )
        weighted = hps["is_unbalance"] or hps["scale_pos_weight"] != 1.0
        if weighted and objective not in ("binary", "multiclassova"):
            name = "is_unbalance" if hps["is_unbalance"] else "scale_pos_weight"
            problems[name] = f"only for objectives binary and multiclassova, not {objective}"
        elif hps["is_unbalance"] and hps["scale_pos_weight"] != 1.0:
            problems["is_unbalance"] = "cannot be true together with scale_pos_weight"
            problems["scale_pos_weight"] = "must be 1 (its default) when is_unbalance is true"
        if objective == "quantile" and hps["alpha"] >= 1:
            problems["alpha"] = "the quantile of objective quantile must be < 1"
        if hps["tweedie_variance_power"] >= 2:
            problems["tweedie_variance_power"] = "must be >= 1 and < 2"
        if hps["boosting"] == "rf" and not (
            (hps["bagging_freq"] > 0 and hps["bagging_fraction"] < 1) or hps["feature_fraction"] < 1
        ):
            problems["boosting"] = (
                "rf needs bagging (bagging_freq > 0 and bagging_fraction < 1) or "
                "feature_fraction < 1"
            )
        if hps["boosting"] == "dart" and hps["early_stopping_rounds"] is not None:
            problems["early_stopping_rounds"] = "not available with boosting dart"
        metric_problem = _check_metrics(_metric_names(hps), objective)
        if metric_problem:
            problems["metric"] = metric_problem
        if problems:
            raise InvalidHyperparameters(self.name, problems)

    def lightgbm_params(self, hps: dict[str, Any], num_cpus: int = 1) -> dict[str, Any]:
        """The parameter dict handed to lightgbm.train for validated hyperparameters."""
        defaults = {hp.name: hp.default for hp in self.hyperparameters}
        objective = hps["objective"]
        params: dict[str, Any] = {
            "objective": objective,
            "num_threads": num_cpus,
            "verbosity": hps["verbosity"],
            # Stable results for the same data and parameters. LightGBM otherwise times row-
            # and column-wise histogram building on the data and keeps the faster, which can
            # change the summation order between runs; col-wise was as fast or faster on the
            # shapes measured, and the timing test itself costs a second on wide data.
            "deterministic": True,
            "force_col_wise": True,
        }
        for name in _TREE_PARAMS + _OBJECTIVE_PARAMS.get(objective, ()):
            if hps[name] != defaults[name]:
                params[name] = hps[name]
        if objective in MULTICLASS_OBJECTIVES:
            params["num_class"] = hps["num_class"]
        if hps["seed"] is not None:
            params["seed"] = hps["seed"]
        names = _metric_names(hps)
        if names:
            params["metric"] = names
        return params

    # --- training ----------------------------------------------------------------------------

    def _read(
        self,
        ctx: TrainingContext,
        channel: str,
        hps: dict[str, Any],
        num_features: int | None,
    ) -> ChannelData:
        data = self.read_labelled(ctx, channel, hps, num_features)
        assert data.y is not None
        _check_labels(data.y, hps, channel)
        return data

    def train(self, ctx: TrainingContext) -> None:
        hps = self.validate(ctx.hyperparameters)  # idempotent on parsed values; fills defaults
        objective = hps["objective"]
        kind = predictor_type(objective)
        feature_dim = hps["feature_dim"]
        # libsvm rows do not say how wide the data is (the last features may be all zero):
        # feature_dim widens them. Any other format must have exactly feature_dim columns.
        libsvm = is_libsvm(ctx.content_types.get("train"))
        train = self._read(ctx, "train", hps, feature_dim if libsvm else None)
        rows, num_features = train.X.shape
        check_feature_dim(feature_dim, num_features)
        others = {
            name: self._read(ctx, name, hps, num_features)
            for name in ("validation", "test")
            if name in ctx.channels
        }
        validation = others.get("validation")
        params = self.lightgbm_params(hps, ctx.num_cpus)
        ctx.log(
            f"lightgbm {lgb.__version__} ({objective}): train {rows} rows x {num_features} "
            "features" + (f", validation {validation.X.shape[0]} rows" if validation else "")
        )
        if hps["bagging_fraction"] < 1 and hps["bagging_freq"] == 0:
            ctx.log("note: bagging_fraction has no effect while bagging_freq is 0")

        dtrain = lgb.Dataset(train.X, label=train.y)
        valid_sets, valid_names = [dtrain], ["train"]  # train metrics every round
        if validation is not None:
            valid_sets.append(lgb.Dataset(validation.X, label=validation.y, reference=dtrain))
            valid_names.append("validation")
        reporter = _RoundReporter(ctx, hps["num_boost_round"])
        callbacks: list[Any] = [reporter]
        early = hps["early_stopping_rounds"]
        if early is not None and validation is None:
            ctx.log("early_stopping_rounds ignored: there is no validation channel")
            early = None
        if early is not None:
            # lightgbm.train leaves the training set (named in valid_sets) out of early stopping.
            callbacks.append(lgb.early_stopping(early, first_metric_only=True, verbose=False))
        try:
            booster = lgb.train(
                params,
                dtrain,
                num_boost_round=hps["num_boost_round"],
                valid_sets=valid_sets,
                valid_names=valid_names,
                callbacks=callbacks,
            )
        except lgb.basic.LightGBMError as exc:
            raise InvalidRequest(f"lightgbm rejected the training job: {exc}") from None

        # With early stopping, LightGBM's best_iteration is the 1-based best round; it is also
        # set when the last round is reached without stopping early.
        best = booster.best_iteration if early is not None and booster.best_iteration > 0 else None
        kept = best if best is not None else booster.current_iteration()
        if best is not None:
            ctx.log(f"stopping: best round {best - 1} of {len(reporter.steps)}")

        model = LightGBMModel(
            booster, objective, kind, hps["num_class"] if kind == MULTICLASS else None, num_features
        )
        scored = {"train": train_metric_sample(train, TRAIN_METRIC_ROWS, ctx), **others}
        for channel, data in scored.items():
            assert data.y is not None
            final = _final_metrics(model, data.X, data.y, kept)
            for name, values in reporter.history.items():
                source, _, metric = name.partition(":")
                if source == channel and metric not in final and kept <= len(values):
                    ctx.report_metric(name, values[kept - 1], None)  # the kept round's value
            for metric, value in final.items():
                ctx.report_metric(f"{channel}:{metric}", value, None)
                ctx.log(f"#quality_metric: host=algo-1, {channel} {metric} <score>={value}")

        ctx.model_dir.mkdir(parents=True, exist_ok=True)
        booster.save_model(str(ctx.model_dir / MODEL_FILE), num_iteration=kept)
        write_model_metadata(
            ctx.model_dir,
            self.name,
            num_features,
            hps,
            predictor_type=kind,
            objective=objective,
            num_class=model.num_class,
            lightgbm_version=lgb.__version__,
            num_iterations=kept,
            best_iteration=best,
        )
        ctx.log(f"saved {MODEL_FILE} ({kept} rounds)")

    # --- serving -----------------------------------------------------------------------------

    def load(self, model_dir: Path) -> LightGBMModel:
        model_dir = Path(model_dir)
        path = model_dir / MODEL_FILE
        if not path.is_file():
            raise InvalidRequest(f"no {MODEL_FILE} in {model_dir}", {"path": str(model_dir)})
        meta = read_model_metadata(model_dir) or {}
        if meta.get("algorithm", self.name) != self.name:
            raise InvalidRequest(
                f"{model_dir} holds a {meta['algorithm']} model, not a {self.name} one",
                {"path": str(model_dir), "algorithm": meta["algorithm"]},
            )
        try:
            booster = lgb.Booster(model_file=str(path))
        except lgb.basic.LightGBMError as exc:
            raise InvalidRequest(f"{path}: not a LightGBM model: {exc}") from None
        classes = booster.num_model_per_iteration()
        # A model trained elsewhere has no metadata: the booster knows its objective.
        objective = meta.get("objective") or str(booster.params.get("objective", "regression"))
        kind = meta.get("predictor_type")
        if kind is None:
            base = objective.split()[0]
            if classes > 1:
                kind = MULTICLASS
            elif base in ("binary", "cross_entropy", "xentropy", "cross_entropy_lambda"):
                kind = BINARY
            else:
                kind = REGRESSOR
        num_class = classes if kind == MULTICLASS else None
        return LightGBMModel(booster, objective, kind, num_class, booster.num_feature())

    def predict(self, model: LightGBMModel, features: Any) -> Prediction:
        rows = _as_rows(features)
        if rows.shape[1] != model.num_features:
            raise InvalidRequest(
                f"got {rows.shape[1]} feature columns; the model expects {model.num_features}",
                {"num_features": rows.shape[1], "expected": model.num_features},
            )
        # The model file holds only the kept rounds, so all of them are used.
        scores = np.asarray(model.booster.predict(rows), dtype=np.float64)
        if model.predictor_type == REGRESSOR:
            scores = scores.reshape(-1)
            return Prediction([{"score": s} for s in scores.tolist()], scores)
        labels = _labels(scores)
        records = [
            {"score": s, "predicted_label": k}
            for s, k in zip(scores.tolist(), labels.tolist(), strict=True)
        ]
        return Prediction(records, labels)

    def num_features(self, model: LightGBMModel) -> int | None:
        return model.num_features


# --- helpers -----------------------------------------------------------------------------------


def _check_metrics(names: list[str], objective: str) -> str | None:
    """Why `metric` is wrong for this objective, or None."""
    unknown = [n for n in names if n not in LIGHTGBM_METRICS]
    if unknown:
        hints = [
            f"{n} is called {_METRIC_ALIASES[n]} here" for n in unknown if n in _METRIC_ALIASES
        ]
        return (
            f"unknown metric(s) {', '.join(unknown)}; valid metrics: "
            + ", ".join(LIGHTGBM_METRICS)
            + (f" ({'; '.join(hints)})" if hints else "")
        )
    if objective in MULTICLASS_OBJECTIVES:
        wrong = [n for n in names if n not in MULTICLASS_METRICS]
        allowed = ", ".join(MULTICLASS_METRICS)
    else:
        wrong = [n for n in names if n in MULTICLASS_METRICS]
        allowed = ", ".join(POINT_METRICS)
    if wrong:
        # LightGBM refuses these pairs itself ("Multiclass objective and metrics don't match").
        return f"{', '.join(wrong)} cannot evaluate objective {objective}; use {allowed}"
    return None


def _check_labels(y: np.ndarray, hps: dict[str, Any], channel: str) -> None:
    objective = hps["objective"]
    problem = None
    if objective in MULTICLASS_OBJECTIVES:
        k = hps["num_class"]
        if np.any((y < 0) | (y >= k) | (y != np.round(y))):
            problem = f"labels must be the integers 0 .. {k - 1} (num_class={k})"
    elif objective == "binary":
        if np.any((y != 0) & (y != 1)):
            problem = "labels must be 0 or 1"
    elif objective == "cross_entropy":
        if np.any((y < 0) | (y > 1)):
            problem = "labels must be in [0, 1]"
    elif objective in ("poisson", "tweedie"):
        if np.any(y < 0):
            problem = "labels must be >= 0"
    elif objective == "gamma" and np.any(y <= 0):
        problem = "labels must be > 0"
    if problem:
        raise InvalidRequest(
            f"channel {channel!r}, objective {objective}: {problem}",
            {"channel": channel, "objective": objective},
        )


def _as_rows(features: Any) -> Any:
    if hasattr(features, "tocsr"):  # scipy sparse, as text/libsvm requests arrive
        return features.tocsr()
    # float32 rows in C order reach LightGBM without a copy (any other layout is copied).
    array = np.asarray(features, dtype=np.float32)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise InvalidRequest(f"features must be a 2-D array of rows; got {array.ndim}-D")
    return np.ascontiguousarray(array)


def _labels(scores: np.ndarray) -> np.ndarray:
    """Predicted class: P(1) > 0.5 for binary (as LGBMClassifier decides), else the argmax."""
    if scores.ndim == 1:
        return (scores > 0.5).astype(np.int64)
    return scores.argmax(axis=1).astype(np.int64)


def _final_metrics(model: LightGBMModel, X: Any, y: np.ndarray, kept: int) -> dict[str, float]:
    """The shared final metrics of the kept model on one channel."""
    scores = np.asarray(model.booster.predict(X, num_iteration=kept), dtype=np.float64)
    if model.predictor_type == REGRESSOR:
        return metrics.regression(y, scores)
    if model.predictor_type == BINARY:
        if not np.all((y == 0) | (y == 1)):  # cross_entropy on soft labels: a regression
            return metrics.regression(y, scores)
        proba = np.column_stack([1.0 - scores, scores])
        return metrics.classification(y, _labels(scores), proba, 2)
    assert model.num_class is not None
    proba = scores
    if model.objective == "multiclassova":  # independent sigmoids: normalise for log_loss, auc
        proba = scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-300)
    return metrics.classification(y, _labels(scores), proba, model.num_class)


class _RoundReporter:
    """A lightgbm.train callback: report every metric of every round, log a line per round
    (every n-th round for long runs) and keep the values for the final report."""

    order = 20  # before early stopping (30), so the round that stops training is reported
    before_iteration = False

    def __init__(self, ctx: TrainingContext, rounds: int) -> None:
        self.ctx = ctx
        self.every = max(1, rounds // 100)
        self.history: dict[str, list[float]] = {}
        self.steps: list[int] = []

    def __call__(self, env: Any) -> None:
        step = env.iteration
        self.steps.append(step)
        parts = [f"[{step}]"]
        # Items are (data name, metric name, value, higher-is-better) tuples before
        # lightgbm 4.7 and EvalResult named tuples since; indexing reads both.
        for item in env.evaluation_result_list or ():
            data_name, metric, value = item[0], item[1], float(item[2])
            name = f"{data_name}:{metric}"
            self.history.setdefault(name, []).append(value)
            self.ctx.report_metric(name, value, step)
            parts.append(f"{data_name}-{metric}:{value:.6g}")
        done = step - env.begin_iteration + 1
        if done == 1 or done % self.every == 0 or step == env.end_iteration - 1:
            self.ctx.log("\t".join(parts))


ALGORITHM = LightGBMAlgorithm()

__all__ = ["ALGORITHM", "MODEL_FILE", "LightGBMAlgorithm", "LightGBMModel", "predictor_type"]
