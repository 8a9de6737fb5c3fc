"""Models: a model artifact plus how to serve it."""

from __future__ import annotations

from sqlalchemy import select

from modelyard.algorithms.registry import require_known
from modelyard.errors import Conflict, InvalidRequest, NotFound
from modelyard.names import validate_name
from modelyard.schemas.common import Page
from modelyard.schemas.endpoints import CreateModel, ModelDescription
from modelyard.services import crud
from modelyard.services.frameworks import installed_version
from modelyard.services.stored import require_object
from modelyard.storage import ObjectStore, parse_s3_uri
from modelyard.store import Database
from modelyard.store.models import EndpointConfig, Model

KIND = "model"
SERVING_FRAMEWORKS = ("sklearn", "xgboost", "pytorch", "python")


def to_description(row: Model) -> ModelDescription:
    return ModelDescription(
        name=row.name,
        model_data=row.model_data,
        algorithm=row.algorithm,
        framework=row.framework,
        entry_point=row.entry_point,
        source_dir=row.source_dir,
        environment=row.environment,
        training_job_name=row.training_job_name,
        tags=row.tags,
        mode=row.mode,  # type: ignore[arg-type]
        multi_model_config=row.multi_model_config,  # type: ignore[arg-type]
        created_at=row.created_at,
    )


def require_prefix(store: ObjectStore, uri: str) -> None:
    """A multi-model prefix: s3://, ending in '/', in a bucket that exists. It may be empty
    still: models are added under it while the endpoint runs."""
    if not uri.startswith("s3://") or not uri.endswith("/"):
        raise InvalidRequest(
            f"model_data {uri!r}: a MultiModel model names an s3:// prefix ending in '/' "
            "(e.g. s3://bucket/models/), under which each model.tar.gz is a target model",
            {"field": "model_data"},
        )
    bucket, _ = parse_s3_uri(uri)
    if not store.bucket_exists(bucket):
        raise InvalidRequest(
            f"model_data: bucket {bucket!r} does not exist", {"field": "model_data"}
        )


class Models:
    def __init__(self, db: Database, store: ObjectStore) -> None:
        self.db = db
        self.store = store

    def create(self, request: CreateModel) -> ModelDescription:
        validate_name(request.name, "model name")
        if (request.algorithm is None) == (request.framework is None):
            raise InvalidRequest(
                "give exactly one of algorithm (the built-in algorithm that trained this model, "
                "e.g. xgboost) or framework (sklearn, xgboost, pytorch or python, to serve it "
                "with your own inference code)",
                {"field": "algorithm"},
            )
        if request.algorithm is not None:
            try:  # the name only: the model server loads the algorithm, not the control plane
                require_known(request.algorithm)
            except NotFound as exc:
                raise InvalidRequest(exc.message, {"field": "algorithm"}) from None
        elif request.framework not in SERVING_FRAMEWORKS:
            raise InvalidRequest(
                f"unknown framework {request.framework!r}; use one of "
                f"{', '.join(SERVING_FRAMEWORKS)}",
                {"field": "framework"},
            )
        elif request.framework != "python":
            installed_version(request.framework)
        if request.mode == "MultiModel":
            require_prefix(self.store, request.model_data)
        elif request.multi_model_config is not None:
            raise InvalidRequest(
                "multi_model_config is for mode MultiModel", {"field": "multi_model_config"}
            )
        else:
            require_object(self.store, "model_data", request.model_data)
        if request.source_dir is not None:
            require_object(self.store, "source_dir", request.source_dir)
        crud.insert(self.db, Model(**request.model_dump()), KIND)
        return self.describe(request.name)

    def describe(self, name: str) -> ModelDescription:
        with self.db.session() as session:
            return to_description(crud.get(session, Model, name, KIND))

    def list(
        self, name_contains: str | None = None, max_results: int = 50, next_token: str | None = None
    ) -> Page[ModelDescription]:
        with self.db.session() as session:
            rows, token = crud.page(session, Model, name_contains, max_results, next_token)
            return Page[ModelDescription](items=[to_description(r) for r in rows], next_token=token)

    def delete(self, name: str) -> None:
        with self.db.session() as session:
            row = crud.get(session, Model, name, KIND)
            for config in session.scalars(select(EndpointConfig)):
                if any(v["model_name"] == name for v in config.production_variants):
                    raise Conflict(
                        f"model {name!r} is used by endpoint config "
                        f"{config.name!r}; delete that first",
                        {"name": name},
                    )
            session.delete(row)
