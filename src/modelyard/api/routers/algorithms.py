from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from modelyard.algorithms.registry import get_algorithm, list_algorithms
from modelyard.api.auth import require_admin

router = APIRouter(
    prefix="/api/v1/algorithms", tags=["algorithms"], dependencies=[Depends(require_admin)]
)


@router.get("")
def list_builtin_algorithms() -> list[dict[str, Any]]:
    return [a.describe() for a in list_algorithms()]


@router.get("/{name}")
def describe_algorithm(name: str) -> dict[str, Any]:
    return get_algorithm(name).describe()
