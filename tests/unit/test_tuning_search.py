"""The tuning job's search strategies: ranges, sampling, repeatability, early stopping, criteria."""

from __future__ import annotations

import itertools
import math
import random
import re
import statistics
from collections.abc import Callable
from typing import Any

import pytest

from modelyard.errors import InvalidRequest
from modelyard.tuning_search import (
    Param,
    Search,
    TrialRecord,
    infer_max_resource,
    parse_ranges,
)

XY = {
    "ContinuousParameterRanges": [
        {"Name": "x", "MinValue": "-5", "MaxValue": "5", "ScalingType": "Auto"},
        {"Name": "y", "MinValue": -5, "MaxValue": 5, "ScalingType": "Linear"},
    ]
}
MIXED = {
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Logarithmic"},
        {
            "Name": "momentum",
            "MinValue": "0.9",
            "MaxValue": "0.999",
            "ScalingType": "ReverseLogarithmic",
        },
    ],
    "IntegerParameterRanges": [
        {"Name": "depth", "MinValue": "2", "MaxValue": "12"},
        {"Name": "trees", "MinValue": 10, "MaxValue": 1000, "ScalingType": "Logarithmic"},
    ],
    "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart", 3]}],
}


def quadratic(hp: dict[str, str]) -> float:
    return (float(hp["x"]) - 1.3) ** 2 + (float(hp["y"]) + 0.7) ** 2


def run(
    search: Search, objective: Callable[[dict[str, str]], float], n: int
) -> list[dict[str, str]]:
    asked = []
    for _ in range(n):
        got = search.ask()
        assert got is not None
        search.tell(got[0], "Completed", objective(got[1]))
        asked.append(got[1])
    return asked


def samples(ranges: dict[str, Any], n: int = 400, seed: int = 7) -> list[dict[str, str]]:
    search = Search("Random", parse_ranges(ranges), random_seed=seed)
    return run(search, lambda hp: 0.0, n)


# -- ranges ---------------------------------------------------------------------------------------


def test_parse_ranges_maps_sagemaker_shapes() -> None:
    params = {p.name: p for p in parse_ranges(MIXED)}
    assert params["lr"] == Param("lr", "Continuous", 0.0001, 1.0, "Logarithmic")
    assert params["depth"].kind == "Integer" and params["depth"].scaling == "Linear"
    assert params["booster"].values == ("gbtree", "dart", "3")  # numbers become strings
    assert parse_ranges(XY)[0].scaling == "Linear"  # Auto is Linear


def _cont(**entry: Any) -> dict[str, Any]:
    return {"ContinuousParameterRanges": [{"Name": "p", **entry}]}


def _int(**entry: Any) -> dict[str, Any]:
    return {"IntegerParameterRanges": [{"Name": "p", **entry}]}


