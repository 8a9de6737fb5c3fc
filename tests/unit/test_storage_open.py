"""Choosing a backend from a URL (no network: S3 clients connect lazily)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.errors import InvalidRequest
from modelyard.storage import (
    DEFAULT_BUCKET,
    STORE_FACTORIES,
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    default_bucket_name,
    open_store,
    register_store,
)


def test_plain_path_and_file_url_open_a_local_store(tmp_path: Path) -> None:
    for url in (str(tmp_path / "a"), f"file://{tmp_path / 'b'}", f"file://localhost{tmp_path}/c"):
        store = open_store(url)
        assert isinstance(store, LocalObjectStore)
        assert store.root.is_dir()
        assert default_bucket_name(store) == DEFAULT_BUCKET == "modelyard-default"
    assert open_store(f"file://{tmp_path}/with%20space").root == tmp_path / "with space"


def test_relative_path_is_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("objects")
    assert isinstance(store, LocalObjectStore) and store.root == tmp_path / "objects"


def test_s3_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = open_store("s3://yard?endpoint_url=http://127.0.0.1:9/&region=eu-west-1")
    assert isinstance(store, S3ObjectStore)
    assert store.default_bucket == default_bucket_name(store) == "yard"
    assert store.endpoint_url == "http://127.0.0.1:9/"
    assert default_bucket_name(open_store("s3://?region=us-east-1")) == DEFAULT_BUCKET


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("gs://bucket", "known schemes: file, s3"),
        ("s3://bucket?color=blue", "known options: endpoint_url, region, addressing_style"),
        ("s3://bucket/prefix", "names a bucket, not a key prefix"),
        ("s3://Bad_Bucket", "3-63 characters"),
        ("file://otherhost/path", "expected file:///absolute/path"),
        ("", "empty"),
    ],
)
def test_bad_urls(url: str, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        open_store(url)


def test_register_store(tmp_path: Path) -> None:
    def factory(url: str) -> ObjectStore:
        return LocalObjectStore(tmp_path / url.split("://", 1)[1])

    register_store("mem", factory)
    try:
        store = open_store("mem://x")
        assert isinstance(store, LocalObjectStore) and store.root == tmp_path / "x"
    finally:
        del STORE_FACTORIES["mem"]


def test_importing_storage_does_not_import_boto3() -> None:
    code = "import sys, modelyard.storage; sys.exit('boto3' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
