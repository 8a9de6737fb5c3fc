"""The hyperparameter contract: parsing, validation messages, optional values, catalog shape."""

from __future__ import annotations

import json

import pytest

from modelyard.algorithms.base import REQUIRED, Hyperparameter
from modelyard.algorithms.registry import get_algorithm
from modelyard.errors import InvalidHyperparameters, InvalidRequest


def test_int_parsing_is_exact_and_accepts_integral_floats() -> None:
    hp = Hyperparameter("n", int, 1)
    assert hp.parse("5") == 5
    assert hp.parse(" 5.0 ") == 5
    assert hp.parse("1e3") == 1000
    assert hp.parse("12345678901234567891") == 12345678901234567891  # beyond float precision
    for bad in ("5.5", "five", True, "inf", "nan"):
        with pytest.raises(ValueError):
            hp.parse(bad)


def test_bool_float_and_bounds() -> None:
    flag = Hyperparameter("f", bool, True)
    assert flag.parse("TRUE") is True and flag.parse("0") is False and flag.parse(False) is False
    with pytest.raises(ValueError):
        flag.parse("maybe")
    rate = Hyperparameter("r", float, 0.5, min=0, min_exclusive=True, max=1)
    assert rate.parse("1") == 1.0
    for bad in ("0", "1.5", "nan", True):
        with pytest.raises(ValueError):
            rate.parse(bad)
    assert rate.allowed() == "a number > 0 and <= 1"


def test_unknown_bad_and_missing_are_reported_together() -> None:
    algorithm = get_algorithm("xgboost")
    with pytest.raises(InvalidHyperparameters) as info:
        algorithm.validate({"etaa": "0.1", "max_depth": "deep"})
    problems = info.value.problems
    assert set(problems) == {"etaa", "max_depth", "num_round"}
    assert "valid names:" in problems["etaa"] and "eta," in problems["etaa"]
    assert "'deep'" in problems["max_depth"] and "an integer >= 0" in problems["max_depth"]
    assert problems["num_round"].startswith("required")
    assert isinstance(info.value, InvalidRequest)  # a 400 for the API
    assert "max_depth" in info.value.message


def test_optional_without_default_is_none_unless_given() -> None:
    algorithm = get_algorithm("xgboost")
    hps = algorithm.validate({"num_round": "3"})
    assert hps["early_stopping_rounds"] is None and hps["num_class"] is None
    assert (
        algorithm.validate({"num_round": 3, "early_stopping_rounds": "4"})["early_stopping_rounds"]
        == 4
    )
    assert (
        algorithm.validate({"num_round": 3, "early_stopping_rounds": None})["early_stopping_rounds"]
        is None
    )
    described = {h["name"]: h for h in algorithm.describe()["hyperparameters"]}
    assert described["early_stopping_rounds"]["required"] is False
    assert described["early_stopping_rounds"]["default"] is None
    assert described["num_round"]["required"] is True


def test_validate_is_idempotent_on_parsed_values() -> None:
    for name, raw in [
        ("xgboost", {"num_round": "7", "eta": "0.1", "objective": "binary:logistic"}),
        ("linear-learner", {"predictor_type": "regressor", "wd": "0.01"}),
    ]:
        algorithm = get_algorithm(name)
        once = algorithm.validate(raw)
        assert algorithm.validate(once) == once


@pytest.mark.parametrize("name", ["xgboost", "linear-learner"])
def test_describe_is_plain_json_and_declares_everything(name: str) -> None:
    algorithm = get_algorithm(name)
    description = json.loads(json.dumps(algorithm.describe()))
    assert description["name"] == name
    assert description["metrics"] and description["content_types"]
    assert all(m["direction"] in ("Maximize", "Minimize") for m in description["metrics"])
    for hp in algorithm.hyperparameters:
        assert hp.help, hp.name
        if not hp.required:
            assert hp.default is None or isinstance(hp.default, hp.type), hp.name
            if hp.default is not None:
                assert hp.parse(hp.default) == hp.default, hp.name  # defaults pass their rules
        else:
            assert hp.default is REQUIRED
