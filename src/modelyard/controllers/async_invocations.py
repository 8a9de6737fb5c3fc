"""The asynchronous-invocation worker: sends queued requests as endpoints have room.

Each pass expires requests whose time to live is over, then claims the oldest queued requests
of each endpoint up to its capacity (ready instances × MaxConcurrentInvocationsPerInstance; one
for an endpoint at zero, which the request wakes) and sends each from a worker thread through
the server's own invocation path, so routing, health checks and scaling from zero apply. The
answer is written to the request's output location, a failure to its failure location; a
webhook, if configured, hears either. A request the endpoint cannot take yet (503, 429) goes
back to the queue. At start, requests a killed server left in progress are queued again.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select, update

from modelyard.controllers.loop import ControlLoop
from modelyard.controllers.routing import RoutingTable
from modelyard.services.async_invocations import async_config_of
from modelyard.storage.base import ObjectStore
from modelyard.storage.uri import parse_s3_uri
from modelyard.store import Database
from modelyard.store.models import AsyncInvocation, Endpoint

logger = logging.getLogger("modelyard.async")

WORKERS = 32
RETRY_LATER = (429, 503)


class AsyncInvocationController(ControlLoop):
    name = "async-invocations"
    interval = 0.5

    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        routes: RoutingTable,
        control_url: str,
        admin_token: str,
    ) -> None:
        super().__init__()
        self.db = db
        self.store = store
        self.routes = routes
        self.url = control_url
        self._headers = {"Authorization": f"Bearer {admin_token}"}
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="modelyard-async")
        self._running: dict[str, int] = {}  # endpoint -> requests this server has in flight
        self._http = httpx.Client(timeout=None)

    def start(self) -> None:
        with self.db.session() as session:  # what a killed server was sending: again
            session.execute(
                update(AsyncInvocation)
                .where(AsyncInvocation.status == "InProgress")
                .values(status="Queued")
            )
        self.start_loop()

    def stop(self) -> None:
        self.stop_loop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    # -- one pass ---------------------------------------------------------------------------
    def tick(self) -> None:
        now = datetime.now(UTC)
        claimed: list[dict[str, Any]] = []
        with self.db.session() as session:
            queued = session.scalars(
                select(AsyncInvocation)
                .where(AsyncInvocation.status == "Queued")
                .order_by(AsyncInvocation.id)
            ).all()
            configs: dict[str, Any] = {}
            for row in queued:
                if row.expires_at <= now:
                    row.status, row.ended_at = "Expired", now
                    row.failure_reason = "the request's RequestTTLSeconds passed before it was sent"
                    claimed.append(self._snapshot(row, None, expired=True))
                    continue
                if row.endpoint_name not in configs:
                    endpoint = session.scalar(
                        select(Endpoint).where(Endpoint.name == row.endpoint_name)
                    )
                    configs[row.endpoint_name] = endpoint and async_config_of(session, endpoint)
                config = configs[row.endpoint_name]
                if config is None:
                    row.status, row.ended_at = "Failed", now
                    row.failure_reason = f"endpoint {row.endpoint_name!r} no longer exists"
                    claimed.append(self._snapshot(row, None, expired=True))
                    continue
                per = config.client_config.max_concurrent_invocations_per_instance
                room = max(1, len(self.routes.instances(row.endpoint_name))) * per
                if self._running.get(row.endpoint_name, 0) >= room:
                    continue
                self._running[row.endpoint_name] = self._running.get(row.endpoint_name, 0) + 1
                row.status, row.started_at = "InProgress", now
                row.attempts += 1
                claimed.append(self._snapshot(row, config.model_dump()))
        for work in claimed:
            if work["expired"]:
                self._pool.submit(self._fail, work, work["failure_reason"])
            else:
                self._pool.submit(self._send, work)

    @staticmethod
    def _snapshot(row: AsyncInvocation, config: dict[str, Any] | None, expired: bool = False):  # type: ignore[no-untyped-def]
        return {
            "id": row.id,
            "endpoint": row.endpoint_name,
            "inference_id": row.inference_id,
            "input": row.input_location,
            "output": row.output_location,
            "failure": row.failure_location,
            "content_type": row.content_type,
            "accept": row.accept,
            "timeout": row.invocation_timeout_seconds,
            "failure_reason": row.failure_reason,
            "config": config,
            "expired": expired,
        }

    # -- one request, in a worker thread -----------------------------------------------------
    def _send(self, work: dict[str, Any]) -> None:
        try:
            bucket, key = parse_s3_uri(work["input"])
            body = self.store.get_bytes(bucket, key)
            headers = {**self._headers, "Content-Type": work["content_type"]}
            if work["accept"]:
                headers["Accept"] = work["accept"]
            try:
                response = self._http.post(
                    f"{self.url}/endpoints/{work['endpoint']}/invocations",
                    content=body,
                    headers=headers,
                    timeout=work["timeout"],
                )
            except httpx.TimeoutException:
                self._fail(work, f"the model did not answer within {work['timeout']}s")
                return
            except httpx.ConnectError:
                # This server's own invocation path: refused only while the server starts
                # (the worker begins before the socket is bound). Not the request's fault.
                self._set(work, status="Queued")
                return
            if response.status_code in RETRY_LATER:
                self._set(work, status="Queued")  # the endpoint has no room yet
            elif response.status_code == 200:
                out_bucket, out_key = parse_s3_uri(work["output"])
                self.store.put_bytes(
                    out_bucket, out_key, response.content, response.headers.get("content-type")
                )
                self._set(work, status="Completed", ended_at=datetime.now(UTC))
                self._notify(work, "Completed", None)
            else:
                self._fail(work, f"the model answered {response.status_code}: {_message(response)}")
        except Exception as exc:  # noqa: BLE001 - the request fails; the worker goes on
            logger.exception("asynchronous request %s failed", work["inference_id"])
            self._fail(work, f"{type(exc).__name__}: {exc}")
        finally:
            self._running[work["endpoint"]] = max(0, self._running.get(work["endpoint"], 1) - 1)
            self.wake()

    def _fail(self, work: dict[str, Any], reason: str) -> None:
        bucket, key = parse_s3_uri(work["failure"])
        error = {"inference_id": work["inference_id"], "failure_reason": reason}
        self.store.put_bytes(bucket, key, json.dumps(error).encode(), "application/json")
        if not work["expired"]:
            self._set(work, status="Failed", failure_reason=reason, ended_at=datetime.now(UTC))
        self._notify(work, "Expired" if work["expired"] else "Failed", reason)

    def _set(self, work: dict[str, Any], **values: Any) -> None:
        with self.db.session() as session:
            session.execute(
                update(AsyncInvocation).where(AsyncInvocation.id == work["id"]).values(**values)
            )

    def _notify(self, work: dict[str, Any], status: str, reason: str | None) -> None:
        config = work["config"] or self._config_of(work["endpoint"])
        notification = (config or {}).get("output_config", {}).get("notification_config") or {}
        url = notification.get("webhook_url")
        if not url:
            return
        payload = {
            "endpoint_name": work["endpoint"],
            "inference_id": work["inference_id"],
            "status": status,
            "output_location": work["output"] if status == "Completed" else None,
            "failure_location": None if status == "Completed" else work["failure"],
            "failure_reason": reason,
        }
        try:
            httpx.post(url, json=payload, timeout=10).raise_for_status()
        except httpx.HTTPError as exc:
            logger.warning("webhook %s for request %s failed: %s", url, work["inference_id"], exc)

    def _config_of(self, endpoint_name: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            endpoint = session.scalar(select(Endpoint).where(Endpoint.name == endpoint_name))
            config = endpoint and async_config_of(session, endpoint)
            return config.model_dump() if config else None


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500]
