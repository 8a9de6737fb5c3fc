"""The contract every built-in (and plug-in) algorithm honours.

An algorithm is one module exposing one `Algorithm` instance. It declares its hyperparameters
once (`Hyperparameter`), and that declaration drives job validation, the catalog and, later,
tuning ranges. Training happens inside a job process (`train`), serving inside a model-server
process (`load` + `predict`); neither imports anything of the control plane.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.errors import InvalidHyperparameters, InvalidRequest

REQUIRED: Any = object()
"""Sentinel default of a hyperparameter the user must give."""

MetricSink = Callable[[str, float, "int | None"], None]
"""Called as sink(name, value, step) for every metric an algorithm emits."""


@dataclass(frozen=True)
class Hyperparameter:
    """One typed hyperparameter: how it is parsed from its string form and what is allowed."""

    name: str
    type: type  # int, float, str or bool
    default: Any = REQUIRED
    help: str = ""
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    choices: Sequence[Any] | None = None
    tuning_range: tuple[float, float] | Sequence[Any] | None = None
    tuning_scale: str = "Auto"  # SageMaker's ScalingType: Auto | Linear | Logarithmic

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def allowed(self) -> str:
        """Human words for what this hyperparameter accepts."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[
            self.type
        ]
        if self.min is None:
            lo = ""
        else:
            lo = f" > {self.min}" if self.min_exclusive else f" >= {self.min}"
        hi = "" if self.max is None else f" <= {self.max}"
        bounds = " and".join(b for b in (lo, hi) if b)
        return kind + bounds

    def parse(self, raw: Any) -> Any:
        """Parse a value given as a string (or already typed) into this type; ValueError if bad."""
        text = raw if isinstance(raw, str) else None
        value: Any
        if self.type is bool:
            if isinstance(raw, bool):
                value = raw
            elif text is not None and text.strip().lower() in ("true", "1", "yes"):
                value = True
            elif text is not None and text.strip().lower() in ("false", "0", "no"):
                value = False
            else:
                raise ValueError
        elif self.type is int:
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, int):
                value = raw
            else:
                digits = str(raw).strip()
                try:
                    value = int(digits)  # exact, also for integers beyond float precision
                except ValueError:
                    number = float(digits)  # "1e3", "5.0"
                    if not number.is_integer():
                        raise ValueError from None
                    value = int(number)
        elif self.type is float:
            if isinstance(raw, bool):
                raise ValueError
            value = float(str(raw).strip()) if not isinstance(raw, (int, float)) else float(raw)
            if math.isnan(value):
                raise ValueError
        else:
            value = str(raw).strip()
        if self.choices is not None and value not in self.choices:
            raise ValueError
        if self.min is not None and (value <= self.min if self.min_exclusive else value < self.min):
            raise ValueError
        if self.max is not None and value > self.max:
            raise ValueError
        return value

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type.__name__,
            "required": self.required,
            "default": None if self.required else self.default,
            "allowed": self.allowed(),
            "help": self.help,
            "tuning_range": list(self.tuning_range) if self.tuning_range is not None else None,
            "tuning_scale": self.tuning_scale,
        }


@dataclass
class TrainingContext:
    """What a job process hands an algorithm: the SageMaker-shaped work dir, already populated."""

    work_dir: Path
    hyperparameters: dict[str, Any]  # already parsed by Algorithm.validate
    channels: dict[str, Path]  # channel name -> input/data/<channel> directory
    content_types: dict[str, str]  # channel name -> content type (default text/csv)
    report_metric: MetricSink
    num_cpus: int = 1
    log: Callable[[str], None] = print

    @property
    def model_dir(self) -> Path:
        return self.work_dir / "model"

    @property
    def output_data_dir(self) -> Path:
        return self.work_dir / "output" / "data"


@dataclass
class Prediction:
    """What `predict` returns: per-row records (JSON / JSON Lines), numeric form (CSV / NPY).

    `key` is the JSON response's top-level key, SageMaker's for the algorithm: "predictions"
    for most, "projections" for pca, "scores" for random-cut-forest.
    """

    records: list[dict[str, Any]]
    array: np.ndarray  # 1-D (one value per row) or 2-D (several values per row)
    key: str = "predictions"


@dataclass(frozen=True)
class MetricDefinition:
    name: str  # e.g. "validation:auc"
    direction: str = "Maximize"  # Maximize | Minimize, for tuning