@pytest.mark.parametrize(
    ("ranges", "field", "says"),
    [
        (_cont(MinValue=2, MaxValue=1), "ContinuousParameterRanges[0].MinValue", "greater than"),
        (
            {"CategoricalParameterRanges": [{"Name": "p", "Values": []}]},
            "CategoricalParameterRanges[0].Values",
            "non-empty",
        ),
        (
            {
                "ContinuousParameterRanges": [{"Name": "p", "MinValue": 0, "MaxValue": 1}],
                "CategoricalParameterRanges": [{"Name": "p", "Values": ["a"]}],
            },
            "CategoricalParameterRanges[0].Name",
            "defined twice",
        ),
        (
            _cont(MinValue=0, MaxValue=1, ScalingType="Logarithmic"),
            "ContinuousParameterRanges[0].MinValue",
            "MinValue > 0",
        ),
        (
            _int(MinValue=-3, MaxValue=9, ScalingType="Logarithmic"),
            "IntegerParameterRanges[0].MinValue",
            "MinValue > 0",
        ),
        (
            _cont(MinValue=0.5, MaxValue=1, ScalingType="ReverseLogarithmic"),
            "ContinuousParameterRanges[0].MinValue",
            "MaxValue < 1",
        ),
        (
            _cont(MinValue=-0.1, MaxValue=0.5, ScalingType="ReverseLogarithmic"),
            "ContinuousParameterRanges[0].MinValue",
            "0 <= MinValue",
        ),
        (
            _int(MinValue=1, MaxValue=5, ScalingType="ReverseLogarithmic"),
            "IntegerParameterRanges[0].ScalingType",
            "continuous ranges only",
        ),
        (_cont(MinValue="abc", MaxValue=1), "ContinuousParameterRanges[0].MinValue", "a number"),
        (_cont(MinValue=0), "ContinuousParameterRanges[0].MaxValue", "a number"),
        (_cont(MinValue=0, MaxValue="inf"), "ContinuousParameterRanges[0].MaxValue", "a number"),
        (_int(MinValue="1", MaxValue="2.5"), "IntegerParameterRanges[0].MaxValue", "an integer"),
        (
            _cont(MinValue=0, MaxValue=1, ScalingType="Exponential"),
            "ContinuousParameterRanges[0].ScalingType",
            "Logarithmic",
        ),
    ],
)
def test_invalid_ranges_name_the_parameter_and_the_rule(
    ranges: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(says)) as caught:
        parse_ranges(ranges)
    assert caught.value.details["field"] == f"ParameterRanges.{field}"
    assert "'p'" in caught.value.message


def test_ranges_need_a_named_range() -> None:
    with pytest.raises(InvalidRequest, match="at least one"):
        parse_ranges({})
    with pytest.raises(InvalidRequest, match="Name"):
        parse_ranges({"ContinuousParameterRanges": [{"MinValue": 0, "MaxValue": 1}]})
    with pytest.raises(InvalidRequest, match="takes only"):
        parse_ranges({"ContinuosParameterRanges": []})


# -- sampling -------------------------------------------------------------------------------------


def test_log_and_reverse_log_stay_in_bounds_and_lean_the_right_way() -> None:
    drawn = samples(MIXED)
    lr = [float(hp["lr"]) for hp in drawn]
    momentum = [float(hp["momentum"]) for hp in drawn]
    assert all(0.0001 <= v <= 1 for v in lr) and all(0.9 <= v <= 0.999 for v in momentum)
    # log-uniform over four decades puts half below 0.01 (uniform would put 1% there)
    assert 0.35 < sum(v < 0.01 for v in lr) / len(lr) < 0.65
    # 1 - x log-uniform over [0.001, 0.1] puts half above 0.99 (uniform: about 9%)
    assert 0.35 < sum(v > 0.99 for v in momentum) / len(momentum) < 0.65


def test_values_are_strings_integers_without_a_point() -> None:
    drawn = samples(MIXED, n=200)
    for hp in drawn:
        assert all(isinstance(v, str) for v in hp.values())
        assert re.fullmatch(r"\d+", hp["depth"]) and 2 <= int(hp["depth"]) <= 12
        assert re.fullmatch(r"\d+", hp["trees"]) and 10 <= int(hp["trees"]) <= 1000
        assert float(repr(float(hp["lr"]))) == float(hp["lr"])
        assert hp["booster"] in ("gbtree", "dart", "3")
    assert {hp["depth"] for hp in drawn} == {str(i) for i in range(2, 13)}
    # log scale on integers: small tree counts are as likely per decade as large ones
    assert 0.35 < sum(int(hp["trees"]) < 100 for hp in drawn) / len(drawn) < 0.65


def test_grid_enumerates_every_combination_once_then_none() -> None:
    ranges = {
        "CategoricalParameterRanges": [
            {"Name": "a", "Values": ["1", "2"]},
            {"Name": "b", "Values": ["x", "y", "z"]},
        ]
    }
    search = Search("Grid", parse_ranges(ranges), random_seed=1)
    assert search.grid_size() == 6
    first = [search.ask() for _ in range(2)]  # two running in parallel
    assert all(got is not None for got in first)
    search.tell(0, "Failed")  # a failed point is not retried
    restored = Search("Grid", parse_ranges(ranges), trials=search.trials)
    rest = [restored.ask() for _ in range(4)]
    points = [(hp["a"], hp["b"]) for got in first + rest if got for _, hp in [got]]
    assert sorted(points) == sorted(itertools.product("12", "xyz"))
    assert [got[0] for got in first + rest if got] == list(range(6))
    assert restored.ask() is None


