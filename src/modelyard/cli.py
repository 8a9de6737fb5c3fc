"""The `modelyard` command: server, data, jobs, endpoints, models, algorithms, quickstart."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from modelyard.errors import ModelyardError, ServerNotRunning, UnexpectedStatusException
from modelyard.kinds import JobKind, job_kind, job_kinds
from modelyard.names import unique_name
from modelyard.settings import Settings

app = typer.Typer(
    help="modelyard: train, deploy and predict on your own machines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
server_app = typer.Typer(
    help="Start, stop and inspect the control-plane server.", no_args_is_help=True
)
data_app = typer.Typer(help="Object storage: upload, list, download, remove.", no_args_is_help=True)
jobs_app = typer.Typer(help=job_kind("training").help, no_args_is_help=True)
# Each kind of job gets a group (`modelyard jobs`, `modelyard processing`, ...) below.
job_groups = {job_kind("training").cli: jobs_app}
endpoints_app = typer.Typer(help="Real-time endpoints.", no_args_is_help=True)
models_app = typer.Typer(help="Registered models.", no_args_is_help=True)
algorithms_app = typer.Typer(help="The built-in algorithm catalog.", no_args_is_help=True)
schedules_app = typer.Typer(
    help="Monitoring schedules: an endpoint's captured data checked against a baseline, "
    "window by window.",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")
app.add_typer(data_app, name="data")
app.add_typer(jobs_app, name="jobs")
app.add_typer(endpoints_app, name="endpoints")
app.add_typer(models_app, name="models")
app.add_typer(algorithms_app, name="algorithms")
app.add_typer(schedules_app, name="monitoring-schedules")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def session() -> Any:
    from modelyard.sdk.session import Session

    return Session(auto_start=False)


def print_json(value: Any) -> None:
    out.print_json(json.dumps(value, default=str))


def table(columns: list[str], rows: list[list[Any]]) -> None:
    grid = Table(*columns, box=None, pad_edge=False, header_style="bold")
    for row in rows:
        grid.add_row(*("" if v is None else str(v) for v in row))
    out.print(grid)


def split_uri(uri: str) -> tuple[str, str]:
    from modelyard.storage.uri import parse_s3_uri

    return parse_s3_uri(uri)


def transfer_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
    )


# -- server -------------------------------------------------------------------------------
@server_app.command("start")
def server_start(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    home: Annotated[Path | None, typer.Option(help="Home directory (data, jobs, token).")] = None,
    foreground: Annotated[bool, typer.Option(help="Run in this terminal.")] = False,
) -> None:
    """Start the server (in the background unless --foreground)."""
    from modelyard import server

    overrides = {
        k: v for k, v in {"host": host, "port": port, "home": home}.items() if v is not None
    }
    settings = Settings(**overrides)
    if foreground:
        server.run_foreground(settings)
        return
    url = server.start_background(settings)
    out.print(
        f"modelyard server running at {url} (home {settings.resolved_home}, log "
        f"{server.ServerFiles(settings.resolved_home).log_file})"
    )


@server_app.command("stop")
def server_stop(
    home: Annotated[Path | None, typer.Option(help="Home of the server to stop.")] = None,
) -> None:
    """Stop the server started for this home."""
    from modelyard import server

    settings = Settings(**({"home": home} if home else {}))
    pid = server.stop(settings)
    out.print(f"modelyard server stopped (pid {pid})")


@server_app.command("status")
def server_status() -> None:
    """Say whether a server answers, and where."""
    from modelyard import server

    settings = Settings()
    url = settings.resolved_url
    answer = server.ping(url)
    if answer is None:
        raise ServerNotRunning(f"no modelyard server answers at {url}")
    info = session().client.get("/api/v1/info")
    out.print(f"modelyard {answer['version']} running at {url}")
    for key in ("home", "database", "storage", "default_bucket", "cpu_slots"):
        out.print(f"  {key}: {info[key]}")


# -- data ---------------------------------------------------------------------------------
@data_app.command("upload")
def data_upload(
    path: Path,
    bucket: Annotated[
        str | None, typer.Option(help="Bucket (default: the default bucket).")
    ] = None,
    prefix: Annotated[str, typer.Option(help="Key prefix.")] = "data",
) -> None:
    """Upload a file or a directory; prints its s3:// URI."""
    s = session()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise ModelyardError(f"{path} does not exist or holds no files")
    total = sum(f.stat().st_size for f in files)
    with transfer_progress() as progress:
        task = progress.add_task(f"uploading {path.name}", total=total)
        uri = s.upload_data(
            path, bucket=bucket, key_prefix=prefix, progress=lambda n: progress.advance(task, n)
        )
    out.print(uri)


