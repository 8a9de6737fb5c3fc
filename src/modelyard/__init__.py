"""modelyard: SageMaker's build → train → deploy → predict workflow on your own machines.

The SDK's names are imported on first use, so the job and model-server processes, which import
`modelyard.runtime`, do not pay for the client (httpx, rich, pydantic-settings) at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from modelyard._version import __version__

if TYPE_CHECKING:
    from modelyard.sdk.async_inference import (
        AsyncInferenceConfig,
        AsyncInferenceResponse,
        AsyncPredictor,
        WaiterConfig,
    )
    from modelyard.sdk.cross_validation import CrossValidationJob
    from modelyard.sdk.estimator import Estimator
    from modelyard.sdk.evaluation import EvaluationJob
    from modelyard.sdk.frameworks import PyTorch, SKLearn, XGBoost
    from modelyard.sdk.inputs import TrainingInput
    from modelyard.sdk.jobs import ProcessingJob, TrainingJob
    from modelyard.sdk.model import Model
    from modelyard.sdk.model_monitor import (
        CronExpressionGenerator,
        DataCaptureConfig,
        DatasetFormat,
        DefaultModelMonitor,
    )
    from modelyard.sdk.multidatamodel import MultiDataModel
    from modelyard.sdk.predictor import Predictor
    from modelyard.sdk.processing import (
        FrameworkProcessor,
        ProcessingInput,
        ProcessingOutput,
        ScriptProcessor,
        SKLearnProcessor,
    )
    from modelyard.sdk.session import Session, production_variant
    from modelyard.sdk.transformer import Transformer, TransformJob
    from modelyard.sdk.tuner import (
        CategoricalParameter,
        ContinuousParameter,
        HyperparameterTuner,
        HyperparameterTuningJobAnalytics,
        IntegerParameter,
        TuningJob,
        TuningJobCompletionCriteriaConfig,
        WarmStartConfig,
        WarmStartTypes,
    )
    from modelyard.tracking import log_metric

_PUBLIC = {
    "AsyncInferenceConfig": "modelyard.sdk.async_inference",
    "AsyncInferenceResponse": "modelyard.sdk.async_inference",
    "AsyncPredictor": "modelyard.sdk.async_inference",
    "WaiterConfig": "modelyard.sdk.async_inference",
    "Estimator": "modelyard.sdk.estimator",
    "Model": "modelyard.sdk.model",
    "CronExpressionGenerator": "modelyard.sdk.model_monitor",
    "DataCaptureConfig": "modelyard.sdk.model_monitor",
    "DatasetFormat": "modelyard.sdk.model_monitor",
    "DefaultModelMonitor": "modelyard.sdk.model_monitor",
    "MultiDataModel": "modelyard.sdk.multidatamodel",
    "Predictor": "modelyard.sdk.predictor",
    "Session": "modelyard.sdk.session",
    "production_variant": "modelyard.sdk.session",
    "TrainingInput": "modelyard.sdk.inputs",
    "TrainingJob": "modelyard.sdk.jobs",
    "CrossValidationJob": "modelyard.sdk.cross_validation",
    "EvaluationJob": "modelyard.sdk.evaluation",
    "errors": "modelyard.errors",
    "log_metric": "modelyard.tracking",
    "SKLearn": "modelyard.sdk.frameworks",
    "XGBoost": "modelyard.sdk.frameworks",
    "PyTorch": "modelyard.sdk.frameworks",
    "ProcessingInput": "modelyard.sdk.processing",
    "ProcessingOutput": "modelyard.sdk.processing",
    "ScriptProcessor": "modelyard.sdk.processing",
    "SKLearnProcessor": "modelyard.sdk.processing",
    "FrameworkProcessor": "modelyard.sdk.processing",
    "ProcessingJob": "modelyard.sdk.jobs",
    "HyperparameterTuner": "modelyard.sdk.tuner",
    "ContinuousParameter": "modelyard.sdk.tuner",
    "IntegerParameter": "modelyard.sdk.tuner",
    "CategoricalParameter": "modelyard.sdk.tuner",
    "WarmStartConfig": "modelyard.sdk.tuner",
    "WarmStartTypes": "modelyard.sdk.tuner",
    "TuningJobCompletionCriteriaConfig": "modelyard.sdk.tuner",
    "HyperparameterTuningJobAnalytics": "modelyard.sdk.tuner",
    "TuningJob": "modelyard.sdk.tuner",
    "Transformer": "modelyard.sdk.transformer",
    "TransformJob": "modelyard.sdk.transformer",
}

__all__ = [
    "AsyncInferenceConfig",
    "AsyncInferenceResponse",
    "AsyncPredictor",
    "WaiterConfig",
    "CategoricalParameter",
    "ContinuousParameter",
    "CrossValidationJob",
    "Estimator",
    "EvaluationJob",
    "HyperparameterTuner",
    "HyperparameterTuningJobAnalytics",
    "IntegerParameter",
    "TuningJob",
    "TuningJobCompletionCriteriaConfig",
    "WarmStartConfig",
    "WarmStartTypes",
    "FrameworkProcessor",
    "ProcessingInput",
    "ProcessingJob",
    "ProcessingOutput",
    "SKLearnProcessor",
    "ScriptProcessor",
    "Model",
    "CronExpressionGenerator",
    "DataCaptureConfig",
    "DatasetFormat",
    "DefaultModelMonitor",
    "MultiDataModel",
    "Predictor",
    "PyTorch",
    "SKLearn",
    "Session",
    "TrainingInput",
    "TrainingJob",
    "TransformJob",
    "Transformer",
    "XGBoost",
    "__version__",
    "errors",
    "log_metric",
    "production_variant",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
    value = import_module(module)
    return value if name == "errors" else getattr(value, name)


def __dir__() -> list[str]:
    return sorted(__all__)