def test_grid_takes_categorical_ranges_only() -> None:
    with pytest.raises(InvalidRequest, match="categorical ranges only") as caught:
        Search("Grid", parse_ranges(XY))
    assert "'x'" in caught.value.message
    assert Search("Random", parse_ranges(XY)).grid_size() is None


def test_max_jobs_ends_the_asks() -> None:
    search = Search("Random", parse_ranges(XY), max_jobs=3)
    run(search, quadratic, 3)
    assert search.ask() is None


# -- repeatability --------------------------------------------------------------------------------


def _scripted(search: Search, start: int, stop: int) -> list[tuple[dict[str, str], list[bool]]]:
    """Asks trials start..stop-1, finishing them with every kind of outcome, one left running."""
    asked = []
    for i in range(start, stop):
        got = search.ask()
        assert got is not None and got[0] == i
        number, hp = got
        decisions = [search.report(number, step, -quadratic(hp) / step) for step in (1, 2, 3)]
        asked.append((hp, decisions))
        if i % 7 == 3:
            search.tell(number, "Failed")
        elif i % 7 == 5:
            search.tell(number, "Stopped")
        elif i % 7 != 6:  # trials 6, 13, ... stay running until the next one has finished
            search.tell(number, "Completed", -quadratic(hp))
        if i % 7 == 0 and i > 0:
            search.tell(i - 1, "Completed", -quadratic(search.trials[i - 1].hyperparameters))
    return asked


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Hyperband"])
def test_same_seed_same_asks_even_across_a_restore(strategy: str) -> None:
    def search(seed: int | None = 42, trials: list[TrialRecord] | None = None) -> Search:
        return Search(
            strategy,
            parse_ranges(XY),
            random_seed=seed,
            max_jobs=30,
            max_resource=3 if strategy == "Hyperband" else None,
            early_stopping="Off" if strategy == "Hyperband" else "Auto",
            trials=trials or [],
        )

    one = _scripted(search(), 0, 24)
    assert one == _scripted(search(), 0, 24)
    if strategy == "Hyperband":  # some trials stopped early, all at the last step
        assert any(d[:2] != [False, False] for _, d in one) and all(d[2] for _, d in one)

    halfway = search()
    before = _scripted(halfway, 0, 14)  # trial 13 is still running at the restart
    assert halfway.trials[13].state == "Running"
    restarted = search(trials=halfway.trials)
    assert restarted.trials == halfway.trials
    assert before + _scripted(restarted, 14, 24) == one

    assert _scripted(search(43), 0, 24) != one
    assert _scripted(search(None), 0, 12) != _scripted(search(None), 0, 12)


def test_bayesian_beats_random_on_a_quadratic() -> None:
    def best_after_30(strategy: str, seed: int) -> float:
        search = Search(strategy, parse_ranges(XY), "Minimize", random_seed=seed, max_jobs=30)
        run(search, quadratic, 30)
        best = search.best()
        assert best is not None and best.objective is not None
        return best.objective

    bayesian = statistics.mean(best_after_30("Bayesian", seed) for seed in range(5))
    rand = statistics.mean(best_after_30("Random", seed) for seed in range(5))
    assert bayesian < 0.5 * rand


def test_parallel_bayesian_asks_spread_out() -> None:
    def closest_pair(seed: int) -> float:
        search = Search("Bayesian", parse_ranges(XY), "Minimize", random_seed=seed, max_jobs=30)
        run(search, quadratic, 12)
        running = []
        for _ in range(6):  # six trials in parallel, none finished yet
            got = search.ask()
            assert got is not None
            running.append((float(got[1]["x"]), float(got[1]["y"])))
        return min(math.dist(a, b) for a, b in itertools.combinations(running, 2))

    # Constant liar counts running trials as bad ones, so TPE does not pile them onto one spot.
    assert statistics.mean(closest_pair(seed) for seed in range(3)) > 1.0


