"""Predictor: send data to a live endpoint and read its answer back."""

from __future__ import annotations

from typing import Any

import httpx

from modelyard.sdk.client import raise_for_error
from modelyard.sdk.deserializers import BaseDeserializer, JSONDeserializer
from modelyard.sdk.serializers import BaseSerializer, CSVSerializer
from modelyard.sdk.session import Session


class Predictor:
    """Like SageMaker's Predictor: `predict(data)` serializes, invokes, deserializes.

    Defaults suit the built-in algorithms: rows go out as CSV (NumPy arrays, DataFrames,
    lists, strings) and the answer comes back as JSON ({"predictions": [...]}).
    """

    def __init__(
        self,
        endpoint_name: str,
        sagemaker_session: Session | None = None,
        serializer: BaseSerializer | None = None,
        deserializer: BaseDeserializer | None = None,
        *,
        session: Session | None = None,
    ) -> None:
        self.endpoint_name = endpoint_name
        self.session = session or sagemaker_session or Session()
        self.serializer = serializer or CSVSerializer()
        self.deserializer = deserializer or JSONDeserializer()
        headers = {"Authorization": f"Bearer {self.session.token}"} if self.session.token else {}
        self._http = httpx.Client(base_url=self.session.url, headers=headers, timeout=60.0)

    def __repr__(self) -> str:
        return f"Predictor(endpoint_name={self.endpoint_name!r})"

    @property
    def url(self) -> str:
        return f"{self.session.url}/endpoints/{self.endpoint_name}/invocations"

    @property
    def content_type(self) -> str:
        return self.serializer.CONTENT_TYPE

    @property
    def accept(self) -> str:
        accept = self.deserializer.ACCEPT
        return accept if isinstance(accept, str) else ", ".join(accept)

    def predict(
        self,
        data: Any,
        initial_args: dict[str, str] | None = None,
        target_variant: str | None = None,
        target_model: str | None = None,
        inference_id: str | None = None,
    ) -> Any:
        """The endpoint's answer for `data`; `target_variant` sends it to that production
        variant instead of one drawn by weight; `target_model` names the model.tar.gz (under
        the prefix) a multi-model endpoint answers with."""
        body = self.serializer.serialize(data)
        headers = {"Content-Type": self.content_type, "Accept": self.accept}
        if target_variant is not None:
            headers["X-Amzn-SageMaker-Target-Variant"] = target_variant
        if target_model is not None:
            headers["X-Amzn-SageMaker-Target-Model"] = target_model
        if inference_id is not None:
            headers["X-Amzn-SageMaker-Inference-Id"] = inference_id
        for key, value in (initial_args or {}).items():
            if key == "ContentType":
                headers["Content-Type"] = value
            elif key == "Accept":
                headers["Accept"] = value
            elif key == "TargetVariant":
                headers["X-Amzn-SageMaker-Target-Variant"] = value
            elif key == "TargetModel":
                headers["X-Amzn-SageMaker-Target-Model"] = value
            elif key == "InferenceId":
                headers["X-Amzn-SageMaker-Inference-Id"] = value
        response = self._http.post(
            f"/endpoints/{self.endpoint_name}/invocations", content=body, headers=headers
        )
        raise_for_error(response)
        return self.deserializer.deserialize(
            response.content, response.headers.get("content-type", "")
        )

    def describe(self) -> dict[str, Any]:
        return self.session.describe_endpoint(self.endpoint_name)

    def update_endpoint(
        self,
        initial_instance_count: int | None = None,
        instance_type: str | None = None,
        model_name: str | None = None,
        deployment_config: dict[str, Any] | None = None,
        wait: bool = True,
        **_aws_only: Any,
    ) -> None:
        """As SageMaker's: a new endpoint config like the current one with these changes (every
        variant), served in place of it without dropping a request (see
        `Session.update_endpoint` for `deployment_config`)."""
        from modelyard.names import unique_name

        current = self.describe()
        config = self.session.client.get(
            f"/api/v1/endpoint-configs/{current['endpoint_config_name']}"
        )
        variants = []
        for variant in config["production_variants"]:
            changed = dict(variant)
            if initial_instance_count is not None:
                changed["initial_instance_count"] = initial_instance_count
            if instance_type is not None:
                changed["instance_type"] = instance_type
            if model_name is not None:
                changed["model_name"] = model_name
            variants.append(changed)
        name = unique_name(self.endpoint_name)
        self.session.client.post(
            "/api/v1/endpoint-configs", json={"name": name, "production_variants": variants}
        )
        self.session.update_endpoint(self.endpoint_name, name, deployment_config, wait=wait)

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        description = self.describe()
        self.session.delete_endpoint(self.endpoint_name)
        if delete_endpoint_config:
            self.session.wait_for_endpoint_deleted(self.endpoint_name)
            try:
                self.session.client.delete(
                    f"/api/v1/endpoint-configs/{description['endpoint_config_name']}"
                )
            except Exception:  # noqa: BLE001 - a shared config may still be in use elsewhere
                pass
        self._http.close()

    def delete_model(self) -> None:
        description = self.describe()
        config = self.session.client.get(
            f"/api/v1/endpoint-configs/{description['endpoint_config_name']}"
        )
        for variant in config["production_variants"]:
            self.session.client.delete(f"/api/v1/models/{variant['model_name']}")