class Algorithm(ABC):
    """Base class of every algorithm: declare, validate, train, load, predict."""

    name: str
    description: str
    hyperparameters: tuple[Hyperparameter, ...]
    problem_types: tuple[str, ...] = ()
    content_types: tuple[str, ...] = ("text/csv",)
    metrics: tuple[MetricDefinition, ...] = ()
    required_channels: tuple[str, ...] = ("train",)
    optional_channels: tuple[str, ...] = ("validation",)
    artifact: str = ""  # what model.tar.gz holds, and how to load it without modelyard

    def example_hyperparameters(self, problem_type: str) -> dict[str, Any] | None:
        """Valid hyperparameters for `problem_type` (one of `problem_types`) that train in a
        moment on a few hundred rows, or None where there is no example for it. The
        conformance suite trains with these; the default suits an algorithm without required
        hyperparameters."""
        if problem_type not in self.problem_types or any(
            hp.required for hp in self.hyperparameters
        ):
            return None
        return {}

    def hyperparameter(self, name: str) -> Hyperparameter | None:
        for hp in self.hyperparameters:
            if hp.name == name:
                return hp
        return None

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Parse and check user hyperparameters; every problem is reported at once.

        Returns every declared hyperparameter with its value (defaults filled in). Raises
        `InvalidHyperparameters` naming each bad or unknown name and what is allowed.
        """
        problems: dict[str, str] = {}
        known = {hp.name: hp for hp in self.hyperparameters}
        for name in raw:
            if name not in known:
                problems[name] = "unknown hyperparameter; valid names: " + ", ".join(sorted(known))
        parsed: dict[str, Any] = {}
        for name, hp in known.items():
            if name not in raw or raw[name] is None:
                if hp.required:
                    problems[name] = f"required; give {hp.allowed()}"
                else:
                    parsed[name] = hp.default
                continue
            try:
                parsed[name] = hp.parse(raw[name])
            except (TypeError, ValueError):
                problems[name] = f"got {raw[name]!r}; expected {hp.allowed()}"
        if not problems:
            try:
                self.check(parsed)
            except InvalidHyperparameters as exc:
                problems.update(exc.problems)
        if problems:
            raise InvalidHyperparameters(self.name, problems)
        return parsed

    def check(self, hps: dict[str, Any]) -> None:  # noqa: B027 - optional hook, no-op by default
        """Cross-parameter rules (e.g. num_classes for multiclass); raise InvalidHyperparameters."""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "problem_types": list(self.problem_types),
            "content_types": list(self.content_types),
            "channels": {
                "required": list(self.required_channels),
                "optional": list(self.optional_channels),
            },
            "metrics": [{"name": m.name, "direction": m.direction} for m in self.metrics],
            "hyperparameters": [hp.describe() for hp in self.hyperparameters],
            "artifact": self.artifact,
        }

    @abstractmethod
    def train(self, ctx: TrainingContext) -> None:
        """Train on ctx.channels and write the model into ctx.model_dir."""

    @abstractmethod
    def load(self, model_dir: Path) -> Any:
        """Load what `train` wrote into model_dir; the result is passed to `predict`."""

    @abstractmethod
    def predict(self, model: Any, features: np.ndarray) -> Prediction:
        """Predict for a 2-D float array of feature rows (no label column)."""

    def read_labelled(
        self,
        ctx: TrainingContext,
        channel: str,
        hps: dict[str, Any],
        num_features: int | None = None,
    ) -> Any:
        """Read a supervised channel (features and label) in any content type this algorithm
        accepts; a channel without a label column is a ClientError naming it."""
        from modelyard.algorithms.data import CSV, read_channel, summary

        content_type = ctx.content_types.get(channel) or CSV
        data = read_channel(
            ctx.channels[channel],
            content_type,
            label=hps.get("label"),
            allowed=self.content_types,
            num_features=num_features,
            channel=channel,
        )
        ctx.log(summary(channel, data))
        if data.y is None:
            raise InvalidRequest(
                f"channel {channel!r}: {self.name} needs a label column, but the content "
                f"type {content_type!r} says there is none",
                {"channel": channel},
            )
        return data

    def read_unlabelled(
        self, ctx: TrainingContext, channel: str, num_features: int | None = None
    ) -> Any:
        """Read an unsupervised channel: every column a feature (SageMaker's layout for
        kmeans, pca and random-cut-forest); ``label_size=1`` in the content type drops a first
        label column, as for the labelled test channel of random-cut-forest."""
        from modelyard.algorithms.data import CSV, parse_content_type, read_channel, summary

        content_type = ctx.content_types.get(channel) or CSV
        labelled = parse_content_type(content_type).label_size == 1
        data = read_channel(
            ctx.channels[channel],
            content_type,
            supervised=labelled,
            allowed=self.content_types,
            num_features=num_features,
            channel=channel,
        )
        ctx.log(summary(channel, data))
        return data

    def num_features(self, model: Any) -> int | None:
        """How many feature columns the model expects, to reject a wrong request early."""
        return None