def test_warm_start_seeds_compatible_points_only() -> None:
    rng = random.Random(0)
    points = []
    for _ in range(20):
        hp = {"x": repr(rng.uniform(-5, 5)), "y": repr(rng.uniform(-5, 5)), "static": "1"}
        points.append((hp, quadratic(hp)))
    incompatible = [
        ({"x": "7.5", "y": "0"}, 0.0),  # outside the new range
        ({"x": "1.3"}, 0.0),  # a parameter the parent did not tune
        ({"x": "oops", "y": "0"}, 0.0),
        ({"x": "1", "y": "1"}, math.nan),
    ]

    def mean_distance(warm: list[tuple[dict[str, str], float]], seed: int) -> float:
        search = Search(
            "Bayesian", parse_ranges(XY), "Minimize", random_seed=seed, max_jobs=30, warm_start=warm
        )
        assert search.warm_start_count == (20 if warm else 0)
        assert search.best() is None  # parents' trials are not this job's
        return statistics.mean(math.sqrt(quadratic(hp)) for hp in run(search, quadratic, 5))

    warm = statistics.mean(mean_distance(points + incompatible, seed) for seed in range(3))
    cold = statistics.mean(mean_distance([], seed) for seed in range(3))
    assert warm < cold

    cats = {"CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b"]}]}
    search = Search("Random", parse_ranges(cats), warm_start=[({"c": "a"}, 1.0), ({"c": "z"}, 2.0)])
    assert search.warm_start_count == 1


# -- early stopping -------------------------------------------------------------------------------


def _learning_curves(search: Search, levels: list[float], steps: int = 10) -> None:
    for level in levels:
        got = search.ask()
        assert got is not None
        for step in range(steps):
            assert search.report(got[0], step, level + 0.01 * step) is False
        search.tell(got[0], "Completed", level + 0.01 * steps)


def test_median_rule_stops_a_bad_trial_and_keeps_a_good_one() -> None:
    search = Search("Random", parse_ranges(XY), early_stopping="Auto", random_seed=0)
    _learning_curves(search, [0.5, 0.55, 0.6, 0.65, 0.7])
    bad, good = search.ask(), search.ask()
    assert bad is not None and good is not None
    decisions = [search.report(bad[0], step, 0.1) for step in range(3)]
    assert decisions == [False, False, True]  # judged only after a few reports
    assert not any(search.report(good[0], step, 0.9) for step in range(10))
    search.tell(bad[0], "Stopped")
    assert search.trials[bad[0]].state == "Stopped" and search.trials[bad[0]].objective == 0.1

    minimizing = Search("Random", parse_ranges(XY), "Minimize", early_stopping="Auto")
    _learning_curves(minimizing, [0.5, 0.55, 0.6, 0.65, 0.7])
    got = minimizing.ask()
    assert got is not None
    assert [minimizing.report(got[0], step, 0.1) for step in range(5)] == [False] * 5


def test_no_early_stopping_when_off() -> None:
    search = Search("Random", parse_ranges(XY))
    _learning_curves(search, [0.5, 0.55, 0.6, 0.65, 0.7, 0.75])
    got = search.ask()
    assert got is not None
    assert not any(search.report(got[0], step, -100.0) for step in range(10))


