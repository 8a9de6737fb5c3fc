"""The object store through REST, the SDK (SageMaker's names) and the CLI."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import psutil
import pytest

import modelyard as my
from modelyard.errors import NotFound
from tests.support import RunningServer


@pytest.fixture(scope="module")
def session(server: RunningServer) -> my.Session:
    return server.session()


def test_rest_put_get_head_range_delete(server: RunningServer) -> None:
    body = bytes(range(256)) * 100
    path = "/api/v1/buckets/modelyard-default/objects/rest/blob.bin"
    with server.http() as http:
        put = http.put(path, content=body, headers={"Content-Type": "application/x-thing"})
        assert put.status_code == 201
        assert put.json()["etag"] == hashlib.md5(body).hexdigest()
        got = http.get(path)
        assert got.content == body and got.headers["content-type"] == "application/x-thing"
        assert got.headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
        head = http.head(path)
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(body)
        part = http.get(path, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == body[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(body)}"
        tail = http.get(path, headers={"Range": "bytes=-5"})
        assert tail.content == body[-5:]
        outside = http.get(path, headers={"Range": f"bytes={len(body)}-"})
        assert outside.status_code == 416
        assert outside.json()["error"]["code"] == "RangeNotSatisfiable"
        assert http.delete(path).status_code == 204
        missing = http.get(path)
        assert missing.status_code == 404 and "rest/blob.bin" in missing.json()["error"]["message"]
        traversal = http.put(
            "/api/v1/buckets/modelyard-default/objects/a/../../etc/passwd", content=b"x"
        )
        assert traversal.status_code in (400, 404)
        no_bucket = http.put("/api/v1/buckets/no-such-bucket/objects/k", content=b"x")
        assert no_bucket.status_code == 404


def test_listing_paginates_by_prefix(server: RunningServer) -> None:
    with server.http() as http:
        for i in range(25):
            http.put(
                f"/api/v1/buckets/modelyard-default/objects/list-test/{i:02d}.txt", content=b"x"
            )
        keys: list[str] = []
        token = None
        pages = 0
        while True:
            params = {"prefix": "list-test/", "max_keys": 10}
            if token:
                params["next_token"] = token
            page = http.get("/api/v1/buckets/modelyard-default/objects", params=params).json()
            keys += [o["key"] for o in page["objects"]]
            pages += 1
            token = page["next_token"]
            if not token:
                break
        assert pages == 3
        assert keys == [f"list-test/{i:02d}.txt" for i in range(25)]


def test_sdk_data_helpers(session: my.Session, tmp_path: Path) -> None:
    bucket = session.default_bucket()
    assert bucket == "modelyard-default"
    source = tmp_path / "dataset"
    (source / "sub").mkdir(parents=True)
    (source / "a.csv").write_text("1,2\n")
    (source / "sub" / "b.csv").write_text("3,4\n")
    prefix_uri = session.upload_data(source, key_prefix="sdk/dataset")
    assert prefix_uri == "s3://modelyard-default/sdk/dataset"
    assert session.list_s3_files(bucket, "sdk/dataset") == [
        "sdk/dataset/a.csv",
        "sdk/dataset/sub/b.csv",
    ]
    file_uri = session.upload_data(source / "a.csv", key_prefix="sdk/single")
    assert file_uri == "s3://modelyard-default/sdk/single/a.csv"
    assert session.read_s3_file(bucket, "sdk/single/a.csv") == "1,2\n"
    assert (
        session.upload_string_as_file_body("hello", bucket, "sdk/hello.txt")
        == "s3://modelyard-default/sdk/hello.txt"
    )
    files = session.download_data(tmp_path / "out", bucket, "sdk/dataset")
    assert sorted(Path(f).read_text() for f in files) == ["1,2\n", "3,4\n"]
    with pytest.raises(NotFound):
        session.read_s3_file(bucket, "sdk/nothing")


def peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM) since its start or the last reset."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def test_large_upload_is_streamed_not_buffered(
    server: RunningServer, session: my.Session, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    digest = hashlib.md5()
    with open(big, "wb") as handle:
        for _ in range(300):
            handle.write(chunk)
            digest.update(chunk)
    assert server.process is not None
    pid = server.process.pid
    # The server's peak memory during the upload, not its memory after: a buffered body is
    # freed (and handed back to the system) as soon as it is written, so only the peak shows it.
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    rss_before = psutil.Process(pid).memory_info().rss
    uri = session.upload_data(big, key_prefix="big")
    # 300 MiB went through; the server's memory never grew by more than a fraction of that.
    assert peak_rss(pid) - rss_before < 100 * (1 << 20)
    with server.http() as http:
        info = http.head("/api/v1/buckets/modelyard-default/objects/big/big.bin")
    assert info.headers["etag"] == f'"{digest.hexdigest()}"'
    downloaded = session.download_file("modelyard-default", "big/big.bin", tmp_path / "copy")
    assert downloaded.stat().st_size == 300 << 20
    assert uri == "s3://modelyard-default/big/big.bin"


def test_cli_data_commands(server: RunningServer, tmp_path: Path) -> None:
    source = tmp_path / "cli.csv"
    source.write_text("0,1,2\n")
    uploaded = server.cli("data", "upload", str(source), "--prefix", "cli-data")
    assert uploaded.stdout.strip() == "s3://modelyard-default/cli-data/cli.csv"
    listing = server.cli("data", "ls", "s3://modelyard-default/cli-data").stdout
    assert "s3://modelyard-default/cli-data/cli.csv" in listing
    buckets = server.cli("data", "ls").stdout
    assert "s3://modelyard-default" in buckets
    server.cli(
        "data", "download", "s3://modelyard-default/cli-data/cli.csv", str(tmp_path / "back")
    )
    assert (tmp_path / "back" / "cli.csv").read_text() == "0,1,2\n"
    server.cli("data", "rm", "s3://modelyard-default/cli-data/cli.csv")
    gone = server.cli(
        "data",
        "download",
        "s3://modelyard-default/cli-data/cli.csv",
        str(tmp_path / "again"),
        check=False,
    )
    assert gone.returncode == 1 and "nothing stored" in gone.stderr
    missing = server.cli("data", "upload", str(tmp_path / "nope.csv"), check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_unauthenticated_object_access_is_refused(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/api/v1/buckets/modelyard-default/objects")
    assert response.status_code == 401
