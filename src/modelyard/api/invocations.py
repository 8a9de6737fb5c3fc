"""POST /endpoints/{name}/invocations: SageMaker's runtime path, proxied to an instance.

This is the hot path, so it is a bare ASGI handler in front of the FastAPI app: no routing
tables, no dependency injection, no body parsing. The body is forwarded as received over a
pooled keep-alive connection to the next ready instance (round robin), and the instance's
answer is passed back with its status and content type.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from modelyard.api.upstream import UpstreamClosed, UpstreamPool
from modelyard.controllers.routing import RoutingTable
from modelyard.services import auth

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX = "/endpoints/"
SUFFIX = "/invocations"
MAX_BODY = 100 * 1024 * 1024
WARM_WAIT = 60.0


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    body = {"error": {"code": code, "message": message, "details": {}}}
    return status, json.dumps(body).encode()


class InvocationsProxy:
    def __init__(
        self, app: ASGIApp, routes: RoutingTable, admin_token: str, known: Callable[[str], bool]
    ) -> None:
        self.app = app
        self.routes = routes
        self.token = f"Bearer {admin_token}"
        self.known = known  # the database's word, for endpoints not in the routing table
        self.upstream = UpstreamPool()

    async def close(self) -> None:
        self.upstream.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX) or not path.endswith(SUFFIX):
            await self.app(scope, receive, send)
            return
        name = path[len(PREFIX) : -len(SUFFIX)]
        status, headers, body = await self._invoke(scope, receive, name)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _invoke(
        self, scope: Scope, receive: Receive, name: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        content_type = b"text/csv"
        accept = b""
        authorization = b""
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"accept":
                accept = value
            elif key == b"authorization":
                authorization = value
        if scope["method"] != "POST":
            return self._json(*_error(405, "MethodNotAllowed", "invocations take POST"))
        if not authorization:
            return self._json(
                *_error(
                    401, "Unauthorized", "missing API token: send 'Authorization: Bearer <token>'"
                )
            )
        if not auth.tokens_equal(authorization.decode("latin-1"), self.token):
            return self._json(*_error(401, "Unauthorized", "invalid API token"))
        body = await self._read_body(receive)
        if body is None:
            return self._json(
                *_error(413, "PayloadTooLarge", f"request body over {MAX_BODY} bytes")
            )
        headers = b"Content-Type: " + content_type + b"\r\n"
        if accept:
            headers += b"Accept: " + accept + b"\r\n"
        waited = 0.0
        while not self.routes.instances(name) and self.routes.warming(name) and waited < WARM_WAIT:
            # An InService endpoint whose instances are restarting (say, after a server
            # restart): hold the request briefly, as a load balancer would, instead of failing.
            await asyncio.sleep(0.05)
            waited += 0.05
        tried = 0
        instances = len(self.routes.instances(name)) or 1
        while tried < instances:
            address = self.routes.pick(name)
            if address is None:
                break
            tried += 1
            try:
                response = await self.upstream.post(address, b"/invocations", headers, body)
            except (UpstreamClosed, OSError):
                continue  # that instance just went away; the next one may answer
            return response.status, [(b"content-type", response.content_type)], response.body
        if self.known(name) or self.routes.knows(name):
            return self._json(
                *_error(
                    503, "ServiceUnavailable", f"endpoint {name!r} has no instance in service yet"
                )
            )
        return self._json(*_error(404, "NotFound", f"endpoint {name!r} does not exist"))

    @staticmethod
    def _json(status: int, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return status, [(b"content-type", b"application/json")], body

    @staticmethod
    async def _read_body(receive: Receive) -> bytes | None:
        chunks = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BODY:
                    return None
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
