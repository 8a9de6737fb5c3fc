"""Token checks for API routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from modelyard.errors import Unauthorized
from modelyard.services import auth

if TYPE_CHECKING:
    from modelyard.control_plane import Platform


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "missing API token: send 'Authorization: Bearer <token>' (the admin "
            "token is in the server's home, file 'token')"
        )
    return token.strip()


def platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def require_admin(request: Request) -> None:
    token = bearer_token(request)
    if not auth.tokens_equal(token, platform(request).admin_token):
        raise Unauthorized("invalid API token")
