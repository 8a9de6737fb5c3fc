"""Endpoints: the desired state (which config, how many instances) that the reconciler serves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from modelyard.errors import Conflict, InvalidRequest, NotFound
from modelyard.names import validate_name
from modelyard.schemas.common import Page
from modelyard.schemas.endpoints import (
    MAX_INSTANCES,
    CreateEndpoint,
    DeploymentSummary,
    EndpointDescription,
    InstanceDescription,
    ProductionVariantSummary,
    ScalingPolicy,
    ServerlessConfig,
    ShadowVariantSummary,
    UpdateEndpoint,
    UpdateEndpointWeightsAndCapacities,
)
from modelyard.services import crud
from modelyard.services.deployments import Deployment
from modelyard.store import Database
from modelyard.store.models import Endpoint, EndpointConfig, EndpointInstance

KIND = "endpoint"
SERVERLESS_IDLE_SECONDS = 60.0
STATUSES = (
    "Creating",
    "InService",
    "Updating",
    "RollingBack",
    "Deleting",
    "Failed",
    "OutOfService",
)


def instances_for(config: EndpointConfig) -> list[EndpointInstance]:
    return [
        EndpointInstance(
            endpoint_config_name=config.name,
            variant_name=v["variant_name"],
            index=i,
            status="Pending",
            restarts=0,
        )
        for v in live_variants(config)
        for i in range(v["desired_instance_count"])
    ]


def serverless_policy(serverless: ServerlessConfig) -> ScalingPolicy:
    """A serverless variant scales on its requests in flight, from its provisioned
    concurrency (often 0) to an instance per concurrent request (at most the cap)."""
    return ScalingPolicy(
        min_capacity=serverless.provisioned_concurrency,
        max_capacity=max(1, min(MAX_INSTANCES, serverless.max_concurrency)),
        target_value=1,
        scale_in_cooldown=30,
        scale_to_zero_after_seconds=SERVERLESS_IDLE_SECONDS,
    )


def live_variants(config: EndpointConfig) -> list[dict[str, Any]]:
    """An endpoint's own copy of its config's variants, which weight updates, autoscaling and
    serverless scaling then change."""
    variants = []
    shadows = config.shadow_production_variants or []
    marked = [(v, False) for v in config.production_variants] + [(v, True) for v in shadows]
    for v, shadow in marked:
        live: dict[str, Any] = {
            "variant_name": v["variant_name"],
            "current_weight": v.get("initial_variant_weight", 1.0),
            "desired_weight": v.get("initial_variant_weight", 1.0),
            "desired_instance_count": v["initial_instance_count"],
        }
        if shadow:  # served a copy of requests, never routed to
            live.update(current_weight=0.0, desired_weight=0.0, shadow=True)
            live["sampling_percentage"] = v.get("sampling_percentage", 100.0)
        if v.get("serverless_config"):
            serverless = ServerlessConfig.model_validate(v["serverless_config"])
            live["serverless_config"] = serverless.model_dump()
            live["scaling_policy"] = serverless_policy(serverless).model_dump()
            live["desired_instance_count"] = serverless.provisioned_concurrency
        variants.append(live)
    return variants


SUMMARY_KEYS = (
    "variant_name",
    "current_weight",
    "desired_weight",
    "desired_instance_count",
    "scaling_policy",
    "serverless_config",
)


def serving(row: Endpoint, variant: str) -> int:
    return sum(1 for i in row.instances if i.variant_name == variant and i.status == "InService")


def _config(session: Session, name: str) -> EndpointConfig:
    config = session.scalar(select(EndpointConfig).where(EndpointConfig.name == name))
    if config is None:
        raise InvalidRequest(
            f"endpoint config {name!r} does not exist; create it first",
            {"field": "endpoint_config_name"},
        )
    return config


class Endpoints:
    def __init__(
        self,
        db: Database,
        control_url: str,
        wake: Callable[[], None] = lambda: None,
        traffic: Callable[[str], dict[str, dict[str, Any]]] = lambda _: {},
        comparisons: Callable[[str], dict[str, dict[str, Any]]] = lambda _: {},
    ) -> None:
        self.db = db
        self.control_url = control_url
        self.wake = wake
        self.traffic = traffic  # each variant's last minute of requests, from the proxy
        self.comparisons = comparisons  # each shadow variant's answers against production's

    def capture_of(self, config_name: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            config = session.scalar(
                select(EndpointConfig).where(EndpointConfig.name == config_name)
            )
            return config.data_capture_config if config else None

    def to_description(self, row: Endpoint) -> EndpointDescription:
        deployment = row.deployment and DeploymentSummary(
            endpoint_config_name=row.deployment["config"],
            status=row.deployment["status"],
            traffic_to_new_fleet=row.deployment["share"],
            phases=row.deployment["phases"],
            failure_reason=row.deployment.get("failure_reason"),
            deployment_config=row.deployment.get("deployment_config"),
        )
        pending = deployment if deployment and deployment.status == "InProgress" else None
        traffic = self.traffic(row.name)
        comparisons = (
            self.comparisons(row.name) if any(v.get("shadow") for v in row.variants or []) else {}
        )
        capture = self.capture_of(row.endpoint_config_name)
        return EndpointDescription(
            pending_deployment_summary=pending,
            last_deployment_summary=None if pending else deployment,
            name=row.name,
            endpoint_config_name=row.endpoint_config_name,
            status=row.status,
            failure_reason=row.failure_reason,
            tags=row.tags,
            created_at=row.created_at,
            updated_at=row.updated_at,
            url=f"{self.control_url}/endpoints/{row.name}/invocations",
            production_variants=[
                ProductionVariantSummary(
                    **{k: v[k] for k in SUMMARY_KEYS if k in v},
                    current_instance_count=serving(row, v["variant_name"]),
                    traffic=traffic.get(v["variant_name"]),
                )
                for v in row.variants or []
                if not v.get("shadow")
            ],
            shadow_production_variants=[
                ShadowVariantSummary(
                    variant_name=v["variant_name"],
                    sampling_percentage=v["sampling_percentage"],
                    current_instance_count=serving(row, v["variant_name"]),
                    desired_instance_count=v["desired_instance_count"],
                    comparison=comparisons.get(v["variant_name"]),
                )
                for v in row.variants or []
                if v.get("shadow")
            ],
            data_capture_config=capture,
            instances=[
                InstanceDescription(
                    endpoint_config_name=i.endpoint_config_name or row.endpoint_config_name,
                    variant_name=i.variant_name,
                    index=i.index,
                    status=i.status,
                    port=i.port,
                    pid=i.pid,
                    restarts=i.restarts,
                    last_error=i.last_error,
                    model_setup_seconds=i.setup_seconds,
                )
                for i in row.instances
            ],
        )

    def create(self, request: CreateEndpoint) -> EndpointDescription:
        validate_name(request.name, "endpoint name")
        with self.db.session() as session:
            config = _config(session, request.endpoint_config_name)
            endpoint = Endpoint(
                name=request.name,
                status="Creating",
                tags=request.tags,
                endpoint_config_name=config.name,
                variants=live_variants(config),
                instances=instances_for(config),
            )
        crud.insert(self.db, endpoint, KIND)
        self.wake()
        return self.describe(request.name)

    def _get(self, session: Session, name: str) -> Endpoint:
        row = session.scalar(
            select(Endpoint).where(Endpoint.name == name).options(selectinload(Endpoint.instances))
        )
        if row is None:
            raise NotFound(f"endpoint {name!r} does not exist", {"name": name})
        return row

    def describe(self, name: str) -> EndpointDescription:
        with self.db.session() as session:
            return self.to_description(self._get(session, name))

    def list(
        self,
        status: str | None = None,
        name_contains: str | None = None,
        max_results: int = 50,
        next_token: str | None = None,
    ) -> Page[EndpointDescription]:
        if status is not None and status not in STATUSES:
            raise InvalidRequest(
                f"unknown status {status!r}; use one of {', '.join(STATUSES)}", {"field": "status"}
            )
        with self.db.session() as session:
            rows, token = crud.page(
                session, Endpoint, name_contains, max_results, next_token, status=status
            )
            return Page[EndpointDescription](
                items=[self.to_description(r) for r in rows], next_token=token
            )

    def update(self, name: str, request: UpdateEndpoint) -> EndpointDescription:
        """SageMaker's UpdateEndpoint: serve another config, without dropping a request. The
        reconciler starts the new fleet, shifts traffic to it as the deployment config says
        (watching its alarms), and stops the old fleet, or rolls back."""
        with self.db.session() as session:
            row = self._get(session, name)
            if row.status != "InService":
                raise Conflict(
                    f"endpoint {name!r} is {row.status}; it can be updated only while InService",
                    {"name": name, "status": row.status},
                )
            config = _config(session, request.endpoint_config_name)
            if config.name == row.endpoint_config_name:
                raise InvalidRequest(
                    f"endpoint {name!r} already serves config {config.name!r}; give another "
                    "(or change weights and counts with weights-and-capacities)",
                    {"field": "endpoint_config_name"},
                )
            row.deployment = Deployment.start(
                config.name, live_variants(config), request.deployment_config
            ).state
            row.status = "Updating"
            row.failure_reason = None
        self.wake()
        return self.describe(name)

    def update_weights_and_capacities(
        self, name: str, request: UpdateEndpointWeightsAndCapacities
    ) -> EndpointDescription:
        """SageMaker's UpdateEndpointWeightsAndCapacities: new weights route at once; the
        reconciler starts or stops instances to the new counts, the endpoint Updating until
        they all serve."""
        with self.db.session() as session:
            row = self._get(session, name)
            if row.status != "InService":
                raise Conflict(
                    f"endpoint {name!r} is {row.status}; weights and capacities change only "
                    "while it is InService",
                    {"name": name, "status": row.status},
                )
            variants = {v["variant_name"]: dict(v) for v in row.variants or []}
            for desired in request.desired_weights_and_capacities:
                variant = variants.get(desired.variant_name)
                if variant is None:
                    raise InvalidRequest(
                        f"endpoint {name!r} has no variant {desired.variant_name!r}; its "
                        f"variants: {', '.join(variants)}",
                        {"field": "variant_name"},
                    )
                if desired.desired_weight is None and desired.desired_instance_count is None:
                    raise InvalidRequest(
                        f"say a desired_weight or a desired_instance_count for variant "
                        f"{desired.variant_name!r}",
                        {"field": "desired_weights_and_capacities"},
                    )
                if desired.desired_weight is not None and variant.get("shadow"):
                    raise InvalidRequest(
                        f"variant {desired.variant_name!r} is a shadow: it gets copies, not "
                        "a weight (change its instance count only)",
                        {"field": "desired_weight"},
                    )
                if desired.desired_weight is not None:
                    variant["desired_weight"] = variant["current_weight"] = desired.desired_weight
                if desired.desired_instance_count is not None:
                    variant["desired_instance_count"] = desired.desired_instance_count
            if not any(v["current_weight"] > 0 for v in variants.values()):
                raise InvalidRequest(
                    "at least one variant needs a weight above 0, or no request could be served",
                    {"field": "desired_weight"},
                )
            row.variants = list(variants.values())
            row.status = "Updating"
            row.failure_reason = None
        self.wake()
        return self.describe(name)

    def put_scaling_policy(
        self, name: str, variant_name: str, policy: ScalingPolicy | None
    ) -> EndpointDescription:
        """Set (or, with None, remove) a variant's target-tracking policy; the reconciler
        applies it from its next pass."""
        with self.db.session() as session:
            row = self._get(session, name)
            if row.status in ("Deleting", "Failed"):
                raise Conflict(
                    f"endpoint {name!r} is {row.status}; it cannot be scaled",
                    {"name": name, "status": row.status},
                )
            variants = [dict(v) for v in row.variants or []]
            variant = next((v for v in variants if v["variant_name"] == variant_name), None)
            if variant is None:
                raise NotFound(
                    f"endpoint {name!r} has no variant {variant_name!r}; its variants: "
                    f"{', '.join(v['variant_name'] for v in variants)}",
                    {"variant_name": variant_name},
                )
            if policy is None:
                variant.pop("scaling_policy", None)
            else:
                variant["scaling_policy"] = policy.model_dump()
                variant["desired_instance_count"] = max(
                    policy.min_capacity,
                    min(policy.max_capacity, int(variant["desired_instance_count"])),
                )
            row.variants = variants
        self.wake()
        return self.describe(name)

    def delete(self, name: str) -> EndpointDescription:
        with self.db.session() as session:
            row = self._get(session, name)
            if row.status == "Deleting":
                raise Conflict(f"endpoint {name!r} is already being deleted", {"name": name})
            row.status = "Deleting"
        self.wake()
        return self.describe(name)
