"""SageMaker's framework estimators: the user's script with scikit-learn, XGBoost or PyTorch."""

from __future__ import annotations

from typing import Any

from modelyard.sdk.estimator import Estimator


class _Framework(Estimator):
    framework_name: str

    def __init__(
        self,
        entry_point: str,
        framework_version: str | None = None,
        py_version: str | None = None,
        source_dir: str | None = None,
        hyperparameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            entry_point=entry_point,
            source_dir=source_dir,
            hyperparameters=hyperparameters,
            framework=self.framework_name,
            framework_version=framework_version,
            py_version=py_version,
            **kwargs,
        )


class SKLearn(_Framework):
    """A scikit-learn script, as SageMaker's SKLearn estimator runs it."""

    framework_name = "sklearn"


class XGBoost(_Framework):
    """An XGBoost script (script mode), as SageMaker's XGBoost estimator runs it."""

    framework_name = "xgboost"


class PyTorch(_Framework):
    """A PyTorch script, as SageMaker's PyTorch estimator runs it (needs modelyard[pytorch])."""

    framework_name = "pytorch"
