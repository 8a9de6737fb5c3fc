"""The built-in `kmeans` algorithm: SageMaker k-means' interface on scikit-learn's KMeans.

Hyperparameters carry SageMaker's names. The model is scikit-learn's KMeans (Lloyd's
algorithm over all training rows), called as a user would call it:

    KMeans(n_clusters=k, init=init_method ("kmeans++" is "k-means++"),
           max_iter=local_lloyd_max_iter, tol=local_lloyd_tol,
           n_init=local_lloyd_num_trials ("auto": 1 for kmeans++, 10 for random),
           random_state=seed)

SageMaker runs a streaming mini-batch pass (`epochs`, `mini_batch_size`, `extra_center_factor`,
`half_life_time_size`, `init_method`) and then Lloyd's iterations on the result
(`local_lloyd_*`). Here Lloyd's iterations run on the data itself, which gives the exact
k-means answer for the seed and keeps the model identical to a direct KMeans call; the
streaming-stage knobs are accepted so that SageMaker jobs run unchanged, and are not used.
MiniBatchKMeans is not used, for the same reason.

Metrics: ``train:msd`` (mean squared distance of a row to the centre of its cluster) after
every Lloyd iteration, step = the iteration counted from 0 over all trials, so that tuning can
stop a bad trial early; then the final ``msd`` / ``ssd`` (sum of squared distances) of the
train and test channels, as chosen by `eval_metrics`.

The per-iteration value is the inertia scikit-learn prints in verbose mode (the rows against
the centres each iteration started from), computed from what each iteration already produces
(new centres and cluster weights) in O(k * features): verbose mode's extra pass over the data
costs 20-35% of the training time when k is small, this about 1%. Where that shortcut would
lose digits (very tight clusters) or does not apply (a cluster went empty), that iteration
makes verbose mode's exact pass. It wraps a scikit-learn internal (the Lloyd step function)
for the duration of the fit; where a scikit-learn version lacks it, the verbose output is
parsed instead: same values, slower.

Answers follow SageMaker: ``{"predictions": [{"closest_cluster": 1, "distance_to_cluster":
7.3}]}``; text/csv: ``closest_cluster,distance_to_cluster`` per row. The artifact is
``model.joblib`` (the fitted scikit-learn KMeans) plus ``modelyard-model.json``.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.extmath import row_norms
from threadpoolctl import threadpool_limits

from modelyard.algorithms.base import (
    REQUIRED,
    Hyperparameter,
    MetricDefinition,
    Prediction,
    TrainingContext,
)
from modelyard.algorithms.supervised import SKLEARN_MODEL_FILE
from modelyard.algorithms.unsupervised import (
    FEATURE_DIM,
    UnsupervisedAlgorithm,
    chunks,
    parse_metric_list,
    seed_hyperparameter,
)
from modelyard.errors import InvalidHyperparameters

try:  # scikit-learn's internals the per-iteration metrics hook into (see LloydProgress)
    import sklearn.cluster._kmeans as sk_kmeans
except ImportError:  # pragma: no cover - a scikit-learn that moved them: parse verbose output
    sk_kmeans = None

MODEL_FILE = SKLEARN_MODEL_FILE
EVAL_METRICS = ("msd", "ssd")
INIT_METHODS = {"kmeans++": "k-means++", "random": "random"}

HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter("k", int, REQUIRED, "Number of clusters.", min=1),
    FEATURE_DIM,
    Hyperparameter(
        "init_method",
        str,
        "kmeans++",
        "How the initial centres are chosen: kmeans++ (spread out, scikit-learn's default) or "
        "random rows.",
        choices=tuple(INIT_METHODS),
        tuning_range=tuple(INIT_METHODS),
    ),
    Hyperparameter(
        "local_lloyd_init_method",
        str,
        None,
        "SageMaker's initialization of its final Lloyd stage, the only stage here: when given, "
        "it takes the place of init_method.",
        choices=tuple(INIT_METHODS),
    ),
    Hyperparameter(
        "local_lloyd_max_iter",
        int,
        300,
        "Most Lloyd iterations per trial (scikit-learn's max_iter).",
        min=1,
        tuning_range=(10, 500),
        tuning_scale="Logarithmic",
    ),
    Hyperparameter(
        "local_lloyd_tol",
        float,
        1e-4,
        "Stop when the squared shift of the centres falls below this fraction of the data's "
        "mean feature variance (scikit-learn's tol).",
        min=0,
        tuning_range=(1e-6, 1e-2),
        tuning_scale="Logarithmic",
    ),
    Hyperparameter(
        "local_lloyd_num_trials",
        str,
        "auto",
        "Runs from different initial centres, the best kept (scikit-learn's n_init): an "
        "integer >= 1, or auto (1 for kmeans++, 10 for random).",
    ),
    Hyperparameter(
        "eval_metrics",
        str,
        '["msd", "ssd"]',
        "Final metrics reported on the train and test channels: a list of msd (mean squared "
        "distance) and ssd (sum of squared distances). train:msd per iteration is always "
        "reported.",
    ),
    Hyperparameter(
        "epochs",
        int,
        1,
        "Accepted for compatibility: SageMaker's passes of its streaming stage; Lloyd's "
        "iterations here run over all rows until local_lloyd_tol or local_lloyd_max_iter.",
        min=1,
    ),
    Hyperparameter(
        "mini_batch_size",
        int,
        5000,
        "Accepted for compatibility: mini-batch k-means is not used, so that the model equals "
        "scikit-learn's KMeans for the seed.",
        min=1,
    ),
    Hyperparameter(
        "extra_center_factor",
        str,
        "auto",
        "Accepted for compatibility (auto or an integer >= 1): SageMaker's extra centres of its "
        "streaming stage; not used.",
    ),
    Hyperparameter(
        "half_life_time_size",
        int,
        0,
        "Accepted for compatibility: SageMaker's decay of older mini-batches; not used.",
        min=0,
    ),
    seed_hyperparameter("Random seed of the initial centres (scikit-learn's random_state)."),
)

METRICS: tuple[MetricDefinition, ...] = tuple(
    MetricDefinition(f"{channel}:{name}", "Minimize")
    for channel in ("train", "test")
    for name in EVAL_METRICS
)


@dataclass
class KMeansModel:
    """What `load` returns."""

    estimator: KMeans
    num_features: int


def _positive_int_or_auto(text: str) -> int | str:
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    number = int(value)  # ValueError for anything else
    if number < 1:
        raise ValueError(text)
    return number


def build_estimator(hps: dict[str, Any]) -> KMeans:
    """The unfitted KMeans of validated hyperparameters (the parity tests build it by hand)."""
    init = hps["local_lloyd_init_method"] or hps["init_method"]
    return KMeans(
        n_clusters=hps["k"],
        init=INIT_METHODS[init],
        max_iter=hps["local_lloyd_max_iter"],
        tol=hps["local_lloyd_tol"],
        n_init=_positive_int_or_auto(hps["local_lloyd_num_trials"]),
        random_state=hps["seed"],
    )


class KMeansAlgorithm(UnsupervisedAlgorithm):
    name = "kmeans"
    description = (
        "k-means clustering with SageMaker k-means' hyperparameters, metrics and answers, "
        "fitted by scikit-learn's KMeans."
    )
    artifact = (
        "model.joblib: the fitted scikit-learn KMeans (joblib.load gives it back; "
        "cluster_centers_, predict, transform); modelyard-model.json: algorithm, num_features, "
        "k, iterations run, scikit-learn version, hyperparameters."
    )
    hyperparameters = HYPERPARAMETERS
    problem_types = ("Clustering",)
    metrics = METRICS

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        return {"k": 3} if problem_type in self.problem_types else None

    def check(self, hps: dict[str, Any]) -> None:
        problems: dict[str, str] = {}
        for name in ("local_lloyd_num_trials", "extra_center_factor"):
            try:
                _positive_int_or_auto(hps[name])
            except ValueError:
                problems[name] = f"got {hps[name]!r}; expected auto or an integer >= 1"
        try:
            parse_metric_list(hps["eval_metrics"], EVAL_METRICS)
        except ValueError as exc:
            problems["eval_metrics"] = str(exc)
        if problems:
            raise InvalidHyperparameters(self.name, problems)

    # --- training ------------------------------------------------------------------------------

    def train(self, ctx: TrainingContext) -> None:
        hps = self.validate(ctx.hyperparameters)
        train = self.read_train(ctx, hps)
        rows, num_features = train.X.shape
        if hps["k"] > rows:
            raise InvalidHyperparameters(
                self.name,
                {"k": f"{hps['k']} clusters need at least as many training rows; got {rows}"},
            )
        test = self.read_test(ctx, num_features)
        estimator = build_estimator(hps)
        ctx.log(
            f"kmeans: {hps['k']} clusters, {rows} rows x {num_features} features, "
            f"init {estimator.init}, n_init {estimator.n_init}"
        )
        self.note_unused(
            ctx, hps, ("epochs", "mini_batch_size", "extra_center_factor", "half_life_time_size")
        )

        def per_iteration(step: int, msd: float) -> None:
            ctx.report_metric("train:msd", msd, step)
            ctx.log(f"iteration {step}: train msd {msd:.6g}")

        fit_kmeans(estimator, train.X, ctx, per_iteration)
        ctx.log(f"kmeans: {estimator.n_iter_} iteration(s) in the kept trial")

        wanted = parse_metric_list(hps["eval_metrics"], EVAL_METRICS)
        channels = {"train": train.X, **({"test": test.X} if test is not None else {})}
        for channel, X in channels.items():
            _, squared = closest(estimator, X)
            ssd = float(squared.sum())
            values = {"msd": ssd / len(squared), "ssd": ssd}
            self.report(ctx, channel, {m: values[m] for m in wanted})

        self.save_estimator(
            ctx, estimator, num_features, hps, k=hps["k"], n_iter=int(estimator.n_iter_)
        )

    # --- serving -------------------------------------------------------------------------------

    def load(self, model_dir: Path) -> KMeansModel:
        return KMeansModel(*self.load_estimator(model_dir))

    def predict(self, model: KMeansModel, features: Any) -> Prediction:
        X = self.request_rows(features, model.num_features)
        labels, squared = closest(model.estimator, X)
        distances = np.sqrt(squared)
        records = [
            {"closest_cluster": k, "distance_to_cluster": d}
            for k, d in zip(labels.tolist(), distances.tolist(), strict=True)
        ]
        return Prediction(records, np.column_stack([labels.astype(np.float64), distances]))

    def num_features(self, model: KMeansModel) -> int | None:
        return model.num_features


def closest(estimator: KMeans, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's cluster (scikit-learn's predict) and squared distance to its centre.

    The distance is taken in float64 from the row and the centre rather than from the
    expanded |x|^2 - 2 x.c + |c|^2 form, which loses digits for rows close to a centre.
    """
    labels = np.asarray(estimator.predict(X), dtype=np.int64)
    centers = np.asarray(estimator.cluster_centers_, dtype=np.float64)
    squared = np.empty(len(labels), dtype=np.float64)
    for part in chunks(len(labels)):
        diff = np.asarray(X[part], dtype=np.float64) - centers[labels[part]]
        squared[part] = np.einsum("ij,ij->i", diff, diff)
    return labels, squared


