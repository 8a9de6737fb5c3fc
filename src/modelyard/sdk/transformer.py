"""Transformer: batch transform with the SageMaker Python SDK's names.

transformer = estimator.transformer(instance_count=1, instance_type="local",
                                    strategy="MultiRecord", assemble_with="Line")
transformer.transform("s3://bucket/batch/", content_type="text/csv", split_type="Line")
transformer.output_path   # one <input key>.out per input object
"""

from __future__ import annotations

import warnings
from typing import Any

from modelyard.errors import UnexpectedStatusException
from modelyard.names import unique_name
from modelyard.sdk.jobs import Job
from modelyard.sdk.session import Session

AWS_ONLY = ("output_kms_key", "volume_kms_key", "model_client_config", "compression_type",
            "batch_data_capture_config", "experiment_config", "vpc_config")  # fmt: skip


class TransformJob(Job):
    kind = "transform"

    @property
    def progress(self) -> dict[str, int]:
        """objects, objects_done, records_done, bytes_done, records_failed."""
        return self.describe()["progress"]  # type: ignore[no-any-return]

    def outputs(self) -> list[str]:
        return self.describe()["outputs"]  # type: ignore[no-any-return]


class Transformer:
    def __init__(
        self,
        model_name: str,
        instance_count: int = 1,
        instance_type: str = "local",
        strategy: str | None = None,
        assemble_with: str | None = None,
        output_path: str | None = None,
        accept: str | None = None,
        max_concurrent_transforms: int | None = None,
        max_payload: int | None = None,
        tags: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        base_transform_job_name: str | None = None,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
        dead_letter_path: str | None = None,
        **aws_only: Any,
    ) -> None:
        unknown = sorted(set(aws_only) - set(AWS_ONLY))
        if unknown:
            raise TypeError(f"Transformer got unexpected argument(s): {', '.join(unknown)}")
        if aws_only:
            warnings.warn(f"ignored on modelyard: {', '.join(sorted(aws_only))}", stacklevel=2)
        self.model_name = model_name
        self.instance_count = instance_count
        self.instance_type = instance_type
        self.strategy = strategy or "MultiRecord"
        self.assemble_with = assemble_with or "None"
        self.output_path = output_path
        self.accept = accept
        self.max_concurrent_transforms = max_concurrent_transforms or 1
        self.max_payload = 6 if max_payload is None else max_payload
        self.tags = tags or {}
        self.env = env or {}
        self.base_transform_job_name = base_transform_job_name
        self.dead_letter_path = dead_letter_path
        self.session = session or sagemaker_session or Session()
        self.latest_transform_job: TransformJob | None = None

    def transform(
        self,
        data: str,
        data_type: str = "S3Prefix",
        content_type: str | None = None,
        split_type: str | None = None,
        job_name: str | None = None,
        input_filter: str | None = None,
        output_filter: str | None = None,
        join_source: str | None = None,
        wait: bool = True,
        logs: bool = True,
        **aws_only: Any,
    ) -> None:
        """Run the model over `data` (an object, or every object under a prefix)."""
        if data_type not in ("S3Prefix", "S3Object"):
            raise ValueError(f"data_type {data_type!r}: modelyard reads S3Prefix or S3Object")
        unknown = sorted(set(aws_only) - set(AWS_ONLY))
        if unknown:
            raise TypeError(f"transform() got unexpected argument(s): {', '.join(unknown)}")
        name = job_name or unique_name(self.base_transform_job_name or self.model_name)
        self.output_path = self.output_path or f"s3://{self.session.default_bucket()}/{name}"
        self.session.client.post(
            "/api/v1/transform-jobs",
            json={
                "name": name,
                "model_name": self.model_name,
                "transform_input": {"s3_uri": data, "content_type": content_type or "text/csv",
                                    "split_type": split_type or "None"},
                "transform_output": {"s3_output_path": self.output_path, "accept": self.accept,
                                     "assemble_with": self.assemble_with},
                "transform_resources": {"instance_type": self.instance_type,
                                        "instance_count": self.instance_count},
                "batch_strategy": self.strategy,
                "max_payload_in_mb": self.max_payload,
                "max_concurrent_transforms": self.max_concurrent_transforms,
                "data_processing": {"input_filter": input_filter or "$",
                                    "output_filter": output_filter or "$",
                                    "join_source": join_source or "None"},
                "dead_letter_s3_path": self.dead_letter_path,
                "environment": self.env,
                "tags": self.tags,
            },
        )  # fmt: skip
        self.latest_transform_job = TransformJob(self.session, name)
        if wait:
            self.latest_transform_job.wait(logs=logs)

    def _job(self) -> TransformJob:
        if self.latest_transform_job is None:
            raise RuntimeError("this transformer has not run: call transform() first")
        return self.latest_transform_job

    def wait(self, logs: bool = True) -> dict[str, Any]:
        return self._job().wait(logs=logs)

    def describe(self) -> dict[str, Any]:
        return self._job().describe()

    def stop_transform_job(self, wait: bool = True) -> None:
        self._job().stop()
        if wait:
            try:
                self._job().wait(logs=False)
            except UnexpectedStatusException:  # it ends Stopped, as asked
                pass

    @classmethod
    def attach(
        cls,
        transform_job_name: str,
        sagemaker_session: Session | None = None,
        *,
        session: Session | None = None,
    ) -> Transformer:
        session = session or sagemaker_session or Session()
        job = TransformJob(session, transform_job_name)
        d = job.describe()
        transformer = cls(
            d["model_name"],
            instance_count=d["transform_resources"]["instance_count"],
            instance_type=d["transform_resources"]["instance_type"],
            strategy=d["batch_strategy"],
            assemble_with=d["transform_output"]["assemble_with"],
            output_path=d["transform_output"]["s3_output_path"],
            accept=d["transform_output"]["accept"],
            max_concurrent_transforms=d["max_concurrent_transforms"],
            max_payload=d["max_payload_in_mb"],
            tags=d["tags"],
            env=d["environment"],
            session=session,
            dead_letter_path=d["dead_letter_s3_path"],
        )
        transformer.latest_transform_job = job
        return transformer
