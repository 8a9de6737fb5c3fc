"""The `modelyard-model.json` file every built-in algorithm writes next to its model.

It lets the serving side (and a person) learn what a model directory holds without loading the
model: which algorithm wrote it, how many feature columns it expects, and with which
hyperparameters it was trained. Algorithms add their own keys (objective, num_class, ...).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

METADATA_FILE = "modelyard-model.json"


def _jsonable(value: Any) -> Any:
    """Plain JSON values only: numpy scalars become Python ones, NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def write_model_metadata(
    model_dir: Path,
    algorithm: str,
    num_features: int | None,
    hyperparameters: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """Write model_dir/modelyard-model.json and return what was written."""
    meta: dict[str, Any] = {
        "algorithm": algorithm,
        "num_features": num_features,
        **extra,
        "hyperparameters": hyperparameters,
    }
    meta = _jsonable(meta)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    return meta


def read_model_metadata(model_dir: Path) -> dict[str, Any] | None:
    """The metadata of a model directory, or None when it has none (a model trained elsewhere)."""
    path = model_dir / METADATA_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())
