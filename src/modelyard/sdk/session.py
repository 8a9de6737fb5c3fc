"""Session: the connection to a modelyard server, and SageMaker's data helpers.

`Session()` talks to MODELYARD_URL when set. Otherwise it looks for a server on the default
local address and, when nothing answers there, starts one in the background and says so — the
way `ray.init()` does — so a notebook needs no setup step.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelyard import server
from modelyard.errors import ModelyardError, ServerNotRunning
from modelyard.sdk.client import ApiClient
from modelyard.settings import Settings
from modelyard.storage.uri import join_s3_uri

UPLOAD_CHUNK = 1 << 20
Progress = Callable[[int], None]


def production_variant(
    model_name: str,
    instance_type: str = "local",
    initial_instance_count: int = 1,
    variant_name: str = "AllTraffic",
    initial_weight: float = 1,
    **_aws_only: Any,
) -> dict[str, Any]:
    """One variant of an endpoint config, as SageMaker's `sagemaker.session.production_variant`
    builds it (for `Session.endpoint_from_production_variants`)."""
    return {
        "variant_name": variant_name,
        "model_name": model_name,
        "initial_instance_count": initial_instance_count,
        "instance_type": instance_type,
        "initial_variant_weight": initial_weight,
    }


_VARIANT_KEYS = {
    "VariantName": "variant_name",
    "ModelName": "model_name",
    "InitialInstanceCount": "initial_instance_count",
    "InstanceType": "instance_type",
    "InitialVariantWeight": "initial_variant_weight",
    "DesiredWeight": "desired_weight",
    "DesiredInstanceCount": "desired_instance_count",
}


def _snake_keys(entry: dict[str, Any]) -> dict[str, Any]:
    """SageMaker's CamelCase keys (as boto3 takes them) or modelyard's snake case."""
    return {_VARIANT_KEYS.get(key, key): value for key, value in entry.items()}


def snake_case(value: Any) -> Any:
    """A boto3-style structure (CamelCase keys, any depth) in modelyard's snake case."""
    if isinstance(value, dict):
        return {
            re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower() if key[:1].isupper() else key: snake_case(
                item
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [snake_case(item) for item in value]
    return value


def _file_chunks(path: Path, progress: Progress | None) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(UPLOAD_CHUNK):
            if progress:
                progress(len(chunk))
            yield chunk


class Session:
    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        auto_start: bool = True,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings()
        explicit = url or self.settings.url
        self.url = (explicit or self.settings.resolved_url).rstrip("/")
        if server.ping(self.url) is None:
            if explicit or not auto_start:
                raise ServerNotRunning(
                    f"no modelyard server answers at {self.url}; start one "
                    "with 'modelyard server start'"
                )
            self.url = server.start_background(self.settings)
            print(
                f"Started a local modelyard server at {self.url} (home "
                f"{self.settings.resolved_home}); stop it with 'modelyard server stop'.",
                file=sys.stderr,
                flush=True,
            )
        self.token = token or self.settings.token or self._read_token()
        self.client = ApiClient(self.url, self.token)
        self._default_bucket: str | None = None

    def _read_token(self) -> str | None:
        """The admin token the local server wrote into its home, if this user can read it."""
        try:
            return self.settings.token_path.read_text().strip() or None
        except OSError:
            return None

    def __repr__(self) -> str:
        return f"Session(url={self.url!r})"

    # -- object storage, with the SageMaker SDK's names ------------------------------------
    def default_bucket(self) -> str:
        if self._default_bucket is None:
            self._default_bucket = str(self.client.get("/api/v1/info")["default_bucket"])
        return self._default_bucket

    @staticmethod
    def _object_path(bucket: str, key: str) -> str:
        return f"/api/v1/buckets/{bucket}/objects/{quote(key, safe='/')}"

    def upload_file(
        self, path: str | Path, bucket: str, key: str, progress: Progress | None = None
    ) -> str:
        path = Path(path)
        if not path.is_file():
            raise ModelyardError(f"{path} is not a file")
        self.client.request(
            "PUT",
            self._object_path(bucket, key),
            content=_file_chunks(path, progress),
            headers={"Content-Length": str(path.stat().st_size)},
        )
        return join_s3_uri(bucket, key)

    def upload_data(
        self,
        path: str | Path,
        bucket: str | None = None,
        key_prefix: str = "data",
        extra_args: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Upload a file or a directory; returns the s3:// URI of the file or of the prefix."""
        path = Path(path)
        bucket = bucket or self.default_bucket()
        prefix = key_prefix.strip("/")
        if path.is_file():
            key = f"{prefix}/{path.name}" if prefix else path.name
            return self.upload_file(path, bucket, key, progress)
        if not path.is_dir():
            raise ModelyardError(f"{path} does not exist")
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            relative = file.relative_to(path).as_posix()
            self.upload_file(file, bucket, f"{prefix}/{relative}" if prefix else relative, progress)
        return join_s3_uri(bucket, prefix)

    def upload_string_as_file_body(self, body: str | bytes, bucket: str, key: str) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.client.request("PUT", self._object_path(bucket, key), content=data)
        return join_s3_uri(bucket, key)

    def list_s3_files(self, bucket: str, key_prefix: str = "") -> list[str]:
        return [
            o["key"]
            for o in self.client.paginate(
                f"/api/v1/buckets/{bucket}/objects", {"prefix": key_prefix}, key="objects"
            )
        ]

    def read_s3_file(self, bucket: str, key_prefix: str) -> str:
        return self.client.request("GET", self._object_path(bucket, key_prefix)).text

    def download_file(
        self, bucket: str, key: str, dest: str | Path, progress: Progress | None = None
    ) -> Path:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        with self.client.stream("GET", self._object_path(bucket, key)) as response:
            if response.status_code >= 400:
                response.read()
                from modelyard.sdk.client import raise_for_error

                raise_for_error(response)
            with open(partial, "wb") as handle:
                for chunk in response.iter_bytes(UPLOAD_CHUNK):
                    handle.write(chunk)
                    if progress:
                        progress(len(chunk))
        partial.replace(dest)
        return dest

    def download_data(
        self,
        path: str | Path,
        bucket: str,
        key_prefix: str = "",
        extra_args: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> list[str]:
        """Download every object under the prefix into the directory path; returns the files."""
        path = Path(path)
        keys = self.list_s3_files(bucket, key_prefix)
        if not keys:
            raise ModelyardError(f"nothing stored under s3://{bucket}/{key_prefix}")
        files = []
        base = key_prefix.rsplit("/", 1)[0] + "/" if "/" in key_prefix.strip("/") else ""
        for key in keys:
            relative = key[len(base) :] if base and key.startswith(base) else key
            if key == key_prefix:
                relative = key.rsplit("/", 1)[-1]
            files.append(str(self.download_file(bucket, key, path / relative, progress)))
        return files

    # -- jobs and endpoints, low level (Estimator and Predictor build on these) ----------
    def describe_training_job(self, name: str) -> dict[str, Any]:
        return self.client.get(f"/api/v1/training-jobs/{name}")  # type: ignore[no-any-return]

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        return self.client.get(f"/api/v1/endpoints/{name}")  # type: ignore[no-any-return]

    def wait_for_endpoint(
        self, name: str, poll: float = 0.2, timeout: float = 600.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            description = self.describe_endpoint(name)
            if description["status"] == "InService":
                return description
            if description["status"] == "Failed":
                raise ModelyardError(f"endpoint {name} failed: {description['failure_reason']}")
            if time.monotonic() > deadline:
                raise ModelyardError(f"endpoint {name} is not InService after {timeout:.0f}s")
            time.sleep(poll)

    def endpoint_from_production_variants(
        self,
        name: str,
        production_variant_list: list[dict[str, Any]],
        tags: dict[str, str] | None = None,
        wait: bool = True,
        **_aws_only: Any,
    ) -> str:
        """An endpoint config of these variants (see `production_variant`) and an endpoint of
        it, both called `name`; requests are split between the variants by weight."""
        variants = [_snake_keys(v) for v in production_variant_list]
        self.client.post(
            "/api/v1/endpoint-configs",
            json={"name": name, "production_variants": variants, "tags": tags or {}},
        )
        self.client.post(
            "/api/v1/endpoints",
            json={"name": name, "endpoint_config_name": name, "tags": tags or {}},
        )
        if wait:
            self.wait_for_endpoint(name)
        return name

    def update_endpoint_weights_and_capacities(
        self,
        endpoint_name: str,
        desired_weights_and_capacities: list[dict[str, Any]],
        wait: bool = True,
    ) -> dict[str, Any]:
        """Change variants' weights (at once) and instance counts (the endpoint is Updating
        until the new instances serve) on a live endpoint."""
        self.client.post(
            f"/api/v1/endpoints/{endpoint_name}/weights-and-capacities",
            json={
                "desired_weights_and_capacities": [
                    _snake_keys(d) for d in desired_weights_and_capacities
                ]
            },
        )
        return (
            self.wait_for_endpoint(endpoint_name) if wait else self.describe_endpoint(endpoint_name)
        )

    def update_endpoint(
        self,
        endpoint_name: str,
        endpoint_config_name: str,
        deployment_config: dict[str, Any] | None = None,
        wait: bool = True,
        on_phase: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Serve `endpoint_config_name` on a live endpoint without dropping a request:
        blue/green (ALL_AT_ONCE, CANARY, LINEAR) or rolling, as `deployment_config` says
        (SageMaker's DeploymentConfig, CamelCase or snake case); with AutoRollbackConfiguration
        alarms, a new fleet that breaks one is rolled back. `on_phase` hears each phase."""
        body: dict[str, Any] = {"endpoint_config_name": endpoint_config_name}
        if deployment_config:
            body["deployment_config"] = snake_case(deployment_config)
        self.client.put(f"/api/v1/endpoints/{endpoint_name}", json=body)
        if not wait:
            return self.describe_endpoint(endpoint_name)
        return self.wait_for_update(endpoint_name, on_phase)

    def wait_for_update(
        self,
        name: str,
        on_phase: Callable[[dict[str, Any]], None] | None = None,
        poll: float = 0.2,
    ) -> dict[str, Any]:
        """Wait for an update to end; a rolled-back one raises with the reason."""
        seen = 0
        while True:
            description = self.describe_endpoint(name)
            summary = (
                description.get("pending_deployment_summary")
                or description.get("last_deployment_summary")
                or {}
            )
            phases = summary.get("phases", [])
            for phase in phases[seen:]:
                if on_phase:
                    on_phase(phase)
            seen = len(phases)
            if description["status"] == "Failed":
                raise ModelyardError(f"endpoint {name} failed: {description['failure_reason']}")
            if description["status"] == "InService" and not description.get(
                "pending_deployment_summary"
            ):
                if summary.get("status") == "RolledBack":
                    raise ModelyardError(
                        f"the update of endpoint {name} was {summary['failure_reason']}"
                    )
                return description
            time.sleep(poll)

    def put_scaling_policy(
        self,
        endpoint_name: str,
        variant_name: str = "AllTraffic",
        *,
        max_capacity: int,
        target_value: float,
        min_capacity: int = 1,
        metric: str = "ConcurrentRequestsPerInstance",
        scale_out_cooldown: float = 0,
        scale_in_cooldown: float = 300,
        scale_to_zero_after_seconds: float = 300,
    ) -> dict[str, Any]:
        """Autoscale a variant by target tracking (SageMaker's register_scalable_target plus
        put_scaling_policy in one): `metric` ConcurrentRequestsPerInstance or
        InvocationsPerInstance (a minute) kept near `target_value`; `min_capacity=0` scales
        to zero after `scale_to_zero_after_seconds` without a request."""
        return self.client.put(  # type: ignore[no-any-return]
            f"/api/v1/endpoints/{endpoint_name}/variants/{variant_name}/scaling-policy",
            json={
                "min_capacity": min_capacity,
                "max_capacity": max_capacity,
                "metric": metric,
                "target_value": target_value,
                "scale_out_cooldown": scale_out_cooldown,
                "scale_in_cooldown": scale_in_cooldown,
                "scale_to_zero_after_seconds": scale_to_zero_after_seconds,
            },
        )

    def delete_scaling_policy(
        self, endpoint_name: str, variant_name: str = "AllTraffic"
    ) -> dict[str, Any]:
        return self.client.delete(  # type: ignore[no-any-return]
            f"/api/v1/endpoints/{endpoint_name}/variants/{variant_name}/scaling-policy"
        )

    def delete_endpoint(self, name: str) -> None:
        self.client.delete(f"/api/v1/endpoints/{name}")

    def wait_for_endpoint_deleted(self, name: str, timeout: float = 60.0) -> None:
        from modelyard.errors import NotFound

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.describe_endpoint(name)
            except NotFound:
                return
            time.sleep(0.1)
        raise ModelyardError(f"endpoint {name} was not deleted within {timeout:.0f}s")
