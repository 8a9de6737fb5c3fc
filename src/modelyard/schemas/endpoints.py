from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from modelyard.schemas.common import Strict


class MultiModelConfig(Strict):
    """How a multi-model endpoint's instances keep the models they have loaded."""

    model_cache_setting: Literal["Enabled", "Disabled"] = Field(
        default="Enabled", description="Disabled keeps only the model used last loaded."
    )
    max_loaded_models: int | None = Field(
        default=None, ge=1, le=100000, description="Models one instance keeps loaded at most."
    )
    model_cache_memory_mb: int | None = Field(
        default=None,
        ge=16,
        description="Evict least recently used models while an instance's memory exceeds "
        "this (default: while the machine has under 10% of its memory available).",
    )


class CreateModel(Strict):
    name: str
    model_data: str = Field(
        description="s3:// URI of model.tar.gz; with mode MultiModel, an s3:// prefix ending "
        "in '/' holding the model.tar.gz files"
    )
    mode: Literal["SingleModel", "MultiModel"] = Field(
        default="SingleModel",
        description="MultiModel: one endpoint serves every model under the model_data prefix, "
        "each request naming one with its TargetModel header.",
    )
    multi_model_config: MultiModelConfig | None = None
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


MAX_INSTANCES = 64


class ServerlessConfig(Strict):
    """SageMaker's serverless inference: instances only while requests come, at most
    max_concurrency requests at once (more get 429)."""

    memory_size_in_mb: int = Field(
        default=2048,
        ge=1024,
        le=6144,
        description="An instance that holds more memory than this is stopped and restarted.",
    )
    max_concurrency: int = Field(default=20, ge=1, le=200)
    provisioned_concurrency: int = Field(
        default=0, ge=0, le=MAX_INSTANCES, description="Instances kept warm."
    )


class BatchingConfig(Strict):
    """Adaptive batching (a built-in algorithm's model server): requests that arrive together
    are predicted in one call; alone, a request waits for nothing."""

    max_batch_size: int = Field(default=64, ge=2, le=10000, description="Rows in one predict.")
    max_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=1000,
        description="How long a batch may wait for more, only while requests come together.",
    )


class ProductionVariant(Strict):
    variant_name: str = "AllTraffic"
    model_name: str
    initial_instance_count: int = Field(
        default=1, ge=1, le=MAX_INSTANCES, description="Ignored for a serverless variant."
    )
    instance_type: str = "local"
    initial_variant_weight: float = Field(default=1.0, ge=0)
    serverless_config: ServerlessConfig | None = None
    batching: BatchingConfig | None = None


class ScalingPolicy(Strict):
    """Target tracking (SageMaker's Application Auto Scaling, TargetTrackingScaling): keep
    `metric` near `target_value` with between min_capacity and max_capacity instances. A
    min_capacity of 0 releases every instance after scale_to_zero_after_seconds without a
    request; the next request waits while one starts."""

    min_capacity: int = Field(default=1, ge=0, le=MAX_INSTANCES)
    max_capacity: int = Field(ge=1, le=MAX_INSTANCES)
    metric: Literal[
        "ConcurrentRequestsPerInstance",
        "InvocationsPerInstance",
        "ApproximateBacklogSizePerInstance",
    ] = "ConcurrentRequestsPerInstance"
    target_value: float = Field(
        gt=0,
        description="Requests in flight per instance, invocations per instance a minute, or "
        "queued asynchronous requests per instance.",
    )
    scale_out_cooldown: float = Field(default=0, ge=0, le=3600)
    scale_in_cooldown: float = Field(default=300, ge=0, le=3600)
    scale_to_zero_after_seconds: float = Field(default=300, ge=1, le=86400)

    @model_validator(mode="after")
    def _range(self) -> ScalingPolicy:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity {self.min_capacity} is above max_capacity {self.max_capacity}"
            )
        return self


MAX_VARIANTS = 10


class AsyncNotificationConfig(Strict):
    webhook_url: str | None = Field(
        default=None,
        description="POSTed a JSON summary when a request succeeds or fails (for SageMaker's "
        "SNS topics).",
    )


class AsyncInferenceOutputConfig(Strict):
    s3_output_path: str = Field(description="Answers go to <path>/<inference id>.out.")
    s3_failure_path: str | None = Field(
        default=None, description="Failures go to <path>/<inference id>-error.out."
    )
    notification_config: AsyncNotificationConfig | None = None


