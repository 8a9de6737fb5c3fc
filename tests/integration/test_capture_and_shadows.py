"""Data capture and shadow variants on a real server: JSON Lines in SageMaker's layout and keys,
sampling, base64 for other types; shadows that get copies, are compared and never answer."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

import modelyard as my
from modelyard.errors import InvalidRequest
from tests.support import RunningServer, inference_model, wait_for


def scaled(factor: float, offset: float = 0.0) -> str:
    return (
        "def model_fn(model_dir):\n    return None\n\n\n"
        "def predict_fn(data, model):\n"
        f"    return [float(row[0]) * {factor} + {offset} for row in data]\n"
    )


BROKEN = "def model_fn(model_dir):\n    return None\n\n\ndef predict_fn(data, model):\n    1 / 0\n"


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


@pytest.fixture(scope="module")
def models(session: my.Session, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    sources = {
        "double": scaled(2),
        "same": scaled(2),
        "off": scaled(2, 0.5),
        "broken": BROKEN,
    }
    return {k: inference_model(session, tmp_path_factory.mktemp(k), v) for k, v in sources.items()}


def invoke(server: RunningServer, endpoint: str, value: float, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/endpoints/{endpoint}/invocations",
        content=str(value),
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "text/csv", **headers},
        timeout=60,
    )


def captured(session: my.Session, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every captured line under prefix, by the object's key."""
    bucket = session.default_bucket()
    found = {}
    for key in session.list_s3_files(bucket, prefix):
        found[key] = [json.loads(line) for line in session.read_s3_file(bucket, key).splitlines()]
    return found


def endpoint_with(session: my.Session, name: str, model: str, **config: Any) -> None:
    session.client.post(
        "/api/v1/endpoint-configs",
        json={"name": name, "production_variants": [my.production_variant(model)], **config},
    )
    session.client.post("/api/v1/endpoints", json={"name": name, "endpoint_config_name": name})
    session.wait_for_endpoint(name)


def test_requests_and_answers_are_captured_in_sagemakers_layout(
    server: RunningServer, session: my.Session, models: dict[str, str]
) -> None:
    destination = f"s3://{session.default_bucket()}/capture"
    endpoint_with(session, "captured", models["double"],
                  data_capture_config={"destination_s3_uri": destination})  # fmt: skip
    for i in range(5):
        response = invoke(server, "captured", i, **{"X-Amzn-SageMaker-Inference-Id": f"id-{i}"})
        assert response.status_code == 200
    files = wait_for(
        lambda: (
            (found := captured(session, "capture/captured/"))
            and sum(map(len, found.values())) == 5
            and found
        )
    )
    for key in files:
        parts = key.split("/")
        assert parts[:3] == ["capture", "captured", "AllTraffic"] and len(parts) == 8  # y/m/d/h
        assert parts[-1].endswith(".jsonl")
    lines = sorted((line for lines in files.values() for line in lines),
                   key=lambda line: line["eventMetadata"]["inferenceId"])  # fmt: skip
    first = lines[0]
    assert first["eventVersion"] == "0"
    assert first["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv", "mode": "INPUT", "data": "0", "encoding": "CSV",
    }  # fmt: skip
    output = first["captureData"]["endpointOutput"]
    assert output["mode"] == "OUTPUT" and output["encoding"] == "JSON"
    assert json.loads(output["data"]) == [0.0]
    assert [line["eventMetadata"]["inferenceId"] for line in lines] == [f"id-{i}" for i in range(5)]
    assert all(len(line["eventMetadata"]["eventId"]) == 36 for line in lines)
    assert lines[0]["eventMetadata"]["inferenceTime"].endswith("Z")
    description = session.describe_endpoint("captured")
    assert description["data_capture_config"]["destination_s3_uri"] == destination
    session.delete_endpoint("captured")


