"""A training job's process: fetch the channels, train, upload the model.

`runtime.job` runs it (`run_job`) with the work dir laid out and the reporter connected.
"""

from __future__ import annotations

import json
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelyard.runtime.layout import JobLayout, write_json
from modelyard.runtime.reporter import Reporter
from modelyard.runtime.script_mode import Host, run_script


def log(message: str) -> None:
    print(f"[modelyard] {message}", flush=True)


def write_configs(layout: JobLayout, spec: dict[str, Any]) -> None:
    """input/config/*.json exactly as SageMaker writes them (hyperparameters all strings)."""
    write_json(
        layout.config_dir / "hyperparameters.json",
        {k: str(v) for k, v in spec["hyperparameters"].items()},
    )
    write_json(
        layout.config_dir / "inputdataconfig.json",
        {
            c["channel"]: {
                "ContentType": c["content_type"],
                "TrainingInputMode": "File",
                "S3DistributionType": "FullyReplicated",
                "RecordWrapperType": "None",
            }
            for c in spec["channels"]
        },
    )
    write_json(
        layout.config_dir / "resourceconfig.json",
        {
            "current_host": spec["current_host"],
            "hosts": spec["hosts"],
            "network_interface_name": "lo",
            "current_instance_type": spec["instance_type"],
            "current_group_name": "homogeneousCluster",
            "instance_groups": [
                {
                    "instance_group_name": "homogeneousCluster",
                    "instance_type": spec["instance_type"],
                    "hosts": spec["hosts"],
                }
            ],
        },
    )


def fetch_channels(layout: JobLayout, spec: dict[str, Any]) -> dict[str, Path]:
    from modelyard.runtime.store import job_store

    store = job_store(spec["storage_url"])
    channels: dict[str, Path] = {}
    for channel in spec["channels"]:
        dest = layout.channel_dir(channel["channel"])
        dest.mkdir(parents=True, exist_ok=True)
        uri = channel["uri"]
        if uri.startswith("file://"):
            source = Path(uri[len("file://") :])
            files = (
                [source]
                if source.is_file()
                else sorted(p for p in source.rglob("*") if p.is_file())
            )
            for path in files:
                target = dest / (path.name if source.is_file() else path.relative_to(source))
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    target.symlink_to(path.resolve())
        else:
            files = store.materialize(uri, dest, link=True)
        log(f"channel {channel['channel']}: {len(files)} file(s) from {uri}")
        channels[channel["channel"]] = dest
    if spec.get("fold"):  # a cross-validation fold trains on the others, holds out its own
        from modelyard.runtime.folds import split_fold

        fold = spec["fold"]
        source = next(c for c in spec["channels"] if c["channel"] == fold["channel"])
        label = spec["hyperparameters"].get("label")
        if label and spec.get("script"):  # script mode's hyperparameters are JSON-encoded
            label = str(json.loads(label)) if label.startswith('"') else label
        kept, held = split_fold(fold, channels, source["content_type"], label)
        log(f"fold {fold['fold'] + 1} of {fold['folds']}: {kept} rows to train on in "
            f"{fold['channel']}, {held} held out as {fold['validation_channel']}")  # fmt: skip
    return channels


def script_hosts(layout: JobLayout, spec: dict[str, Any], channels: dict[str, Path]) -> list[Host]:
    """algo-1 works in the job's own dir; algo-2 … algo-N in dirs of their own beside it,
    each with the same channels (SageMaker's FullyReplicated) and its own config."""
    hosts = [Host(spec["hosts"][0], layout, channels)]
    for name in spec["hosts"][1:]:
        host_layout = JobLayout(layout.root / "hosts" / name)
        host_layout.create()
        write_configs(host_layout, {**spec, "current_host": name})
        hosts.append(Host(name, host_layout, fetch_channels(host_layout, spec)))
    return hosts


def pack_and_upload(layout: JobLayout, spec: dict[str, Any], source: Path, name: str) -> str:
    """Pack a directory into <output_path>/<job>/output/<name> and upload it; its URI."""
    from zlib_ng import gzip_ng

    from modelyard.runtime.store import job_store
    from modelyard.storage import parse_s3_uri

    archive = layout.root / name
    # zlib-ng at level 1 writes plain gzip three times as fast as zlib does: a model of tens
    # of megabytes (k-NN keeps its training rows) otherwise spends seconds being compressed,
    # for a few percent of size on data that hardly compresses anyway.
    with (
        gzip_ng.open(archive, "wb", compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w|") as tar,
    ):
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(source)), recursive=False)
    uri = f"{spec['output_path'].rstrip('/')}/{spec['name']}/output/{name}"
    bucket, key = parse_s3_uri(uri)
    job_store(spec["storage_url"]).upload_file(
        archive, bucket, key, content_type="application/x-gzip"
    )
    log(f"{name}: {uri} ({archive.stat().st_size} bytes)")
    return uri


class Preload:
    """Imports the algorithm (numpy, xgboost, scikit-learn: the slow part of a job's start)
    in a thread while the main thread reports in and links the channels."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="preload", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            from modelyard.algorithms.registry import get_algorithm

            self._result = get_algorithm(self._name)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            self._error = exc

    def get(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def train_builtin(
    layout: JobLayout,
    spec: dict[str, Any],
    channels: dict[str, Path],
    reporter: Reporter,
    preload: Preload,
) -> None:
    from modelyard.algorithms.base import TrainingContext

    algorithm = preload.get()
    hyperparameters = algorithm.validate(spec["hyperparameters"])
    ctx = TrainingContext(
        work_dir=layout.root,
        hyperparameters=hyperparameters,
        channels=channels,
        content_types={c["channel"]: c["content_type"] for c in spec["channels"]},
        report_metric=reporter.metric,
        num_cpus=int(spec["num_cpus"]),
        log=lambda line: print(line, flush=True),
    )
    algorithm.train(ctx)
    from modelyard.algorithms.data import peak_memory_mib

    print(f"{algorithm.name} finished; process peak memory {peak_memory_mib():.0f} MiB", flush=True)


def run_job(
    layout: JobLayout, spec: dict[str, Any], reporter: Reporter, log: Callable[[str], None]
) -> dict[str, Any]:
    """Train: fetch the channels, run the algorithm or the script, upload the model."""
    preload = Preload(spec["algorithm"]) if spec.get("algorithm") else None
    write_configs(layout, spec)
    reporter.status("Downloading", "Downloading input data")
    channels = fetch_channels(layout, spec)
    reporter.status("Training", "Training in progress")
    if preload is not None:
        log(f"training {spec['algorithm']} with {spec['num_cpus']} CPU(s)")
        train_builtin(layout, spec, channels, reporter, preload)
    else:
        run_script(script_hosts(layout, spec, channels), spec, reporter.metric, log)
    reporter.status("Uploading", "Uploading generated training model")  # the last metrics too
    model_uri = pack_and_upload(layout, spec, layout.model_dir, "model.tar.gz")
    if any(p.is_file() for p in layout.output_data_dir.rglob("*")):
        pack_and_upload(layout, spec, layout.output_data_dir, "output.tar.gz")
    return {"model_artifact": model_uri}


if __name__ == "__main__":
    from modelyard.runtime.job import main

    main()
