"""SageMaker's InvokeEndpointAsync, and what became of each request."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from modelyard.api.auth import platform, require_admin
from modelyard.schemas.endpoints import AsyncInvocationDescription

router = APIRouter(tags=["endpoints"], dependencies=[Depends(require_admin)])


@router.post("/endpoints/{name}/async-invocations", status_code=202)
def invoke_endpoint_async(
    name: str, request: Request, response: Response
) -> AsyncInvocationDescription:
    """Queue a request whose body is the object X-Amzn-SageMaker-InputLocation names; the
    answer goes to the endpoint's S3OutputPath as <inference id>.out."""
    headers = request.headers
    queued = platform(request).async_invocations.submit(
        name,
        headers.get("x-amzn-sagemaker-inputlocation"),
        content_type=headers.get("x-amzn-sagemaker-content-type"),
        accept=headers.get("x-amzn-sagemaker-accept"),
        inference_id=headers.get("x-amzn-sagemaker-inference-id"),
        ttl_seconds=headers.get("x-amzn-sagemaker-requestttlseconds"),
        timeout_seconds=headers.get("x-amzn-sagemaker-invocationtimeoutseconds"),
    )
    response.headers["X-Amzn-SageMaker-OutputLocation"] = queued.output_location
    response.headers["X-Amzn-SageMaker-FailureLocation"] = queued.failure_location
    return queued


@router.get("/api/v1/endpoints/{name}/async-invocations/{inference_id}")
def describe_async_invocation(
    name: str, inference_id: str, request: Request
) -> AsyncInvocationDescription:
    return platform(request).async_invocations.describe(name, inference_id)
