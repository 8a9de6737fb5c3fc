"""Data quality the way SageMaker Model Monitor measures it, in its file formats.

- `statistics(table)`: statistics.json, per column its inferred type (Integral, Fractional,
  String), counts present and missing, and for numbers mean, sum, std_dev, min, max and a KLL
  quantile sketch (Apache DataSketches) with 10 histogram buckets; for strings the distinct
  count and the most frequent values.
- `suggest_constraints(statistics)`: constraints.json, what a baseline promises: each column's
  type, completeness, non-negativity and (for strings with few values) its domain, plus
  `monitoring_config` with SageMaker's thresholds.
- `violations(current, baseline, constraints)`: constraint_violations.json, with SageMaker's
  check types: data_type_check, completeness_check, baseline_drift_check, missing_column_check,
  extra_column_check, categorical_values_check.

Drift is Deequ's (which Model Monitor runs on): the L-infinity distance between the baseline's
and the current data's distributions (cumulative for numbers, frequencies for strings); the
"Robust" method subtracts 1.8 * sqrt((n + m) / (n m)), so a small sample does not pass for
drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

SKETCH_K = 2048  # SageMaker's sketch parameters
SKETCH_C = 0.64
BUCKETS = 10
MAX_DOMAIN = 20  # a string column with at most this many values gets a domain constraint
TOP_VALUES = 100  # values kept in a string column's distribution
DEFAULT_MONITORING_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
    },
}
Table = dict[str, Sequence[Any]]
"""Column name -> its cells in row order (str from CSV, JSON values, None or '' missing)."""


class Column:
    """One column's cells as text, with which are present, numbers, and integers."""

    def __init__(self, cells: Sequence[Any]) -> None:
        import pandas as pd

        text = pd.Series(cells, dtype=object)
        text = text.where(text.notna(), "").astype(str).str.strip()
        self.text = text
        self.present = ((text != "") & (text.str.lower() != "nan")).to_numpy()
        numbers = pd.to_numeric(text.where(self.present), errors="coerce").to_numpy(float)
        self.numeric = np.isfinite(numbers) & self.present
        self.numbers = numbers
        self.integral = (
            self.numeric
            & (numbers == np.floor(np.where(self.numeric, numbers, 0)))
            & ~text.str.contains(".", regex=False).to_numpy()
        )
        self.count = len(text)
        self.num_present = int(self.present.sum())

    def inferred_type(self) -> str:
        if self.num_present == 0:
            return "Unknown"
        if int(self.numeric.sum()) < self.num_present:
            return "String"
        return "Integral" if int(self.integral.sum()) == self.num_present else "Fractional"

    def share_of(self, inferred: str) -> float:
        """The share of present values that are of the type (an integer is fractional too)."""
        if self.num_present == 0 or inferred in ("String", "Unknown"):
            return 1.0
        matching = self.integral if inferred == "Integral" else self.numeric
        return int(matching.sum()) / self.num_present

    def values(self) -> np.ndarray:
        return self.numbers[self.numeric]

    def strings(self) -> Any:
        return self.text[self.present]


# -- statistics.json ----------------------------------------------------------------------------
def statistics(table: Table) -> dict[str, Any]:
    count = max((len(cells) for cells in table.values()), default=0)
    return {
        "version": 0.0,
        "dataset": {"item_count": count},
        "features": [_feature(name, cells) for name, cells in table.items()],
    }


def _feature(name: str, cells: Sequence[Any]) -> dict[str, Any]:
    column = Column(cells)
    inferred = column.inferred_type()
    common = {"num_present": column.num_present, "num_missing": column.count - column.num_present}
    feature: dict[str, Any] = {"name": name, "inferred_type": inferred}
    if inferred in ("Integral", "Fractional"):
        feature["numerical_statistics"] = {"common": common, **_numbers(column.values())}
    else:
        counts = column.strings().value_counts()
        feature["string_statistics"] = {
            "common": common,
            "distinct_count": float(len(counts)),
            "distribution": {
                "categorical": {
                    "buckets": [
                        {"value": str(value), "count": int(n)}
                        for value, n in counts.head(TOP_VALUES).items()
                    ]
                }
            },
        }
    return feature


