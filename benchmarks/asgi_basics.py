"""What the benchmarks' raw ASGI yardsticks (minimal_app.py, bare_proxy.py) share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


def invocations_app(handle: Callable[[dict[str, Any], bytes], Awaitable[Answer]]) -> App:
    """A raw ASGI app: GET /ping answers 200, anything else is handle(scope, body)."""

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/ping":
            await answer(send, 200, [], b"")
            return
        await answer(send, *await handle(scope, await read_body(receive)))

    return app
