"""The endpoint reconciler: keeps one model-server process per desired instance, ready or not.

Each tick it compares the endpoints in the database with the processes it knows: it adds or
removes instances to each variant's desired count, starts missing instances, pings starting
ones until they answer, restarts crashed ones, fails an endpoint whose instances cannot start,
and tears down deleted endpoints. The routing table the invocation path reads is rebuilt from
what is ready, with each variant's weight. (Health after InService is the proxy's to check: it
sees a stuck instance first.)
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from modelyard.compute.executor import Executor, Handle, Launch
from modelyard.controllers.loop import ControlLoop
from modelyard.controllers.routing import RoutingTable, VariantRoute
from modelyard.runtime.layout import log_tail
from modelyard.settings import Settings
from modelyard.store import Database
from modelyard.store.models import Endpoint, EndpointConfig, EndpointInstance, Model

logger = logging.getLogger("modelyard.endpoints")

START_TIMEOUT_SECONDS = 180.0
MAX_START_FAILURES = 3
LOG_FILE = "server.log"


def serving_args(model: Model) -> list[str]:
    """How the model server serves this model: a built-in algorithm or the user's code."""
    if model.algorithm:
        return ["--algorithm", model.algorithm]
    args = ["--framework", model.framework or "python"]
    if model.entry_point:
        args += ["--entry-point", model.entry_point]
    if model.source_dir:
        args += ["--source-dir", model.source_dir]
    return args


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def handle_of(instance: EndpointInstance) -> Handle:
    return Handle(instance.pid or 0, instance.pid_started_at or 0.0)


