"""The endpoint reconciler: keeps one model-server process per desired instance, ready or not.

Each tick it compares the endpoints in the database with the processes it knows: it adds or
removes instances to each variant's desired count, starts missing instances, pings starting
ones until they answer, restarts crashed ones, fails an endpoint whose instances cannot start,
and tears down deleted endpoints. The routing table the invocation path reads is rebuilt from
what is ready, with each variant's weight. (Health after InService is the proxy's to check: it
sees a stuck instance first.)
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import flag_modified

from modelyard.compute.executor import Executor, Handle, Launch
from modelyard.controllers.autoscaling import VariantScaler
from modelyard.controllers.loop import ControlLoop
from modelyard.controllers.routing import RoutingTable, VariantRoute
from modelyard.controllers.traffic import statistic
from modelyard.runtime.layout import log_tail
from modelyard.services.deployments import Deployment
from modelyard.settings import Settings
from modelyard.store import Database
from modelyard.store.models import Endpoint, EndpointConfig, EndpointInstance, Model

logger = logging.getLogger("modelyard.endpoints")

START_TIMEOUT_SECONDS = 180.0
DRAIN_TIMEOUT_SECONDS = 30.0  # an instance out of rotation is stopped by then, answered or not
MAX_START_FAILURES = 3
LOG_FILE = "server.log"

Targets = dict[tuple[str, str], int]  # (config, variant) -> instances to run
Weights = dict[tuple[str, str], float]  # (config, variant) -> share of the endpoint's traffic


def serving_args(model: Model) -> list[str]:
    """How the model server serves this model: a built-in algorithm or the user's code, one
    model or (MultiModel) every model under a prefix."""
    if model.algorithm:
        args = ["--algorithm", model.algorithm]
    else:
        args = ["--framework", model.framework or "python"]
        if model.entry_point:
            args += ["--entry-point", model.entry_point]
        if model.source_dir:
            args += ["--source-dir", model.source_dir]
    if model.mode == "MultiModel":
        args.append("--multi-model")
        config = model.multi_model_config or {}
        most = 1 if config.get("model_cache_setting") == "Disabled" else None
        most = most or config.get("max_loaded_models")
        if most is not None:
            args += ["--max-models", str(most)]
        if config.get("model_cache_memory_mb") is not None:
            args += ["--model-cache-mb", str(config["model_cache_memory_mb"])]
    return args


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def fleet_key(endpoint: Endpoint, instance: EndpointInstance) -> tuple[str, str]:
    """(config, variant) an instance serves; rows from before updates name no config."""
    return (instance.endpoint_config_name or endpoint.endpoint_config_name, instance.variant_name)


def _scaled(endpoint: Endpoint) -> bool:
    return any(v.get("scaling_policy") for v in endpoint.variants or [])


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
        on_setup: Callable[[str, str, float], None] = lambda *_: None,
    ) -> None:
        super().__init__()
        self.on_setup = on_setup  # (endpoint, variant, seconds from start to first /ping)
        self.executor = executor(self.wake)
        self.db = db
        self.settings = settings
        self.storage_url = storage_url
        self.routes = routes
        self.dir = settings.resolved_home / "endpoints"
        self._launched_at: dict[int, float] = {}
        self._draining_since: dict[int, float] = {}
        self._scalers: dict[tuple[str, str], VariantScaler] = {}
        # Asynchronous requests waiting, by endpoint (set by the composition root).
        self.backlog: Callable[[], dict[str, int]] = dict
        routes.on_demand = self.wake  # a request waits for an endpoint scaled to zero
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
            demanded = self.routes.take_demands()
            backlog = self.backlog() if any(_scaled(e) for e in endpoints) else {}
            for endpoint in endpoints:
                if endpoint.status == "InService":
                    self._autoscale(
                        endpoint, endpoint.name in demanded, backlog.get(endpoint.name, 0)
                    )
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
            capture = self._captures(session, endpoints)
            self.routes.replace(
                ready, known={e.name for e in endpoints}, warming=warming, capture=capture
            )
            self._settling = any(
                e.status in ("Creating", "Updating", "RollingBack", "Deleting")
                or any(i.status != "InService" for i in e.instances)
                for e in endpoints
                if e.status != "Failed"
            )

    @property
    def interval(self) -> float:  # type: ignore[override]
        """Tick fast while instances start; when all serve, a crash wakes the loop anyway
        (for processes this server started) and a slower pass is enough for the rest."""
        return 0.25 if self._settling else 1.0

    @staticmethod
    def _captures(session: Session, endpoints: Sequence[Endpoint]) -> dict[str, dict[str, Any]]:
        """Each endpoint's DataCaptureConfig, when its config captures: one query a pass, so a
        config deleted and made again under the same name is read afresh."""
        names = {e.endpoint_config_name for e in endpoints}
        if not names:
            return {}
        rows = session.execute(
            select(EndpointConfig.name, EndpointConfig.data_capture_config).where(
                EndpointConfig.name.in_(names)
            )
        )
        capturing = {name: found for name, found in rows if found and found.get("enable_capture")}
        return {
            e.name: capturing[e.endpoint_config_name]
            for e in endpoints
            if e.endpoint_config_name in capturing
        }

    def _autoscale(self, endpoint: Endpoint, demanded: bool, backlog: int) -> None:
        """Each autoscaled variant's instance count, from its policy and its load."""
        now = time.monotonic()
        variants, changed = [dict(v) for v in endpoint.variants or []], False
        for variant in variants:
            policy = variant.get("scaling_policy")
            if not policy:
                continue
            key = (endpoint.name, variant["variant_name"])
            scaler = self._scalers.setdefault(key, VariantScaler(now))
            scaler.observe(now, *self.routes.load(*key, recent=2 * self.interval), backlog)
            current = int(variant["desired_instance_count"])
            # (requests waiting for an instance count as use until they are answered)
            wanted = scaler.desired(policy, current, now, demanded)
            if wanted != current:
                logger.info("endpoint %s variant %s: %d → %d instances", *key, current, wanted)
                variant["desired_instance_count"] = wanted
                changed = True
        if changed:
            endpoint.variants = variants

    # -- what should run, and what runs ---------------------------------------------------
    def _targets(self, endpoint: Endpoint) -> tuple[Targets, Weights, Deployment | None]:
        """Instances to run and traffic weights, per (config, variant): the endpoint's own
        fleet and, during an update, the new one, each as far as the update has got."""
        state = endpoint.deployment
        deployment = Deployment(state) if state and state["status"] == "InProgress" else None
        fleets = [(endpoint.endpoint_config_name, endpoint.variants or [], 1.0, 1.0)]
        if deployment is not None:
            fleets = [
                (fleets[0][0], fleets[0][1], 1 - deployment.share, deployment.old_fraction()),
                (
                    deployment.state["config"],
                    deployment.state["variants"],
                    deployment.share,
                    deployment.new_fraction(),
                ),
            ]
        counts: Targets = {}
        weights: Weights = {}
        for config, variants, share, fraction in fleets:
            total = sum(float(v["current_weight"]) for v in variants) or 1.0
            for v in variants:
                key = (config, v["variant_name"])
                # (a hair under, so that 3/5 of 5 is 3 and not 4 by rounding)
                counts[key] = math.ceil(int(v["desired_instance_count"]) * fraction - 1e-9)
                weights[key] = share * float(v["current_weight"]) / total
        return counts, weights, deployment

    def _scale(self, endpoint: Endpoint, counts: Targets) -> None:
        """Add instances, or set the highest-indexed ones draining, until each (config,
        variant) has its count; instances of no wanted (config, variant) drain too."""
        live = [i for i in endpoint.instances if i.status != "Draining"]
        for instance in live:
            if fleet_key(endpoint, instance) not in counts:
                self._drain(instance)
        for key, wanted in counts.items():
            mine = sorted((i for i in live if fleet_key(endpoint, i) == key), key=lambda i: i.index)
            for instance in mine[wanted:]:
                self._drain(instance)
            taken = {i.index for i in endpoint.instances if i.variant_name == key[1]}
            free = (n for n in itertools.count() if n not in taken)
            for _ in range(wanted - len(mine)):
                endpoint.instances.append(
                    EndpointInstance(
                        endpoint_config_name=key[0],
                        variant_name=key[1],
                        index=next(free),
                        status="Pending",
                        restarts=0,
                    )
                )

    def _drain(self, instance: EndpointInstance) -> None:
        """Out of rotation now (the next routing table leaves it out); stopped once what it
        holds is answered."""
        instance.status = "Draining"
        self._draining_since[instance.id] = time.monotonic()

    def _drained(self, session: Session, endpoint: Endpoint, instance: EndpointInstance) -> None:
        since = self._draining_since.setdefault(instance.id, time.monotonic())
        address = ("127.0.0.1", instance.port) if instance.port else None
        busy = address is not None and self.routes.in_flight(address) > 0
        if busy and time.monotonic() - since < DRAIN_TIMEOUT_SECONDS:
            return
        self._kill(instance)
        self._draining_since.pop(instance.id, None)
        endpoint.instances.remove(instance)
        session.delete(instance)

    def _reconcile(self, session: Session, endpoint: Endpoint) -> list[VariantRoute]:
        counts, weights, deployment = self._targets(endpoint)
        if endpoint.status != "Creating" and endpoint.variants:
            self._scale(endpoint, counts)
        ready: dict[tuple[str, str], list[tuple[str, int]]] = {}
        failure: str | None = None
        for instance in list(endpoint.instances):
            if instance.status == "Draining":
                self._drained(session, endpoint, instance)
                continue
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
                    if deployment is not None:
                        failure = failure or (
                            f"a new instance of variant {instance.variant_name} failed to "
                            f"start {instance.restarts} times; last log lines:\n"
                            f"{instance.last_error or '(none)'}"
                        )
                        continue
                    if endpoint.status == "Updating":
                        self._undo_scale_out(session, endpoint, instance)
                        return self._reconcile(session, endpoint)
            if instance.pid is None:
                self._launch(session, endpoint, instance)
                continue
            if instance.status != "InService":
                if self._ping(instance.port):
                    instance.status = "InService"
                    launched = self._launched_at.pop(instance.id, None)
                    if launched is not None:  # (not for one found again after a restart)
                        instance.setup_seconds = round(time.monotonic() - launched, 3)
                        self.on_setup(endpoint.name, instance.variant_name, instance.setup_seconds)
                elif (
                    time.monotonic() - self._launched_at.setdefault(instance.id, time.monotonic())
                    > START_TIMEOUT_SECONDS
                ):
                    self._kill(instance)
                    instance.last_error = (
                        f"the model server did not answer /ping within {START_TIMEOUT_SECONDS:.0f}s"
                    )
            if instance.status == "InService" and instance.port is not None:
                ready.setdefault(fleet_key(endpoint, instance), []).append(
                    ("127.0.0.1", instance.port)
                )
        if deployment is not None:
            self._advance(endpoint, deployment, counts, failure)
        elif endpoint.status in ("Creating", "Updating") and self._settled(endpoint, counts):
            logger.info("endpoint %s is InService", endpoint.name)
            if endpoint.status == "Creating":
                endpoint.failure_reason = None
            endpoint.status = "InService"
        options = {
            (fleet, v["variant_name"]): v
            for fleet, variants in self._fleets(endpoint, deployment)
            for v in variants
        }
        return [
            VariantRoute(
                variant,
                weights.get((config, variant), 0.0),
                addresses,
                config,
                (options.get((config, variant), {}).get("serverless_config") or {}).get(
                    "max_concurrency"
                ),
                float(options.get((config, variant), {}).get("sampling_percentage") or 0)
                if options.get((config, variant), {}).get("shadow")
                else 0.0,
            )
            for (config, variant), addresses in ready.items()
        ]

    @staticmethod
    def _fleets(
        endpoint: Endpoint, deployment: Deployment | None
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        fleets = [(endpoint.endpoint_config_name, endpoint.variants or [])]
        if deployment is not None:
            fleets.append((deployment.state["config"], deployment.state["variants"]))
        return fleets

    def _settled(self, endpoint: Endpoint, counts: Targets, config: str | None = None) -> bool:
        """Every (config, variant) of `config` (all, if None) runs exactly its count of
        instances, all serving, and none of its instances is still draining."""
        for key, wanted in counts.items():
            if config is not None and key[0] != config:
                continue
            mine = [i for i in endpoint.instances if fleet_key(endpoint, i) == key]
            if len(mine) != wanted or any(i.status != "InService" for i in mine):
                return False
        return not any(
            i.status == "Draining"
            for i in endpoint.instances
            if config is None or fleet_key(endpoint, i)[0] == config
        )

    def _advance(
        self,
        endpoint: Endpoint,
        deployment: Deployment,
        counts: Targets,
        failure: str | None,
    ) -> None:
        new_config = deployment.state["config"]
        ended = deployment.advance(
            time.time(),
            new_ready=self._settled(endpoint, counts, new_config),
            old_settled=self._settled(endpoint, counts, endpoint.endpoint_config_name),
            alarm=None if failure else self._alarm(endpoint, deployment),
            failure=failure,
        )
        flag_modified(endpoint, "deployment")
        endpoint.status = "RollingBack" if deployment.rolling_back else "Updating"
        if ended == "Completed":
            endpoint.endpoint_config_name = new_config
            endpoint.variants = deployment.state["variants"]
            endpoint.failure_reason = None
            endpoint.status = "InService"
            logger.info("endpoint %s now serves config %s", endpoint.name, new_config)
        elif ended == "RolledBack":
            endpoint.failure_reason = deployment.state["failure_reason"]
            endpoint.status = "InService"
            logger.warning("endpoint %s: %s", endpoint.name, endpoint.failure_reason)

    def _alarm(self, endpoint: Endpoint, deployment: Deployment) -> str | None:
        """The first alarm whose rule the new fleet's answers break, if any."""
        shifted = deployment.shifted_at
        alarms = deployment.alarms()
        if shifted is None or not alarms:
            return None
        instances = [
            found
            for i in endpoint.instances
            if fleet_key(endpoint, i)[0] == deployment.state["config"] and i.port
            if (found := self.routes.instance(("127.0.0.1", i.port))) is not None
        ]
        now, wall = time.monotonic(), time.time()
        for alarm in alarms:
            since = now - min(alarm["period_seconds"], wall - shifted)
            buckets = [b for i in instances for b in i.traffic.since(since)]
            value = statistic(buckets, alarm["metric_name"], alarm["statistic"])
            if value is not None and value > alarm["threshold"]:
                return (
                    f"{alarm['alarm_name']} ({alarm['metric_name']} {alarm['statistic']} "
                    f"{value:g} > {alarm['threshold']:g})"
                )
        return None

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
        config_name = fleet_key(endpoint, instance)[0]
        config = session.scalar(select(EndpointConfig).where(EndpointConfig.name == config_name))
        variant = next(
            (
                v
                for v in (
                    [*config.production_variants, *(config.shadow_production_variants or [])]
                    if config
                    else []
                )
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
        batching = variant.get("batching")
        if batching and model.algorithm:
            args += [
                "--max-batch-size",
                str(batching["max_batch_size"]),
                "--max-batch-wait-ms",
                str(batching["max_wait_ms"]),
            ]
        memory = (variant.get("serverless_config") or {}).get("memory_size_in_mb")
        if memory:  # a serverless variant's MemorySizeInMB
            args += ["--memory-limit-mb", str(memory)]
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
        for key in [k for k in self._scalers if k[0] == endpoint.name]:
            del self._scalers[key]
        logger.info("endpoint %s deleted", endpoint.name)