def _numbers(values: np.ndarray) -> dict[str, Any]:
    from datasketches import kll_doubles_sketch

    sketch = kll_doubles_sketch(SKETCH_K)
    sketch.update(values)
    low, high = float(values.min()), float(values.max())
    edges = np.linspace(low, high, BUCKETS + 1) if high > low else np.array([low, high])
    counts, _ = np.histogram(values, bins=edges)
    # The sketch's compactor levels: an item retained with weight 2^i is on level i.
    levels: dict[int, list[float]] = {}
    for item, weight in sketch:
        levels.setdefault(int(weight).bit_length() - 1, []).append(float(item))
    return {
        "mean": float(values.mean()),
        "sum": float(values.sum()),
        "std_dev": float(values.std()),
        "min": low,
        "max": high,
        "distribution": {
            "kll": {
                "buckets": [
                    {"lower_bound": float(a), "upper_bound": float(b), "count": float(n)}
                    for a, b, n in zip(edges[:-1], edges[1:], counts, strict=True)
                ],
                "sketch": {
                    "parameters": {"c": SKETCH_C, "k": float(SKETCH_K)},
                    "data": [levels.get(i, []) for i in range(max(levels, default=-1) + 1)],
                },
            }
        },
    }


# -- constraints.json ---------------------------------------------------------------------------
def suggest_constraints(stats: dict[str, Any]) -> dict[str, Any]:
    features = []
    for feature in stats["features"]:
        numeric = feature.get("numerical_statistics")
        described = numeric or feature["string_statistics"]
        common = described["common"]
        total = common["num_present"] + common["num_missing"]
        constraint: dict[str, Any] = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": common["num_present"] / total if total else 1.0,
        }
        if numeric is not None:
            constraint["num_constraints"] = {"is_non_negative": numeric["min"] >= 0}
        else:
            strings = feature["string_statistics"]
            if 0 < strings["distinct_count"] <= MAX_DOMAIN:
                buckets = strings["distribution"]["categorical"]["buckets"]
                constraint["string_constraints"] = {"domains": [b["value"] for b in buckets]}
        features.append(constraint)
    return {"version": 0.0, "features": features, "monitoring_config": DEFAULT_MONITORING_CONFIG}


# -- constraint_violations.json -----------------------------------------------------------------
def violations(
    table: Table, baseline: dict[str, Any], constraints: dict[str, Any]
) -> list[dict[str, str]]:
    """The current data's violations of the baseline's constraints (`table` is keyed by the
    baseline's column names, in order; extra columns come after them)."""
    config = {**DEFAULT_MONITORING_CONFIG, **(constraints.get("monitoring_config") or {})}
    if config.get("evaluate_constraints") == "Disabled":
        return []
    found: list[dict[str, str]] = []

    def violation(feature: str, check: str, description: str) -> None:
        found.append(
            {"feature_name": feature, "constraint_check_type": check, "description": description}
        )

    expected = [c["name"] for c in constraints["features"]]
    columns = list(table)
    if len(columns) < len(expected):
        missing = expected[len(columns) :]
        violation(
            missing[0],
            "missing_column_check",
            f"There are missing columns in current dataset. Number of columns in current "
            f"dataset: {len(columns)}, Number of columns in baseline constraints: "
            f"{len(expected)} (missing: {', '.join(missing)})",
        )
    elif len(columns) > len(expected):
        violation(
            columns[len(expected)],
            "extra_column_check",
            f"There are extra columns in current dataset. Number of columns in current "
            f"dataset: {len(columns)}, Number of columns in baseline constraints: "
            f"{len(expected)}",
        )
    by_name = {f["name"]: f for f in baseline["features"]}
    for constraint in constraints["features"]:
        name = constraint["name"]
        if name not in table:
            continue
        column = Column(table[name])
        _check_column(name, column, constraint, config, violation)
        if column.num_present and name in by_name:
            _check_drift(name, column, by_name[name], config, violation)
    return found


