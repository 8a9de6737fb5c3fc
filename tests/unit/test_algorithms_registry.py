"""The registry: built-ins, unknown names, lazy imports, third-party entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.algorithms import registry
from modelyard.algorithms.base import Algorithm
from modelyard.algorithms.registry import algorithm_names, get_algorithm, list_algorithms
from modelyard.errors import ModelyardError, NotFound


def test_builtins_are_found_and_cached() -> None:
    xgb = get_algorithm("xgboost")
    assert isinstance(xgb, Algorithm) and xgb.name == "xgboost"
    assert get_algorithm("xgboost") is xgb
    assert get_algorithm("linear-learner").name == "linear-learner"
    assert {"xgboost", "linear-learner"} <= set(algorithm_names())
    assert [a.name for a in list_algorithms()] == sorted(a.name for a in list_algorithms())


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(NotFound) as info:
        get_algorithm("xgbost")
    assert "xgbost" in info.value.message
    assert "linear-learner" in info.value.message and "xgboost" in info.value.message
    assert info.value.status_code == 404


def test_importing_the_registry_imports_no_ml_library() -> None:
    code = textwrap.dedent("""
        import sys
        import modelyard.algorithms.registry as r
        assert "xgboost" not in sys.modules and "sklearn" not in sys.modules, "eager import"
        r.algorithm_names()
        assert "xgboost" not in sys.modules, "algorithm_names imported xgboost"
        r.get_algorithm("linear-learner")
        assert "xgboost" not in sys.modules, "linear-learner imported xgboost"
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


PLUGIN = """
from pathlib import Path
import numpy as np
from modelyard.algorithms.base import Algorithm, Hyperparameter, Prediction


class Toy(Algorithm):
    name = "toy"
    description = "predicts a constant"
    hyperparameters = (Hyperparameter("value", float, 1.0, help="the constant"),)

    def train(self, ctx):
        pass

    def load(self, model_dir: Path):
        return None

    def predict(self, model, features):
        return Prediction([{"score": 1.0}] * len(features), np.ones(len(features)))


ALGORITHM = Toy()
HIJACK = Toy()
NOT_AN_ALGORITHM = 42
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A third-party distribution installed the ordinary way: a module plus dist-info."""
    (tmp_path / "toy_plugin.py").write_text(PLUGIN)
    info = tmp_path / "toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent("""
        [modelyard.algorithms]
        toy = toy_plugin:ALGORITHM
        xgboost = toy_plugin:HIJACK
        broken = toy_plugin_missing:ALGORITHM
        wrong = toy_plugin:NOT_AN_ALGORITHM
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_cache()
    yield
    registry.clear_cache()
    sys.modules.pop("toy_plugin", None)


@pytest.mark.usefixtures("plugin")
def test_entry_point_plugins_add_names_but_cannot_replace_builtins() -> None:
    toy = get_algorithm("toy")
    assert toy.name == "toy" and toy.validate({}) == {"value": 1.0}
    assert get_algorithm("xgboost").__class__.__name__ == "XGBoostAlgorithm"
    names = algorithm_names()
    assert {"toy", "broken", "wrong", "xgboost", "linear-learner"} <= set(names)
    with pytest.raises(ModelyardError, match="could not be loaded"):
        get_algorithm("broken")
    with pytest.raises(ModelyardError, match="not an Algorithm"):
        get_algorithm("wrong")
    listed = [a.name for a in list_algorithms()]  # broken plug-ins are skipped, not fatal
    assert "toy" in listed and "broken" not in listed and "xgboost" in listed
