"""One behavioural suite, run unchanged against every object-store backend.

The S3 backend talks HTTP to moto's standalone server in a real subprocess, so these tests
exercise boto3, the wire protocol and our error mapping, not an in-process mock.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelyard.errors import InvalidRequest, NotFound, RangeNotSatisfiable
from modelyard.storage import (
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    default_bucket_name,
    join_s3_uri,
    open_store,
)
from modelyard.storage.base import CHUNK_SIZE

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    endpoint = request.getfixturevalue("moto_endpoint")  # started only when an S3 test runs
    return S3ObjectStore(endpoint_url=endpoint, region="us-east-1", **CREDENTIALS)


@pytest.fixture
def bucket(store: ObjectStore) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"  # unique: S3 tests share one moto server
    store.create_bucket(name)
    return name


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def is_local(store: ObjectStore) -> bool:
    return isinstance(store, LocalObjectStore)


# --- buckets ---------------------------------------------------------------------------------


def test_create_bucket_is_idempotent_and_listed(store: ObjectStore, bucket: str) -> None:
    store.create_bucket(bucket)
    assert store.bucket_exists(bucket)
    assert bucket in store.list_buckets()
    assert not store.bucket_exists(f"missing-{uuid.uuid4().hex[:8]}")


# --- put / get / head ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytes", "file", "chunks"])
def test_put_get_round_trip(store: ObjectStore, bucket: str, kind: str) -> None:
    data = os.urandom(CHUNK_SIZE + 17)  # more than one chunk
    payload = {
        "bytes": data,
        "file": io.BytesIO(data),
        "chunks": (data[i : i + 1000] for i in range(0, len(data), 1000)),
    }[kind]
    info = store.put_object(bucket, "dir/blob.bin", payload)
    assert (info.bucket, info.key, info.size) == (bucket, "dir/blob.bin", len(data))
    assert store.get_bytes(bucket, "dir/blob.bin") == data
    assert b"".join(store.iter_object(bucket, "dir/blob.bin", chunk_size=4096)) == data


def test_etag_is_md5_and_head_matches_put(store: ObjectStore, bucket: str) -> None:
    data = b"hello, object store"
    before = datetime.now(UTC) - timedelta(seconds=5)
    put = store.put_bytes(bucket, "greeting.txt", data)
    head = store.head_object(bucket, "greeting.txt")
    assert put.etag == head.etag == md5(data)
    assert put.size == head.size == len(data)
    assert head.last_modified.tzinfo is not None
    assert before <= head.last_modified <= datetime.now(UTC) + timedelta(seconds=5)
    assert head.uri == f"s3://{bucket}/greeting.txt"


def test_empty_object(store: ObjectStore, bucket: str) -> None:
    info = store.put_bytes(bucket, "empty", b"")
    assert (info.size, info.etag) == (0, md5(b""))
    assert store.get_bytes(bucket, "empty") == b""


def test_content_type_is_kept_or_guessed(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "explicit.bin", b"{}", content_type="application/json")
    store.put_bytes(bucket, "table.csv", b"a,b\n")
    store.put_bytes(bucket, "no-extension", b"?")
    assert store.head_object(bucket, "explicit.bin").content_type == "application/json"
    assert store.head_object(bucket, "table.csv").content_type == "text/csv"
    assert store.head_object(bucket, "no-extension").content_type == "application/octet-stream"


def test_overwrite_replaces_content(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "k", b"old")
    store.put_bytes(bucket, "k", b"new content")
    assert store.get_bytes(bucket, "k") == b"new content"
    assert store.head_object(bucket, "k").etag == md5(b"new content")


def test_missing_key_errors_name_the_uri(store: ObjectStore, bucket: str) -> None:
    uri = f"s3://{bucket}/no/such/key"
    with pytest.raises(NotFound, match=uri):
        store.head_object(bucket, "no/such/key")
    with pytest.raises(NotFound, match=uri):
        store.iter_object(bucket, "no/such/key")  # raises on the call, before iteration


def test_missing_bucket_errors_name_the_bucket(store: ObjectStore) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    calls = [
        lambda: store.put_bytes(missing, "k", b"x"),
        lambda: store.head_object(missing, "k"),
        lambda: store.iter_object(missing, "k"),
        lambda: store.delete_object(missing, "k"),
        lambda: store.list_objects(missing),
    ]
    for call in calls:
        with pytest.raises(NotFound, match=missing):
            call()


# --- ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, b"0"),
        (2, 5, b"2345"),
        (7, None, b"789"),
        (None, 3, b"0123"),
        (8, 100, b"89"),  # an end past the object is clamped, as in HTTP
        (None, None, b"0123456789"),
    ],
)
def test_range_reads(
    store: ObjectStore, bucket: str, start: int | None, end: int | None, expected: bytes
) -> None:
    store.put_bytes(bucket, "digits", b"0123456789")
    assert b"".join(store.iter_object(bucket, "digits", start, end)) == expected


def test_range_outside_object_is_416(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "digits", b"0123456789")
    store.put_bytes(bucket, "empty", b"")
    for key, start in [("digits", 10), ("digits", 50), ("empty", 0)]:
        with pytest.raises(RangeNotSatisfiable, match=f"s3://{bucket}/{key}"):
            store.iter_object(bucket, key, start)


def test_malformed_range_is_invalid(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "digits", b"0123456789")
    for start, end in [(5, 2), (-1, None), (None, -3)]:
        with pytest.raises(InvalidRequest):
            store.iter_object(bucket, "digits", start, end)


# --- delete ----------------------------------------------------------------------------------


def test_delete(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "a/b/c.txt", b"x")
    store.delete_object(bucket, "a/b/c.txt")
    with pytest.raises(NotFound):
        store.head_object(bucket, "a/b/c.txt")
    assert store.list_objects(bucket).objects == []
    store.delete_object(bucket, "a/b/c.txt")  # deleting a missing key is fine, as in S3
    store.put_bytes(bucket, "a", b"a file where a directory was")
    assert store.get_bytes(bucket, "a") == b"a file where a directory was"


# --- listing ---------------------------------------------------------------------------------


def test_list_is_in_s3_byte_order(store: ObjectStore, bucket: str) -> None:
    keys = ["a-c", "a/b", "a0", "b", "z", "\u00e4", "A", "dir/x", "dir-x", "dir0"]
    for key in keys:
        store.put_bytes(bucket, key, key.encode())
    listed = [o.key for o in store.list_objects(bucket).objects]
    assert listed == sorted(keys, key=lambda k: k.encode("utf-8"))
    page = store.list_objects(bucket, prefix="dir")
    assert [o.key for o in page.objects] == ["dir-x", "dir/x", "dir0"]
    assert page.next_token is None
    first = store.list_objects(bucket, prefix="a").objects[0]
    assert (first.size, first.etag) == (3, md5(b"a-c"))


def test_list_with_delimiter(store: ObjectStore, bucket: str) -> None:
    for key in ["top.txt", "dir1/a", "dir1/sub/b", "dir1/sub/c", "dir2/c", "dir10/d"]:
        store.put_bytes(bucket, key, b"x")
    page = store.list_objects(bucket, delimiter="/")
    assert [o.key for o in page.objects] == ["top.txt"]
    assert page.common_prefixes == ["dir1/", "dir10/", "dir2/"]
    page = store.list_objects(bucket, prefix="dir1/", delimiter="/")
    assert [o.key for o in page.objects] == ["dir1/a"]
    assert page.common_prefixes == ["dir1/sub/"]
    page = store.list_objects(bucket, prefix="dir1", delimiter="/")
    assert (page.objects, page.common_prefixes) == ([], ["dir1/", "dir10/"])


def test_list_pagination(store: ObjectStore, bucket: str) -> None:
    keys = [f"items/{i:03d}.json" for i in range(25)]
    for key in keys:
        store.put_bytes(bucket, key, b"{}")
    pages, token = [], None
    while True:
        page = store.list_objects(bucket, prefix="items/", max_keys=10, token=token)
        pages.append([o.key for o in page.objects])
        token = page.next_token
        if token is None:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert sum(pages, []) == keys
    assert [o.key for o in store.iter_all(bucket, "items/")] == keys


def test_pagination_counts_common_prefixes(store: ObjectStore, bucket: str) -> None:
    keys = [f"p{i}/x" for i in range(5)] + [f"p{i}/y" for i in range(5)] + ["p9", "q"]
    for key in keys:
        store.put_bytes(bucket, key, b"x")
    seen_objects, seen_prefixes, token, pages = [], [], None, 0
    while True:
        page = store.list_objects(bucket, delimiter="/", max_keys=2, token=token)
        assert len(page.objects) + len(page.common_prefixes) <= 2
        seen_objects += [o.key for o in page.objects]
        seen_prefixes += page.common_prefixes
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen_prefixes == [f"p{i}/" for i in range(5)]
    assert seen_objects == ["p9", "q"]
    assert pages == 4


def test_list_rejects_bad_max_keys(store: ObjectStore, bucket: str) -> None:
    for bad in (0, 1001):
        with pytest.raises(InvalidRequest, match="max_keys"):
            store.list_objects(bucket, max_keys=bad)


# --- files -----------------------------------------------------------------------------------


def test_upload_and_download_a_file_bigger_than_a_chunk(
    store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 123)
    source = tmp_path / "model.tar.gz"
    source.write_bytes(data)
    uploaded: list[int] = []
    info = store.upload_file(source, bucket, "models/model.tar.gz", progress=uploaded.append)
    assert sum(uploaded) == len(data) and len(uploaded) > 1
    assert (info.size, info.etag) == (len(data), md5(data))
    assert store.head_object(bucket, "models/model.tar.gz").content_type == "application/gzip"

    downloaded: list[int] = []
    dest = tmp_path / "out" / "deeper" / "model.tar.gz"
    assert store.download_file(bucket, "models/model.tar.gz", dest, downloaded.append) == dest
    assert sum(downloaded) == len(data)
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.tar.gz"]  # no temp left


def test_download_of_missing_key_creates_nothing(
    store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    with pytest.raises(NotFound):
        store.download_file(bucket, "nope", tmp_path / "dl" / "nope")
    assert not (tmp_path / "dl" / "nope").exists()


def test_put_streams_a_64_mib_generator(store: ObjectStore, bucket: str) -> None:
    block = os.urandom(CHUNK_SIZE)
    expected_md5 = hashlib.md5()
    for _ in range(64):
        expected_md5.update(block)

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield block

    info = store.put_object(bucket, "big.bin", chunks())
    assert info.size == 64 * CHUNK_SIZE
    head = store.head_object(bucket, "big.bin")
    assert head.size == info.size
    if is_local(store):
        assert info.etag == head.etag == expected_md5.hexdigest()
    else:
        assert info.etag == head.etag and info.etag.endswith("-8")  # multipart, 8 MiB parts
    assert b"".join(store.iter_object(bucket, "big.bin", 64 * CHUNK_SIZE - 4)) == block[-4:]


def test_payload_is_read_on_the_callers_thread(store: ObjectStore, bucket: str) -> None:
    """The API server feeds put_object from an anyio bridge that only works on its own thread."""
    readers: set[int] = set()

    def chunks() -> Iterator[bytes]:
        for _ in range(10):  # 10 MiB: a multipart upload on S3
            readers.add(threading.get_ident())
            yield bytes(CHUNK_SIZE)

    progress_threads: set[int] = set()
    store.put_object(bucket, "threaded.bin", chunks())
    assert readers == {threading.get_ident()}
    assert store.head_object(bucket, "threaded.bin").size == 10 * CHUNK_SIZE
    store.upload_file(
        __file__, bucket, "me.py", progress=lambda _: progress_threads.add(threading.get_ident())
    )
    assert progress_threads == {threading.get_ident()}


# --- materialize -----------------------------------------------------------------------------


def test_materialize_a_key(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    store.put_bytes(bucket, "data/train.csv", b"a,b\n1,2\n")
    paths = store.materialize(join_s3_uri(bucket, "data/train.csv"), tmp_path / "channel")
    assert paths == [tmp_path / "channel" / "train.csv"]
    assert paths[0].read_bytes() == b"a,b\n1,2\n"
    assert paths[0].is_symlink() == is_local(store)


def test_materialize_a_prefix(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    for key in ["data/train/a.csv", "data/train/sub/b.csv", "data/trainx.csv", "other/c"]:
        store.put_bytes(bucket, key, key.encode())
    for uri in (f"s3://{bucket}/data/train", f"s3://{bucket}/data/train/"):
        dest = tmp_path / uuid.uuid4().hex
        paths = store.materialize(uri, dest)
        assert paths == [dest / "a.csv", dest / "sub" / "b.csv"]
        assert (dest / "sub" / "b.csv").read_bytes() == b"data/train/sub/b.csv"
        assert all(p.is_symlink() == is_local(store) for p in paths)
    whole = store.materialize(f"s3://{bucket}", tmp_path / "all")
    assert len(whole) == 4


def test_materialize_without_link_copies(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    store.put_bytes(bucket, "d/x.txt", b"x")
    (path,) = store.materialize(f"s3://{bucket}/d", tmp_path / "copy", link=False)
    assert not path.is_symlink() and path.read_bytes() == b"x"


def test_materialize_twice_replaces(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    store.put_bytes(bucket, "d/x.txt", b"one")
    store.materialize(f"s3://{bucket}/d/", tmp_path / "ch")
    store.put_bytes(bucket, "d/x.txt", b"two")
    (path,) = store.materialize(f"s3://{bucket}/d/", tmp_path / "ch")
    assert path.read_bytes() == b"two"


def test_materialize_nothing_is_not_found(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    store.put_bytes(bucket, "data/x", b"x")
    with pytest.raises(NotFound, match=f"s3://{bucket}/nothing/here"):
        store.materialize(f"s3://{bucket}/nothing/here", tmp_path / "ch")
    with pytest.raises(NotFound, match="missing-bucket"):
        store.materialize("s3://missing-bucket/x", tmp_path / "ch")


# --- validation ------------------------------------------------------------------------------

BAD_KEYS = [
    "../etc/passwd",
    "a/../../etc/passwd",
    "/etc/passwd",
    "a//b",
    "a/./b",
    "dir/",
    "",
    "nul\x00byte",
    "x" * 1025,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_rejected(store: ObjectStore, bucket: str, key: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid key"):
        store.put_bytes(bucket, key, b"x")
    with pytest.raises(InvalidRequest, match="invalid key"):
        store.head_object(bucket, key)
    with pytest.raises(InvalidRequest, match="invalid key"):
        store.delete_object(bucket, key)


@pytest.mark.parametrize("name", ["ab", "Upper", "under_score", "-dash", "dot.", "x" * 64, ".meta"])
def test_invalid_bucket_names_are_rejected(store: ObjectStore, name: str) -> None:
    with pytest.raises(InvalidRequest, match="3-63 characters"):
        store.create_bucket(name)
    with pytest.raises(InvalidRequest, match="3-63 characters"):
        store.put_bytes(name, "k", b"x")


def test_materialize_rejects_traversal(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest):
        store.materialize(f"s3://{bucket}/../etc/passwd", tmp_path / "ch")


# --- open_store ------------------------------------------------------------------------------


def test_open_store_s3_url_round_trip(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    store = open_store(f"s3://yard-bucket?endpoint_url={moto_endpoint}&region=us-east-1")
    assert isinstance(store, S3ObjectStore)
    assert default_bucket_name(store) == "yard-bucket"
    store.create_bucket("yard-bucket")
    store.put_bytes("yard-bucket", "k.txt", b"via url")
    assert store.get_bytes("yard-bucket", "k.txt") == b"via url"
    assert store.local_path("yard-bucket", "k.txt") is None