class AsyncInferenceClientConfig(Strict):
    max_concurrent_invocations_per_instance: int = Field(default=4, ge=1, le=1000)


class AsyncInferenceConfig(Strict):
    """SageMaker's asynchronous inference: requests name an input object, are queued, and
    their answers are written to the output path."""

    output_config: AsyncInferenceOutputConfig
    client_config: AsyncInferenceClientConfig = AsyncInferenceClientConfig()


class ShadowProductionVariant(ProductionVariant):
    sampling_percentage: float = Field(
        default=100, gt=0, le=100, description="Share of requests the shadow gets a copy of."
    )


class CaptureOption(Strict):
    capture_mode: Literal["Input", "Output"]


class CaptureContentTypeHeader(Strict):
    csv_content_types: list[str] = ["text/csv"]
    json_content_types: list[str] = ["application/json", "application/jsonlines"]


class DataCaptureConfig(Strict):
    """SageMaker's DataCaptureConfig: a sample of requests and answers, as JSON Lines under
    <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/."""

    enable_capture: bool = True
    initial_sampling_percentage: float = Field(default=100, ge=0, le=100)
    destination_s3_uri: str
    capture_options: list[CaptureOption] = Field(
        default=[CaptureOption(capture_mode="Input"), CaptureOption(capture_mode="Output")],
        min_length=1,
        max_length=2,
    )
    capture_content_type_header: CaptureContentTypeHeader = CaptureContentTypeHeader()


class CreateEndpointConfig(Strict):
    name: str
    production_variants: list[ProductionVariant] = Field(
        min_length=1,
        max_length=MAX_VARIANTS,
        description="Requests are split between variants by weight (SageMaker's A/B testing).",
    )
    shadow_production_variants: list[ShadowProductionVariant] = Field(
        default=[],
        max_length=MAX_VARIANTS,
        description="Each gets a copy of a sample of requests; its answers are compared with "
        "the production variant's and recorded, never returned.",
    )
    async_inference_config: AsyncInferenceConfig | None = None
    data_capture_config: DataCaptureConfig | None = None
    tags: dict[str, str] = {}


class AsyncInvocationDescription(Strict):
    endpoint_name: str
    inference_id: str
    status: Literal["Queued", "InProgress", "Completed", "Failed", "Expired"]
    input_location: str
    output_location: str
    failure_location: str
    failure_reason: str | None = None
    attempts: int
    created_at: datetime
    expires_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


class EndpointConfigDescription(CreateEndpointConfig):
    created_at: datetime


class CreateEndpoint(Strict):
    name: str
    endpoint_config_name: str
    tags: dict[str, str] = {}


class InstanceDescription(Strict):
    endpoint_config_name: str | None = Field(
        default=None, description="The config it serves (during an update, old or new)."
    )
    variant_name: str
    index: int
    status: str
    port: int | None
    pid: int | None
    restarts: int
    last_error: str | None = None
    model_setup_seconds: float | None = Field(
        default=None, description="Start to first answer, the last time it started."
    )


class VariantTraffic(Strict):
    """What a variant answered over the last minute, as the server's proxy saw it."""

    invocations_per_second: float
    latency_p50_ms: float
    latency_p99_ms: float
    errors_4xx: int
    errors_5xx: int


class ProductionVariantSummary(Strict):
    """SageMaker's ProductionVariantSummary: a variant's weight and instances, now and asked."""

    variant_name: str
    current_weight: float
    desired_weight: float
    current_instance_count: int = Field(description="Instances in service now.")
    desired_instance_count: int
    scaling_policy: ScalingPolicy | None = None
    serverless_config: ServerlessConfig | None = None
    traffic: VariantTraffic | None = Field(
        default=None, description="The last minute's requests (none since the server started)."
    )


class ShadowComparison(Strict):
    """How a shadow variant's answers compared with production's, since the server started."""

    requests: int = Field(description="Copies the shadow answered or failed.")
    errors: int = Field(description="Copies the shadow answered with an error or not at all.")
    agreement: float | None = Field(
        default=None, description="Share of answered copies identical to production's answer."
    )
    mean_absolute_difference: float | None = Field(
        default=None, description="Between the numbers in the two answers, where both are numeric."
    )
    mean_latency_difference_ms: float | None = Field(
        default=None, description="Shadow's latency minus production's, on average."
    )