def test_hyperband_prunes_weak_trials_and_stops_at_max_resource() -> None:
    search = Search("Hyperband", parse_ranges(XY), random_seed=3, min_resource=1, max_resource=27)
    stopped_early, reached_max = 0, 0
    for _ in range(40):
        got = search.ask()
        assert got is not None
        number, hp = got
        quality = -quadratic(hp)
        for step in range(1, 28):
            if search.report(number, step, quality * (1 + 1 / step)):
                break
        if step < 27:
            stopped_early += 1
            search.tell(number, "Stopped")
        else:
            reached_max += 1
            search.tell(number, "Completed", quality)
    assert stopped_early > 0 and reached_max > 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"strategy": "Hyperband"}, "StrategyConfig.HyperbandStrategyConfig.MaxResource"),
        (
            {"strategy": "Hyperband", "max_resource": 9, "min_resource": 10},
            "StrategyConfig.HyperbandStrategyConfig.MinResource",
        ),
        (
            {"strategy": "Hyperband", "max_resource": 9, "early_stopping": "Auto"},
            "TrainingJobEarlyStoppingType",
        ),
        ({"strategy": "Evolutionary"}, "Strategy"),
        (
            {"strategy": "Random", "objective_type": "Maximise"},
            "HyperParameterTuningJobObjective.Type",
        ),
        ({"strategy": "Random", "early_stopping": "On"}, "TrainingJobEarlyStoppingType"),
    ],
)
def test_invalid_search_settings(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        Search(params=parse_ranges(XY), **kwargs)
    assert caught.value.details["field"] == field


def test_infer_max_resource_from_static_hyperparameters() -> None:
    assert infer_max_resource({"num_epochs": "30", "lr": "0.1"}) == 30
    assert infer_max_resource({"epochs": "x", "n-epochs": "12"}) == 12
    assert infer_max_resource({"num_round": "100"}) is None


# -- results and completion criteria --------------------------------------------------------------


@pytest.mark.parametrize(("objective_type", "best_value"), [("Maximize", 9.0), ("Minimize", 1.0)])
def test_best_honours_the_objective_type(objective_type: str, best_value: float) -> None:
    search = Search("Random", parse_ranges(XY), objective_type)
    assert search.best() is None
    for value in (5.0, 9.0, 1.0, 9.0):
        got = search.ask()
        assert got is not None
        search.tell(got[0], "Completed", value)
    for state in ("Failed", "Stopped"):
        got = search.ask()
        assert got is not None
        search.report(got[0], 0, 100.0 if objective_type == "Maximize" else -100.0)
        search.tell(got[0], state)  # type: ignore[arg-type]
    best = search.best()
    assert best is not None and best.objective == best_value and best.state == "Completed"
    assert best.number == (1 if objective_type == "Maximize" else 2)  # ties: the earliest


def test_target_reached_and_not_improving() -> None:
    maximize = Search("Random", parse_ranges(XY))
    minimize = Search("Random", parse_ranges(XY), "Minimize")
    for search in (maximize, minimize):
        assert not search.target_reached(0.5) and not search.not_improving(1)
        for value in (0.3, 0.8, 0.6, 0.9, 0.5, 0.4):
            got = search.ask()
            assert got is not None
            search.tell(got[0], "Completed", value)
    assert maximize.target_reached(0.9) and not maximize.target_reached(0.91)
    assert minimize.target_reached(0.3) and not minimize.target_reached(0.29)
    # maximize: the best, 0.9, is 3rd from last, so the last 2 did not improve but the last 3 did
    assert maximize.not_improving(2) and not maximize.not_improving(3)
    # minimize: the best, 0.3, came first, so none of the last 5 improved; 6 is all there were
    assert minimize.not_improving(5) and not minimize.not_improving(6)


def test_tell_and_report_guard_their_inputs() -> None:
    search = Search("Random", parse_ranges(XY))
    got = search.ask()
    assert got is not None
    with pytest.raises(ValueError, match="objective"):
        search.tell(got[0], "Completed")
    search.tell(got[0], "Completed", 1.0)
    with pytest.raises(ValueError, match="not running"):
        search.tell(got[0], "Completed", 2.0)
    assert search.report(got[0], 3, 1.0) is False  # a late metric is ignored
    with pytest.raises(ValueError, match="unknown"):
        search.report(99, 0, 1.0)
    outside = TrialRecord(0, {"x": "9", "y": "0"}, "Completed", 1.0)
    with pytest.raises(ValueError, match="outside"):
        Search("Random", parse_ranges(XY), trials=[outside])
