"""Asynchronous invocations (SageMaker's InvokeEndpointAsync): the queue and its rules.

A request names an input object; it is queued in the metadata store (so it outlives a restart
of the server, even kill -9) and answered later by `controllers/async_invocations.py`, which
writes the answer to `<S3OutputPath>/<inference id>.out` or the failure to
`<S3FailurePath>/<inference id>-error.out`. A request still queued after its RequestTTLSeconds
expires, and fails so.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from modelyard.errors import Conflict, InvalidRequest, NotFound
from modelyard.schemas.endpoints import AsyncInferenceConfig, AsyncInvocationDescription
from modelyard.storage.base import ObjectStore
from modelyard.storage.uri import join_s3_uri, parse_s3_uri
from modelyard.store import Database
from modelyard.store.models import AsyncInvocation, Endpoint, EndpointConfig

DEFAULT_TTL_SECONDS = 6 * 3600  # SageMaker's defaults
MAX_TTL_SECONDS = 6 * 3600
DEFAULT_TIMEOUT_SECONDS = 900
MAX_TIMEOUT_SECONDS = 3600
PENDING = ("Queued", "InProgress")


def async_config_of(session: object, endpoint: Endpoint) -> AsyncInferenceConfig | None:
    config = session.scalar(  # type: ignore[attr-defined]
        select(EndpointConfig).where(EndpointConfig.name == endpoint.endpoint_config_name)
    )
    raw = config.async_inference_config if config is not None else None
    return AsyncInferenceConfig.model_validate(raw) if raw else None


def to_description(row: AsyncInvocation) -> AsyncInvocationDescription:
    return AsyncInvocationDescription(
        endpoint_name=row.endpoint_name,
        inference_id=row.inference_id,
        status=row.status,  # type: ignore[arg-type]
        input_location=row.input_location,
        output_location=row.output_location,
        failure_location=row.failure_location,
        failure_reason=row.failure_reason,
        attempts=row.attempts,
        created_at=row.created_at,
        expires_at=row.expires_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


def _bounded(value: str | None, name: str, default: int, most: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= most:
        raise InvalidRequest(
            f"{name} must be a whole number of seconds from 1 to {most}; got {value!r}",
            {"header": name},
        )
    return number


class AsyncInvocations:
    def __init__(
        self, db: Database, store: ObjectStore, wake: Callable[[], None] = lambda: None
    ) -> None:
        self.db = db
        self.store = store
        self.wake = wake

    def submit(
        self,
        endpoint_name: str,
        input_location: str | None,
        content_type: str | None = None,
        accept: str | None = None,
        inference_id: str | None = None,
        ttl_seconds: str | None = None,
        timeout_seconds: str | None = None,
    ) -> AsyncInvocationDescription:
        with self.db.session() as session:
            self._async_endpoint(session, endpoint_name)  # the first thing worth saying
        if not input_location:
            raise InvalidRequest(
                "an asynchronous invocation names its input: send the header "
                "X-Amzn-SageMaker-InputLocation: s3://bucket/key",
                {"header": "X-Amzn-SageMaker-InputLocation"},
            )
        bucket, key = parse_s3_uri(input_location)
        if not key or not self.store.bucket_exists(bucket):
            raise InvalidRequest(
                f"input {input_location!r} is not an object in the store",
                {"header": "X-Amzn-SageMaker-InputLocation"},
            )
        try:
            self.store.head_object(bucket, key)
        except NotFound:
            raise InvalidRequest(
                f"input {input_location!r} does not exist; upload it first",
                {"header": "X-Amzn-SageMaker-InputLocation"},
            ) from None
        ttl = _bounded(
            ttl_seconds, "X-Amzn-SageMaker-RequestTTLSeconds", DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS
        )
        timeout = _bounded(
            timeout_seconds,
            "X-Amzn-SageMaker-InvocationTimeoutSeconds",
            DEFAULT_TIMEOUT_SECONDS,
            MAX_TIMEOUT_SECONDS,
        )
        inference_id = inference_id or uuid.uuid4().hex
        if len(inference_id) > 64:
            raise InvalidRequest(
                "X-Amzn-SageMaker-Inference-Id is at most 64 characters",
                {"header": "X-Amzn-SageMaker-Inference-Id"},
            )
        with self.db.session() as session:
            config = self._async_endpoint(session, endpoint_name)
            taken = session.scalar(
                select(AsyncInvocation.id).where(
                    AsyncInvocation.endpoint_name == endpoint_name,
                    AsyncInvocation.inference_id == inference_id,
                )
            )
            if taken is not None:
                raise Conflict(
                    f"endpoint {endpoint_name!r} already has a request {inference_id!r}",
                    {"inference_id": inference_id},
                )
            output = config.output_config
            out_bucket, out_prefix = parse_s3_uri(output.s3_output_path)
            fail_bucket, fail_prefix = parse_s3_uri(output.s3_failure_path or output.s3_output_path)
            now = datetime.now(UTC)
            row = AsyncInvocation(
                endpoint_name=endpoint_name,
                inference_id=inference_id,
                status="Queued",
                input_location=input_location,
                output_location=join_s3_uri(out_bucket, _under(out_prefix, f"{inference_id}.out")),
                failure_location=join_s3_uri(
                    fail_bucket, _under(fail_prefix, f"{inference_id}-error.out")
                ),
                content_type=content_type or "application/octet-stream",
                accept=accept,
                invocation_timeout_seconds=timeout,
                attempts=0,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl),
            )
            session.add(row)
            session.flush()
            description = to_description(row)
        self.wake()
        return description

    @staticmethod
    def _async_endpoint(session: Any, endpoint_name: str) -> AsyncInferenceConfig:
        endpoint = session.scalar(select(Endpoint).where(Endpoint.name == endpoint_name))
        if endpoint is None:
            raise NotFound(f"endpoint {endpoint_name!r} does not exist", {"name": endpoint_name})
        config = async_config_of(session, endpoint)
        if config is None:
            raise InvalidRequest(
                f"endpoint {endpoint_name!r} is not asynchronous: its config "
                f"{endpoint.endpoint_config_name!r} has no async_inference_config",
                {"name": endpoint_name},
            )
        return config

    def describe(self, endpoint_name: str, inference_id: str) -> AsyncInvocationDescription:
        with self.db.session() as session:
            row = session.scalar(
                select(AsyncInvocation).where(
                    AsyncInvocation.endpoint_name == endpoint_name,
                    AsyncInvocation.inference_id == inference_id,
                )
            )
            if row is None:
                raise NotFound(
                    f"endpoint {endpoint_name!r} has no asynchronous request {inference_id!r}",
                    {"inference_id": inference_id},
                )
            return to_description(row)

    def backlog(self) -> dict[str, int]:
        """Requests queued or in progress, by endpoint."""
        with self.db.session() as session:
            rows = session.execute(
                select(AsyncInvocation.endpoint_name, func.count())
                .where(AsyncInvocation.status.in_(PENDING))
                .group_by(AsyncInvocation.endpoint_name)
            )
            return {name: int(count) for name, count in rows}


def _under(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}" if prefix.strip("/") else name