class ShadowVariantSummary(Strict):
    variant_name: str
    sampling_percentage: float
    current_instance_count: int
    desired_instance_count: int
    comparison: ShadowComparison | None = None


class DesiredWeightAndCapacity(Strict):
    variant_name: str
    desired_weight: float | None = Field(default=None, ge=0)
    desired_instance_count: int | None = Field(default=None, ge=1, le=MAX_INSTANCES)


class UpdateEndpointWeightsAndCapacities(Strict):
    desired_weights_and_capacities: list[DesiredWeightAndCapacity] = Field(
        min_length=1, max_length=MAX_VARIANTS
    )


# -- updating a live endpoint (SageMaker's UpdateEndpoint with a DeploymentConfig) ----------
class CapacitySize(Strict):
    type: Literal["INSTANCE_COUNT", "CAPACITY_PERCENT"]
    value: int = Field(ge=1)


class TrafficRoutingConfiguration(Strict):
    type: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = "ALL_AT_ONCE"
    wait_interval_in_seconds: int = Field(
        default=0, ge=0, le=3600, description="Baking time after each traffic shift."
    )
    canary_size: CapacitySize | None = None
    linear_step_size: CapacitySize | None = None


class BlueGreenUpdatePolicy(Strict):
    traffic_routing_configuration: TrafficRoutingConfiguration = TrafficRoutingConfiguration()
    termination_wait_in_seconds: int = Field(
        default=0, ge=0, le=3600, description="How long the old fleet stays up after the shift."
    )
    maximum_execution_timeout_in_seconds: int = Field(default=3600, ge=60, le=28800)


class RollingUpdatePolicy(Strict):
    maximum_batch_size: CapacitySize
    wait_interval_in_seconds: int = Field(ge=0, le=3600)
    maximum_execution_timeout_in_seconds: int = Field(default=3600, ge=60, le=28800)
    rollback_maximum_batch_size: CapacitySize | None = None


class Alarm(Strict):
    """A local rule on the new fleet's own traffic, standing in for a CloudWatch alarm: it is
    in alarm when the statistic of the metric over the last `period_seconds` is above the
    threshold."""

    alarm_name: str
    metric_name: Literal[
        "Invocation5XXErrors", "Invocation4XXErrors", "InvocationErrorRate", "ModelLatency"
    ] = "Invocation5XXErrors"
    statistic: Literal["Sum", "Average", "Maximum", "p50", "p90", "p99"] = "Sum"
    threshold: float = 0
    period_seconds: int = Field(default=60, ge=1, le=600)


class AutoRollbackConfig(Strict):
    alarms: list[Alarm] = Field(min_length=1, max_length=10)


class DeploymentConfig(Strict):
    blue_green_update_policy: BlueGreenUpdatePolicy | None = None
    rolling_update_policy: RollingUpdatePolicy | None = None
    auto_rollback_configuration: AutoRollbackConfig | None = None


class UpdateEndpoint(Strict):
    endpoint_config_name: str
    deployment_config: DeploymentConfig | None = Field(
        default=None,
        description="Default: blue/green, all traffic at once once the new fleet serves.",
    )


class DeploymentPhase(Strict):
    phase: str
    message: str = ""
    started_at: datetime
    ended_at: datetime | None = None


class DeploymentSummary(Strict):
    """An update in progress (PendingDeploymentSummary) or the last one."""

    endpoint_config_name: str
    status: Literal["InProgress", "Completed", "RolledBack"]
    traffic_to_new_fleet: float = Field(description="Share of requests the new fleet gets.")
    phases: list[DeploymentPhase] = []
    failure_reason: str | None = None
    deployment_config: DeploymentConfig | None = None


class EndpointDescription(Strict):
    name: str
    endpoint_config_name: str
    status: str
    failure_reason: str | None = None
    url: str | None = None
    production_variants: list[ProductionVariantSummary] = []
    shadow_production_variants: list[ShadowVariantSummary] = []
    data_capture_config: DataCaptureConfig | None = None
    pending_deployment_summary: DeploymentSummary | None = None
    last_deployment_summary: DeploymentSummary | None = None
    instances: list[InstanceDescription] = []
    tags: dict[str, str] = {}
    created_at: datetime
    updated_at: datetime