@data_app.command("ls")
def data_ls(uri: Annotated[str | None, typer.Argument(help="s3://bucket/prefix")] = None) -> None:
    """List buckets, or the objects under an s3:// prefix."""
    s = session()
    if uri is None:
        for bucket in s.client.get("/api/v1/buckets")["buckets"]:
            out.print(f"s3://{bucket}")
        return
    bucket, prefix = split_uri(uri)
    rows = [
        [o["last_modified"][:19], o["size"], f"s3://{bucket}/{o['key']}"]
        for o in s.client.paginate(
            f"/api/v1/buckets/{bucket}/objects", {"prefix": prefix}, key="objects"
        )
    ]
    table(["modified", "size", "uri"], rows)


@data_app.command("download")
def data_download(uri: str, dest: Path) -> None:
    """Download an object, or every object under a prefix, into DEST."""
    s = session()
    bucket, key = split_uri(uri)
    with transfer_progress() as progress:
        task = progress.add_task(f"downloading {uri}", total=None)
        files = s.download_data(dest, bucket, key, progress=lambda n: progress.advance(task, n))
    for file in files:
        out.print(file)


@data_app.command("rm")
def data_rm(
    uri: str, recursive: Annotated[bool, typer.Option("--recursive", "-r")] = False
) -> None:
    """Remove an object (or, with --recursive, everything under a prefix)."""
    s = session()
    bucket, key = split_uri(uri)
    keys = s.list_s3_files(bucket, key) if recursive else [key]
    for k in keys:
        s.client.request("DELETE", s._object_path(bucket, k))
        out.print(f"deleted s3://{bucket}/{k}")


# -- jobs ---------------------------------------------------------------------------------
def parse_pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise ModelyardError(f"{what} {value!r} is not NAME=VALUE")
        pairs[key] = val
    return pairs


@jobs_app.command("train")
def jobs_train(
    algorithm: Annotated[str, typer.Option(help="Built-in algorithm, e.g. xgboost.")],
    train: Annotated[str, typer.Option(help="s3:// URI of the train channel.")],
    validation: Annotated[
        str | None, typer.Option(help="s3:// URI of the validation channel.")
    ] = None,
    hp: Annotated[
        list[str] | None, typer.Option("--hp", help="Hyperparameter NAME=VALUE (repeat).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Job name (default: generated).")] = None,
    content_type: Annotated[str, typer.Option(help="Content type of the channels.")] = "text/csv",
    instance_type: str = "local",
    output_path: str | None = None,
    max_run: Annotated[int | None, typer.Option(help="Max runtime in seconds.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job's log until it ends.")] = True,
) -> None:
    """Start a training job (and follow it)."""
    from modelyard.sdk.estimator import Estimator
    from modelyard.sdk.inputs import TrainingInput

    estimator = Estimator(
        algorithm=algorithm,
        hyperparameters=parse_pairs(hp or [], "--hp"),
        instance_type=instance_type,
        output_path=output_path,
        max_run=max_run,
        session=session(),
    )
    inputs = {"train": TrainingInput(train, content_type)}
    if validation:
        inputs["validation"] = TrainingInput(validation, content_type)
    estimator.fit(inputs, wait=False, job_name=name)
    job = estimator.latest_training_job
    assert job is not None
    out.print(f"training job {job.name} created")
    if wait:
        description = job.wait(logs=True)
        out.print(f"model artifact: {description['model_artifact']}")


def follow_logs(job: Any, follow: bool) -> None:
    offset = 0
    while True:
        text, offset, complete = job.logs(offset)
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
        if not follow or complete:
            return
        time.sleep(0.5)


@jobs_app.command("metrics")
def jobs_metrics(
    name: str,
    metric: Annotated[str | None, typer.Option(help="Only this metric.")] = None,
) -> None:
    """A job's metrics: every point of each time series, oldest first."""
    points = session().client.get(
        f"/api/v1/training-jobs/{name}/metrics", params={"metric_name": metric} if metric else None
    )
    table(
        ["metric", "step", "value", "time"],
        [[p["name"], p["step"], f"{p['value']:.6g}", p["timestamp"][:23]] for p in points],
    )


