"""Resource names: SageMaker's rule, one checker, one message (shared by server and SDK)."""

from __future__ import annotations

import re
import secrets
import time

from modelyard.errors import InvalidRequest

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
MAX_NAME_LENGTH = 63


def validate_name(name: str, kind: str = "name") -> str:
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{kind} is required", {"field": kind})
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
        raise InvalidRequest(
            f"invalid {kind} {name!r}: use letters, digits and hyphens, start and end with a "
            f"letter or digit, at most {MAX_NAME_LENGTH} characters",
            {"field": kind, "value": name, "pattern": NAME_PATTERN.pattern},
        )
    return name


def unique_name(base: str) -> str:
    """base-YYYY-MM-DD-HH-MM-SS-mmm, as the SageMaker SDK names jobs, cut to fit 63 chars."""
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())
    millis = f"{int(time.time() * 1000) % 1000:03d}"
    suffix = f"-{stamp}-{millis}"
    base = re.sub(r"[^a-zA-Z0-9-]", "-", base).strip("-") or "job"
    name = base[: MAX_NAME_LENGTH - len(suffix)].rstrip("-") + suffix
    return name


def random_suffix() -> str:
    return secrets.token_hex(3)
