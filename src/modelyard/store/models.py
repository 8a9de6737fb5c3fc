"""The metadata store's tables: desired and observed state of every resource.

Columns that SageMaker models as nested structures (hyperparameters, channels, variants) are
JSON; everything a query filters or sorts on is a real column.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy import DateTime as _DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class DateTime(TypeDecorator[datetime]):
    """A UTC timestamp that comes back timezone-aware on SQLite too (which drops the zone)."""

    impl = _DateTime(timezone=True)
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__()

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Job(Base):
    """A job of any kind (training, processing, tuning, ...): the life cycle every kind shares
    is in columns; what the kind itself asked for is its `spec`, what it produced its `result`.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    # The job that made this one (a tuning job's trial); its children are found by it.
    # The job it derives from, or "schedule:<id>" for a monitoring schedule's jobs.
    parent: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    secondary_status: Mapped[str] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    instance_type: Mapped[str] = mapped_column(String(64))
    instance_count: Mapped[int] = mapped_column(Integer, default=1)
    cpus: Mapped[int] = mapped_column(Integer, default=1)
    max_runtime_seconds: Mapped[int] = mapped_column(Integer)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    final_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Where and as what the job's process runs (the executor's handle), so a restarted
    # server can find it again.
    work_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    handle: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stop_requested_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    stop_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    transitions: Mapped[list[SecondaryStatusTransition]] = relationship(
        back_populates="job", order_by="SecondaryStatusTransition.id", cascade="all, delete-orphan"
    )


class SecondaryStatusTransition(Base):
    __tablename__ = "secondary_status_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str] = mapped_column(Text, default="")
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    job: Mapped[Job] = relationship(back_populates="transitions")


class MetricPoint(Base):
    __tablename__ = "metric_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[float] = mapped_column(Float)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    model_data: Mapped[str] = mapped_column(Text)
    algorithm: Mapped[str | None] = mapped_column(String(128), nullable=True)
    framework: Mapped[str | None] = mapped_column(String(32), nullable=True)
    entry_point: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    training_job_name: Mapped[str | None] = mapped_column(String(63), nullable=True)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mode: Mapped[str] = mapped_column(
        String(16), default="SingleModel", server_default="SingleModel"
    )
    multi_model_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class EndpointConfig(Base):
    __tablename__ = "endpoint_configs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    production_variants: Mapped[list[Any]] = mapped_column(JSON, default=list)
    shadow_production_variants: Mapped[list[Any]] = mapped_column(JSON, default=list)
    async_inference_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    data_capture_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class Endpoint(Base):
    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    endpoint_config_name: Mapped[str] = mapped_column(String(63))
    # Each variant's live weight and instance count (UpdateEndpointWeightsAndCapacities
    # changes them without a new config): variant_name, current_weight, desired_weight,
    # desired_instance_count.
    variants: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The update in progress, or the last one (controllers/deployments.py keeps its state).
    deployment: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    instances: Mapped[list[EndpointInstance]] = relationship(
        back_populates="endpoint", order_by="EndpointInstance.index", cascade="all, delete-orphan"
    )


class EndpointInstance(Base):
    """One model-server process of an endpoint; pid and port let a restarted server re-attach."""

    __tablename__ = "endpoint_instances"
    __table_args__ = (UniqueConstraint("endpoint_id", "variant_name", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), index=True
    )
    # The config it serves: during an update, the old one's or the new one's.
    endpoint_config_name: Mapped[str | None] = mapped_column(String(63), nullable=True)
    variant_name: Mapped[str] = mapped_column(String(63))
    index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pid_started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    work_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Start → first answer to /ping, the last time it started (SageMaker's ModelSetupTime).
    setup_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)

    endpoint: Mapped[Endpoint] = relationship(back_populates="instances")


class AsyncInvocation(Base):
    """One request to an asynchronous endpoint: queued here (so it outlives a restart of the
    server), sent when the endpoint has room, its answer written to the output location."""

    __tablename__ = "async_invocations"
    __table_args__ = (UniqueConstraint("endpoint_name", "inference_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_name: Mapped[str] = mapped_column(String(63), index=True)
    inference_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)  # Queued InProgress Completed ...
    input_location: Mapped[str] = mapped_column(Text)
    output_location: Mapped[str] = mapped_column(Text)
    failure_location: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(255))
    accept: Mapped[str | None] = mapped_column(String(255), nullable=True)
    invocation_timeout_seconds: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class MonitoringSchedule(Base):
    """A Model Monitor schedule: a monitoring job of an endpoint's captured data at each time
    its expression names, over the window since the one before."""

    __tablename__ = "monitoring_schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # Scheduled, Stopped, Failed
    endpoint_name: Mapped[str] = mapped_column(String(63), index=True)
    schedule_expression: Mapped[str] = mapped_column(String(256))
    # statistics, constraints, output_s3_uri, output_columns_position, instance_type, ...
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_run_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_job_name: Mapped[str | None] = mapped_column(String(63), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
