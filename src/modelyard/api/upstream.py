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


class UpstreamDropped(UpstreamClosed):
    """The proxy cut the connection (its instance was taken out of rotation): not to be
    retried on the same instance."""


class UpstreamTimeout(TimeoutError):
    """No whole answer arrived within the request's timeout; the connection is closed."""


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
        self._timer: asyncio.TimerHandle | None = None
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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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
    def request(self, head: bytes, body: bytes, timeout: float) -> asyncio.Future[Response]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        # A timer handle, not asyncio.wait_for: no task per request on the hot path.
        self._timer = loop.call_later(timeout, self._expire, timeout)
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)
        return self._waiter

    def _expire(self, timeout: float) -> None:
        self._timer = None
        self._fail(UpstreamTimeout(f"no answer within {timeout:g}s"))
        self.close()

    def _fail(self, exc: Exception) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self._fail(UpstreamDropped("the instance was taken out of rotation"))
        self.close()


class UpstreamPool:
    def __init__(self) -> None:
        self._idle: dict[Address, list[_Connection]] = defaultdict(list)
        self._busy: dict[Address, set[_Connection]] = defaultdict(set)

    async def post(
        self, address: Address, path: bytes, headers: bytes, body: bytes, timeout: float
    ) -> Response:
        """POST body to address; headers are ready-made 'Name: value\\r\\n' lines.

        A reused connection that the instance had already closed is retried once on a new
        one; any other failure raises UpstreamClosed, UpstreamTimeout or OSError for the
        caller to handle.
        """
        return await self.request(address, b"POST", path, headers, body, timeout)

    async def request(
        self,
        address: Address,
        method: bytes,
        path: bytes,
        headers: bytes,
        body: bytes,
        timeout: float,
    ) -> Response:
        head = (
            method
            + b" "
            + path
            + b" HTTP/1.1\r\nHost: "
            + address[0].encode()
            + b"\r\n"
            + headers
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        busy = self._busy[address]
        connection, reused = await self._acquire(address)
        busy.add(connection)
        try:
            response = await connection.request(head, body, timeout)
        except UpstreamClosed as exc:
            busy.discard(connection)
            if not reused or isinstance(exc, UpstreamDropped):
                raise
            connection, _ = await self._acquire(address, fresh=True)
            busy.add(connection)
            response = await connection.request(head, body, timeout)
        finally:
            busy.discard(connection)
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

    def drop(self, address: Address) -> None:
        """Close every connection to address, those waiting for an answer too: their callers
        get UpstreamClosed at once (and may retry elsewhere) instead of waiting on an
        instance that is stuck or gone."""
        for connection in [*self._idle.pop(address, ()), *self._busy.pop(address, ())]:
            connection.abort()

    def close(self) -> None:
        for address in [*self._idle, *self._busy]:
            self.drop(address)
