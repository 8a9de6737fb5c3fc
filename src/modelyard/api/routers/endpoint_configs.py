from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from modelyard.api.auth import platform, require_admin
from modelyard.schemas.common import Page
from modelyard.schemas.endpoints import CreateEndpointConfig, EndpointConfigDescription

router = APIRouter(
    prefix="/api/v1/endpoint-configs",
    tags=["endpoint configs"],
    dependencies=[Depends(require_admin)],
)


@router.post("", status_code=201)
def create_endpoint_config(
    body: CreateEndpointConfig, request: Request
) -> EndpointConfigDescription:
    return platform(request).endpoint_configs.create(body)


@router.get("")
def list_endpoint_configs(
    request: Request,
    name_contains: str | None = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_token: str | None = None,
) -> Page[EndpointConfigDescription]:
    return platform(request).endpoint_configs.list(name_contains, max_results, next_token)


@router.get("/{name}")
def describe_endpoint_config(name: str, request: Request) -> EndpointConfigDescription:
    return platform(request).endpoint_configs.describe(name)


@router.delete("/{name}", status_code=204)
def delete_endpoint_config(name: str, request: Request) -> Response:
    platform(request).endpoint_configs.delete(name)
    return Response(status_code=204)
