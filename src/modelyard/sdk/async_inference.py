"""Asynchronous inference, as the SageMaker SDK's `sagemaker.async_inference` has it.

`model.deploy(..., async_inference_config=AsyncInferenceConfig(output_path=...))` returns an
`AsyncPredictor`: `predict_async(data)` uploads the request, queues it and returns an
`AsyncInferenceResponse` whose `get_result()` waits for the answer in the output path;
`predict(data)` does both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from modelyard.errors import ModelyardError, NotFound
from modelyard.names import unique_name
from modelyard.sdk.predictor import Predictor
from modelyard.storage.uri import parse_s3_uri


class AsyncInferenceModelError(ModelyardError):
    """The model failed the request; the message is what the failure location says."""


class ObjectNotReady(ModelyardError):
    """The answer is not in the output path yet (waiting gave up)."""


@dataclass
class AsyncInferenceConfig:
    output_path: str | None = (
        None  # default s3://<default bucket>/async-endpoint-outputs/<endpoint>
    )
    max_concurrent_invocations_per_instance: int | None = None
    failure_path: str | None = None
    notification_config: dict[str, Any] | None = None  # {"webhook_url": ...}
    kms_key_id: str | None = None  # accepted for SageMaker code; not used

    def to_request(self, default_output: str) -> dict[str, Any]:
        output: dict[str, Any] = {"s3_output_path": self.output_path or default_output}
        if self.failure_path:
            output["s3_failure_path"] = self.failure_path
        if self.notification_config:
            webhook = self.notification_config.get("webhook_url") or self.notification_config.get(
                "WebhookUrl"
            )
            output["notification_config"] = {"webhook_url": webhook}
        config: dict[str, Any] = {"output_config": output}
        if self.max_concurrent_invocations_per_instance:
            config["client_config"] = {
                "max_concurrent_invocations_per_instance": (
                    self.max_concurrent_invocations_per_instance
                )
            }
        return config


@dataclass
class WaiterConfig:
    max_attempts: int = 60
    delay: float = 15


class AsyncInferenceResponse:
    def __init__(
        self, predictor: AsyncPredictor, output_path: str, failure_path: str, inference_id: str
    ) -> None:
        self.predictor = predictor
        self.output_path = output_path
        self.failure_path = failure_path
        self.inference_id = inference_id
        self._result: Any = None
        self._done = False

    def get_result(self, waiter_config: WaiterConfig | None = None) -> Any:
        """The deserialized answer, waiting for it as `waiter_config` says (default: up to
        15 minutes); raises AsyncInferenceModelError with the model's failure."""
        if self._done:
            return self._result
        waiter = waiter_config or WaiterConfig()
        session = self.predictor.session
        for _ in range(max(1, waiter.max_attempts)):
            found = _read(session, self.output_path)
            if found is not None:
                body, content_type = found
                self._result = self.predictor.deserializer.deserialize(body, content_type)
                self._done = True
                return self._result
            failed = _read(session, self.failure_path)
            if failed is not None:
                raise AsyncInferenceModelError(failed[0].decode(errors="replace"))
            time.sleep(waiter.delay)
        raise ObjectNotReady(
            f"no answer at {self.output_path} after {waiter.max_attempts} tries {waiter.delay}s "
            "apart"
        )


def _read(session: Any, uri: str) -> tuple[bytes, str] | None:
    bucket, key = parse_s3_uri(uri)
    try:
        response = session.client.request("GET", session._object_path(bucket, key))
    except NotFound:
        return None
    return response.content, response.headers.get("content-type", "")


class AsyncPredictor:
    """Wraps a Predictor of an asynchronous endpoint (SageMaker's AsyncPredictor)."""

    def __init__(self, predictor: Predictor, name: str | None = None) -> None:
        self.predictor = predictor
        self.endpoint_name = predictor.endpoint_name
        self.session = predictor.session
        self.serializer = predictor.serializer
        self.deserializer = predictor.deserializer
        self.name = name

    def predict_async(
        self,
        data: Any = None,
        input_path: str | None = None,
        initial_args: dict[str, str] | None = None,
        inference_id: str | None = None,
    ) -> AsyncInferenceResponse:
        """Queue one request: `data` (serialized and uploaded) or an `input_path` already in
        the store; returns at once."""
        if (data is None) == (input_path is None):
            raise ModelyardError("give exactly one of data or input_path")
        if input_path is None:
            key = f"async-endpoint-inputs/{self.endpoint_name}/{unique_name('input')}"
            input_path = self.session.upload_string_as_file_body(
                self.serializer.serialize(data), self.session.default_bucket(), key
            )
        args = initial_args or {}
        headers = {
            "X-Amzn-SageMaker-InputLocation": input_path,
            "X-Amzn-SageMaker-Content-Type": args.get("ContentType", self.predictor.content_type),
            "X-Amzn-SageMaker-Accept": args.get("Accept", self.predictor.accept),
        }
        if inference_id:
            headers["X-Amzn-SageMaker-Inference-Id"] = inference_id
        for key, header in (
            ("RequestTTLSeconds", "X-Amzn-SageMaker-RequestTTLSeconds"),
            ("InvocationTimeoutSeconds", "X-Amzn-SageMaker-InvocationTimeoutSeconds"),
        ):
            if key in args:
                headers[header] = str(args[key])
        queued = self.session.client.request(
            "POST", f"/endpoints/{self.endpoint_name}/async-invocations", headers=headers
        ).json()
        return AsyncInferenceResponse(
            self, queued["output_location"], queued["failure_location"], queued["inference_id"]
        )

    def predict(
        self,
        data: Any = None,
        input_path: str | None = None,
        initial_args: dict[str, str] | None = None,
        inference_id: str | None = None,
        waiter_config: WaiterConfig | None = None,
    ) -> Any:
        """Queue a request and wait for its answer."""
        response = self.predict_async(data, input_path, initial_args, inference_id)
        return response.get_result(waiter_config or WaiterConfig(max_attempts=600, delay=0.5))

    def describe(self) -> dict[str, Any]:
        return self.predictor.describe()

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        self.predictor.delete_endpoint(delete_endpoint_config)