# -- endpoints and models -------------------------------------------------------------------
@endpoints_app.command("list")
def endpoints_list(status: str | None = None) -> None:
    """List endpoints."""
    page = session().client.get("/api/v1/endpoints", params={"status": status} if status else None)
    table(
        ["name", "status", "instances", "url"],
        [[e["name"], e["status"], len(e["instances"]), e["url"]] for e in page["items"]],
    )


@endpoints_app.command("describe")
def endpoints_describe(name: str) -> None:
    """Everything about one endpoint, as JSON."""
    print_json(session().describe_endpoint(name))


@endpoints_app.command("invoke")
def endpoints_invoke(
    name: str,
    body: Annotated[str | None, typer.Option(help="Request body, e.g. '1.5,2,3'.")] = None,
    file: Annotated[Path | None, typer.Option(help="Read the body from this file.")] = None,
    content_type: str = "text/csv",
    accept: str = "application/json",
    target_variant: Annotated[
        str | None, typer.Option(help="Send it to this production variant.")
    ] = None,
    target_model: Annotated[
        str | None,
        typer.Option(help="A multi-model endpoint's model: its key under the prefix."),
    ] = None,
) -> None:
    """Send one request to an endpoint and print the answer."""
    if (body is None) == (file is None):
        raise ModelyardError("give exactly one of --body or --file")
    data = body.encode() if body is not None else file.read_bytes()
    s = session()
    headers = {"Content-Type": content_type, "Accept": accept}
    if target_variant:
        headers["X-Amzn-SageMaker-Target-Variant"] = target_variant
    if target_model:
        headers["X-Amzn-SageMaker-Target-Model"] = target_model
    response = s.client.request(
        "POST", f"/endpoints/{name}/invocations", content=data, headers=headers
    )
    sys.stdout.write(response.text if response.text.endswith("\n") else response.text + "\n")


