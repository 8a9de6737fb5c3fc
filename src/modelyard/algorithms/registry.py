"""Which algorithms exist, found by name.

Every algorithm, built-in or third-party, is a Python entry point in the group
`modelyard.algorithms`: `name = "package.module:ATTRIBUTE"`, where the attribute is an
`Algorithm` instance. A third-party package registers one in its own pyproject.toml:

    [project.entry-points."modelyard.algorithms"]
    my-algo = "my_package.my_algo:ALGORITHM"

The built-ins are also listed in `BUILTIN` (same "module:attribute" form), so that they work
even where the installed package metadata lacks the entry points. A built-in name cannot be
taken over by an entry point that points elsewhere.

Nothing is imported until it is asked for: importing this module does not import xgboost or
scikit-learn, and `get_algorithm("xgboost")` imports only the xgboost algorithm module.
"""

from __future__ import annotations

import importlib
import logging
import threading
from importlib.metadata import entry_points

from modelyard.algorithms.base import Algorithm
from modelyard.errors import ModelyardError, NotFound

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "modelyard.algorithms"

BUILTIN: dict[str, str] = {
    "xgboost": "modelyard.algorithms.xgboost:ALGORITHM",
    "linear-learner": "modelyard.algorithms.linear_learner:ALGORITHM",
    "decision-tree": "modelyard.algorithms.decision_tree:ALGORITHM",
    "random-forest": "modelyard.algorithms.random_forest:ALGORITHM",
    "svm": "modelyard.algorithms.svm:ALGORITHM",
    "knn": "modelyard.algorithms.knn:ALGORITHM",
    "lightgbm": "modelyard.algorithms.lightgbm:ALGORITHM",
    "kmeans": "modelyard.algorithms.kmeans:ALGORITHM",
    "pca": "modelyard.algorithms.pca:ALGORITHM",
    "random-cut-forest": "modelyard.algorithms.random_cut_forest:ALGORITHM",
    "mlp": "modelyard.algorithms.mlp:ALGORITHM",
    "factorization-machines": "modelyard.algorithms.factorization_machines:ALGORITHM",
}

_lock = threading.Lock()
_loaded: dict[str, Algorithm] = {}


def _targets() -> dict[str, str]:
    """name -> "module:attribute" of every known algorithm (built-ins, then entry points)."""
    targets = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            if ep.value.replace(" ", "") != BUILTIN[ep.name]:
                log.warning(
                    "ignoring entry point %s = %s: %r is a built-in algorithm",
                    ep.name,
                    ep.value,
                    ep.name,
                )
            continue
        targets.setdefault(ep.name, ep.value)
    return targets


def algorithm_names() -> list[str]:
    """The names of every known algorithm, sorted, without importing any of them."""
    return sorted(_targets())


def _resolve(name: str, target: str) -> Algorithm:
    module_name, _, attribute = target.partition(":")
    try:
        obj: object = importlib.import_module(module_name.strip())
        for part in attribute.strip().split(".") if attribute.strip() else []:
            obj = getattr(obj, part)
    except Exception as exc:  # a broken plug-in must not look like an unknown name
        raise ModelyardError(
            f"algorithm {name!r} could not be loaded from {target!r}: {type(exc).__name__}: {exc}",
            {"algorithm": name, "target": target},
        ) from exc
    if isinstance(obj, type) and issubclass(obj, Algorithm):
        obj = obj()  # tolerate an entry point naming the class rather than an instance
    if not isinstance(obj, Algorithm):
        raise ModelyardError(
            f"algorithm {name!r}: {target!r} is a {type(obj).__name__}, not an Algorithm",
            {"algorithm": name, "target": target},
        )
    if getattr(obj, "name", None) != name:
        raise ModelyardError(
            f"algorithm registered as {name!r} calls itself {getattr(obj, 'name', None)!r}",
            {"algorithm": name, "target": target},
        )
    return obj


def require_known(name: str) -> None:
    """NotFound (listing the known names) unless an algorithm is registered as `name`;
    imports none of them, so the control plane can check a name without loading xgboost."""
    targets = _targets()
    if name not in targets:
        raise NotFound(
            f"unknown algorithm {name!r}; known algorithms: {', '.join(sorted(targets))}",
            {"algorithm": name, "known": sorted(targets)},
        )


def get_algorithm(name: str) -> Algorithm:
    """The algorithm registered under `name`; NotFound (listing the known names) if none."""
    with _lock:
        if name in _loaded:
            return _loaded[name]
    require_known(name)
    algorithm = _resolve(name, _targets()[name])
    with _lock:
        return _loaded.setdefault(name, algorithm)


def list_algorithms() -> list[Algorithm]:
    """Every algorithm that loads, sorted by name; a plug-in that fails to load is logged."""
    found: list[Algorithm] = []
    for name in algorithm_names():
        try:
            found.append(get_algorithm(name))
        except ModelyardError as exc:
            if name in BUILTIN:
                raise
            log.warning("skipping algorithm %s: %s", name, exc.message)
    return found


def clear_cache() -> None:
    """Forget loaded algorithms (for tests, or after installing a plug-in at run time)."""
    with _lock:
        _loaded.clear()
