"""Which frameworks script mode can run, and what it says when one is missing."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidRequest
from modelyard.services import frameworks


def test_installed_frameworks_report_their_version() -> None:
    import sklearn

    assert frameworks.installed_version("sklearn") == sklearn.__version__
    assert frameworks.installed_version(None) is None


def test_a_missing_framework_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(frameworks.FRAMEWORKS, "pytorch", ("modelyard-no-such-dist", "pytorch"))
    with pytest.raises(InvalidRequest, match=r"pip install 'modelyard\[pytorch\]'"):
        frameworks.installed_version("pytorch")


def test_unknown_framework_lists_the_known_ones() -> None:
    with pytest.raises(InvalidRequest, match="pytorch, sklearn, xgboost"):
        frameworks.installed_version("tensorflow")


@pytest.mark.parametrize(
    ("requested", "installed", "noted"),
    [
        ("1.2-1", "1.2.2", False),
        ("1.2-1", "1.9.1", True),
        (None, "1.9.1", False),
        ("2.13", "2.13.0+cpu", False),
        ("1.7-1", "3.2.0", True),
    ],
)
def test_version_notes(requested: str | None, installed: str, noted: bool) -> None:
    note = frameworks.version_note("sklearn", requested, installed)
    assert (note is not None) == noted