@endpoints_app.command("update")
def endpoints_update(
    name: str,
    config: Annotated[str, typer.Option(help="The endpoint config to serve from now on.")],
    deployment_config: Annotated[
        Path | None,
        typer.Option(help="SageMaker's DeploymentConfig as JSON (CamelCase or snake case)."),
    ] = None,
    wait: bool = True,
) -> None:
    """Move a live endpoint to another config without dropping a request (blue/green or
    rolling), printing each phase as it begins; a rolled-back update exits 1 with why."""
    policy = None
    if deployment_config is not None:
        try:
            policy = json.loads(deployment_config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelyardError(f"--deployment-config {deployment_config}: {exc}") from None

    def say(phase: dict[str, Any]) -> None:
        out.print(f"{phase['started_at'][11:19]}  {phase['phase']}: {phase['message']}")

    description = session().update_endpoint(
        name, config, policy, wait=wait, on_phase=say if wait else None
    )
    out.print(
        f"endpoint {name}: {description['status']}, config {description['endpoint_config_name']}"
    )


def parse_variant_change(text: str) -> dict[str, Any]:
    """VARIANT=WEIGHT, VARIANT=WEIGHT:COUNT or VARIANT=:COUNT."""
    variant, sep, values = text.partition("=")
    weight, _, count = values.partition(":")
    try:
        change: dict[str, Any] = {"variant_name": variant}
        if weight:
            change["desired_weight"] = float(weight)
        if count:
            change["desired_instance_count"] = int(count)
    except ValueError:
        change = {}
    if not sep or not variant or len(change) < 2:
        raise ModelyardError(
            f"--variant {text!r}: write VARIANT=WEIGHT, VARIANT=WEIGHT:COUNT or VARIANT=:COUNT"
        )
    return change


@endpoints_app.command("update-weights")
def endpoints_update_weights(
    name: str,
    variant: Annotated[
        list[str],
        typer.Option(help="VARIANT=WEIGHT[:INSTANCES], or VARIANT=:INSTANCES; repeat for more."),
    ],
) -> None:
    """Change production variants' weights and instance counts on a live endpoint."""
    changes = [parse_variant_change(v) for v in variant]
    description = session().update_endpoint_weights_and_capacities(name, changes)
    table(
        ["variant", "weight", "instances"],
        [
            [v["variant_name"], f"{v['current_weight']:g}", v["current_instance_count"]]
            for v in description["production_variants"]
        ],
    )


@endpoints_app.command("autoscale")
def endpoints_autoscale(
    name: str,
    variant: str = "AllTraffic",
    min_capacity: Annotated[
        int, typer.Option("--min", help="Fewest instances; 0 scales to zero.")
    ] = 1,
    max_capacity: Annotated[int | None, typer.Option("--max", help="Most instances.")] = None,
    target: Annotated[float | None, typer.Option(help="The metric's target per instance.")] = None,
    metric: Annotated[
        str, typer.Option(help="ConcurrentRequestsPerInstance or InvocationsPerInstance.")
    ] = "ConcurrentRequestsPerInstance",
    scale_out_cooldown: float = 0,
    scale_in_cooldown: float = 300,
    zero_after: Annotated[
        float, typer.Option(help="Idle seconds before a --min 0 variant has no instance.")
    ] = 300,
    off: Annotated[bool, typer.Option("--off", help="Stop autoscaling the variant.")] = False,
) -> None:
    """Autoscale a variant by target tracking, or stop (--off)."""
    s = session()
    if off:
        s.delete_scaling_policy(name, variant)
        out.print(f"endpoint {name} variant {variant}: autoscaling off")
        return
    if max_capacity is None or target is None:
        raise ModelyardError("give --max and --target (or --off)")
    s.put_scaling_policy(
        name,
        variant,
        min_capacity=min_capacity,
        max_capacity=max_capacity,
        target_value=target,
        metric=metric,
        scale_out_cooldown=scale_out_cooldown,
        scale_in_cooldown=scale_in_cooldown,
        scale_to_zero_after_seconds=zero_after,
    )
    out.print(
        f"endpoint {name} variant {variant}: {min_capacity}..{max_capacity} instances, "
        f"{metric} → {target:g}"
    )


@endpoints_app.command("delete")
def endpoints_delete(name: str) -> None:
    """Delete an endpoint (its instances stop)."""
    s = session()
    s.delete_endpoint(name)
    s.wait_for_endpoint_deleted(name)
    out.print(f"endpoint {name} deleted")


@endpoints_app.command("loaded-models")
def endpoints_loaded_models(name: str) -> None:
    """The models a multi-model endpoint's instances have loaded now."""
    answer = session().client.get(f"/api/v1/endpoints/{name}/loaded-models")
    rows = [
        [i["instance"], i["variant_name"], m["target_model"], m["invocations"],
         f"{m['load_seconds']:.3f}"]
        for i in answer["instances"]
        for m in i["models"]
    ]  # fmt: skip
    table(["instance", "variant", "target model", "invocations", "load s"], rows)


@models_app.command("create")
def models_create(
    name: str,
    model_data: Annotated[
        str, typer.Option(help="s3:// URI of model.tar.gz (MultiModel: a prefix ending in /).")
    ],
    algorithm: Annotated[
        str | None, typer.Option(help="The built-in algorithm that trained it.")
    ] = None,
    framework: Annotated[
        str | None, typer.Option(help="Serve with inference code: sklearn, xgboost, pytorch.")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="SingleModel, or MultiModel: every model under the prefix.")
    ] = "SingleModel",
    max_loaded_models: Annotated[
        int | None, typer.Option(help="MultiModel: models one instance keeps loaded at most.")
    ] = None,
) -> None:
    """Register a model, to deploy to endpoints or use in transform jobs."""
    config = {"max_loaded_models": max_loaded_models} if max_loaded_models else None
    session().client.post(
        "/api/v1/models",
        json={
            "name": name,
            "model_data": model_data,
            "algorithm": algorithm,
            "framework": framework,
            "mode": mode,
            "multi_model_config": config,
        },
    )
    out.print(f"model {name} created")


@models_app.command("list")
def models_list() -> None:
    """List registered models."""
    page = session().client.get("/api/v1/models")
    table(
        ["name", "algorithm", "mode", "model data", "created"],
        [[m["name"], m["algorithm"] or m["framework"], m["mode"], m["model_data"],
          m["created_at"][:19]] for m in page["items"]],
    )  # fmt: skip