def _check_column(
    name: str,
    column: Column,
    constraint: dict[str, Any],
    config: dict[str, Any],
    violation: Any,
) -> None:
    completeness = column.num_present / column.count if column.count else 1.0
    if completeness < constraint.get("completeness", 0.0) - 1e-12:
        violation(
            name,
            "completeness_check",
            f"Data completeness is {completeness:.4g}, below the baseline's "
            f"{constraint['completeness']:.4g}",
        )
    inferred = constraint["inferred_type"]
    if column.num_present and inferred in ("Integral", "Fractional"):
        matching = column.share_of(inferred)
        threshold = float(config["datatype_check_threshold"])
        if matching < threshold:
            violation(
                name,
                "data_type_check",
                f"Data type match requirement is not met. Expected data type: {inferred}, "
                f"Expected match: {threshold * 100:g}%. Observed: only {matching * 100:.4g}% "
                f"of data is {inferred}.",
            )
        numbers = column.values()
        is_non_negative = (constraint.get("num_constraints") or {}).get("is_non_negative")
        if is_non_negative and len(numbers) and numbers.min() < 0:
            violation(
                name,
                "data_type_check",
                f"The baseline's values are never negative; {int((numbers < 0).sum())} "
                f"current values are (the least {numbers.min():.6g})",
            )
    domains = (constraint.get("string_constraints") or {}).get("domains")
    if column.num_present and domains:
        strings = column.strings()
        inside = strings.isin(set(domains))
        share = float(inside.mean())
        threshold = float(config["domain_content_threshold"])
        if share < threshold:
            outside = sorted(set(strings[~inside]))[:5]
            violation(
                name,
                "categorical_values_check",
                f"Data does not meet the categorical values requirement: {share * 100:.4g}% "
                f"of values are in the baseline's domain, {threshold * 100:g}% expected "
                f"(values outside it: {', '.join(outside)})",
            )


def _check_drift(
    name: str, column: Column, baseline: dict[str, Any], config: dict[str, Any], violation: Any
) -> None:
    distribution = config.get("distribution_constraints") or {}
    if distribution.get("perform_comparison", "Enabled") == "Disabled":
        return
    threshold = float(distribution.get("comparison_threshold", 0.1))
    robust = distribution.get("comparison_method", "Robust") == "Robust"
    numeric = baseline.get("numerical_statistics")
    if numeric is not None:
        numbers = column.values()
        if not len(numbers):
            return
        distance, n, m = (
            _numeric_distance(numeric, numbers),
            numeric["common"]["num_present"],
            len(numbers),
        )
    else:
        strings = baseline["string_statistics"]
        distance = _categorical_distance(strings, column.strings())
        n, m = strings["common"]["num_present"], column.num_present
    if robust and n and m:
        distance = max(0.0, distance - 1.8 * math.sqrt((n + m) / (n * m)))
    if distance > threshold:
        violation(
            name,
            "baseline_drift_check",
            f"Baseline drift distance: {distance:.4g} exceeds threshold: {threshold:g}",
        )


def _numeric_distance(baseline: dict[str, Any], current: np.ndarray) -> float:
    """Largest gap between the two cumulative distributions (the baseline's from its sketch:
    an item on level i stands for 2^i values)."""
    levels = baseline["distribution"]["kll"]["sketch"]["data"]
    items = np.asarray([x for level in levels for x in level], dtype=float)
    weights = np.asarray([2.0**i for i, level in enumerate(levels) for _ in level])
    if not len(items):
        return 0.0
    order = np.argsort(items)
    items, weights = items[order], np.cumsum(weights[order]) / weights.sum()
    current = np.sort(current)
    points = np.union1d(items, current)
    base_cdf = np.concatenate([[0.0], weights])[np.searchsorted(items, points, side="right")]
    current_cdf = np.searchsorted(current, points, side="right") / len(current)
    return float(np.max(np.abs(base_cdf - current_cdf)))


def _categorical_distance(baseline: dict[str, Any], strings: Any) -> float:
    buckets = baseline["distribution"]["categorical"]["buckets"]
    total = float(baseline["common"]["num_present"]) or 1.0
    expected = {b["value"]: b["count"] / total for b in buckets}
    observed = (strings.value_counts() / len(strings)).to_dict()
    values = set(expected) | set(observed)
    return max(abs(expected.get(v, 0.0) - observed.get(v, 0.0)) for v in values)