def test_capture_samples_and_base64_encodes_other_content_types(
    server: RunningServer, session: my.Session, models: dict[str, str]
) -> None:
    endpoint_with(
        session,
        "sampled",
        models["double"],
        data_capture_config={
            "destination_s3_uri": f"s3://{session.default_bucket()}/sampled",
            "initial_sampling_percentage": 50,
            "capture_options": [{"capture_mode": "Input"}],
            "capture_content_type_header": {"csv_content_types": ["text/plain"]},
        },
    )
    for i in range(40):
        assert invoke(server, "sampled", i).status_code == 200
    wait_for(lambda: captured(session, "sampled/"))
    session.delete_endpoint("sampled")
    lines = [line for lines in captured(session, "sampled/").values() for line in lines]
    assert 0 < len(lines) < 40  # about half (all or none: a chance of 2 in a trillion)
    data = lines[0]["captureData"]
    assert set(data) == {"endpointInput"}  # only the input was asked for
    assert data["endpointInput"]["encoding"] == "BASE64"
    assert float(base64.b64decode(data["endpointInput"]["data"])) in range(40)


def test_shadows_get_copies_are_compared_and_never_answer(
    server: RunningServer, session: my.Session, models: dict[str, str]
) -> None:
    shadow = my.production_variant
    endpoint_with(
        session,
        "shadowed",
        models["double"],
        shadow_production_variants=[
            {**shadow(models["same"], variant_name="same"), "sampling_percentage": 100},
            {**shadow(models["off"], variant_name="off"), "sampling_percentage": 100},
            {**shadow(models["broken"], variant_name="broken"), "sampling_percentage": 100},
        ],
        data_capture_config={"destination_s3_uri": f"s3://{session.default_bucket()}/shadowed"},
    )
    for i in range(20):
        response = invoke(server, "shadowed", i)
        assert response.status_code == 200 and response.json() == [i * 2.0]  # production's
        assert response.headers["x-amzn-invoked-production-variant"] == "AllTraffic"
    shadows = wait_for(
        lambda: (found := {
            s["variant_name"]: s
            for s in session.describe_endpoint("shadowed")["shadow_production_variants"]
        })
        and all((s["comparison"] or {}).get("requests") == 20 for s in found.values())
        and found
    )  # fmt: skip
    assert shadows["same"]["comparison"]["agreement"] == 1.0
    assert shadows["same"]["comparison"]["mean_absolute_difference"] == 0.0
    assert shadows["off"]["comparison"]["agreement"] == 0.0
    assert shadows["off"]["comparison"]["mean_absolute_difference"] == pytest.approx(0.5)
    assert shadows["broken"]["comparison"]["errors"] == 20
    assert shadows["broken"]["comparison"]["agreement"] is None
    assert all(s["current_instance_count"] == 1 for s in shadows.values())
    variants = session.describe_endpoint("shadowed")["production_variants"]
    assert [v["variant_name"] for v in variants] == ["AllTraffic"]
    # A shadow is never a target, and its answers are recorded (captured) under its name.
    assert (
        invoke(server, "shadowed", 1, **{"X-Amzn-SageMaker-Target-Variant": "off"}).status_code
        == 400
    )
    off = wait_for(lambda: captured(session, "shadowed/shadowed/off/"))
    outputs = [json.loads(line["captureData"]["endpointOutput"]["data"])
               for lines in off.values() for line in lines]  # fmt: skip
    assert [2.5] in outputs
    with pytest.raises(InvalidRequest, match="is a shadow"):
        session.update_endpoint_weights_and_capacities(
            "shadowed", [{"VariantName": "off", "DesiredWeight": 1}]
        )
    session.delete_endpoint("shadowed")


def test_capture_and_shadow_configs_are_validated(
    session: my.Session, models: dict[str, str]
) -> None:
    base = {"production_variants": [my.production_variant(models["double"])]}
    with pytest.raises(InvalidRequest, match="invalid S3 URI"):
        session.client.post(
            "/api/v1/endpoint-configs",
            json={"name": "bad-capture", **base,
                  "data_capture_config": {"destination_s3_uri": "/tmp/x"}},
        )  # fmt: skip
    with pytest.raises(InvalidRequest, match="unique"):
        session.client.post(
            "/api/v1/endpoint-configs",
            json={"name": "bad-shadow", **base,
                  "shadow_production_variants": [my.production_variant(models["same"])]},
        )  # fmt: skip
    with pytest.raises(InvalidRequest, match="sampling_percentage"):
        session.client.post(
            "/api/v1/endpoint-configs",
            json={"name": "bad-rate", **base, "shadow_production_variants": [
                {**my.production_variant(models["same"], variant_name="s"),
                 "sampling_percentage": 0}]},
        )  # fmt: skip