@schedules_app.command("create")
def schedules_create(
    name: str,
    endpoint: Annotated[str, typer.Option(help="An endpoint that captures data.")],
    baseline: Annotated[str, typer.Option(help="The baseline job to check against.")],
    schedule: Annotated[
        str, typer.Option(help="cron(0 * ? * * *) (hourly), a 5-field cron, or rate(N unit).")
    ] = "cron(0 * ? * * *)",
) -> None:
    """Check an endpoint's captured data against a baseline job's files on a schedule."""
    s = session()
    files = s.client.get(f"/api/v1/baseline-jobs/{baseline}")
    if not files.get("statistics"):
        raise ModelyardError(f"baseline job {baseline} has no files: it is {files['status']}")
    described = s.client.post(
        "/api/v1/monitoring-schedules",
        json={
            "name": name,
            "endpoint_name": endpoint,
            "statistics": files["statistics"],
            "constraints": files["constraints"],
            "schedule_expression": schedule,
        },
    )
    out.print(f"monitoring schedule {name} created; first run {described['next_run_at']}")


@schedules_app.command("list")
def schedules_list() -> None:
    """List monitoring schedules."""
    page = session().client.get("/api/v1/monitoring-schedules")
    rows = []
    for item in page["items"]:
        last = item["last_monitoring_execution_summary"] or {}
        rows.append([
            item["name"], item["status"], item["endpoint_name"], item["schedule_expression"],
            last.get("monitoring_execution_status", ""), (item["next_run_at"] or "")[:19],
        ])  # fmt: skip
    table(["name", "status", "endpoint", "schedule", "last run", "next run"], rows)


@schedules_app.command("describe")
def schedules_describe(name: str) -> None:
    """Everything about one monitoring schedule, as JSON."""
    print_json(session().client.get(f"/api/v1/monitoring-schedules/{name}"))


@schedules_app.command("stop")
def schedules_stop(name: str) -> None:
    """Stop a monitoring schedule: no more runs until it is started."""
    session().client.post(f"/api/v1/monitoring-schedules/{name}/stop")
    out.print(f"monitoring schedule {name} stopped")


@schedules_app.command("start")
def schedules_start(name: str) -> None:
    """Start a stopped monitoring schedule again, from its next time."""
    session().client.post(f"/api/v1/monitoring-schedules/{name}/start")
    out.print(f"monitoring schedule {name} started")


@schedules_app.command("delete")
def schedules_delete(name: str) -> None:
    """Delete a monitoring schedule (its monitoring jobs stay)."""
    session().client.delete(f"/api/v1/monitoring-schedules/{name}")
    out.print(f"monitoring schedule {name} deleted")


@algorithms_app.command("list")
def algorithms_list() -> None:
    """List the built-in algorithms."""
    rows = [
        [a["name"], ", ".join(a["problem_types"]), a["description"]]
        for a in session().client.get("/api/v1/algorithms")
    ]
    table(["name", "problems", "description"], rows)


@algorithms_app.command("describe")
def algorithms_describe(
    name: str,
    as_json: bool = typer.Option(False, "--json", help="Print the raw declaration as JSON."),
) -> None:
    """An algorithm's hyperparameters, channels, metrics and model artifact."""
    entry = session().client.get(f"/api/v1/algorithms/{name}")
    if as_json:
        print_json(entry)
        return
    channels = entry["channels"]
    out.print(f"[bold]{entry['name']}[/]: {entry['description']}")
    out.print(f"problems: {', '.join(entry['problem_types'])}")
    out.print(f"content types: {', '.join(entry['content_types'])}")
    out.print(
        f"channels: {', '.join(channels['required'])} (required)"
        + (f", {', '.join(channels['optional'])} (optional)" if channels["optional"] else "")
    )
    out.print(f"model artifact: {entry['artifact']}")
    out.print()
    table(
        ["hyperparameter", "default", "allowed", "help"],
        [
            [
                hp["name"],
                "required" if hp["required"] else hp["default"],
                hp["allowed"],
                hp["help"],
            ]
            for hp in entry["hyperparameters"]
        ],
    )
    if entry["metrics"]:
        out.print()
        out.print("metrics: " + ", ".join(m["name"] for m in entry["metrics"]))


