"""POST /endpoints/{name}/invocations: SageMaker's runtime path, proxied to an instance.

This is the hot path, so it is a bare ASGI handler in front of the FastAPI app: no routing
tables, no dependency injection, no body parsing. The body is forwarded as received over a
pooled keep-alive connection to the instance the routing table picks (a variant by weight or
by the request's TargetVariant header, then its least busy healthy instance), and the answer
goes back with its status, content type, length and the variant that served it.

The proxy also checks its instances' health: each is pinged every HEALTH_INTERVAL seconds, and
one that does not answer within HEALTH_TIMEOUT (stuck, or gone) is taken out of rotation at
once; the requests it holds are cut and retried on another instance.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from random import random
from time import monotonic, time
from typing import Any

from modelyard.api.upstream import Response, UpstreamClosed, UpstreamPool, UpstreamTimeout
from modelyard.controllers.routing import Instance, RoutingTable
from modelyard.controllers.shadows import ShadowStats, compare
from modelyard.services import auth
from modelyard.services.capture import CaptureWriter, Exchange

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX = "/endpoints/"
SUFFIX = "/invocations"
MAX_BODY = 100 * 1024 * 1024
WARM_WAIT = 120.0  # covers a model server's start from zero
HEALTH_INTERVAL = 1.0
HEALTH_TIMEOUT = 2.0
TARGET_VARIANT_HEADERS = (b"x-amzn-sagemaker-target-variant", b"x-modelyard-target-variant")
INVOKED_VARIANT = b"x-amzn-invoked-production-variant"
INFERENCE_ID = b"x-amzn-sagemaker-inference-id"
TARGET_MODEL_HEADERS = (b"x-amzn-sagemaker-target-model", b"x-modelyard-target-model")

# (content type, body, inference id, DataCaptureConfig or None): what a copy needs to know.
Exchange_ = tuple[bytes, bytes, str | None, dict[str, Any] | None]


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    body = {"error": {"code": code, "message": message, "details": {}}}
    return status, json.dumps(body).encode()


class InvocationsProxy:
    def __init__(
        self,
        app: ASGIApp,
        routes: RoutingTable,
        admin_token: str,
        known: Callable[[str], bool],
        timeout: float = 60.0,
        on_answer: Callable[[str, str, int, float], None] = lambda *_: None,
        capture: CaptureWriter | None = None,
    ) -> None:
        self.app = app
        self.capture = capture  # where sampled exchanges go (DataCaptureConfig)
        self._shadowing: set[asyncio.Task[None]] = set()  # copies in flight to shadows
        self.on_answer = on_answer  # (endpoint, variant, status, seconds): for /metrics
        self.timeout = timeout  # SageMaker's 60 s by default: a slower model gets a 504
        self.routes = routes
        self.token = f"Bearer {admin_token}"
        self.known = known  # the database's word, for endpoints not in the routing table
        self.upstream = UpstreamPool()
        self._health: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start checking instances' health (call from the server's event loop)."""
        self._health = asyncio.get_running_loop().create_task(self._check_health())

    async def close(self) -> None:
        if self._health is not None:
            self._health.cancel()
        self.upstream.close()

    async def _check_health(self) -> None:
        while True:
            instances = self.routes.all_instances()
            if instances:
                await asyncio.gather(*(self._ping(i) for i in instances))
            await asyncio.sleep(HEALTH_INTERVAL)

    async def _ping(self, instance: Instance) -> None:
        try:
            response = await self.upstream.request(
                instance.address, b"GET", b"/ping", b"", b"", HEALTH_TIMEOUT
            )
            healthy = response.status == 200
        except (UpstreamClosed, UpstreamTimeout, OSError):
            healthy = False
        if not healthy and instance.healthy:
            self._take_out(instance)
        elif healthy:
            instance.healthy = True

    def _take_out(self, instance: Instance) -> None:
        instance.healthy = False
        self.upstream.drop(instance.address)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX) or not path.endswith(SUFFIX):
            await self.app(scope, receive, send)
            return
        name = path[len(PREFIX) : -len(SUFFIX)]
        started = monotonic()
        status, headers, body = await self._invoke(scope, receive, name)
        variant = headers[-1][1].decode() if headers[-1][0] == INVOKED_VARIANT else ""
        # Names nobody deployed are not worth a series each.
        self.on_answer(name if status != 404 else "", variant, status, monotonic() - started)
        # Content-Length, so the client is not sent a chunked answer.
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _invoke(
        self, scope: Scope, receive: Receive, name: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        content_type = b"text/csv"
        accept = b""
        authorization = b""
        target: str | None = None
        target_model = b""
        inference_id: str | None = None
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"accept":
                accept = value
            elif key == b"authorization":
                authorization = value
            elif key in TARGET_VARIANT_HEADERS:
                target = value.decode("latin-1")
            elif key == INFERENCE_ID:
                inference_id = value.decode("latin-1")
            elif key in TARGET_MODEL_HEADERS:
                target_model = value
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
        if target_model:  # a multi-model endpoint's TargetModel, for the model server
            headers += b"X-Amzn-SageMaker-Target-Model: " + target_model + b"\r\n"
        waited = 0.0
        while not self.routes.instances(name) and self.routes.warming(name) and waited < WARM_WAIT:
            # An InService endpoint with no instance ready: scaled to zero (this request asks
            # for one) or restarting after a server restart. Hold the request, as a load
            # balancer would, instead of failing it.
            self.routes.demand(name)
            await asyncio.sleep(0.02)
            waited += 0.02
        if target is not None and target not in self.routes.variants(name):
            if self.routes.knows(name) or await asyncio.to_thread(self.known, name):
                return self._json(
                    *_error(
                        400,
                        "ValidationError",
                        f"endpoint {name!r} has no variant {target!r}; its variants: "
                        f"{', '.join(self.routes.variants(name)) or '(none in service)'}",
                    )
                )
        tried: list[Instance] = []
        model = target_model.decode("latin-1") if target_model else None
        while (instance := self.routes.pick(name, target, tried, model)) is not None:
            if self.routes.full(instance):
                pool = instance.pool
                limit = (
                    f"its variant {instance.variant!r} has its MaxConcurrency of "
                    f"{pool.max_concurrency} requests in flight"
                    if pool and pool.max_concurrency and pool.in_flight() >= pool.max_concurrency
                    else f"it has {instance.outstanding} requests in flight on each instance"
                )
                return self._json(
                    *_error(
                        429,
                        "ThrottlingException",
                        f"endpoint {name!r} is at capacity: {limit}; retry shortly",
                    ),
                    [(b"retry-after", b"1")],
                )
            tried.append(instance)
            instance.outstanding += 1
            started = monotonic()
            try:
                response = await self.upstream.post(
                    instance.address, b"/invocations", headers, body, self.timeout
                )
            except UpstreamTimeout:
                instance.traffic.record(504, monotonic() - started)
                return self._json(
                    *_error(
                        504,
                        "ModelTimeout",
                        f"the model of endpoint {name!r} did not answer within "
                        f"{self.timeout:g}s (the server's invocation_timeout_seconds)",
                    )
                )
            except (UpstreamClosed, OSError):
                if instance.healthy:
                    self._take_out(instance)  # refused or cut: gone, until a ping says not
                continue  # the next instance may answer; this one is never tried again
            finally:
                instance.outstanding -= 1
            seconds = monotonic() - started
            instance.traffic.record(response.status, seconds)
            capture = self.routes.capture(name)
            if capture is not None and random() * 100 >= capture["initial_sampling_percentage"]:
                capture = None
            exchange = (content_type, body, inference_id, capture)
            if capture is not None:
                self._capture(name, instance.variant, exchange, response)
            for shadow in self.routes.shadows(name):
                if random() * 100 < shadow.shadow:
                    task = asyncio.get_running_loop().create_task(
                        self._shadow(name, shadow, headers, exchange, response, seconds)
                    )
                    self._shadowing.add(task)
                    task.add_done_callback(self._shadowing.discard)
            return (
                response.status,
                [
                    (b"content-type", response.content_type),
                    (INVOKED_VARIANT, instance.variant.encode()),
                ],
                response.body,
            )
        if self.routes.knows(name) or await asyncio.to_thread(self.known, name):
            return self._json(
                *_error(
                    503, "ServiceUnavailable", f"endpoint {name!r} has no instance in service now"
                )
            )
        return self._json(*_error(404, "NotFound", f"endpoint {name!r} does not exist"))

    def _capture(
        self, endpoint: str, variant: str, exchange: Exchange_, response: Response
    ) -> None:
        content_type, body, inference_id, capture = exchange
        self.capture.record(
            Exchange(
                endpoint,
                variant,
                capture,  # type: ignore[arg-type]
                time(),
                inference_id,
                content_type.decode("latin-1"),
                body,
                response.content_type.decode("latin-1"),
                response.body,
            )
        )

    async def _shadow(
        self,
        endpoint: str,
        shadow: Any,
        headers: bytes,
        exchange: Exchange_,
        production: Response,
        production_seconds: float,
    ) -> None:
        """Send a copy to a shadow variant; compare and record its answer, return nothing."""
        stats = self.routes.shadow_stats.setdefault((endpoint, shadow.name), ShadowStats())
        instance = shadow.least_loaded()
        if instance is None:
            stats.failed()
            return
        instance.outstanding += 1
        started = monotonic()
        try:
            response = await self.upstream.post(
                instance.address, b"/invocations", headers, exchange[1], self.timeout
            )
        except (UpstreamClosed, UpstreamTimeout, OSError):
            stats.failed()
            return
        finally:
            instance.outstanding -= 1
        seconds = monotonic() - started
        instance.traffic.record(response.status, seconds)
        if response.status != 200:
            stats.failed()
        else:
            agreed, difference = compare(production.body, response.body)
            stats.answered(agreed, difference, seconds - production_seconds)
        if exchange[3] is not None:
            self._capture(endpoint, shadow.name, exchange, response)

    @staticmethod
    def _json(
        status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return status, [(b"content-type", b"application/json"), *(extra or ())], body

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
