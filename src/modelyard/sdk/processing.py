"""Processing jobs with SageMaker's names: ScriptProcessor, SKLearnProcessor, FrameworkProcessor.

    processor = SKLearnProcessor(framework_version="1.2-1", instance_type="local")
    processor.run(code="preprocess.py",
                  inputs=[ProcessingInput(source=raw_uri, destination="/opt/ml/processing/input")],
                  outputs=[ProcessingOutput(source="/opt/ml/processing/train")],
                  arguments=["--train-test-split-ratio", "0.2"])

The script sees SageMaker's /opt/ml/processing/... paths mapped into the job's own directory
(destinations, sources and any argument naming such a path).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.errors import ModelyardError
from modelyard.names import unique_name
from modelyard.sdk.jobs import ProcessingJob
from modelyard.sdk.session import Session
from modelyard.sdk.source import pack_source, temporary_dir
from modelyard.storage.uri import parse_s3_uri

AWS_ONLY = (
    "role",
    "volume_size_in_gb",
    "volume_kms_key",
    "output_kms_key",
    "network_config",
    "image_uri",
    "max_runtime_in_seconds_aws",
)


@dataclass
class ProcessingInput:
    source: str
    destination: str
    input_name: str | None = None


@dataclass
class ProcessingOutput:
    source: str
    destination: str | None = None
    output_name: str | None = None


class ScriptProcessor:
    def __init__(
        self,
        command: list[str] | None = None,
        instance_type: str = "local",
        instance_count: int = 1,
        base_job_name: str | None = None,
        env: dict[str, str] | None = None,
        max_runtime_in_seconds: int | None = None,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
        **aws_only: Any,
    ) -> None:
        unknown = sorted(set(aws_only) - set(AWS_ONLY))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected argument(s): {unknown}")
        if aws_only:
            warnings.warn(
                f"ignored on modelyard (AWS-only): {', '.join(sorted(aws_only))}", stacklevel=2
            )
        self.command = command or ["python3"]
        self.instance_type = instance_type
        self.instance_count = instance_count
        self.base_job_name = base_job_name
        self.env = env or {}
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.session = session or sagemaker_session
        self.latest_job: ProcessingJob | None = None

    def _session(self) -> Session:
        if self.session is None:
            self.session = Session()
        return self.session

    def run(
        self,
        code: str,
        inputs: list[ProcessingInput] | None = None,
        outputs: list[ProcessingOutput] | None = None,
        arguments: list[str] | None = None,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
        source_dir: str | None = None,
        dependencies: list[str] | None = None,
    ) -> None:
        session = self._session()
        name = job_name or unique_name(self.base_job_name or "processing")
        base = f"s3://{session.default_bucket()}/{name}"
        code_uri = code
        entry_point = None
        if source_dir is not None:
            with temporary_dir() as tmp:
                archive, entry_point = pack_source(code, source_dir, dependencies, Path(tmp))
                code_uri = session.upload_file(
                    archive, *parse_s3_uri(f"{base}/input/code/sourcedir.tar.gz")
                )
        elif not code.startswith("s3://"):
            path = Path(code)
            if not path.is_file():
                raise ModelyardError(f"code {code} is not a file")
            code_uri = session.upload_file(path, *parse_s3_uri(f"{base}/input/code/{path.name}"))
        body: dict[str, Any] = {
            "name": name,
            "code": code_uri,
            "entry_point": entry_point,
            "command": self.command,
            "arguments": [str(a) for a in arguments or []],
            "inputs": [
                {
                    "input_name": i.input_name or f"input-{n + 1}",
                    "source": i.source,
                    "destination": i.destination,
                }
                for n, i in enumerate(inputs or [])
            ],
            "outputs": [
                {
                    "output_name": (o.output_name or f"output-{n + 1}"),
                    "source": o.source,
                    "destination": o.destination
                    or f"{base}/output/{o.output_name or f'output-{n + 1}'}",
                }
                for n, o in enumerate(outputs or [])
            ],
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "environment": self.env,
        }
        if self.max_runtime_in_seconds:
            body["max_runtime_seconds"] = self.max_runtime_in_seconds
        session.client.post("/api/v1/processing-jobs", json=body)
        self.latest_job = ProcessingJob(session, name)
        if wait:
            self.latest_job.wait(logs=logs)


class SKLearnProcessor(ScriptProcessor):
    """A scikit-learn processing script (SageMaker's SKLearnProcessor)."""

    def __init__(self, framework_version: str | None = None, **kwargs: Any) -> None:
        self.framework_version = framework_version
        super().__init__(command=["python3"], **kwargs)


class FrameworkProcessor(ScriptProcessor):
    """A processing script run with a framework's Python (SageMaker's FrameworkProcessor)."""

    def __init__(
        self, estimator_cls: Any = None, framework_version: str | None = None, **kwargs: Any
    ) -> None:
        self.estimator_cls = estimator_cls
        self.framework_version = framework_version
        super().__init__(command=["python3"], **kwargs)