# -- every kind of job: list, describe, logs, stop (from its declaration) ----------------
def add_job_commands(group: typer.Typer, kind: JobKind) -> None:
    # Defaults, not annotations, carry the per-kind help: annotations are strings here.
    def list_jobs(
        status: str | None = typer.Option(None, help=", ".join(kind.statuses)),
        name_contains: str | None = None,
        max_results: int = 50,
    ) -> None:
        params = {"status": status, "name_contains": name_contains, "max_results": max_results}
        page = session().client.get(
            f"/api/v1/{kind.collection}", params={k: v for k, v in params.items() if v}
        )
        table(
            [c.header for c in kind.columns],
            [[cell(item, c.field, c.width) for c in kind.columns] for item in page["items"]],
        )

    def describe(name: str) -> None:
        print_json(job_client(kind, name).describe())

    def logs(name: str, follow: Annotated[bool, typer.Option("--follow", "-f")] = False) -> None:
        follow_logs(job_client(kind, name), follow)

    def stop(name: str) -> None:
        description = job_client(kind, name).stop()
        out.print(f"{kind.noun} {name}: {description['status']}")

    list_jobs.__doc__ = f"List {kind.nouns}, newest first."
    describe.__doc__ = f"Everything about one {kind.noun}, as JSON."
    logs.__doc__ = f"Print a {kind.noun}'s log (and keep following it with --follow)."
    stop.__doc__ = f"Stop a {kind.noun}."
    group.command("list")(list_jobs)
    group.command("describe")(describe)
    if kind.runtime is not None:
        group.command("logs")(logs)
    group.command("stop")(stop)


def job_client(kind: JobKind, name: str) -> Any:
    from modelyard.sdk.jobs import Job

    return Job(session(), name, kind=kind.name)


def cell(item: dict[str, Any], field: str, width: int | None) -> Any:
    value = item.get(field)
    return value[:width] if width and isinstance(value, str) else value


for _kind in job_kinds().values():
    _group = job_groups.get(_kind.cli)
    if _group is None:
        _group = job_groups[_kind.cli] = typer.Typer(help=_kind.help, no_args_is_help=True)
        app.add_typer(_group, name=_kind.cli)
    add_job_commands(_group, _kind)


# -- tuning: start from a file, the trials, and a picture of the search ----------------------
# A kind's own command registered after the generic ones replaces the one of the same name.
tuning_app = job_groups[job_kind("tuning").cli]


@tuning_app.command("start")
def tuning_start(
    config: Annotated[Path, typer.Option(help="The tuning job as JSON (the REST body).")],
    name: Annotated[str | None, typer.Option(help="Overrides the file's name.")] = None,
    algorithm: Annotated[str | None, typer.Option(help="Built-in algorithm to tune.")] = None,
    entry_point: Annotated[str | None, typer.Option(help="Or your training script.")] = None,
    source_dir: Annotated[str | None, typer.Option(help="The script's directory.")] = None,
    train: Annotated[str | None, typer.Option(help="s3:// URI of the train channel.")] = None,
    validation: Annotated[str | None, typer.Option(help="s3:// URI of validation.")] = None,
    hp: Annotated[
        list[str] | None, typer.Option("--hp", help="Static hyperparameter NAME=VALUE.")
    ] = None,
    instance_type: str = "local",
    wait: Annotated[bool, typer.Option(help="Follow it until it ends.")] = True,
) -> None:
    """Start a hyperparameter tuning job (and follow it): the file says what to tune; the
    template is in the file (training_job_definition) or given by the options."""
    from modelyard.sdk.estimator import Estimator
    from modelyard.sdk.inputs import TrainingInput
    from modelyard.sdk.tuner import TuningJob

    try:
        body = json.loads(config.read_text())
    except (OSError, ValueError) as exc:
        raise ModelyardError(f"--config {config}: {exc}") from None
    body["name"] = name or body.get("name") or unique_name("tuning")[:32]
    s = session()
    if "training_job_definition" not in body:
        if (algorithm is None) == (entry_point is None):
            raise ModelyardError(
                "the file has no training_job_definition: give --algorithm or --entry-point"
            )
        estimator = Estimator(
            algorithm=algorithm, entry_point=entry_point, source_dir=source_dir,
            hyperparameters=parse_pairs(hp or [], "--hp"), instance_type=instance_type,
            session=s,
        )  # fmt: skip
        inputs = {k: TrainingInput(v) for k, v in {"train": train, "validation": validation}.items()
                  if v}  # fmt: skip
        body["training_job_definition"] = estimator.training_job_definition(
            s, body["name"], inputs or None
        )
    s.client.post(f"/api/v1/{job_kind('tuning').collection}", json=body)
    out.print(f"hyperparameter tuning job {body['name']} created")
    if wait:
        TuningJob(s, body["name"]).wait(logs=True)


