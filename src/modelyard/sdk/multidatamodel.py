"""MultiDataModel: one endpoint serving every model.tar.gz under an object-store prefix, as
SageMaker's multi-model endpoints do.

    mme = MultiDataModel("churn-models", "s3://bucket/churn/", algorithm="xgboost")
    mme.add_model(estimator.model_data, "eu.tar.gz")
    predictor = mme.deploy()
    predictor.predict(rows, target_model="eu.tar.gz")

Each model is loaded on its first request and evicted least recently used when the instance
runs short of memory (or holds `multi_model_config["max_loaded_models"]`). Models added under
the prefix while the endpoint runs are served without redeploying.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidRequest
from modelyard.sdk.model import Model
from modelyard.sdk.session import Session
from modelyard.sdk.source import temporary_dir
from modelyard.storage.uri import join_s3_uri, parse_s3_uri


class MultiDataModel(Model):
    def __init__(
        self,
        name: str,
        model_data_prefix: str,
        model: Model | None = None,
        sagemaker_session: Session | None = None,
        *,
        algorithm: str | None = None,
        framework: str | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
        environment: dict[str, str] | None = None,
        multi_model_config: dict[str, Any] | None = None,
        session: Session | None = None,
        **_aws_only: Any,
    ) -> None:
        if not model_data_prefix.startswith("s3://"):
            raise InvalidRequest(
                f"model_data_prefix {model_data_prefix!r} must be an s3:// prefix",
                {"field": "model_data_prefix"},
            )
        prefix = model_data_prefix if model_data_prefix.endswith("/") else model_data_prefix + "/"
        if model is not None:  # SageMaker's way: serve the models as this one is served
            algorithm = algorithm or model.algorithm
            framework = framework or (None if model.algorithm else model.framework)
            entry_point = entry_point or model.entry_point
            source_dir = source_dir or model.source_dir
            environment = environment or model.environment
            session = session or sagemaker_session or model.session
        super().__init__(
            prefix,
            algorithm,
            name,
            environment,
            session=session or sagemaker_session,
            entry_point=entry_point,
            source_dir=source_dir,
            framework=framework,
        )
        self.model_data_prefix = prefix
        self.mode = "MultiModel"
        self.multi_model_config = multi_model_config

    def add_model(self, model_data_source: str, model_data_path: str | None = None) -> str:
        """Put a model.tar.gz (an s3:// URI or a local file) under the prefix, at
        `model_data_path` (default: its file name); returns its s3:// URI. A running endpoint
        serves it from its next request naming it."""
        session = self._session()
        source_name = model_data_source.rstrip("/").rsplit("/", 1)[-1]
        relative = (model_data_path or source_name).lstrip("/")
        bucket, prefix = parse_s3_uri(self.model_data_prefix)
        key = prefix + relative
        if model_data_source.startswith("s3://"):
            with temporary_dir() as tmp:
                local = session.download_file(
                    *parse_s3_uri(model_data_source), Path(tmp) / "model.tar.gz"
                )
                session.upload_file(local, bucket, key)
        else:
            session.upload_file(model_data_source, bucket, key)
        return join_s3_uri(bucket, key)

    def list_models(self) -> Iterator[str]:
        """The models under the prefix, as TargetModel names them (relative to it)."""
        bucket, prefix = parse_s3_uri(self.model_data_prefix)
        for key in self._session().list_s3_files(bucket, prefix):
            yield key[len(prefix) :]