class EndpointController(ControlLoop):
    name = "endpoint-controller"

    def __init__(
        self,
        db: Database,
        settings: Settings,
        storage_url: str,
        routes: RoutingTable,
        executor: Callable[[Callable[[], None]], Executor],
    ) -> None:
        super().__init__()
        self.executor = executor(self.wake)
        self.db = db
        self.settings = settings
        self.storage_url = storage_url
        self.routes = routes
        self.dir = settings.resolved_home / "endpoints"
        self._launched_at: dict[int, float] = {}
        self._settling = True
        self._http = httpx.Client(timeout=1.0)

    def start(self) -> None:
        self.start_loop()

    def stop(self, stop_instances: bool = True) -> None:
        """Stop reconciling; on a graceful shutdown also stop the model servers (they come
        back at the next start, since the database still says the endpoint is InService)."""
        self.stop_loop()
        if stop_instances:
            with self.db.session() as session:
                for instance in session.scalars(
                    select(EndpointInstance).where(EndpointInstance.pid.is_not(None))
                ):
                    self._kill(instance)
                    instance.status = "Pending"
        self._http.close()

    # -- one reconciliation pass -----------------------------------------------------------
    def tick(self) -> None:
        with self.db.session() as session:
            endpoints = session.scalars(
                select(Endpoint).options(selectinload(Endpoint.instances))
            ).all()
            ready: dict[str, list[VariantRoute]] = {}
            warming: set[str] = set()
            for endpoint in endpoints:
                if endpoint.status == "Deleting":
                    self._delete(session, endpoint)
                    continue
                if endpoint.status == "Failed":
                    continue
                routes = self._reconcile(session, endpoint)
                if any(route.addresses for route in routes):
                    ready[endpoint.name] = routes
                elif endpoint.status == "InService":
                    warming.add(endpoint.name)
            self.routes.replace(ready, known={e.name for e in endpoints}, warming=warming)
            self._settling = any(
                e.status in ("Creating", "Updating", "Deleting")
                or any(i.status != "InService" for i in e.instances)
                for e in endpoints
                if e.status != "Failed"
            )

    @property
    def interval(self) -> float:  # type: ignore[override]
        """Tick fast while instances start; when all serve, a crash wakes the loop anyway
        (for processes this server started) and a slower pass is enough for the rest."""
        return 0.25 if self._settling else 1.0

    def _scale(self, session: Session, endpoint: Endpoint) -> None:
        """Add or remove instances until each variant has its desired count; the highest
        indexes go first, and what they hold in flight is retried on the others."""
        for variant in endpoint.variants or []:
            name, desired = variant["variant_name"], variant["desired_instance_count"]
            mine = [i for i in endpoint.instances if i.variant_name == name]
            for instance in sorted(mine, key=lambda i: i.index)[desired:]:
                self._kill(instance)
                endpoint.instances.remove(instance)
                session.delete(instance)
            taken = {i.index for i in mine}
            free = (n for n in range(64 + len(taken)) if n not in taken)
            for _ in range(desired - len(mine)):
                endpoint.instances.append(
                    EndpointInstance(
                        variant_name=name, index=next(free), status="Pending", restarts=0
                    )
                )

    def _reconcile(self, session: Session, endpoint: Endpoint) -> list[VariantRoute]:
        if endpoint.status == "Updating":
            self._scale(session, endpoint)
        ready: dict[str, list[tuple[str, int]]] = {}
        for instance in endpoint.instances:
            alive = instance.pid is not None and self.executor.alive(handle_of(instance))
            if instance.pid is not None and not alive:
                instance.last_error = log_tail(Path(instance.work_dir or ".") / LOG_FILE)
                if instance.status == "InService":
                    logger.warning(
                        "instance %s/%s crashed; restarting", endpoint.name, instance.index
                    )
                started = instance.status == "InService"
                instance.restarts += 1
                instance.pid = None
                instance.status = "Pending"
                if not started and instance.restarts >= MAX_START_FAILURES:
                    if endpoint.status == "Creating":
                        self._fail(endpoint, instance)
                        return []
                    if endpoint.status == "Updating":
                        self._undo_scale_out(session, endpoint, instance)
                        return self._reconcile(session, endpoint)
            if instance.pid is None:
                self._launch(session, endpoint, instance)
                continue
            if instance.status != "InService":
                if self._ping(instance.port):
                    instance.status = "InService"
                    self._launched_at.pop(instance.id, None)
                elif (
                    time.monotonic() - self._launched_at.setdefault(instance.id, time.monotonic())
                    > START_TIMEOUT_SECONDS
                ):
                    self._kill(instance)
                    instance.last_error = (
                        f"the model server did not answer /ping within {START_TIMEOUT_SECONDS:.0f}s"
                    )
            if instance.status == "InService" and instance.port is not None:
                ready.setdefault(instance.variant_name, []).append(("127.0.0.1", instance.port))
        in_service = sum(len(addresses) for addresses in ready.values())
        if endpoint.status in ("Creating", "Updating") and in_service == len(endpoint.instances):
            logger.info("endpoint %s is InService", endpoint.name)
            if endpoint.status == "Creating":
                endpoint.failure_reason = None
            endpoint.status = "InService"
        weights = {v["variant_name"]: float(v["current_weight"]) for v in endpoint.variants or []}
        return [
            VariantRoute(name, weights.get(name, 1.0), addresses)
            for name, addresses in ready.items()
        ]

    def _undo_scale_out(
        self, session: Session, endpoint: Endpoint, instance: EndpointInstance
    ) -> None:
        """A new instance that cannot start ends the update, as SageMaker's does: the
        variant keeps the instances it had, and the endpoint serves on, saying why."""
        name = instance.variant_name
        serving = sum(
            1 for i in endpoint.instances if i.variant_name == name and i.status == "InService"
        )
        endpoint.variants = [
            {**v, "desired_instance_count": serving} if v["variant_name"] == name else v
            for v in endpoint.variants or []
        ]
        endpoint.failure_reason = (
            f"the update stopped: a new instance of variant {name} failed to start "
            f"{instance.restarts} times; last log lines:\n{instance.last_error or '(none)'}"
        )
        for other in [i for i in endpoint.instances if i.variant_name == name]:
            if other.status != "InService":
                self._kill(other)
                endpoint.instances.remove(other)
                session.delete(other)
        endpoint.status = "InService"
        logger.warning("endpoint %s: %s", endpoint.name, endpoint.failure_reason)

    def _fail(self, endpoint: Endpoint, instance: EndpointInstance) -> None:
        endpoint.status = "Failed"
        endpoint.failure_reason = (
            f"instance {instance.index} of variant {instance.variant_name} failed to start "
            f"{instance.restarts} times; last log lines:\n{instance.last_error or '(none)'}"
        )
        for other in endpoint.instances:
            self._kill(other)
            other.status = "Failed"
        logger.warning("endpoint %s failed", endpoint.name)

    def _ping(self, port: int | None) -> bool:
        if port is None:
            return False
        try:
            return self._http.get(f"http://127.0.0.1:{port}/ping").status_code == 200
        except httpx.HTTPError:
            return False

    def _launch(self, session: Session, endpoint: Endpoint, instance: EndpointInstance) -> None:
        config = session.scalar(
            select(EndpointConfig).where(EndpointConfig.name == endpoint.endpoint_config_name)
        )
        variant = next(
            (
                v
                for v in (config.production_variants if config else [])
                if v["variant_name"] == instance.variant_name
            ),
            None,
        )
        model = variant and session.scalar(select(Model).where(Model.name == variant["model_name"]))
        if model is None:
            endpoint.status = "Failed"
            endpoint.failure_reason = "the endpoint config or model it names no longer exists"
            return
        work_dir = self.dir / endpoint.name / f"{instance.variant_name}-{instance.index}"
        if work_dir.exists():
            shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        args = [
            "--model-data",
            model.model_data,
            *serving_args(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--work-dir",
            str(work_dir),
            "--storage-url",
            self.storage_url,
            "--envs-dir",
            str(self.settings.resolved_home / "envs"),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
        # One request at a time per instance: library thread pools only fight the HTTP loop
        # (and other instances) for cores; scale with instances instead. A model may override.
        env["OMP_NUM_THREADS"] = "1"
        env.update(model.environment)
        env["PYTHONUNBUFFERED"] = "1"
        handle = self.executor.start(
            Launch("modelyard.runtime.serving", args, work_dir, env, work_dir / LOG_FILE)
        )
        instance.pid = handle.pid
        instance.pid_started_at = handle.started_at
        instance.port = port
        instance.work_dir = str(work_dir)
        instance.status = "Starting"
        self._launched_at[instance.id] = time.monotonic()
        logger.info(
            "started instance %s/%s on port %s (pid %s)",
            endpoint.name,
            instance.index,
            port,
            handle.pid,
        )

    def _kill(self, instance: EndpointInstance) -> None:
        if instance.pid is None:
            return
        handle = handle_of(instance)
        if self.executor.alive(handle):
            self.executor.terminate(handle)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.executor.alive(handle):
                time.sleep(0.05)
            if self.executor.alive(handle):
                self.executor.kill(handle)
        instance.pid = None

    def _delete(self, session: Session, endpoint: Endpoint) -> None:
        for instance in endpoint.instances:
            self._kill(instance)
        shutil.rmtree(self.dir / endpoint.name, ignore_errors=True)
        session.delete(endpoint)
        logger.info("endpoint %s deleted", endpoint.name)
