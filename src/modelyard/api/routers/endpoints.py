from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from modelyard.api.auth import platform, require_admin
from modelyard.api.instances import ask_instances
from modelyard.schemas.common import Page
from modelyard.schemas.endpoints import (
    CreateEndpoint,
    EndpointDescription,
    ScalingPolicy,
    UpdateEndpoint,
    UpdateEndpointWeightsAndCapacities,
)

router = APIRouter(
    prefix="/api/v1/endpoints", tags=["endpoints"], dependencies=[Depends(require_admin)]
)


@router.post("", status_code=201)
def create_endpoint(body: CreateEndpoint, request: Request) -> EndpointDescription:
    return platform(request).endpoints.create(body)


@router.get("")
def list_endpoints(
    request: Request,
    status: str | None = None,
    name_contains: str | None = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_token: str | None = None,
) -> Page[EndpointDescription]:
    return platform(request).endpoints.list(status, name_contains, max_results, next_token)


@router.get("/{name}")
def describe_endpoint(name: str, request: Request) -> EndpointDescription:
    return platform(request).endpoints.describe(name)


@router.get("/{name}/loaded-models")
async def loaded_models(name: str, request: Request) -> dict[str, Any]:
    """A multi-model endpoint's instances and the models each has loaded now, least recently
    used first (a single-model endpoint has none to list)."""
    p = platform(request)
    await asyncio.to_thread(p.endpoints.describe, name)  # 404 for an unknown name
    answers = await ask_instances(p.routes, "/models", name)
    return {
        "instances": [
            {
                "instance": a.instance,
                "variant_name": a.variant,
                "models": json.loads(a.body)["models"],
            }
            for a in answers
        ]
    }


@router.put("/{name}")
def update_endpoint(name: str, body: UpdateEndpoint, request: Request) -> EndpointDescription:
    """SageMaker's UpdateEndpoint: move to another endpoint config (blue/green or rolling)."""
    return platform(request).endpoints.update(name, body)


@router.post("/{name}/weights-and-capacities")
def update_weights_and_capacities(
    name: str, body: UpdateEndpointWeightsAndCapacities, request: Request
) -> EndpointDescription:
    """SageMaker's UpdateEndpointWeightsAndCapacities."""
    return platform(request).endpoints.update_weights_and_capacities(name, body)


@router.put("/{name}/variants/{variant}/scaling-policy")
def put_scaling_policy(
    name: str, variant: str, body: ScalingPolicy, request: Request
) -> EndpointDescription:
    """Autoscale a variant (target tracking; a min_capacity of 0 scales it to zero)."""
    return platform(request).endpoints.put_scaling_policy(name, variant, body)


@router.delete("/{name}/variants/{variant}/scaling-policy")
def delete_scaling_policy(name: str, variant: str, request: Request) -> EndpointDescription:
    """Stop autoscaling a variant: it keeps the instance count it has."""
    return platform(request).endpoints.put_scaling_policy(name, variant, None)


@router.delete("/{name}", status_code=202)
def delete_endpoint(name: str, request: Request) -> EndpointDescription:
    return platform(request).endpoints.delete(name)
