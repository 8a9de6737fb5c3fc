"""Endpoint configs: which model serves an endpoint, on how many instances."""

from __future__ import annotations

from sqlalchemy import select

from modelyard.compute.instance_types import cpus_for
from modelyard.errors import Conflict, InvalidRequest
from modelyard.names import validate_name
from modelyard.schemas.common import Page
from modelyard.schemas.endpoints import (
    CreateEndpointConfig,
    EndpointConfigDescription,
    ProductionVariant,
)
from modelyard.services import crud
from modelyard.storage.uri import parse_s3_uri
from modelyard.store import Database
from modelyard.store.models import Endpoint, EndpointConfig, Model

KIND = "endpoint config"


def to_description(row: EndpointConfig) -> EndpointConfigDescription:
    return EndpointConfigDescription(
        name=row.name,
        tags=row.tags,
        created_at=row.created_at,
        production_variants=[ProductionVariant(**v) for v in row.production_variants],
        shadow_production_variants=row.shadow_production_variants or [],
        async_inference_config=row.async_inference_config,
        data_capture_config=row.data_capture_config,
    )


class EndpointConfigs:
    def __init__(self, db: Database, cpu_slots: int) -> None:
        self.db = db
        self.cpu_slots = cpu_slots

    def create(self, request: CreateEndpointConfig) -> EndpointConfigDescription:
        validate_name(request.name, "endpoint config name")
        names = [
            v.variant_name
            for v in [*request.production_variants, *request.shadow_production_variants]
        ]
        if len(set(names)) < len(names):
            raise InvalidRequest(
                f"variant names must be unique within a config; got {', '.join(names)}",
                {"field": "production_variants"},
            )
        if request.async_inference_config is not None:
            output = request.async_inference_config.output_config
            for path in (output.s3_output_path, output.s3_failure_path):
                if path is not None:
                    parse_s3_uri(path)
        if request.data_capture_config is not None:
            parse_s3_uri(request.data_capture_config.destination_s3_uri)
        with self.db.session() as session:
            for variant in [*request.production_variants, *request.shadow_production_variants]:
                validate_name(variant.variant_name, "variant name")
                cpus_for(variant.instance_type, self.cpu_slots)
                model = session.scalar(select(Model).where(Model.name == variant.model_name))
                if model is None:
                    raise InvalidRequest(
                        f"model {variant.model_name!r} does not exist; create it first",
                        {"field": "model_name"},
                    )
                if variant.batching is not None and not model.algorithm:
                    raise InvalidRequest(
                        f"variant {variant.variant_name!r}: batching is for built-in "
                        f"algorithms' models, and model {model.name!r} runs its own code",
                        {"field": "batching"},
                    )
                if model.mode == "MultiModel":
                    unsupported = (
                        "batching" if variant.batching is not None
                        else "async_inference_config" if request.async_inference_config
                        else None
                    )  # fmt: skip
                    if unsupported:
                        raise InvalidRequest(
                            f"variant {variant.variant_name!r}: model {model.name!r} is "
                            f"multi-model, which {unsupported} does not support (each request "
                            "names its model)",
                            {"field": unsupported},
                        )
        crud.insert(
            self.db,
            EndpointConfig(
                name=request.name,
                tags=request.tags,
                production_variants=[v.model_dump() for v in request.production_variants],
                shadow_production_variants=[
                    v.model_dump() for v in request.shadow_production_variants
                ],
                async_inference_config=request.async_inference_config
                and request.async_inference_config.model_dump(),
                data_capture_config=request.data_capture_config
                and request.data_capture_config.model_dump(),
            ),
            KIND,
        )
        return self.describe(request.name)

    def describe(self, name: str) -> EndpointConfigDescription:
        with self.db.session() as session:
            return to_description(crud.get(session, EndpointConfig, name, KIND))

    def list(
        self, name_contains: str | None = None, max_results: int = 50, next_token: str | None = None
    ) -> Page[EndpointConfigDescription]:
        with self.db.session() as session:
            rows, token = crud.page(session, EndpointConfig, name_contains, max_results, next_token)
            return Page[EndpointConfigDescription](
                items=[to_description(r) for r in rows], next_token=token
            )

    def delete(self, name: str) -> None:
        with self.db.session() as session:
            row = crud.get(session, EndpointConfig, name, KIND)
            user = session.scalar(
                select(Endpoint.name).where(Endpoint.endpoint_config_name == name)
            )
            if user is not None:
                raise Conflict(
                    f"endpoint config {name!r} is used by endpoint {user!r}; delete that first",
                    {"name": name},
                )
            session.delete(row)
