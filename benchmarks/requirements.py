"""Job start with a requirements.txt: the first run (building the environment) against cached.

Three kinds of script-mode job, each printing one line as its first statement:
  none    no requirements.txt
  first   a requirements.txt never seen before (a fresh one per run): the environment is built
  cached  the same requirements.txt again: the environment is reused
Measured from the job's creation to that first line appearing in the job log, over N jobs each.
Target: cached adds under 0.5 s over none (p50).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import time
import zipfile
from pathlib import Path
from typing import Any

from common import (
    WORK,
    Server,
    install_cleanup,
    machine_info,
    median,
    met,
    percentile,
    say,
    table,
    write_results,
)

import modelyard as my

TARGET_ADDED = 0.5
SCRIPT = "print('script started', flush=True)\n"


def digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel(directory: Path, name: str) -> str:
    """A minimal pure-Python wheel, so no package index is involved in the measurement."""
    files = {
        f"{name}.py": b"VALUE = 1\n",
        f"{name}-1.0.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
        ),
        f"{name}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},sha256={digest(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{name}-1.0.dist-info/RECORD,,")
    files[f"{name}-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    filename = f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(directory / filename, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return filename


def source(root: Path, requirements: str | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text(SCRIPT)
    if requirements is not None:
        package = requirements
        (root / "requirements.txt").write_text(f"./{wheel(root, package)}\n")
    return root


def one_job(session: Any, source_dir: Path, name: str) -> float:
    """Seconds from the job's creation to the script's first line in the log."""
    estimator = my.Estimator(entry_point="train.py", source_dir=str(source_dir), session=session)
    estimator.fit(job_name=name, wait=False)
    job = estimator.latest_training_job
    assert job is not None
    created = time.monotonic()
    while "script started" not in job.logs()[0]:
        if job.describe()["status"] == "Failed":
            raise RuntimeError(f"{name} failed: {job.describe()['failure_reason']}")
        time.sleep(0.005)
    seconds = time.monotonic() - created
    job.wait(logs=False, out=open("/dev/null", "w"))  # noqa: SIM115 - quiet
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10, help="jobs of each kind")
    args = parser.parse_args()
    install_cleanup()
    stamp = int(time.time())
    work = WORK / "requirements" / f"run-{stamp}"
    server = Server(work / "home").start()
    session = server.session()
    plain = source(work / "plain", None)
    cached = source(work / "cached", "bench_cached_dep")
    one_job(session, cached, f"prime-{stamp}")  # builds the cached environment once
    results: dict[str, list[float]] = {"none": [], "first": [], "cached": []}
    for i in range(args.jobs):
        results["none"].append(one_job(session, plain, f"none-{stamp}-{i}"))
        fresh = source(work / f"first-{i}", f"bench_first_dep_{stamp}_{i}")
        results["first"].append(one_job(session, fresh, f"first-{stamp}-{i}"))
        results["cached"].append(one_job(session, cached, f"cached-{stamp}-{i}"))
        say(
            f"  round {i + 1}/{args.jobs}: "
            + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in results.items())
        )
    server.stop()
    rows = [
        [kind, f"{median(v):.3f}", f"{percentile(v, 90):.3f}", f"{min(v):.3f}-{max(v):.3f}"]
        for kind, v in results.items()
    ]
    added = median(results["cached"]) - median(results["none"])
    report = "\n\n".join(
        [
            f"job created → script's first line, seconds ({args.jobs} jobs each)",
            table(["requirements.txt", "p50", "p90", "min-max"], rows),
            f"cached adds {added:.3f} s at p50 over none (target < {TARGET_ADDED} s): "
            f"{met(added < TARGET_ADDED)}",
        ]
    )
    print(report)
    path = write_results(
        "requirements", {"machine": machine_info(), "seconds": results, "report": report}
    )
    say(f"results: {path}")


if __name__ == "__main__":
    main()
