"""The SageMaker training-container layout (/opt/ml), rooted in a job's own work dir."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOB_SPEC = "job.json"
RESULT = "result.json"
LOG = "job.log"


@dataclass(frozen=True)
class JobLayout:
    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "input" / "data"

    def channel_dir(self, channel: str) -> Path:
        return self.data_dir / channel

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def spec_file(self) -> Path:
        return self.root / JOB_SPEC

    @property
    def result_file(self) -> Path:
        return self.root / RESULT

    @property
    def log_file(self) -> Path:
        return self.root / LOG

    def create(self) -> None:
        for path in (self.config_dir, self.data_dir, self.model_dir, self.output_data_dir):
            path.mkdir(parents=True, exist_ok=True)

    def read_result(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.result_file.read_text())
        except (OSError, ValueError):
            return None


def write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True))
    tmp.replace(path)


def log_tail(path: Path, lines: int = 10) -> str:
    """The last lines of a log (read from its last 8 KiB), for a failure reason."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
