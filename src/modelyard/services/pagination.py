"""Opaque page tokens: callers pass back what they were given and never build one themselves."""

from __future__ import annotations

import base64

from modelyard.errors import InvalidRequest


def encode_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        kind, value = base64.urlsafe_b64decode(padded).decode().split(":", 1)
        if kind != "id":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(
            "next_token is not one this server handed out", {"field": "next_token"}
        ) from None
