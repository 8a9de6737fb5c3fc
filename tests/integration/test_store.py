"""The metadata store on SQLite and on PostgreSQL: migrations, constraints, queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from modelyard.errors import Conflict, NotFound
from modelyard.schemas.endpoints import CreateEndpointConfig, ProductionVariant
from modelyard.services import crud
from modelyard.services.endpoint_configs import EndpointConfigs
from modelyard.services.jobs import close_transitions, transition
from modelyard.services.training_jobs import to_description
from modelyard.store import Database
from modelyard.store.models import Base, Job, MetricPoint, Model

REGENERATE = (
    'run: python -c "from alembic import command; from modelyard.store.database '
    "import alembic_config; command.revision(alembic_config(URL), autogenerate=True, "
    "message='...')\" against a database at the current head"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    database.migrate()
    yield database
    database.dispose()


def test_migrations_create_every_table_and_match_the_models(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    db.migrate()  # a second start changes nothing
    with db.engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert drift == [], f"models and migrations differ: {drift}; {REGENERATE}"


def test_job_rows_transitions_metrics_and_utc_times(db: Database) -> None:
    with db.session() as session:
        job = Job(
            name="store-job",
            kind="training",
            status="InProgress",
            secondary_status="Pending",
            spec={"algorithm": "xgboost", "hyperparameters": {"num_round": "3"}, "channels": []},
            result={},
            instance_type="local",
            instance_count=1,
            cpus=1,
            max_runtime_seconds=60,
            environment={},
            tags={},
            final_metrics={},
        )
        transition(job, "Pending")
        transition(job, "Training", "go")
        session.add(job)
        session.flush()
        session.add_all(
            MetricPoint(job_id=job.id, name="train:rmse", value=v, step=i)
            for i, v in enumerate([3.0, 2.0, 1.0])
        )
        close_transitions(job, "Completed", "done")
        job.status = "Completed"
    with db.session() as session:
        job = crud.get(session, Job, "store-job", "training job")
        description = to_description(job)
    assert [t.status for t in description.secondary_status_transitions] == [
        "Pending",
        "Training",
        "Completed",
    ]
    assert description.created_at.tzinfo is not None
    assert description.created_at <= datetime.now(UTC)
    assert description.secondary_status_transitions[0].end_time is not None


def test_names_are_unique_and_lookups_say_what_is_missing(db: Database) -> None:
    crud.insert(db, Model(name="m", model_data="s3://b/k", environment={}, tags={}), "model")
    with pytest.raises(Conflict, match="already exists"):
        crud.insert(db, Model(name="m", model_data="s3://b/k2", environment={}, tags={}), "model")
    with db.session() as session, pytest.raises(NotFound, match="model 'other'"):
        crud.get(session, Model, "other", "model")


def test_pages_are_newest_first_and_tokens_continue(db: Database) -> None:
    for i in range(5):
        crud.insert(
            db, Model(name=f"page-{i}", model_data="s3://b/k", environment={}, tags={}), "model"
        )
    with db.session() as session:
        first, token = crud.page(session, Model, "page-", 2, None)
        second, token2 = crud.page(session, Model, "page-", 2, token)
        third, token3 = crud.page(session, Model, "page-", 2, token2)
    assert [m.name for m in first + second + third] == [f"page-{i}" for i in (4, 3, 2, 1, 0)]
    assert token3 is None


def test_endpoint_config_needs_an_existing_model(db: Database) -> None:
    configs = EndpointConfigs(db, cpu_slots=2)
    with pytest.raises(Exception, match="does not exist"):
        configs.create(
            CreateEndpointConfig(
                name="c", production_variants=[ProductionVariant(model_name="missing")]
            )
        )
    crud.insert(db, Model(name="real", model_data="s3://b/k", environment={}, tags={}), "model")
    created = configs.create(
        CreateEndpointConfig(name="c", production_variants=[ProductionVariant(model_name="real")])
    )
    assert created.production_variants[0].initial_instance_count == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return str(request.getfixturevalue("postgres_url"))


def database_at(database_url: str, revision: str) -> Database:
    """A database migrated only as far as `revision`, to be filled as an older one was."""
    from alembic import command

    from modelyard.store.database import alembic_config

    database = Database(database_url)
    config = alembic_config(database_url)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return database


def test_jobs_of_an_older_database_survive_the_move_to_one_jobs_table(database_url: str) -> None:
    """A database made before `jobs` (training and processing rows in `training_jobs`, with
    transitions and metric points) migrates without losing a job, a field or a point."""
    from sqlalchemy import text

    from modelyard.services.processing_jobs import to_description as describe_processing

    database = database_at(database_url, "0004")
    now = datetime.now(UTC)
    common = {"tags": "{}", "environment": "{}", "final": "{}", "now": now}
    with database.engine.begin() as connection:
        insert_job = text(
            "INSERT INTO training_jobs (id, name, kind, processing, status, secondary_status, "
            "algorithm, script, metric_definitions, hyperparameters, input_data_config, "
            "output_path, instance_type, instance_count, cpus, max_runtime_seconds, environment,"
            " tags, model_artifact, final_metrics, pid, pid_started_at, created_at, updated_at) "
            "VALUES (:id, :name, :kind, :processing, 'Completed', 'Completed', :algorithm, "
            "NULL, '[]', :hps, :channels, 's3://b', 'local', 1, 2, 60, :environment, :tags, "
            ":artifact, :final, :pid, 12.5, :now, :now)"
        )
        connection.execute(
            insert_job,
            {
                **common,
                "id": 7,
                "name": "old-training",
                "kind": "training",
                "processing": None,
                "algorithm": "xgboost",
                "hps": '{"num_round": "3"}',
                "channels": '[{"channel": "train", "uri": "s3://b/t", "content_type": "text/csv"}]',
                "artifact": "s3://b/old-training/output/model.tar.gz",
                "pid": 4242,
            },
        )
        connection.execute(
            insert_job,
            {
                **common,
                "id": 8,
                "name": "old-processing",
                "kind": "processing",
                "processing": '{"code": "s3://b/p.py", "entry_point": null, "command": '
                '["python3"], "arguments": ["--x"], "inputs": [], "outputs": []}',
                "algorithm": None,
                "hps": "{}",
                "channels": "[]",
                "artifact": None,
                "pid": None,
            },
        )
        connection.execute(
            text(
                "INSERT INTO secondary_status_transitions (job_id, status, status_message, "
                "start_time) VALUES (7, 'Training', 'go', :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO metric_points (job_id, name, value, step, timestamp) "
                "VALUES (7, 'train:rmse', 0.5, 1, :now)"
            ),
            {"now": now},
        )
    database.migrate()
    with database.session() as session:
        training = crud.get(session, Job, "old-training", "training job")
        processing = crud.get(session, Job, "old-processing", "processing job")
        points = session.query(MetricPoint).filter_by(job_id=training.id).all()
        described = to_description(training)
        processed = describe_processing(processing)
        handle = training.handle
    database.dispose()
    assert described.algorithm == "xgboost"
    assert described.hyperparameters == {"num_round": "3"}
    assert [c.uri for c in described.inputs] == ["s3://b/t"]
    assert described.model_artifact == "s3://b/old-training/output/model.tar.gz"
    assert [t.status for t in described.secondary_status_transitions] == ["Training"]
    assert [(p.name, p.value) for p in points] == [("train:rmse", 0.5)]
    assert handle == {"pid": 4242, "started_at": 12.5}
    assert processed.code == "s3://b/p.py" and processed.arguments == ["--x"]


def test_endpoints_of_an_older_database_get_their_configs_variants(database_url: str) -> None:
    """Before endpoints kept their own variants, weights and counts lived only in the config:
    a migrated endpoint starts from its config's, and one whose config is gone from none."""
    from sqlalchemy import text

    from modelyard.store.models import Endpoint

    database = database_at(database_url, "0005")
    now = datetime.now(UTC)
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO endpoint_configs (name, production_variants, tags, created_at) "
                "VALUES ('cfg', :variants, '{}', :now)"
            ),
            {
                "variants": '[{"variant_name": "a", "model_name": "m", "instance_type": "local",'
                ' "initial_instance_count": 2, "initial_variant_weight": 3.0}]',
                "now": now,
            },
        )
        for name, config_name in (("kept", "cfg"), ("orphan", "gone")):
            connection.execute(
                text(
                    "INSERT INTO endpoints (name, endpoint_config_name, status, tags, "
                    "created_at, updated_at) VALUES (:name, :config, 'InService', '{}', :now, "
                    ":now)"
                ),
                {"name": name, "config": config_name, "now": now},
            )
    database.migrate()
    with database.session() as session:
        variants = {e.name: e.variants for e in session.query(Endpoint).all()}
    database.dispose()
    assert variants == {
        "kept": [
            {
                "variant_name": "a",
                "current_weight": 3.0,
                "desired_weight": 3.0,
                "desired_instance_count": 2,
            }
        ],
        "orphan": [],
    }
