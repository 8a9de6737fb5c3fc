"""The search strategies of a hyperparameter tuning job (SageMaker Automatic Model Tuning).

A pure module: the tuning driver owns the trials (in modelyard's database) and asks this one what
to try next and when to stop a trial early. Optuna samples, on an in-memory study that `Search`
rebuilds from the driver's records after a restart; no Optuna state is ever persisted.

Choices where SageMaker leaves room:
- ScalingType Auto is Linear (SageMaker picks a scale by heuristics it does not publish).
- ReverseLogarithmic samples 1 - x on a log scale, which crowds values close to MaxValue.
- Bayesian is multivariate TPE with constant liar (running trials repel new asks, so parallel
  trials spread out); Hyperband is the same TPE under Optuna's HyperbandPruner.
- Grid walks the combinations in a fixed order (the product of the ranges as listed), so each
  is tried exactly once even across restarts; it ignores warm start.
- A trial stopped early is Optuna's PRUNED, valued at its last intermediate report; best() and
  the completion criteria count Completed trials only.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import optuna
from optuna import distributions
from optuna.pruners import BasePruner, HyperbandPruner, NopPruner
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial, TrialState, create_trial

from modelyard.errors import InvalidRequest

# Optuna logs every finished trial at INFO; the driver writes its own, better-named lines.
optuna.logging.set_verbosity(optuna.logging.WARNING)

STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
# Static hyperparameters SageMaker reads MaxResource from when Hyperband's config omits it.
EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")

State = Literal["Running", "Completed", "Failed", "Stopped"]
OUTCOMES = {
    "Completed": TrialState.COMPLETE,
    "Failed": TrialState.FAIL,
    "Stopped": TrialState.PRUNED,
}
Kind = Literal["Continuous", "Integer", "Categorical"]
RANGE_KEYS: dict[str, Kind] = {
    "ContinuousParameterRanges": "Continuous",
    "IntegerParameterRanges": "Integer",
    "CategoricalParameterRanges": "Categorical",
}


@dataclass(frozen=True)
class Param:
    """One validated range: Optuna sees it through distribution(), the job through strings."""

    name: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Linear"
    values: tuple[str, ...] = ()

    def distribution(self) -> distributions.BaseDistribution:
        log = self.scaling == "Logarithmic"
        if self.kind == "Categorical":
            return distributions.CategoricalDistribution(self.values)
        if self.kind == "Integer":
            return distributions.IntDistribution(int(self.low), int(self.high), log=log)
        if self.scaling == "ReverseLogarithmic":  # Optuna samples 1 - x
            return distributions.FloatDistribution(1.0 - self.high, 1.0 - self.low, log=True)
        return distributions.FloatDistribution(self.low, self.high, log=log)

    def to_string(self, value: Any) -> str:
        """SageMaker hands every hyperparameter over as a string."""
        if self.kind != "Continuous":
            return str(value)
        x = float(value)
        if self.scaling == "ReverseLogarithmic":  # 1 - (1 - x) can round past a bound
            x = min(max(1.0 - x, self.low), self.high)
        return repr(x)

    def from_string(self, text: object) -> Any | None:
        """The Optuna value of a hyperparameter string; None when outside this range."""
        if text is None or self.kind == "Categorical":
            return text if text in self.values else None
        try:
            x = float(str(text))
        except ValueError:
            return None
        if not self.low <= x <= self.high:  # NaN fails this too
            return None
        if self.kind == "Integer":
            return int(x) if x.is_integer() else None
        return 1.0 - x if self.scaling == "ReverseLogarithmic" else x


@dataclass
class TrialRecord:
    """A trial as the driver stores it; a list of these rebuilds a Search."""

    number: int
    hyperparameters: dict[str, str]
    state: State = "Running"
    objective: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)


def _invalid(message: str, where: str) -> InvalidRequest:
    return InvalidRequest(message, {"field": where})


def _parse_numeric(kind: Kind, name: str, entry: Mapping[str, Any], where: str) -> Param:
    def fail(problem: str, key: str = "MinValue") -> InvalidRequest:
        return _invalid(f"parameter {name!r}: {problem}", f"{where}.{key}")

    def bound(key: str) -> float:
        value = entry.get(key)
        try:
            x = math.nan if isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            x = math.nan
        if not math.isfinite(x) or (kind == "Integer" and not x.is_integer()):
            wanted = "an integer" if kind == "Integer" else "a number"
            raise fail(f"{key} must be {wanted}, got {value!r}", key)
        return x

    scaling = entry.get("ScalingType") or "Auto"
    if scaling not in SCALING_TYPES:
        raise fail(f"ScalingType must be one of {', '.join(SCALING_TYPES)}", "ScalingType")
    low, high = bound("MinValue"), bound("MaxValue")
    if low > high:
        raise fail(f"MinValue {low:g} is greater than MaxValue {high:g}")
    if scaling == "Logarithmic" and low <= 0:
        raise fail(f"Logarithmic scaling needs MinValue > 0, got {low:g}")
    if scaling == "ReverseLogarithmic" and kind == "Integer":
        raise fail("ReverseLogarithmic scaling is for continuous ranges only", "ScalingType")
    if scaling == "ReverseLogarithmic" and not (0 <= low and high < 1):
        raise fail(
            f"ReverseLogarithmic needs 0 <= MinValue and MaxValue < 1, got {low:g}..{high:g}"
        )
    return Param(name, kind, low, high, "Linear" if scaling == "Auto" else scaling)


def _parse_categorical(name: str, entry: Mapping[str, Any], where: str) -> Param:
    values = entry.get("Values")
    if not values or not isinstance(values, list):
        raise _invalid(f"parameter {name!r}: Values must be a non-empty list", f"{where}.Values")
    texts = tuple(str(v) for v in values if isinstance(v, (str, int, float)))
    if len(set(texts)) != len(values):
        problem = "Values must be distinct strings or numbers"
        raise _invalid(f"parameter {name!r}: {problem}", f"{where}.Values")
    return Param(name, "Categorical", values=texts)


def parse_ranges(ranges: Mapping[str, Any]) -> list[Param]:
    """Validate SageMaker's ParameterRanges and turn them into Params, in the order given."""
    if not isinstance(ranges, Mapping) or set(ranges) - set(RANGE_KEYS):
        raise _invalid(f"ParameterRanges takes only {', '.join(RANGE_KEYS)}", "ParameterRanges")
    params: list[Param] = []
    for key, kind in RANGE_KEYS.items():
        entries = ranges.get(key) or []
        for i, entry in enumerate(entries if isinstance(entries, list) else [entries]):
            where = f"ParameterRanges.{key}[{i}]"
            name = entry.get("Name") if isinstance(entry, Mapping) else None
            if not isinstance(name, str) or not name:
                raise _invalid(f"{where} needs a Name", f"{where}.Name")
            if any(p.name == name for p in params):
                raise _invalid(f"parameter {name!r} is defined twice", f"{where}.Name")
            if kind == "Categorical":
                params.append(_parse_categorical(name, entry, where))
            else:
                params.append(_parse_numeric(kind, name, entry, where))
    if not params:
        raise _invalid("ParameterRanges must define at least one range", "ParameterRanges")
    return params


