from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from modelyard.api.auth import platform, require_admin
from modelyard.schemas.common import Page
from modelyard.schemas.endpoints import CreateModel, ModelDescription

router = APIRouter(prefix="/api/v1/models", tags=["models"], dependencies=[Depends(require_admin)])


@router.post("", status_code=201)
def create_model(body: CreateModel, request: Request) -> ModelDescription:
    return platform(request).models.create(body)


@router.get("")
def list_models(
    request: Request,
    name_contains: str | None = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_token: str | None = None,
) -> Page[ModelDescription]:
    return platform(request).models.list(name_contains, max_results, next_token)


@router.get("/{name}")
def describe_model(name: str, request: Request) -> ModelDescription:
    return platform(request).models.describe(name)


@router.delete("/{name}", status_code=204)
def delete_model(name: str, request: Request) -> Response:
    platform(request).models.delete(name)
    return Response(status_code=204)
