"""How shadow variants' answers compare with production's.

For each copy a shadow answers, the two answers are compared: identical (as JSON when both
parse, else as bytes), and, when both hold the same count of numbers, their mean absolute
difference; the shadow's latency minus production's is kept too. The counts live in memory
(since the server started) and show in the endpoint's description.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace").strip()
        try:  # CSV answers: numbers separated by commas and lines
            return [float(x) for line in text.splitlines() for x in line.split(",") if x.strip()]
        except ValueError:
            return None


def compare(production: bytes, shadow: bytes) -> tuple[bool, float | None]:
    """(identical, mean absolute difference of their numbers or None)."""
    if production == shadow:
        return True, 0.0
    a, b = _parse(production), _parse(shadow)
    same = a is not None and a == b
    left, right = _numbers(a), _numbers(b)
    if left and len(left) == len(right):
        return same, sum(abs(x - y) for x, y in zip(left, right, strict=True)) / len(left)
    return same, None


@dataclass
class ShadowStats:
    requests: int = 0
    errors: int = 0
    agreed: int = 0
    compared: int = 0  # answers with comparable numbers
    difference: float = 0.0
    latency_difference: float = 0.0  # seconds, summed over answered copies

    def answered(self, agreed: bool, difference: float | None, latency_difference: float) -> None:
        self.requests += 1
        self.agreed += agreed
        if difference is not None:
            self.compared += 1
            self.difference += difference
        self.latency_difference += latency_difference

    def failed(self) -> None:
        self.requests += 1
        self.errors += 1

    def summary(self) -> dict[str, Any]:
        answered = self.requests - self.errors
        return {
            "requests": self.requests,
            "errors": self.errors,
            "agreement": round(self.agreed / answered, 4) if answered else None,
            "mean_absolute_difference": self.difference / self.compared if self.compared else None,
            "mean_latency_difference_ms": round(self.latency_difference / answered * 1000, 3)
            if answered
            else None,
        }
