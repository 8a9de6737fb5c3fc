"""modelyard: SageMaker's build → train → deploy → predict workflow on your own machines."""

from modelyard._version import __version__
from modelyard.sdk.estimator import Estimator
from modelyard.sdk.inputs import TrainingInput
from modelyard.sdk.jobs import TrainingJob
from modelyard.sdk.model import Model
from modelyard.sdk.predictor import Predictor
from modelyard.sdk.session import Session

__all__ = [
    "Estimator",
    "Model",
    "Predictor",
    "Session",
    "TrainingInput",
    "TrainingJob",
    "__version__",
]