def infer_max_resource(static_hyperparameters: Mapping[str, str]) -> int | None:
    """Hyperband's MaxResource from an epochs-like static hyperparameter, as SageMaker does."""
    for key in EPOCH_KEYS:
        try:
            return max(1, int(float(static_hyperparameters[key])))
        except (KeyError, ValueError):
            continue
    return None


def _derive_seed(seed: int, number: int) -> int:
    # A trial's sampler seed depends only on (job seed, trial number), so a restored Search asks
    # exactly what the original would have asked next.
    return int.from_bytes(hashlib.sha256(f"{seed}/{number}".encode()).digest()[:4], "big")


class MedianOfRunningAverages(BasePruner):
    """SageMaker's early-stopping rule: stop a trial whose objective at step N is worse than the
    median of the running averages (over steps <= N) of the finished trials that reached N."""

    # The rule needs some history before it judges a trial, and the trial a few reports.
    def __init__(self, startup_trials: int = 5, warmup_reports: int = 3) -> None:
        self._startup = startup_trials
        self._warmup = warmup_reports

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or len(trial.intermediate_values) < self._warmup:
            return False
        value = trial.intermediate_values[step]
        if math.isnan(value):  # a diverged trial
            return True
        averages = []
        for other in study.get_trials(False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            # v == v drops NaN
            seen = [v for s, v in other.intermediate_values.items() if s <= step and v == v]
            if seen and (other.last_step or 0) >= step:
                averages.append(statistics.fmean(seen))
        if len(averages) < self._startup:
            return False
        median = statistics.median(averages)
        return value < median if study.direction == StudyDirection.MAXIMIZE else value > median


class Search:
    """One tuning job's strategy: ask for trials, report their progress, tell their outcome.
    Not thread-safe: the driver serialises its calls."""

    def __init__(
        self,
        strategy: str,
        params: Sequence[Param],
        objective_type: str = "Maximize",
        *,
        random_seed: int | None = None,
        max_jobs: int | None = None,
        early_stopping: str = "Off",
        min_resource: int = 1,
        max_resource: int | None = None,
        warm_start: Sequence[tuple[Mapping[str, str], float]] = (),
        trials: Sequence[TrialRecord] = (),
    ) -> None:
        hyperband, config = strategy == "Hyperband", "StrategyConfig.HyperbandStrategyConfig"
        numeric = [p.name for p in params if p.kind != "Categorical"]
        problem: tuple[str, str] | None = None
        if strategy not in STRATEGIES:
            problem = "Strategy", f"Strategy must be one of {', '.join(STRATEGIES)}"
        elif objective_type not in ("Maximize", "Minimize"):
            problem = "HyperParameterTuningJobObjective.Type", "Type must be Maximize or Minimize"
        elif early_stopping not in ("Off", "Auto"):
            problem = "TrainingJobEarlyStoppingType", "early stopping must be Off or Auto"
        elif hyperband and early_stopping != "Off":  # SageMaker: Hyperband stops trials itself
            problem = "TrainingJobEarlyStoppingType", "early stopping must be Off for Hyperband"
        elif max_jobs is not None and max_jobs < 1:
            problem = "MaxNumberOfTrainingJobs", "MaxNumberOfTrainingJobs must be at least 1"
        elif strategy == "Grid" and numeric:
            problem = "ParameterRanges", f"Grid search takes categorical ranges only, not {numeric}"
        elif hyperband and max_resource is None:
            problem = f"{config}.MaxResource", "Hyperband needs MaxResource"
        elif hyperband and not 1 <= min_resource <= (max_resource or 0):
            problem = f"{config}.MinResource", "Hyperband needs 1 <= MinResource <= MaxResource"
        if problem:
            raise _invalid(problem[1], problem[0])
        self.strategy, self.objective_type, self.random_seed = strategy, objective_type, random_seed
        self.max_jobs, self.early_stopping = max_jobs, early_stopping
        self.min_resource, self.max_resource = min_resource, max_resource
        self._params = {p.name: p for p in params}
        self._distributions = {p.name: p.distribution() for p in params}
        self._warm_start = list(warm_start)
        self.restore(trials)

    def restore(self, trials: Sequence[TrialRecord]) -> None:
        """Rebuild the in-memory study from the warm start and the driver's trial records."""
        if self.strategy == "Hyperband":
            pruner: BasePruner = HyperbandPruner(self.min_resource, self.max_resource or 1)
        elif self.early_stopping == "Auto":
            pruner = MedianOfRunningAverages()
        else:
            pruner = NopPruner()
        # A fixed study name: Hyperband assigns brackets by hashing it with the trial number.
        direction = "maximize" if self.objective_type == "Maximize" else "minimize"
        self._study = optuna.create_study(
            study_name="modelyard", direction=direction, pruner=pruner
        )
        self._records: dict[int, TrialRecord] = {}
        self._running: dict[int, Trial] = {}
        self.warm_start_count = 0
        for hyperparameters, objective in self._warm_start if self.strategy != "Grid" else ():
            # Ranges may have changed since the parent ran: a point outside them says nothing
            # about the new space, so it is skipped rather than clipped onto a boundary.
            values = self._optuna_values(hyperparameters)
            usable = isinstance(objective, (int, float)) and math.isfinite(objective)
            if values is None or not usable:
                continue
            self._study.add_trial(
                create_trial(params=values, distributions=self._distributions, value=objective)
            )
            self.warm_start_count += 1
        # Replay each trial through the calls the live run made, so the study is the same.
        for record in sorted(trials, key=lambda r: r.number):
            values = self._optuna_values(record.hyperparameters)
            if values is None:
                raise ValueError(f"trial {record.number} has hyperparameters outside the ranges")
            self._start(record.number, values)
            for step, value in sorted(record.intermediate.items()):
                self._record_step(record.number, step, value)
                if self.strategy == "Hyperband":  # its pruner writes rung marks as it judges
                    self._running[record.number].should_prune()
            if record.state != "Running":
                self.tell(record.number, record.state, record.objective)

    @property
    def trials(self) -> list[TrialRecord]:
        return [replace(r, intermediate=dict(r.intermediate)) for r in self._records.values()]

    def states(self) -> dict[int, str]:
        """Each trial's state by number, without copying the records (read every pass)."""
        return {number: r.state for number, r in self._records.items()}

    def _optuna_values(self, hyperparameters: Mapping[str, object]) -> dict[str, Any] | None:
        values = {n: p.from_string(hyperparameters.get(n)) for n, p in self._params.items()}
        return None if any(v is None for v in values.values()) else values

    def _start(self, number: int, values: Mapping[str, Any] | None) -> dict[str, str]:
        if values is not None:  # a known point: Grid's next one, or a replayed trial
            self._study.enqueue_trial(dict(values))
        trial = self._study.ask(self._distributions)
        hyperparameters = {n: p.to_string(trial.params[n]) for n, p in self._params.items()}
        self._records[number] = TrialRecord(number, hyperparameters)
        self._running[number] = trial
        return dict(hyperparameters)

    def _record_step(self, number: int, step: int, value: float) -> None:
        record = self._records[number]
        if step not in record.intermediate:  # Optuna keeps a step's first value, so do we
            record.intermediate[step] = float(value)
            self._running[number].report(float(value), step)

    def grid_size(self) -> int | None:
        """The number of combinations, when every range is categorical."""
        sizes = [len(p.values) if p.kind == "Categorical" else 0 for p in self._params.values()]
        return math.prod(sizes) if all(sizes) else None

    def ask(self) -> tuple[int, dict[str, str]] | None:
        """The next trial's number and hyperparameters; None when nothing is left to try."""
        if self.max_jobs is not None and len(self._records) >= self.max_jobs:
            return None
        number = max(self._records, default=-1) + 1
        if self.strategy != "Grid":
            self._study.sampler = self._sampler(number)
            return number, self._start(number, None)
        names = list(self._params)
        tried = {tuple(r.hyperparameters[n] for n in names) for r in self._records.values()}
        for combo in itertools.product(*(self._params[n].values for n in names)):
            if combo not in tried:
                return number, self._start(number, dict(zip(names, combo, strict=True)))
        return None

    def _sampler(self, number: int) -> BaseSampler:
        seed = None if self.random_seed is None else _derive_seed(self.random_seed, number)
        if self.strategy == "Random":
            return RandomSampler(seed=seed)
        # TPE, not GPSampler: that needs torch (an optional extra) and costs far more per ask.
        # Random start-up trials, fewer for a small budget; warm-start trials count towards them.
        startup = 10 if self.max_jobs is None else max(2, min(10, self.max_jobs // 3))
        with warnings.catch_warnings():  # multivariate is "experimental" since Optuna 2.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return TPESampler(
                seed=seed, n_startup_trials=startup, constant_liar=True, multivariate=True
            )

    def report(self, number: int, step: int, value: float) -> bool:
        """Record the objective at a step; True when the trial should be stopped now."""
        if number not in self._records:
            raise ValueError(f"unknown trial {number}")
        if number not in self._running:  # a late metric of a finished trial
            return False
        self._record_step(number, step, value)
        # SageMaker stops a Hyperband trial once it reaches MaxResource.
        if self.strategy == "Hyperband" and step >= (self.max_resource or 0):
            return True
        return self._running[number].should_prune()

    def tell(self, number: int, state: State, objective: float | None = None) -> None:
        """Finish a running trial. A Stopped trial's objective defaults to its last report."""
        if number not in self._running or state not in OUTCOMES:
            raise ValueError(f"trial {number} is not running, or {state!r} is not an outcome")
        record = self._records[number]
        if state == "Completed" and (objective is None or math.isnan(objective)):
            raise ValueError(f"trial {number}: Completed needs an objective value")
        if state == "Failed":
            objective = None
        elif state == "Stopped" and objective is None and record.intermediate:
            objective = record.intermediate[max(record.intermediate)]
        # Optuna takes no value with PRUNED: it values the trial at its last report itself.
        value = objective if state == "Completed" else None
        self._study.tell(self._running.pop(number), value, state=OUTCOMES[state])
        record.state, record.objective = state, None if objective is None else float(objective)

    def _score(self, trial: TrialRecord | float) -> float:
        # Larger is better in either direction, so one comparison serves both.
        value = trial if isinstance(trial, (int, float)) else trial.objective or 0.0
        return value if self.objective_type == "Maximize" else -value

    def best(self) -> TrialRecord | None:
        """The best Completed trial of this job (warm-start parents are not this job's)."""
        # Ties go to the earliest trial.
        done = [r for r in self._records.values() if r.state == "Completed"]
        best = max(done, key=lambda r: (self._score(r), -r.number), default=None)
        return None if best is None else replace(best, intermediate=dict(best.intermediate))

    def target_reached(self, target: float) -> bool:
        """TargetObjectiveMetricValue: the best is at least it (Maximize) or at most it."""
        best = self.best()
        return best is not None and self._score(best) >= self._score(target)

    def not_improving(self, max_trials: int) -> bool:
        """MaxNumberOfTrainingJobsNotImproving: none of the last max_trials Completed trials
        (by number) beat the best before them."""
        done = [r for r in self._records.values() if r.state == "Completed"]  # by number
        if len(done) <= max_trials:
            return False
        before = max(self._score(r) for r in done[:-max_trials])
        return all(self._score(r) <= before for r in done[-max_trials:])
