"""Batch transform jobs on a real server: several CSV objects through the model servers, the
answers checked against the model's own predictions; SingleRecord with several instances and
concurrent requests; join_source and JSONPath filters; JSON Lines; a bad line that fails the
job naming the object and line, or goes to the dead letters; bad requests; the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelyard as my
from modelyard.errors import InvalidRequest, UnexpectedStatusException
from modelyard.runtime.serving import load_model
from modelyard.storage.uri import parse_s3_uri
from tests.support import RunningServer, fit_xgboost


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def trained(
    session: my.Session,
    breast_cancer_csvs: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    train = session.upload_data(breast_cancer_csvs["train"], key_prefix="transform-test/train")
    estimator = fit_xgboost(session, train, "transform-model-job")
    model = estimator.create_model(name="transform-model")
    model.create()
    tmp = tmp_path_factory.mktemp("transform")
    bucket, key = parse_s3_uri(estimator.model_data)
    archive = session.download_file(bucket, key, tmp / "model.tar.gz")
    algorithm, loaded = load_model(str(archive), "xgboost", tmp)
    rows = np.loadtxt(breast_cancer_csvs["test"], delimiter=",")
    return {
        "estimator": estimator,
        "rows": rows,  # label, then 30 features
        "predict": lambda X: algorithm.predict(loaded, np.asarray(X, dtype=np.float32)).array,
    }


def put_parts(session: my.Session, prefix: str, parts: list[str]) -> str:
    bucket = session.default_bucket()
    for index, text in enumerate(parts):
        session.upload_string_as_file_body(text, bucket, f"{prefix}/part-{index}.csv")
    return f"s3://{bucket}/{prefix}"


def csv_lines(rows: np.ndarray) -> str:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def read(session: my.Session, uri: str) -> str:
    return session.read_s3_file(*parse_s3_uri(uri))


# -- the answers --------------------------------------------------------------------------
def test_every_object_gets_an_out_object_with_the_models_answers_in_input_order(
    session: my.Session, trained: dict[str, Any]
) -> None:
    features = trained["rows"][:, 1:]
    parts = [features[:30], features[30:31], features[31:]]
    data = put_parts(session, "transform-test/plain", [csv_lines(p) for p in parts])
    transformer = trained["estimator"].transformer(
        instance_count=1, strategy="MultiRecord", assemble_with="Line", accept="text/csv",
        max_payload=1, output_path=f"s3://{session.default_bucket()}/transform-out/plain",
    )  # fmt: skip
    transformer.transform(data, content_type="text/csv", split_type="Line", job_name="tf-plain")
    description = transformer.describe()
    assert description["status"] == "Completed"
    assert description["outputs"] == [
        f"{transformer.output_path}/part-{i}.csv.out" for i in range(3)
    ]
    for part, uri in zip(parts, description["outputs"], strict=True):
        answers = np.array([float(line) for line in read(session, uri).splitlines()])
        np.testing.assert_allclose(answers, trained["predict"](part), rtol=1e-6)
    progress = description["progress"]
    assert (progress["objects"], progress["objects_done"]) == (3, 3)
    assert progress["records_done"] == len(features) and progress["records_failed"] == 0


def test_single_records_on_two_instances_answer_the_same_as_multi_record(
    session: my.Session, trained: dict[str, Any]
) -> None:
    features = trained["rows"][:40, 1:]
    data = put_parts(session, "transform-test/single", [csv_lines(features)])

    def run(name: str, **options: Any) -> str:
        transformer = trained["estimator"].transformer(
            assemble_with="Line", accept="text/csv",
            output_path=f"s3://{session.default_bucket()}/transform-out/{name}", **options,
        )  # fmt: skip
        transformer.transform(data, split_type="Line", job_name=name, logs=False)
        return read(session, transformer.describe()["outputs"][0])

    single = run("tf-single", instance_count=2, instance_type="local:1", strategy="SingleRecord",
                 max_concurrent_transforms=3)  # fmt: skip
    assert single == run("tf-multi", instance_type="local:1", strategy="MultiRecord")
    assert len(single.splitlines()) == 40
    log = session.client.get("/api/v1/transform-jobs/tf-single/logs")["text"]
    assert "2 model server(s) ready" in log


def test_join_source_and_filters_keep_the_label_beside_the_answer(
    session: my.Session, trained: dict[str, Any]
) -> None:
    rows = trained["rows"][:25]
    data = put_parts(session, "transform-test/joined", [csv_lines(rows)])
    transformer = my.Model(
        trained["estimator"].model_data, algorithm="xgboost", name="transform-model",
        session=session,
    ).transformer(assemble_with="Line", accept="text/csv")  # fmt: skip
    # SageMaker's own recipe: send all but the label, join, keep the label and the answer.
    transformer.transform(
        data, content_type="text/csv", split_type="Line", job_name="tf-joined",
        input_filter="$[1:]", join_source="Input", output_filter="$[0,-1]", logs=False,
    )  # fmt: skip
    out = read(session, transformer.describe()["outputs"][0]).splitlines()
    pairs = np.array([[float(v) for v in line.split(",")] for line in out])
    assert pairs.shape == (25, 2)
    np.testing.assert_array_equal(pairs[:, 0], rows[:, 0])
    np.testing.assert_allclose(pairs[:, 1], trained["predict"](rows[:, 1:]), rtol=1e-6)


def test_json_lines_records_are_joined_with_their_answer(
    session: my.Session, trained: dict[str, Any]
) -> None:
    rows = trained["rows"][:5]
    text = "".join(
        json.dumps({"id": i, "features": r[1:].tolist()}) + "\n" for i, r in enumerate(rows)
    )
    bucket = session.default_bucket()
    session.upload_string_as_file_body(text, bucket, "transform-test/jsonl/rows.jsonl")
    transformer = trained["estimator"].transformer(
        accept="application/jsonlines", assemble_with="Line"
    )
    transformer.transform(
        f"s3://{bucket}/transform-test/jsonl/rows.jsonl", content_type="application/jsonlines",
        split_type="Line", input_filter="$.features", join_source="Input", job_name="tf-jsonl",
        logs=False,
    )  # fmt: skip
    out = [
        json.loads(line)
        for line in read(session, transformer.describe()["outputs"][0]).splitlines()
    ]
    assert [o["id"] for o in out] == list(range(5))
    scores = [o["SageMakerOutput"]["score"] for o in out]
    np.testing.assert_allclose(scores, trained["predict"](rows[:, 1:]), rtol=1e-6)


def test_whole_objects_are_one_request_each_without_a_split(
    session: my.Session, trained: dict[str, Any]
) -> None:
    features = trained["rows"][:7, 1:]
    data = put_parts(session, "transform-test/whole", [csv_lines(features)])
    transformer = trained["estimator"].transformer(accept="application/json")
    transformer.transform(data, job_name="tf-whole", logs=False)
    answer = json.loads(read(session, transformer.describe()["outputs"][0]))
    scores = [p["score"] for p in answer["predictions"]]
    np.testing.assert_allclose(scores, trained["predict"](features), rtol=1e-6)


# -- records the model refuses ------------------------------------------------------------
def bad_parts(trained: dict[str, Any]) -> list[str]:
    features = trained["rows"][:20, 1:]
    lines = csv_lines(features).splitlines()
    lines[12] = ",".join(lines[12].split(",")[:-1])  # line 13 has 29 features
    return [csv_lines(features[:5]), "\n".join(lines) + "\n"]


def test_a_bad_line_fails_the_job_naming_the_object_the_line_and_the_models_message(
    session: my.Session, trained: dict[str, Any]
) -> None:
    data = put_parts(session, "transform-test/bad", bad_parts(trained))
    transformer = trained["estimator"].transformer(assemble_with="Line")
    with pytest.raises(UnexpectedStatusException):
        transformer.transform(data, split_type="Line", job_name="tf-bad", logs=False)
    reason = transformer.describe()["failure_reason"]
    assert reason.startswith(
        f"ClientError: {data}/part-1.csv line 13: the model server answered 400"
    )
    assert "expected 30 features per row, got 29" in reason


@pytest.mark.parametrize(
    "environment",
    [None, {"MODELYARD_TEST_VARIABLE": "1"}],
    ids=["forked from the job", "a fresh interpreter"],
)
def test_a_model_that_cannot_load_fails_the_job_with_the_model_servers_own_words(
    session: my.Session, environment: dict[str, str] | None
) -> None:
    # A built-in's model servers are forked from the job's process unless the model brings
    # variables of its own; either way a failed load ends the job with the server's reason.
    bucket = session.default_bucket()
    suffix = "env" if environment else "plain"
    session.upload_string_as_file_body("not a tarball", bucket, f"broken-{suffix}/model.tar.gz")
    model = my.Model(
        model_data=f"s3://{bucket}/broken-{suffix}/model.tar.gz",
        algorithm="xgboost",
        name=f"broken-model-{suffix}",
        environment=environment,
        session=session,
    )
    model.create()
    data = put_parts(session, f"transform-test/broken-{suffix}", ["1,2\n"])
    transformer = model.transformer(instance_count=2, instance_type="local:1")
    with pytest.raises(UnexpectedStatusException):
        transformer.transform(data, split_type="Line", job_name=f"tf-broken-{suffix}", logs=False)
    reason = transformer.describe()["failure_reason"]
    assert "the model server exited with code 1 before it answered" in reason
    assert "model server failed to load the model" in reason


def test_with_a_dead_letter_path_bad_lines_are_set_aside_and_the_rest_is_transformed(
    session: my.Session, trained: dict[str, Any]
) -> None:
    data = put_parts(session, "transform-test/dead", bad_parts(trained))
    dead = f"s3://{session.default_bucket()}/transform-dead"
    transformer = trained["estimator"].transformer(
        assemble_with="Line", accept="text/csv", dead_letter_path=dead
    )
    transformer.transform(data, split_type="Line", job_name="tf-dead", logs=False)
    description = transformer.describe()
    assert description["status"] == "Completed"
    assert description["progress"]["records_failed"] == 1
    failed = [json.loads(line) for line in read(session, f"{dead}/part-1.csv.failed").splitlines()]
    assert [f["line"] for f in failed] == [13]
    assert "expected 30 features per row, got 29" in failed[0]["reason"]
    kept = read(session, description["outputs"][1]).splitlines()
    assert len(kept) == 19  # every line of part-1 but the bad one
    features = trained["rows"][:20, 1:]
    good = np.delete(features, 12, axis=0)
    np.testing.assert_allclose([float(v) for v in kept], trained["predict"](good), rtol=1e-6)


# -- refused before anything runs ---------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"model_name": "no-such-model"}, "model 'no-such-model' does not exist"),
        ({"transform_input": {"s3_uri": "s3://modelyard-default/transform-test/nothing-here"}},
         "nothing stored at"),
        ({"data_processing": {"input_filter": "$[[["}}, "input_filter: bad JSONPath"),
        ({"data_processing": {"join_source": "Input"}}, "give transform_input.split_type Line"),
        ({"transform_output": {"s3_output_path": "s3://no-such-bucket/out"}},
         "bucket 'no-such-bucket' does not exist"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_saying_what_is_wrong(
    session: my.Session, trained: dict[str, Any], change: dict[str, Any], says: str
) -> None:
    data = put_parts(session, "transform-test/refused", ["1,2\n"])
    body: dict[str, Any] = {
        "name": "tf-refused",
        "model_name": "transform-model",
        "transform_input": {"s3_uri": data},
        "transform_output": {"s3_output_path": "s3://modelyard-default/out"},
    }
    for key, value in change.items():
        body[key] = {**body[key], **value} if isinstance(body.get(key), dict) else value
    with pytest.raises(InvalidRequest) as raised:
        session.client.post("/api/v1/transform-jobs", json=body)
    assert says in raised.value.message
    with pytest.raises(my.errors.NotFound):
        session.client.get("/api/v1/transform-jobs/tf-refused")


# -- the CLI ------------------------------------------------------------------------------
def test_the_cli_starts_follows_and_lists_a_transform(
    server: RunningServer, session: my.Session, trained: dict[str, Any]
) -> None:
    data = put_parts(session, "transform-test/cli", [csv_lines(trained["rows"][:9, 1:])])
    out = f"s3://{session.default_bucket()}/transform-out/cli"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelyard", "transform", *args],
            env=server.env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    result = cli("start", "--model", "transform-model", "--input", data, "--output", out,
                 "--name", "tf-cli")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"9 record(s) of 1 object(s) -> {out}" in result.stdout
    assert "tf-cli" in cli("list").stdout
    assert json.loads(cli("describe", "tf-cli").stdout)["progress"]["records_done"] == 9
    missing = cli("start", "--model", "nope", "--input", data, "--output", out)
    assert (
        missing.returncode != 0 and "model 'nope' does not exist" in missing.stdout + missing.stderr
    )
