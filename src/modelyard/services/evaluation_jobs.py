"""Evaluation jobs: which model and data a request names, and how a job is described.

The model comes from a completed training job or a registered model: a built-in algorithm's,
or a script's (answered by the script's own inference code). The job's row has that training
job as its parent, so the training job's description can list its evaluations.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.compute.instance_types import job_cpus
from modelyard.errors import InvalidRequest
from modelyard.kinds.evaluation import (
    CreateEvaluationJob,
    EvaluationJobDescription,
    EvaluationJobSummary,
)
from modelyard.schemas.training import Channel
from modelyard.services.jobs import Jobs, KindLogic, NewJob
from modelyard.services.stored import require_bucket, require_input
from modelyard.store.models import Job, Model

# The names `modelyard.evaluation` uses, for SageMaker Autopilot's.
PROBLEM_TYPES = {
    "BinaryClassification": "binary_classifier",
    "MulticlassClassification": "multiclass_classifier",
    "Regression": "regressor",
}


class EvaluationLogic(KindLogic):
    def prepare(self, jobs: Jobs, request: CreateEvaluationJob) -> NewJob:
        if (request.training_job_name is None) == (request.model_name is None):
            raise InvalidRequest(
                "give exactly one of training_job_name (a completed training job) or "
                "model_name (a registered model) to evaluate",
                {"field": "training_job_name"},
            )
        with jobs.db.session() as session:
            source = self._source(session, request)
        test = Channel(channel="test", uri=request.test_data, content_type=request.content_type)
        require_input(jobs.store, test)
        base = request.output_path or source["model_artifact"].rsplit("/", 1)[0] + "/evaluation"
        require_bucket(jobs.store, "output_path", base)
        problem = request.problem_type
        return NewJob(
            name=request.name,
            spec={
                **source,
                "channels": [test.model_dump()],
                "problem_type": PROBLEM_TYPES.get(problem, problem) if problem else None,
                "label": request.label,
                "permutation_importance": request.permutation_importance,
                "random_seed": request.random_seed,
                "output_prefix": f"{base.rstrip('/')}/{request.name}",
            },
            instance_type=request.instance_type,
            cpus=job_cpus(request.instance_type, 1, jobs.settings.cpu_slots),
            max_runtime_seconds=request.max_runtime_seconds,
            tags=request.tags,
            parent=source["training_job_name"],  # so its description lists this evaluation
        )

    def _source(self, session: Session, request: CreateEvaluationJob) -> dict[str, Any]:
        """The algorithm and artifact to evaluate, and the training job that made them."""
        if request.model_name is not None:
            model = session.scalar(select(Model).where(Model.name == request.model_name))
            if model is None:
                raise InvalidRequest(
                    f"model {request.model_name!r} does not exist", {"field": "model_name"}
                )
            algorithm, artifact = model.algorithm, model.model_data
            trained_by = model.training_job_name
            script = None if algorithm else {
                "framework": model.framework, "entry_point": model.entry_point,
                "source_dir": model.source_dir,
            }  # fmt: skip
        else:
            job = session.scalar(
                select(Job).where(Job.name == request.training_job_name, Job.kind == "training")
            )
            if job is None:
                raise InvalidRequest(
                    f"training job {request.training_job_name!r} does not exist",
                    {"field": "training_job_name"},
                )
            if job.status != "Completed" or not job.result.get("model_artifact"):
                raise InvalidRequest(
                    f"training job {job.name!r} is {job.status}; only a completed training job "
                    "has a model to evaluate",
                    {"field": "training_job_name", "status": job.status},
                )
            algorithm, artifact = job.spec.get("algorithm"), job.result["model_artifact"]
            trained_by = job.name
            # A script's model is answered by the same script, as its endpoint would be.
            script = None if algorithm else {
                k: job.spec["script"].get(k) for k in ("framework", "entry_point", "source_dir")
            }  # fmt: skip
        return {
            "algorithm": algorithm,
            "script": script,
            "model_artifact": artifact,
            "training_job_name": trained_by,
            "model_name": request.model_name,
        }

    def describe(self, job: Job) -> EvaluationJobDescription:
        spec, result = job.spec, job.result or {}
        test = spec["channels"][0]
        return EvaluationJobDescription(
            name=job.name,
            status=job.status,
            secondary_status=job.secondary_status,
            failure_reason=job.failure_reason,
            training_job_name=spec.get("training_job_name"),
            model_name=spec.get("model_name"),
            algorithm=spec["algorithm"],
            framework=(spec.get("script") or {}).get("framework"),
            model_artifact=spec["model_artifact"],
            test_data=test["uri"],
            content_type=test["content_type"],
            problem_type=result.get("problem_type") or spec.get("problem_type"),
            metrics=result.get("metrics", {}),
            evaluation=result.get("evaluation"),
            report=result.get("report"),
            tags=job.tags,
            created_at=job.created_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
        )

    def summarize(self, job: Job) -> EvaluationJobSummary:
        spec = job.spec
        return EvaluationJobSummary(
            name=job.name,
            status=job.status,
            source=spec.get("model_name") or spec.get("training_job_name") or "",
            problem_type=(job.result or {}).get("problem_type") or spec.get("problem_type"),
            created_at=job.created_at,
            ended_at=job.ended_at,
        )


LOGIC = EvaluationLogic()
