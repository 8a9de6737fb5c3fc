"""The README's examples run, as written, against a real server (only the port differs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.support import RunningServer, free_port

README = Path(__file__).parents[2] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def prepare(directory: Path, csvs: dict[str, Path]) -> None:
    for name, path in csvs.items():
        (directory / f"{name}.csv").write_bytes(path.read_bytes())
    row = np.loadtxt(csvs["test"], delimiter=",")[0, 1:]
    (directory / "row.csv").write_text(",".join(str(v) for v in row) + "\n")


def test_readme_has_the_two_commands() -> None:
    text = README.read_text()
    assert "make quickstart" in text and "make test" in text


def test_sdk_example_runs(
    server: RunningServer, tmp_path: Path, breast_cancer_csvs: dict[str, Path]
) -> None:
    example = "\n".join(blocks("python"))  # the tuning example goes on from the first
    prepare(tmp_path, breast_cancer_csvs)
    result = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # 3 rows from the trained model, 3 from the tuned, 1 from the A/B endpoint's candidate,
    # 1 from the multi-model endpoint, 1 from the autoscaled one, 2 from the asynchronous one
    assert result.stdout.count("'score'") == 11
    assert "TrainingJobName" in result.stdout  # the tuning job's analytics
    assert "'auc'" in result.stdout and "'mean'" in result.stdout  # evaluation, cross-validation
    assert "test.csv.out']" in result.stdout  # the batch transform's output
    assert "CompletedWithViolations ['baseline_drift_check'" in result.stdout  # Model Monitor
    report = (tmp_path / "report.html").read_text()
    assert report.startswith("<!DOCTYPE html>") and "<svg" in report


def test_cli_and_rest_examples_run(tmp_path: Path, breast_cancer_csvs: dict[str, Path]) -> None:
    cli, rest = blocks("bash")[1:3]
    port = str(free_port())
    prepare(tmp_path, breast_cancer_csvs)
    script = (cli + rest).replace("8642", port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(
        {
            "HOME": str(tmp_path),
            "MODELYARD_PORT": port,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert '"predictions"' in result.stdout
        assert "endpoint demo deleted" in result.stdout
        assert "modelyard server stopped" in result.stdout
    finally:
        subprocess.run(
            [sys.executable, "-m", "modelyard", "server", "stop"],
            env=env,
            capture_output=True,
            timeout=60,
        )