# --- per-iteration metrics ---------------------------------------------------------------------


def fit_kmeans(
    estimator: KMeans,
    X: np.ndarray,
    ctx: TrainingContext,
    per_iteration: Callable[[int, float], None],
) -> None:
    """estimator.fit(X) on at most ctx.num_cpus threads, calling per_iteration(step, msd)
    after every Lloyd iteration; convergence warnings go to the job log."""
    progress = LloydProgress(per_iteration)
    if lloyd_hook_available():
        watch = progress.hooked()
    else:
        watch = progress.verbose(estimator, len(X), ctx.log)
    with (
        threadpool_limits(limits=max(1, ctx.num_cpus), user_api="openmp"),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always", ConvergenceWarning)
        with watch:
            estimator.fit(X)
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            ctx.log(f"warning: {warning.message}")
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def lloyd_hook_available() -> bool:
    """Whether this scikit-learn runs Lloyd's iterations through the step function that
    `LloydProgress.hooked` wraps (it does from 1.0 on; checked, since it is an internal)."""
    if sk_kmeans is None:
        return False
    single = getattr(sk_kmeans, "_kmeans_single_lloyd", None)
    code = getattr(inspect.unwrap(single), "__code__", None) if callable(single) else None
    return (
        callable(getattr(sk_kmeans, "lloyd_iter_chunked_dense", None))
        and callable(getattr(sk_kmeans, "_inertia_dense", None))
        and code is not None
        and "lloyd_iter_chunked_dense" in code.co_names
    )


_HOOK_LOCK = threading.Lock()  # one wrapped fit at a time: the wrapper is module-wide
_EXACT_BELOW = 1e-3
_ITERATION = re.compile(r"Iteration (\d+), inertia (\S+)\.$")


class LloydProgress:
    """Turns each Lloyd iteration of a KMeans fit into per_iteration(step, msd)."""

    def __init__(self, per_iteration: Callable[[int, float], None]) -> None:
        self.per_iteration = per_iteration
        self.step = 0
        self._X: Any = None
        self._sum_sq = 0.0
        self._weight = 0.0
        self._max_weight = 0.0

    def _emit(self, inertia: float) -> None:
        self.per_iteration(self.step, max(inertia, 0.0) / self._weight)
        self.step += 1

    @contextlib.contextmanager
    def hooked(self) -> Iterator[None]:
        """Wrap scikit-learn's Lloyd step for the duration of one fit."""
        original = sk_kmeans.lloyd_iter_chunked_dense

        def step(*args: Any, **kwargs: Any) -> None:
            original(*args, **kwargs)
            # Also called once after the last iteration to relabel (update_centers=False).
            update_centers = kwargs.get("update_centers", args[8] if len(args) > 8 else True)
            if update_centers:
                self._after_iteration(*args[:8])

        with _HOOK_LOCK:
            sk_kmeans.lloyd_iter_chunked_dense = step
            try:
                yield
            finally:
                sk_kmeans.lloyd_iter_chunked_dense = original

    def _after_iteration(
        self,
        X: Any,
        sample_weight: Any,
        centers_old: Any,
        centers_new: Any,
        weight_in_clusters: Any,
        labels: Any,
        center_shift: Any,
        n_threads: int,
    ) -> None:
        if X is not self._X:  # the centred copy KMeans iterates on, the same for every trial
            self._X = X
            w = np.asarray(sample_weight, dtype=np.float64)
            norms = row_norms(np.asarray(X), squared=True).astype(np.float64)
            self._sum_sq = float(w @ norms)
            self._weight = float(w.sum())
            self._max_weight = float(w.max())
        weights = np.asarray(weight_in_clusters, dtype=np.float64)
        inertia = -1.0
        if weights.min() > self._max_weight:
            # sum_i |x_i - c_j(i)|^2 = sum_i |x_i|^2 - sum_j w_j |m_j|^2 + sum_j w_j |m_j - c_j|^2
            # with c_j the centre the iteration started from and m_j the weighted mean of the
            # w_j rows it assigned to cluster j (the new centre): O(k * features).
            new = np.asarray(centers_new, dtype=np.float64)
            shift = new - np.asarray(centers_old, dtype=np.float64)
            inertia = (
                self._sum_sq
                - weights @ np.einsum("ij,ij->i", new, new)
                + weights @ np.einsum("ij,ij->i", shift, shift)
            )
        # The identity's error is about 1e-7 (float32 centres) of sum_i |x_i|^2, so it is
        # exact enough while the inertia is above a thousandth of that. Below (very tight
        # clusters), or where a cluster went empty and scikit-learn moved a far row into it (so
        # the weights no longer follow the labels; a single-row cluster is taken for one), make
        # the exact pass over the data that verbose mode makes.
        if inertia < _EXACT_BELOW * self._sum_sq:
            inertia = float(
                sk_kmeans._inertia_dense(X, sample_weight, centers_old, labels, n_threads)
            )
        self._emit(float(inertia))

    @contextlib.contextmanager
    def verbose(self, estimator: KMeans, rows: int, log: Callable[[str], None]) -> Iterator[None]:
        """Fallback: scikit-learn's verbose mode prints each iteration's inertia; parse it."""
        self._weight = float(rows)

        def line(text: str) -> None:
            match = _ITERATION.match(text)
            if match is not None:
                self._emit(float(match.group(2)))
            elif text.strip():
                log(text)  # "Initialization complete", "Converged at iteration ..."

        estimator.set_params(verbose=1)
        try:
            with contextlib.redirect_stdout(_Lines(line)):
                yield
        finally:
            # Verbose mode only prints; set back so that the saved model equals a direct call's.
            estimator.set_params(verbose=0)


class _Lines(io.TextIOBase):
    """A text stream that hands over each complete line."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *complete, self.pending = self.pending.split("\n")
        for line in complete:
            self.on_line(line)
        return len(text)


ALGORITHM = KMeansAlgorithm()

__all__ = [
    "ALGORITHM",
    "MODEL_FILE",
    "KMeansAlgorithm",
    "KMeansModel",
    "LloydProgress",
    "build_estimator",
    "closest",
    "fit_kmeans",
    "lloyd_hook_available",
]
