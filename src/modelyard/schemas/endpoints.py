from __future__ import annotations

from datetime import datetime

from pydantic import Field

from modelyard.schemas.common import Strict


class CreateModel(Strict):
    name: str
    model_data: str = Field(description="s3:// URI of model.tar.gz")
    algorithm: str | None = None
    framework: str | None = Field(
        default=None,
        description="Serve with your own inference code: sklearn, xgboost, pytorch or python.",
    )
    entry_point: str | None = Field(
        default=None, description="The inference script (default: code/inference.py)."
    )
    source_dir: str | None = Field(
        default=None, description="s3:// URI of sourcedir.tar.gz holding the entry point."
    )
    environment: dict[str, str] = {}
    training_job_name: str | None = None
    tags: dict[str, str] = {}


class ModelDescription(CreateModel):
    created_at: datetime


class ProductionVariant(Strict):
    variant_name: str = "AllTraffic"
    model_name: str
    initial_instance_count: int = Field(default=1, ge=1, le=64)
    instance_type: str = "local"
    initial_variant_weight: float = Field(default=1.0, ge=0)


MAX_VARIANTS = 10


class CreateEndpointConfig(Strict):
    name: str
    production_variants: list[ProductionVariant] = Field(
        min_length=1,
        max_length=MAX_VARIANTS,
        description="Requests are split between variants by weight (SageMaker's A/B testing).",
    )
    tags: dict[str, str] = {}


class EndpointConfigDescription(CreateEndpointConfig):
    created_at: datetime


class CreateEndpoint(Strict):
    name: str
    endpoint_config_name: str
    tags: dict[str, str] = {}


class InstanceDescription(Strict):
    variant_name: str
    index: int
    status: str
    port: int | None
    pid: int | None
    restarts: int
    last_error: str | None = None


class ProductionVariantSummary(Strict):
    """SageMaker's ProductionVariantSummary: a variant's weight and instances, now and asked."""

    variant_name: str
    current_weight: float
    desired_weight: float
    current_instance_count: int = Field(description="Instances in service now.")
    desired_instance_count: int


class DesiredWeightAndCapacity(Strict):
    variant_name: str
    desired_weight: float | None = Field(default=None, ge=0)
    desired_instance_count: int | None = Field(default=None, ge=1, le=64)


class UpdateEndpointWeightsAndCapacities(Strict):
    desired_weights_and_capacities: list[DesiredWeightAndCapacity] = Field(
        min_length=1, max_length=MAX_VARIANTS
    )


class EndpointDescription(Strict):
    name: str
    endpoint_config_name: str
    status: str
    failure_reason: str | None = None
    url: str | None = None
    production_variants: list[ProductionVariantSummary] = []
    instances: list[InstanceDescription] = []
    tags: dict[str, str] = {}
    created_at: datetime
    updated_at: datetime
