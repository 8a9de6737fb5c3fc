"""Every setting modelyard reads from the environment, declared once, typed, with its default.

Nothing else in the package reads os.environ for configuration: code takes a `Settings`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8642


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELYARD_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".modelyard",
        description="Where the server keeps its database, objects, jobs, logs and token.",
    )
    url: str | None = Field(
        default=None,
        description="URL of the server the SDK and CLI talk to (default http://127.0.0.1:8642).",
    )
    token: str | None = Field(
        default=None,
        description="API token for the SDK and CLI; by default read from <home>/token.",
    )
    host: str = Field(default=DEFAULT_HOST, description="Address the server listens on.")
    port: int = Field(default=DEFAULT_PORT, description="Port the server listens on.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; default a SQLite file in the home.",
    )
    storage_url: str | None = Field(
        default=None,
        description="Object store: a directory (default <home>/objects) or "
        "s3://bucket?endpoint_url=... for S3 and S3-compatible stores.",
    )
    compute: str = Field(default="local", description="Where jobs run: 'local' processes.")
    max_cpus: int | None = Field(
        default=None, description="CPU slots the local executor hands out (default: all cores)."
    )
    warm_job_process: bool = Field(
        default=True,
        description="Fork jobs from a launcher process with the algorithms' libraries loaded, "
        "so a job starts without paying for their imports. It starts with the first job and "
        "is released after job_launcher_idle_seconds without one.",
    )
    stop_grace_seconds: float = Field(
        default=20.0, description="Seconds between SIGTERM and SIGKILL when a job is stopped."
    )
    job_launcher_idle_seconds: float = Field(
        default=120.0,
        ge=0,
        description="Release the job launcher (and the memory its libraries hold) after this "
        "long without a job; 0 keeps it. The next job starts it again.",
    )
    invocation_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long an endpoint's model may take to answer (504)."
    )
    max_requests_per_instance: int = Field(
        default=128,
        ge=1,
        description="Requests one endpoint instance may hold at once; beyond, callers get 429.",
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_home / 'modelyard.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str(self.resolved_home / "objects")

    @property
    def resolved_url(self) -> str:
        return (self.url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def token_path(self) -> Path:
        return self.resolved_home / "token"

    @property
    def cpu_slots(self) -> int:
        return self.max_cpus or os.cpu_count() or 1
