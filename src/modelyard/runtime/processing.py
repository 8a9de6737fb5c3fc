"""A processing job's process: inputs in, the user's script, outputs out (SageMaker Processing).

The script sees SageMaker's paths mapped into the job's own dir: every input's destination and
output's source under /opt/ml/processing/ is <work>/processing/..., and so is any argument that
names such a path. The job's config is in <work>/config/processingjobconfig.json.
"""

from __future__ import annotations

import os
import signal
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelyard.runtime.layout import JobLayout, write_json
from modelyard.runtime.reporter import Reporter
from modelyard.runtime.script_mode import HostRun, ScriptFailed, failure_message, wait_all
from modelyard.schemas.processing import PROCESSING_ROOT


def local_path(layout: JobLayout, container_path: str) -> Path:
    relative = container_path[len(PROCESSING_ROOT) :].strip("/")
    return layout.root / "processing" / relative


def map_argument(layout: JobLayout, argument: str) -> str:
    return argument.replace(PROCESSING_ROOT, str(layout.root / "processing"))


def run_job(
    layout: JobLayout, spec: dict[str, Any], reporter: Reporter, log: Callable[[str], None]
) -> dict[str, Any]:
    from modelyard.runtime.store import job_store
    from modelyard.storage import parse_s3_uri

    job, report_status = spec, reporter.status
    store = job_store(spec["storage_url"])
    report_status("Downloading", "Downloading the inputs and the code")
    for item in job["inputs"]:
        files = store.materialize(item["source"], local_path(layout, item["destination"]))
        log(f"input {item['input_name']}: {len(files)} file(s) from {item['source']}")
    bucket, key = parse_s3_uri(job["code"])
    code_dir = layout.root / "processing" / "input" / "code"
    code = code_dir / Path(key).name
    store.download_file(bucket, key, code)
    if job.get("entry_point"):  # a FrameworkProcessor's source dir: unpack, run the entry point
        with tarfile.open(code) as tar:
            tar.extractall(code_dir, filter="data")
        code = code_dir / job["entry_point"]
    for item in job["outputs"]:
        local_path(layout, item["source"]).mkdir(parents=True, exist_ok=True)
    argv = [*job["command"], str(code), *(map_argument(layout, a) for a in job["arguments"])]
    (layout.root / "config").mkdir(parents=True, exist_ok=True)
    write_json(
        layout.root / "config" / "processingjobconfig.json",
        {
            "ProcessingJobName": spec["name"],
            "AppSpecification": {
                "ContainerEntrypoint": argv[: len(job["command"]) + 1],
                "ContainerArguments": argv[len(job["command"]) + 1 :],
            },
            "ProcessingInputs": job["inputs"],
            "ProcessingOutputConfig": {"Outputs": job["outputs"]},
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": spec["instance_type"]}
            },
        },
    )
    report_status("Training", "Processing")
    log(f"running {' '.join(argv)}")
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # as in script mode
    try:
        run = HostRun(None, argv, layout.root / "processing", dict(os.environ), [], lambda *_: None)
        failed = wait_all([run])
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed is not None:
        raise ScriptFailed(failure_message(failed.code, argv, list(failed.tail)))
    report_status("Uploading", "Uploading the outputs")
    for item in job["outputs"]:
        source = local_path(layout, item["source"])
        bucket, prefix = parse_s3_uri(item["destination"])
        files = sorted(p for p in source.rglob("*") if p.is_file())
        for path in files:
            relative = path.relative_to(source).as_posix()
            store.upload_file(path, bucket, f"{prefix.rstrip('/')}/{relative}".lstrip("/"))
        log(f"output {item['output_name']}: {len(files)} file(s) to {item['destination']}")
    return {}
