"""Model: a trained artifact that can be deployed to a live endpoint.

`Model(model_data, algorithm="xgboost")` serves a built-in algorithm's model;
`Model(model_data, entry_point="inference.py", source_dir=..., framework="sklearn")` serves it
with the user's own model_fn / input_fn / predict_fn / output_fn, as SageMaker's framework
containers do (a framework alone uses code/inference.py inside the artifact, or the defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import Conflict
from modelyard.names import unique_name
from modelyard.sdk.async_inference import AsyncInferenceConfig, AsyncPredictor
from modelyard.sdk.deserializers import BaseDeserializer
from modelyard.sdk.model_monitor import DataCaptureConfig
from modelyard.sdk.predictor import Predictor
from modelyard.sdk.serializers import BaseSerializer
from modelyard.sdk.session import Session
from modelyard.sdk.source import pack_source, temporary_dir

if TYPE_CHECKING:
    from modelyard.sdk.transformer import Transformer


class Model:
    def __init__(
        self,
        model_data: str,
        algorithm: str | None = None,
        name: str | None = None,
        environment: dict[str, str] | None = None,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
        training_job_name: str | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
        framework: str | None = None,
        dependencies: list[str] | None = None,
        **_aws_only: Any,
    ) -> None:
        self.model_data = model_data
        self.algorithm = algorithm
        self.entry_point = entry_point
        self.source_dir = source_dir
        self.dependencies = dependencies or []
        self.framework = framework or (None if algorithm else "python")
        self.name = name
        self.environment = environment or {}
        self.training_job_name = training_job_name
        self.session = session or sagemaker_session
        self.endpoint_name: str | None = None
        self.mode = "SingleModel"  # MultiDataModel serves every model under a prefix
        self.multi_model_config: dict[str, Any] | None = None

    def _session(self) -> Session:
        if self.session is None:
            self.session = Session()
        return self.session

    def create(self) -> str:
        """Register the model (once); returns its name."""
        session = self._session()
        base = self.training_job_name or self.algorithm or self.framework or "model"
        self.name = self.name or unique_name(base)
        entry_point, source_uri = self._upload_code(session)
        try:
            session.client.post(
                "/api/v1/models",
                json={
                    "name": self.name,
                    "model_data": self.model_data,
                    "algorithm": self.algorithm,
                    "framework": None if self.algorithm else self.framework,
                    "entry_point": entry_point,
                    "source_dir": source_uri,
                    "environment": self.environment,
                    "training_job_name": self.training_job_name,
                    "mode": self.mode,
                    "multi_model_config": self.multi_model_config,
                },
            )
        except Conflict:
            existing = session.client.get(f"/api/v1/models/{self.name}")
            if existing["model_data"] != self.model_data:
                raise
        return self.name

    def _upload_code(self, session: Session) -> tuple[str | None, str | None]:
        """(entry point inside the code, s3:// URI of sourcedir.tar.gz) for the model server."""
        if self.entry_point is None or self.algorithm is not None:
            return None, None
        if self.source_dir is not None and self.source_dir.startswith("s3://"):
            return self.entry_point, self.source_dir  # already packed, e.g. by the estimator
        uri = f"s3://{session.default_bucket()}/{self.name}/source/sourcedir.tar.gz"
        with temporary_dir() as tmp:
            archive, inside = pack_source(
                self.entry_point, self.source_dir, self.dependencies, Path(tmp)
            )
            session.upload_file(archive, *uri[len("s3://") :].split("/", 1))
        return inside, uri

    def transformer(
        self,
        instance_count: int = 1,
        instance_type: str = "local",
        strategy: str | None = None,
        assemble_with: str | None = None,
        output_path: str | None = None,
        accept: str | None = None,
        max_concurrent_transforms: int | None = None,
        max_payload: int | None = None,
        tags: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Transformer:
        """A batch transformer of this model (registered first)."""
        from modelyard.sdk.transformer import Transformer

        return Transformer(
            self.create(), instance_count, instance_type, strategy=strategy,
            assemble_with=assemble_with, output_path=output_path, accept=accept,
            max_concurrent_transforms=max_concurrent_transforms, max_payload=max_payload,
            tags=tags, env=env, session=self._session(), **kwargs,
        )  # fmt: skip

    def deploy(
        self,
        initial_instance_count: int = 1,
        instance_type: str = "local",
        endpoint_name: str | None = None,
        serializer: BaseSerializer | None = None,
        deserializer: BaseDeserializer | None = None,
        wait: bool = True,
        update_endpoint: bool = False,
        deployment_config: dict[str, Any] | None = None,
        async_inference_config: AsyncInferenceConfig | None = None,
        data_capture_config: DataCaptureConfig | None = None,
        **_aws_only: Any,
    ) -> Predictor | AsyncPredictor:
        """Create the endpoint config and endpoint, wait until InService, return a Predictor.

        With `update_endpoint=True` and the name of a live endpoint, that endpoint is moved to
        this model instead, without dropping a request (`deployment_config`: SageMaker's
        DeploymentConfig, see `Session.update_endpoint`). With an `async_inference_config`
        the endpoint is asynchronous and an AsyncPredictor is returned; a
        `data_capture_config` captures a sample of its requests and answers (for Model
        Monitor)."""
        session = self._session()
        model_name = self.create()
        endpoint_name = endpoint_name or unique_name(model_name)
        config_name = unique_name(endpoint_name) if update_endpoint else endpoint_name
        session.client.post(
            "/api/v1/endpoint-configs",
            json={
                "name": config_name,
                "production_variants": [
                    {
                        "variant_name": "AllTraffic",
                        "model_name": model_name,
                        "initial_instance_count": initial_instance_count,
                        "instance_type": instance_type,
                    }
                ],
                "async_inference_config": async_inference_config
                and async_inference_config.to_request(
                    f"s3://{session.default_bucket()}/async-endpoint-outputs/{endpoint_name}"
                ),
                "data_capture_config": data_capture_config
                and data_capture_config.to_request(f"s3://{session.default_bucket()}/data-capture"),
            },
        )
        self.endpoint_name = endpoint_name
        if update_endpoint:
            session.update_endpoint(endpoint_name, config_name, deployment_config, wait=wait)
        else:
            session.client.post(
                "/api/v1/endpoints",
                json={"name": endpoint_name, "endpoint_config_name": config_name},
            )
            if wait:
                session.wait_for_endpoint(endpoint_name)
        predictor = Predictor(
            endpoint_name, session=session, serializer=serializer, deserializer=deserializer
        )
        return AsyncPredictor(predictor) if async_inference_config else predictor
