"""Keep-alive HTTP/1.1 connections from the invocation proxy to model-server instances.

The proxy forwards one small request per prediction, so the client's per-request cost decides
its throughput. General-purpose async clients (aiohttp, httpx) spend most of a request in
their own Python machinery; this pool writes the request in one buffer and lets httptools (the
C parser uvicorn already uses) read the answer, which costs a fraction of that. It speaks only
what model servers answer: HTTP/1.1 with Content-Length or chunked bodies.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httptools

Address = tuple[str, int]
MAX_IDLE_PER_INSTANCE = 256


class UpstreamClosed(ConnectionError):
    """The connection closed before a whole answer arrived."""


class Response:
    __slots__ = ("status", "content_type", "body", "keep_alive")

    def __init__(self, status: int, content_type: bytes, body: bytes, keep_alive: bool) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self.keep_alive = keep_alive


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self._content_type = b"application/octet-stream"
        self._body: list[bytes] = []

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamClosed(f"malformed answer from the instance: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(UpstreamClosed("the instance closed the connection"))

    # -- httptools callbacks --------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self._content_type = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        response = Response(
            self._parser.get_status_code(),
            self._content_type,
            body,
            self._parser.should_keep_alive(),
        )
        self._body = []
        self._content_type = b"application/octet-stream"
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    # -- use ------------------------------------------------------------------------------
    def request(self, head: bytes, body: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)
        return self._waiter

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    def __init__(self) -> None:
        self._idle: dict[Address, list[_Connection]] = defaultdict(list)

    async def post(self, address: Address, path: bytes, headers: bytes, body: bytes) -> Response:
        """POST body to address; headers are ready-made 'Name: value\\r\\n' lines.

        A reused connection that the instance had already closed is retried once on a new
        one; any other failure raises UpstreamClosed or OSError for the caller to handle.
        """
        head = (
            b"POST "
            + path
            + b" HTTP/1.1\r\nHost: "
            + address[0].encode()
            + b"\r\n"
            + headers
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        connection, reused = await self._acquire(address)
        try:
            response = await connection.request(head, body)
        except UpstreamClosed:
            if not reused:
                raise
            connection, _ = await self._acquire(address, fresh=True)
            response = await connection.request(head, body)
        if response.keep_alive and not connection.closed:
            idle = self._idle[address]
            if len(idle) < MAX_IDLE_PER_INSTANCE:
                idle.append(connection)
                return response
        connection.close()
        return response

    async def _acquire(self, address: Address, fresh: bool = False) -> tuple[_Connection, bool]:
        idle = self._idle[address]
        while idle and not fresh:
            connection = idle.pop()
            if not connection.closed:
                return connection, True
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, address[0], address[1])
        return connection, False

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