@tuning_app.command("jobs")
def tuning_jobs(
    name: str,
    sort_by: Annotated[
        str, typer.Option(help="FinalObjectiveMetricValue, CreationTime, Name or Status")
    ] = "FinalObjectiveMetricValue",
) -> None:
    """A tuning job's training jobs, best objective first."""
    from modelyard.sdk.tuner import TuningJob

    rows = []
    for t in TuningJob(session(), name).trials(sort_by=sort_by):
        metric = t["final_hyper_parameter_tuning_job_objective_metric"]
        tuned = ", ".join(f"{k}={v}" for k, v in sorted(t["tuned_hyper_parameters"].items()))
        value = f"{metric['value']:.6g}" if metric else t["objective_status"]
        rows.append([t["training_job_name"], t["training_job_status"], value, tuned])
    table(["training job", "status", "objective", "hyperparameters"], rows)


@tuning_app.command("describe")
def tuning_describe(
    name: str, as_json: bool = typer.Option(False, "--json", help="The raw description.")
) -> None:
    """A tuning job: its settings, counters, best training job, and a chart of the objective
    per trial with the best so far."""
    from modelyard.sdk.tuner import TuningJob, progress

    job = TuningJob(session(), name)
    description = job.describe()
    if as_json:
        print_json(description)
        return
    objective = description["objective"]
    out.print(f"[bold]{name}[/]: {description['status']} - {progress(description)}")
    out.print(f"strategy {description['strategy']}, {objective['type']} "
              f"{objective['metric_name']}, early stopping "
              f"{description['training_job_early_stopping_type']}")  # fmt: skip
    if description.get("completion_reason"):
        out.print(f"ended: {description['completion_reason']}")
    if description.get("failure_reason"):
        out.print(f"[red]failure:[/] {description['failure_reason']}")
    trials = job.trials(sort_by="Name", sort_order="Ascending")
    values = [t["final_hyper_parameter_tuning_job_objective_metric"] for t in trials]
    points = [(i + 1, m["value"]) for i, m in enumerate(values) if m]
    if points:
        out.print()
        out.print(objective_chart(points, maximize=objective["type"] == "Maximize"))
    best = description.get("best_training_job")
    if best:
        tuned = ", ".join(f"{k}={v}" for k, v in sorted(best["tuned_hyper_parameters"].items()))
        metric = best["final_hyper_parameter_tuning_job_objective_metric"]
        out.print(f"best: {best['training_job_name']} {metric['metric_name']}="
                  f"{metric['value']:.6g} ({tuned})")  # fmt: skip


def objective_chart(points: list[tuple[int, float]], maximize: bool, height: int = 10) -> str:
    """Each trial's objective (o) and the best so far (-), as text a terminal shows."""
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    trials = points[-1][0]
    width = min(70, max(trials, 10))
    grid = [[" "] * width for _ in range(height)]

    def cell(trial: int, value: float) -> tuple[int, int]:
        column = round((trial - 1) / max(trials - 1, 1) * (width - 1))
        return height - 1 - round((value - low) / span * (height - 1)), column

    best: float | None = None
    marks: dict[int, int] = {}
    for trial, value in points:
        best = value if best is None or (value > best if maximize else value < best) else best
        marks[cell(trial, best)[1]] = cell(trial, best)[0]
    last = None
    for column in range(width):  # the best-so-far line steps across the whole chart
        last = marks.get(column, last)
        if last is not None:
            grid[last][column] = "-"
    for trial, value in points:
        row, column = cell(trial, value)
        grid[row][column] = "o"
    labels = [f"{high:>10.4g} |", *([" " * 10 + " |"] * (height - 2)), f"{low:>10.4g} |"]
    lines = [label + "".join(row) for label, row in zip(labels, grid, strict=True)]
    lines.append(" " * 11 + "+" + "-" * width)
    lines.append(" " * 12 + f"trial 1{' ' * max(1, width - 8 - len(str(trials)))}{trials}")
    lines.append(" " * 12 + "o objective of each trial   - best so far")
    return "\n".join(lines)


# -- quickstart ---------------------------------------------------------------------------
@app.command("quickstart")
def quickstart(
    keep: Annotated[bool, typer.Option(help="Keep the endpoint running.")] = False,
) -> None:
    """Train xgboost on bundled data, deploy it, predict, print the accuracy."""
    from modelyard import quickstart as qs

    result = qs.run(keep=keep, say=out.print)
    out.print(
        f"[bold green]quickstart done[/] in {result.seconds:.1f}s: accuracy {result.accuracy:.3f}"
    )


