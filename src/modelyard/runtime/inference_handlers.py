"""Serving with the user's own inference code, as SageMaker's framework containers do.

The user's module may define `model_fn(model_dir)`, `input_fn(body, content_type)`,
`predict_fn(data, model)` and `output_fn(prediction, accept)`, or `transform_fn(model, body,
content_type, accept)` instead of the last three. What it leaves out comes from the framework's
defaults: scikit-learn loads `model.joblib`, XGBoost its booster file, PyTorch needs `model_fn`;
input and output default to CSV, JSON, JSON Lines and NPY like the built-in algorithms.

An exception in `input_fn` is the caller's fault (400 with its message); one in `predict_fn` or
`output_fn` is a 500 whose traceback goes to the endpoint's log.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from modelyard.errors import InvalidRequest, ModelyardError
from modelyard.runtime import codecs

FRAMEWORKS = ("sklearn", "xgboost", "pytorch")


def import_user_module(code_dir: Path, entry_point: str) -> ModuleType:
    path = code_dir / entry_point
    if not path.is_file():
        raise ModelyardError(f"inference entry point {entry_point!r} is not in the code")
    sys.path.insert(0, str(code_dir))  # the script's sibling modules import as on SageMaker
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


# -- the framework defaults ---------------------------------------------------------------
def default_model_fn(framework: str | None) -> Callable[[str], Any]:
    def sklearn_model(model_dir: str) -> Any:
        import joblib

        path = Path(model_dir) / "model.joblib"
        if not path.is_file():
            raise ModelyardError(
                "no model.joblib in the model artifact; save one or define "
                "model_fn in the inference script"
            )
        return joblib.load(path)

    def xgboost_model(model_dir: str) -> Any:
        import xgboost as xgb

        for name in ("xgboost-model", "model.json", "model.ubj", "model.bst", "model.xgb"):
            path = Path(model_dir) / name
            if path.is_file():
                booster = xgb.Booster()
                booster.load_model(bytearray(path.read_bytes()))
                return booster
        raise ModelyardError("no xgboost-model in the model artifact; define model_fn")

    def required(model_dir: str) -> Any:
        raise ModelyardError(
            f"{framework or 'this'} model needs a model_fn(model_dir) in the inference script"
        )

    return {"sklearn": sklearn_model, "xgboost": xgboost_model}.get(framework or "", required)


def default_input_fn(body: bytes, content_type: str) -> Any:
    return codecs.decode(body, content_type)


def default_predict_fn(framework: str | None) -> Callable[[Any, Any], Any]:
    def predict(data: Any, model: Any) -> Any:
        if framework == "pytorch":
            import torch

            with torch.no_grad():
                return model(torch.as_tensor(data)).cpu().numpy()
        if hasattr(model, "inplace_predict"):  # an xgboost Booster
            return model.inplace_predict(data)
        return model.predict(data)

    return predict


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    array = np.asarray(prediction.cpu().numpy() if hasattr(prediction, "cpu") else prediction)
    kind = codecs.negotiate(accept, codecs.JSON)
    if kind == codecs.JSON:
        return json.dumps(array.tolist()).encode(), kind
    if kind == codecs.JSONLINES:
        rows = array.tolist() if array.ndim else [array.tolist()]
        return "".join(json.dumps(r) + "\n" for r in rows).encode(), kind
    if kind == codecs.NPY:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue(), kind
    rows = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode(), kind


# -- the handler the model server calls ----------------------------------------------------
class UserHandlers:
    def __init__(self, module: ModuleType | None, framework: str | None, model_dir: Path):
        def pick(name: str, default: Any) -> Any:
            return getattr(module, name, None) or default

        self.framework = framework
        self.model = pick("model_fn", default_model_fn(framework))(str(model_dir))
        self.transform_fn = getattr(module, "transform_fn", None)
        self.input_fn = pick("input_fn", default_input_fn)
        self.predict_fn = pick("predict_fn", default_predict_fn(framework))
        self.output_fn = pick("output_fn", default_output_fn)

    def handle(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[bytes, bytes]:
        content_type = content_type or codecs.CSV
        accept = accept or "application/json"
        if self.transform_fn is not None:
            return _as_response(self.transform_fn(self.model, body, content_type, accept), accept)
        try:
            data = self.input_fn(body, content_type)
        except ModelyardError:
            raise
        except Exception as exc:
            message = f"input_fn rejected the request: {type(exc).__name__}: {exc}"
            raise InvalidRequest(message) from None
        prediction = self.predict_fn(data, self.model)
        return _as_response(self.output_fn(prediction, accept), accept)


def _as_response(result: Any, accept: str) -> tuple[bytes, bytes]:
    """output_fn may return a body, or (body, content type) as SageMaker's toolkit allows."""
    content_type = accept if accept and "*" not in accept else "application/json"
    if isinstance(result, tuple) and len(result) == 2:
        result, content_type = result
    if isinstance(result, str):
        result = result.encode()
    if not isinstance(result, (bytes, bytearray)):
        result = json.dumps(np.asarray(result).tolist()).encode()
    return bytes(result), str(content_type).encode()
