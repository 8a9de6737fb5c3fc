"""The catalog: one declaration per algorithm, served as data and rendered as docs/algorithms.md."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelyard.algorithms as algorithms
from modelyard.algorithms.catalog import builtin_markdown
from modelyard.algorithms.registry import BUILTIN
from modelyard.errors import NotFound

DOC = Path(__file__).resolve().parents[2] / "docs" / "algorithms.md"


def test_every_builtin_is_described_with_its_artifact() -> None:
    entries = {entry["name"]: entry for entry in algorithms.catalog()}
    assert set(BUILTIN) <= set(entries)
    for name in BUILTIN:
        entry = algorithms.describe(name)
        assert entry == entries[name]
        assert entry["artifact"], f"{name} does not document its model artifact"
        assert entry["hyperparameters"] and entry["problem_types"] and entry["metrics"]
        for hp in entry["hyperparameters"]:
            assert hp["help"], f"{name}.{hp['name']} has no help"


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(NotFound, match="known algorithms: .*xgboost"):
        algorithms.describe("no-such-algorithm")


def test_the_docs_page_is_generated_from_the_declarations() -> None:
    assert DOC.read_text() == builtin_markdown(), (
        "docs/algorithms.md is out of date; regenerate it with "
        "python -m modelyard.algorithms > docs/algorithms.md"
    )