def main() -> None:
    try:
        app()
    except UnexpectedStatusException as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise SystemExit(1) from None
    except ModelyardError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()


# -- evaluation: a training job's model on test data -----------------------------------------
@job_groups[job_kind("training").cli].command("evaluate")
def jobs_evaluate(
    name: Annotated[
        str, typer.Argument(help="The completed training job whose model to evaluate.")
    ],
    test: Annotated[str, typer.Option(help="s3:// URI of the test rows (features and label).")],
    content_type: str = "text/csv",
    problem_type: Annotated[
        str | None,
        typer.Option(
            help="BinaryClassification, MulticlassClassification or Regression; "
            "default: from the model's answers."
        ),
    ] = None,
    label: Annotated[str | None, typer.Option(help="Label column, with a header row.")] = None,
    job_name: Annotated[
        str | None, typer.Option("--name", help="The evaluation job's name.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow it until it ends.")] = True,
) -> None:
    """Evaluate a training job's model on test data: metrics, curves and an HTML report
    written beside the model (`modelyard evaluations describe NAME` says where)."""
    from modelyard.sdk.evaluation import EvaluationJob

    s = session()
    evaluation = job_name or unique_name(name[:30].rstrip("-") + "-eval")
    s.client.post(
        f"/api/v1/{job_kind('evaluation').collection}",
        json={"name": evaluation, "training_job_name": name, "test_data": test,
              "content_type": content_type, "problem_type": problem_type, "label": label},
    )  # fmt: skip
    out.print(f"evaluation job {evaluation} created")
    if not wait:
        return
    description = EvaluationJob(s, evaluation).wait(logs=True)
    table(["metric", "value"], [[k, f"{v:.6g}"] for k, v in sorted(description["metrics"].items())])
    out.print(f"report: {description['report']}")


# -- batch transform: a model over every object under a prefix --------------------------------
@job_groups[job_kind("transform").cli].command("start")
def transform_start(
    model: Annotated[str, typer.Option(help="The registered model to run.")],
    data: Annotated[str, typer.Option("--input", help="s3:// object or prefix to transform.")],
    output: Annotated[str, typer.Option(help="s3:// prefix for the <key>.out objects.")],
    content_type: str = "text/csv",
    split_type: Annotated[str, typer.Option(help="Line (a record per line) or None.")] = "Line",
    strategy: Annotated[str, typer.Option(help="MultiRecord or SingleRecord.")] = "MultiRecord",
    accept: Annotated[str | None, typer.Option(help="The answers' type.")] = None,
    assemble_with: Annotated[str, typer.Option(help="Line or None.")] = "Line",
    join_source: Annotated[str, typer.Option(help="Input: answers joined to inputs.")] = "None",
    input_filter: Annotated[str, typer.Option(help="JSONPath, e.g. '$[1:]'.")] = "$",
    output_filter: Annotated[str, typer.Option(help="JSONPath, e.g. '$[0,-1]'.")] = "$",
    instance_count: int = 1,
    instance_type: str = "local",
    max_concurrent: Annotated[int, typer.Option(help="Requests in flight per instance.")] = 1,
    max_payload_mb: int = 6,
    dead_letter: Annotated[
        str | None, typer.Option(help="s3:// prefix for refused records.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The transform job's name.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow it until it ends.")] = True,
) -> None:
    """Start a batch transform job (and follow it): one <key>.out per input object."""
    from modelyard.sdk.transformer import Transformer

    transformer = Transformer(
        model, instance_count, instance_type, strategy=strategy, assemble_with=assemble_with,
        output_path=output, accept=accept, max_concurrent_transforms=max_concurrent,
        max_payload=max_payload_mb, dead_letter_path=dead_letter, session=session(),
    )  # fmt: skip
    transformer.transform(
        data, content_type=content_type, split_type=split_type, job_name=name,
        input_filter=input_filter, output_filter=output_filter, join_source=join_source,
        wait=False,
    )  # fmt: skip
    job = transformer._job()
    out.print(f"transform job {job.name} created")
    if wait:
        description = job.wait(logs=True)
        p = description["progress"]
        out.print(f"{p['records_done']} record(s) of {p['objects_done']} object(s) -> {output}"
                  + (f"; {p['records_failed']} refused, in {dead_letter}" if p["records_failed"]
                     else ""))  # fmt: skip
