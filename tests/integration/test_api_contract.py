"""The API's contract, route by route: token required, one error shape, OpenAPI served."""

from __future__ import annotations

import os
import stat
from typing import Any

import httpx
import pytest

from tests.support import RunningServer

PUBLIC = {("GET", "/ping")}


def routes(server: RunningServer) -> list[tuple[str, str]]:
    schema = httpx.get(f"{server.url}/openapi.json").json()
    found = []
    for path, operations in schema["paths"].items():
        for method in operations:
            concrete = (
                path.replace("{name}", "no-such-thing")
                .replace("{bucket}", "nobucket")
                .replace("{key}", "no/such/key")
            )
            found.append((method.upper(), concrete))
    return found


def assert_error_shape(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]  # type: ignore[no-any-return]


def test_openapi_lists_every_resource(server: RunningServer) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for expected in (
        "/api/v1/training-jobs",
        "/api/v1/training-jobs/{name}/stop",
        "/api/v1/models",
        "/api/v1/endpoint-configs",
        "/api/v1/endpoints",
        "/api/v1/buckets/{bucket}/objects/{key}",
        "/api/v1/algorithms",
    ):
        assert expected in paths


def test_every_route_needs_a_token(server: RunningServer) -> None:
    checked = 0
    for method, path in routes(server) + [("POST", "/endpoints/x/invocations")]:
        if (method, path) in PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer wrong-token"}):
            response = httpx.request(method, f"{server.url}{path}", headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            if method != "HEAD":
                assert assert_error_shape(response)["code"] == "Unauthorized"
        checked += 1
    assert checked >= 20


def test_every_route_answers_errors_in_one_shape(server: RunningServer) -> None:
    checked = total = 0
    with server.http() as http:
        for method, path in routes(server):
            if (method, path) in PUBLIC:
                continue
            total += 1
            response = http.request(
                method, path, content=b"{broken", headers={"Content-Type": "application/json"}
            )
            if method == "HEAD":
                continue  # no body to check
            if response.status_code < 400:
                continue  # e.g. listing an empty collection, or a PUT that creates
            assert_error_shape(response)
            checked += 1
        # a broken body or a name that does not exist is refused on most routes
        assert checked >= total / 2, (checked, total)
        for path in ("/api/v1/nothing-here", "/api/v1/training-jobs/x/y/z"):
            assert_error_shape(http.get(path))
        assert_error_shape(http.patch("/api/v1/training-jobs"))


def test_admin_token_file_is_private(server: RunningServer) -> None:
    mode = stat.S_IMODE(os.stat(server.home / "token").st_mode)
    assert mode == 0o600


def test_job_tokens_only_report_on_their_own_job(server: RunningServer) -> None:
    with server.http() as http:
        # the admin token is not a job token: it may not forge a job's reports
        response = http.post("/api/v1/training-jobs/no-such-job/report", json={})
        assert response.status_code == 401
    response = httpx.post(
        f"{server.url}/api/v1/training-jobs/no-such-job/report",
        json={},
        headers={"Authorization": "Bearer some-job-token"},
    )
    assert response.status_code == 401
    assert_error_shape(response)


@pytest.mark.parametrize("path", ["/api/v1/info", "/api/v1/algorithms"])
def test_self_description(server: RunningServer, path: str) -> None:
    with server.http() as http:
        response = http.get(path)
    assert response.status_code == 200
    if path == "/api/v1/info":
        assert response.json()["default_bucket"] == "modelyard-default"
    else:
        assert {"xgboost", "linear-learner"} <= {a["name"] for a in response.json()}
