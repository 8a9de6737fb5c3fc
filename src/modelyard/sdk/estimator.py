"""Estimator: train a built-in algorithm, or your own script, on a modelyard server.

`Estimator(algorithm="xgboost", ...)` trains a built-in algorithm. `Estimator(entry_point=...,
source_dir=...)` (and the framework estimators in `sdk.frameworks`) runs the user's own script
the way SageMaker's script mode does.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from modelyard.errors import ModelyardError
from modelyard.names import unique_name
from modelyard.sdk.analytics import TrainingJobAnalytics
from modelyard.sdk.cross_validation import CrossValidationJob
from modelyard.sdk.deserializers import BaseDeserializer
from modelyard.sdk.evaluation import EvaluationJob
from modelyard.sdk.inputs import TrainingInput, channels_from
from modelyard.sdk.jobs import TrainingJob
from modelyard.sdk.model import Model
from modelyard.sdk.predictor import Predictor
from modelyard.sdk.serializers import BaseSerializer
from modelyard.sdk.session import Session
from modelyard.sdk.source import pack_source, temporary_dir
from modelyard.sdk.transformer import Transformer

DEFAULT_MAX_RUN = 24 * 60 * 60
# Arguments that only mean something on AWS: accepted so SageMaker code runs, then ignored.
AWS_ONLY = (
    "role",
    "subnets",
    "security_group_ids",
    "volume_size",
    "volume_kms_key",
    "output_kms_key",
    "image_uri",
    "use_spot_instances",
    "max_wait",
    "enable_network_isolation",
    "encrypt_inter_container_traffic",
    "disable_profiler",
    "debugger_hook_config",
)


class Estimator:
    def __init__(
        self,
        algorithm: str | None = None,
        hyperparameters: dict[str, Any] | None = None,
        instance_type: str = "local",
        instance_count: int = 1,
        output_path: str | None = None,
        max_run: int | None = None,
        base_job_name: str | None = None,
        environment: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
        dependencies: list[str] | None = None,
        metric_definitions: list[dict[str, str]] | None = None,
        framework: str | None = None,
        framework_version: str | None = None,
        py_version: str | None = None,
        distribution: dict[str, Any] | None = None,
        checkpoint_s3_uri: str | None = None,
        **aws_only: Any,
    ) -> None:
        unknown = sorted(set(aws_only) - set(AWS_ONLY))
        if unknown:
            raise TypeError(f"Estimator got unexpected argument(s): {', '.join(unknown)}")
        if aws_only:
            warnings.warn(
                f"ignored on modelyard (AWS-only): {', '.join(sorted(aws_only))}", stacklevel=2
            )
        if (algorithm is None) == (entry_point is None):
            raise ModelyardError(
                "Estimator needs either algorithm=... (a built-in such as 'xgboost' or "
                "'linear-learner', see 'modelyard algorithms list') or entry_point=... (your "
                "own training script), not both"
            )
        self.algorithm = algorithm
        self.entry_point = entry_point
        self.source_dir = source_dir
        self.dependencies = dependencies or []
        self.metric_definitions = metric_definitions or []
        self.framework = framework
        self.framework_version = framework_version
        self.py_version = py_version
        self.distribution = distribution or {}
        if checkpoint_s3_uri is not None and entry_point is None:
            raise ModelyardError("checkpoint_s3_uri is for script mode (entry_point=...)")
        self.checkpoint_s3_uri = checkpoint_s3_uri
        self._hyperparameters: dict[str, Any] = dict(hyperparameters or {})
        self.instance_type = instance_type
        self.instance_count = instance_count
        self.output_path = output_path
        self.max_run = max_run or DEFAULT_MAX_RUN
        self.base_job_name = base_job_name
        self.environment = environment or {}
        self.tags = tags or {}
        self.session = session or sagemaker_session
        self.latest_training_job: TrainingJob | None = None
        self._packed: tuple[str, str] | None = None  # (entry point, sourcedir.tar.gz URI)
        self._model_data: str | None = None

    def _session(self) -> Session:
        if self.session is None:
            self.session = Session()
        return self.session

    # -- hyperparameters ------------------------------------------------------------------
    def set_hyperparameters(self, **kwargs: Any) -> None:
        self._hyperparameters.update(kwargs)

    def hyperparameters(self) -> dict[str, str]:
        if self.entry_point is not None:
            # Script mode: JSON-encoded, as the SageMaker SDK sends them (the job decodes).
            return {k: json.dumps(v) for k, v in self._hyperparameters.items()}
        return {k: str(v) for k, v in self._hyperparameters.items()}

    def _script(self, session: Session, job_name: str) -> tuple[dict[str, Any], dict[str, str]]:
        """Upload the code; the job's script spec and the framework hyperparameters."""
        assert self.entry_point is not None
        base = (self.output_path or f"s3://{session.default_bucket()}").rstrip("/")
        uri = f"{base}/{job_name}/source/sourcedir.tar.gz"
        bucket, key = uri[len("s3://") :].split("/", 1)
        with temporary_dir() as tmp:
            archive, inside = pack_source(
                self.entry_point, self.source_dir, self.dependencies, Path(tmp)
            )
            session.upload_file(archive, bucket, key)
        self._packed = (inside, uri)
        spec = {
            "entry_point": inside,
            "source_dir": uri,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "py_version": self.py_version,
            "checkpoint_s3_uri": self.checkpoint_s3_uri,
            "distribution": self.distribution,
        }
        return spec, {
            "sagemaker_program": json.dumps(inside),
            "sagemaker_submit_directory": json.dumps(uri),
            "sagemaker_container_log_level": "20",
            "sagemaker_job_name": json.dumps(job_name),
            "sagemaker_region": json.dumps("local"),
        }

    # -- training -------------------------------------------------------------------------
    def fit(
        self,
        inputs: str | TrainingInput | dict[str, Any] | None = None,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
    ) -> None:
        session = self._session()
        name = job_name or unique_name(self.base_name())
        session.client.post(
            "/api/v1/training-jobs",
            json={"name": name, **self.training_job_definition(session, name, inputs)},
        )
        self.latest_training_job = TrainingJob(session, name)
        self._model_data = None
        if wait:
            self.latest_training_job.wait(logs=logs)

    def cross_validate(
        self,
        inputs: str | TrainingInput | dict[str, Any] | None = None,
        folds: int = 5,
        stratify: bool = False,
        shuffle: bool = True,
        random_seed: int = 0,
        max_parallel_jobs: int | None = None,
        channel: str = "train",
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
    ) -> CrossValidationJob:
        """k-fold cross-validation: one training job per fold, each holding out its fold of
        `channel` as the validation channel; `.metrics` and `.dataframe()` give the per-fold
        values, mean and standard deviation of every metric."""
        session = self._session()
        name = job_name or unique_name(
            self.base_name()[:28].rstrip("-") + "-cv"
        )  # 55 characters at most
        session.client.post(
            "/api/v1/cross-validation-jobs",
            json={
                "name": name,
                "folds": folds,
                "stratify": stratify,
                "shuffle": shuffle,
                "random_seed": random_seed,
                "max_parallel_jobs": max_parallel_jobs,
                "channel": channel,
                "training_job_definition": self.training_job_definition(session, name, inputs),
                "tags": self.tags,
            },
        )
        job = CrossValidationJob(session, name)
        if wait:
            job.wait(logs=logs)
        return job

    def evaluate(
        self,
        test_data: str | TrainingInput,
        problem_type: str | None = None,
        label: str | None = None,
        permutation_importance: bool = True,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
    ) -> EvaluationJob:
        """Evaluate the latest trained model on test data (features and label, as the training
        channel was): metrics, curves, permutation importance and an HTML report, written
        beside the model. `.metrics`, `.evaluation()` and `.report()` read them back."""
        if self.latest_training_job is None:
            raise ModelyardError("this estimator has not trained yet: call fit() first")
        session = self._session()
        training = self.latest_training_job.name
        name = job_name or unique_name(training[:30].rstrip("-") + "-eval")
        test = test_data if isinstance(test_data, TrainingInput) else TrainingInput(test_data)
        session.client.post(
            "/api/v1/evaluation-jobs",
            json={
                "name": name,
                "training_job_name": training,
                "test_data": test.s3_data,
                "content_type": test.content_type or "text/csv",
                "problem_type": problem_type,
                "label": label,
                "permutation_importance": permutation_importance,
                "tags": self.tags,
            },
        )
        job = EvaluationJob(session, name)
        if wait:
            job.wait(logs=logs)
        return job

    def base_name(self) -> str:
        return self.base_job_name or self.algorithm or self.framework or "script"

    def training_job_definition(
        self, session: Session, job_name: str, inputs: Any = None
    ) -> dict[str, Any]:
        """The training job this estimator makes, but its name (a tuning job's template):
        uploads a script's source dir first."""
        hyperparameters = self.hyperparameters()
        script = None
        if self.entry_point is not None:
            script, framework_params = self._script(session, job_name)
            hyperparameters.update(framework_params)
        return {
            "algorithm": self.algorithm,
            "script": script,
            "metric_definitions": [
                {"name": d.get("Name", d.get("name")), "regex": d.get("Regex", d.get("regex"))}
                for d in self.metric_definitions
            ],
            "hyperparameters": hyperparameters,
            "inputs": channels_from(inputs),
            "output_path": self.output_path,
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "max_runtime_seconds": self.max_run,
            "environment": self.environment,
            "tags": self.tags,
        }

    @property
    def training_job_analytics(self) -> TrainingJobAnalytics:
        """The latest job's metrics; `.dataframe()` as in SageMaker."""
        if self.latest_training_job is None:
            raise ModelyardError("this estimator has not trained yet: call fit() first")
        return TrainingJobAnalytics(self.latest_training_job.name, session=self._session())

    @property
    def model_data(self) -> str:
        if self._model_data is None:
            if self.latest_training_job is None:
                raise ModelyardError("this estimator has not trained yet: call fit() first")
            artifact = self.latest_training_job.describe().get("model_artifact")
            if not artifact:
                raise ModelyardError(
                    f"training job {self.latest_training_job.name} has no "
                    "model artifact (it has not completed)"
                )
            self._model_data = artifact
        return self._model_data

    @classmethod
    def attach(
        cls,
        training_job_name: str,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
    ) -> Estimator:
        session = session or sagemaker_session or Session()
        description = session.describe_training_job(training_job_name)
        script = description.get("script") or {}
        hyperparameters = description["hyperparameters"]
        if script:
            hyperparameters = {
                k: json.loads(v)
                for k, v in hyperparameters.items()
                if not k.startswith("sagemaker_")
            }
        estimator = Estimator(
            algorithm=description["algorithm"],
            entry_point=script.get("entry_point"),
            framework=script.get("framework"),
            framework_version=script.get("framework_version"),
            hyperparameters=hyperparameters,
            instance_type=description["instance_type"],
            instance_count=description["instance_count"],
            output_path=description["output_path"],
            max_run=description["max_runtime_seconds"],
            environment=description["environment"],
            tags=description["tags"],
            session=session,
        )
        estimator.latest_training_job = TrainingJob(session, training_job_name)
        return estimator

    # -- deployment -----------------------------------------------------------------------
    def create_model(
        self,
        name: str | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
    ) -> Model:
        """The trained model; a script-mode one is served by the same script (its model_fn,
        input_fn, predict_fn, output_fn), or by another entry_point / source_dir if given."""
        job = self.latest_training_job
        if self.algorithm is not None:
            return Model(
                self.model_data,
                algorithm=self.algorithm,
                name=name,
                session=self._session(),
                training_job_name=job.name if job else None,
            )
        packed_entry, packed_uri = self._packed or (None, None)
        if self._packed is None and job is not None:  # attached: the job knows its code
            script = job.describe().get("script") or {}
            packed_entry, packed_uri = script.get("entry_point"), script.get("source_dir")
        return Model(
            self.model_data,
            framework=self.framework or "python",
            entry_point=entry_point or packed_entry,
            source_dir=source_dir if entry_point else packed_uri,
            name=name,
            session=self._session(),
            training_job_name=job.name if job else None,
        )

    def transformer(
        self, instance_count: int = 1, instance_type: str = "local", **kwargs: Any
    ) -> Transformer:
        """A batch transformer of the trained model (Model.transformer's arguments)."""
        return self.create_model().transformer(instance_count, instance_type, **kwargs)

    def deploy(
        self,
        initial_instance_count: int = 1,
        instance_type: str = "local",
        endpoint_name: str | None = None,
        serializer: BaseSerializer | None = None,
        deserializer: BaseDeserializer | None = None,
        wait: bool = True,
        **aws_only: Any,
    ) -> Predictor:
        return self.create_model().deploy(
            initial_instance_count=initial_instance_count,
            instance_type=instance_type,
            endpoint_name=endpoint_name,
            serializer=serializer,
            deserializer=deserializer,
            wait=wait,
            **aws_only,
        )
