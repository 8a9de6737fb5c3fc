"""Model Monitor's data-quality files: statistics, suggested constraints and each kind of
violation, on data whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modelyard.data_quality import statistics, suggest_constraints, violations


@pytest.fixture(scope="module")
def baseline() -> dict[str, list[str]]:
    rng = np.random.default_rng(0)
    return {
        "age": [str(int(v)) for v in rng.integers(18, 90, 2000)],
        "income": [f"{v:.2f}" for v in rng.normal(50_000, 8_000, 2000)],
        "plan": [str(v) for v in rng.choice(["basic", "plus", "pro"], 2000)],
    }


def test_statistics_in_model_monitors_format(baseline: dict[str, list[str]]) -> None:
    stats = statistics({**baseline, "age": [*baseline["age"][:-2], "", ""]})
    json.dumps(stats, allow_nan=False)  # plain JSON
    assert stats["dataset"]["item_count"] == 2000
    age, income, plan = stats["features"]
    assert (age["inferred_type"], income["inferred_type"], plan["inferred_type"]) == (
        "Integral", "Fractional", "String",
    )  # fmt: skip
    numbers = age["numerical_statistics"]
    assert numbers["common"] == {"num_present": 1998, "num_missing": 2}
    present = np.asarray(baseline["age"][:-2], dtype=float)
    assert numbers["mean"] == pytest.approx(present.mean())
    assert (numbers["min"], numbers["max"]) == (present.min(), present.max())
    kll = numbers["distribution"]["kll"]
    assert sum(b["count"] for b in kll["buckets"]) == 1998 and len(kll["buckets"]) == 10
    levels = kll["sketch"]["data"]  # below k items: every value kept, on level 0
    assert sorted(levels[0]) == sorted(present.tolist())
    strings = plan["string_statistics"]
    assert strings["distinct_count"] == 3
    assert sum(b["count"] for b in strings["distribution"]["categorical"]["buckets"]) == 2000


def test_a_big_column_is_sketched_with_weights_that_add_up() -> None:
    values = [str(v) for v in np.random.default_rng(1).normal(size=100_000)]
    levels = statistics({"x": values})["features"][0]["numerical_statistics"]["distribution"][
        "kll"
    ]["sketch"]["data"]
    retained = sum(len(level) for level in levels)
    assert retained < 20_000  # a sketch, not the data
    weight = sum(len(level) * 2**i for i, level in enumerate(levels))
    assert weight == pytest.approx(100_000, rel=0.02)


def test_suggested_constraints(baseline: dict[str, list[str]]) -> None:
    constraints = suggest_constraints(statistics(baseline))
    by_name = {f["name"]: f for f in constraints["features"]}
    assert by_name["age"]["num_constraints"] == {"is_non_negative": True}
    assert by_name["income"]["completeness"] == 1.0
    assert sorted(by_name["plan"]["string_constraints"]["domains"]) == ["basic", "plus", "pro"]
    distribution = constraints["monitoring_config"]["distribution_constraints"]
    assert distribution["comparison_threshold"] == 0.1


def test_data_like_the_baseline_violates_nothing(baseline: dict[str, list[str]]) -> None:
    stats = statistics(baseline)
    rng = np.random.default_rng(2)  # a new sample from the same distributions
    current = {
        "age": [str(int(v)) for v in rng.integers(18, 90, 500)],
        "income": [f"{v:.2f}" for v in rng.normal(50_000, 8_000, 500)],
        "plan": [str(v) for v in rng.choice(["basic", "plus", "pro"], 500)],
    }
    assert violations(current, stats, suggest_constraints(stats)) == []


def test_each_kind_of_violation(baseline: dict[str, list[str]]) -> None:
    stats = statistics(baseline)
    constraints = suggest_constraints(stats)
    rng = np.random.default_rng(3)
    current = {
        "age": [str(int(v)) for v in rng.integers(18, 90, 500)][:-50] + [""] * 50,
        "income": [f"{v:.2f}" for v in rng.normal(80_000, 8_000, 500)],  # drifted
        "plan": ["basic"] * 490 + ["enterprise"] * 10,
    }
    found = {(v["feature_name"], v["constraint_check_type"]) for v in violations(
        current, stats, constraints)}  # fmt: skip
    assert ("age", "completeness_check") in found
    assert ("income", "baseline_drift_check") in found
    assert ("plan", "categorical_values_check") in found
    assert ("plan", "baseline_drift_check") in found  # 98% basic against a third
    assert ("age", "baseline_drift_check") not in found

    typed = {**current, "age": ["young"] * 10 + current["age"][10:]}
    found = {(v["feature_name"], v["constraint_check_type"]) for v in violations(
        typed, stats, constraints)}  # fmt: skip
    assert ("age", "data_type_check") in found

    fewer = violations({"age": baseline["age"]}, stats, constraints)
    assert [v["constraint_check_type"] for v in fewer] == ["missing_column_check"]
    more = violations({**baseline, "_c3": ["1"] * 2000}, stats, constraints)
    assert [v["constraint_check_type"] for v in more] == ["extra_column_check"]


def test_robust_comparison_forgives_a_small_sample(baseline: dict[str, list[str]]) -> None:
    stats = statistics(baseline)
    constraints = suggest_constraints(stats)
    few = {name: cells[:15] for name, cells in baseline.items()}  # noisy, but not drift
    assert not [v for v in violations(few, stats, constraints)
                if v["constraint_check_type"] == "baseline_drift_check"]  # fmt: skip
    constraints["monitoring_config"] = {
        **constraints["monitoring_config"],
        "distribution_constraints": {"comparison_threshold": 0.1, "comparison_method": "Simple"},
    }
    simple = violations(few, stats, constraints)
    assert [v for v in simple if v["constraint_check_type"] == "baseline_drift_check"]
