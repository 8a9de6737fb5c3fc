"""What only the local backend promises: its layout, atomicity, concurrency and path safety."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.errors import InvalidRequest, NotFound
from modelyard.storage import LocalObjectStore


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "objects")
    store.create_bucket("bkt")
    return store


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_layout_keeps_metadata_out_of_the_bucket(store: LocalObjectStore) -> None:
    store.put_bytes("bkt", "data/train.csv", b"a,b\n")
    assert files_under(store.root / "bkt") == ["data/train.csv"]
    assert store.local_path("bkt", "data/train.csv") == store.root / "bkt" / "data/train.csv"
    (sidecar,) = (store.root / ".meta" / "bkt").rglob("*.json")
    assert '"data/train.csv"' in sidecar.read_text()
    assert store.list_buckets() == ["bkt"]  # .meta is not a bucket


def test_file_placed_by_hand_gets_a_lazy_etag(store: LocalObjectStore) -> None:
    path = store.root / "bkt" / "hand" / "made.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"x": 1}')
    info = store.head_object("bkt", "hand/made.json")
    assert info.etag == hashlib.md5(b'{"x": 1}').hexdigest()
    assert info.content_type == "application/json"
    assert [o.key for o in store.list_objects("bkt").objects] == ["hand/made.json"]
    path.write_bytes(b'{"x": 2, "changed": "by hand"}')  # the cached sidecar is now stale
    expected = hashlib.md5(path.read_bytes()).hexdigest()
    assert store.head_object("bkt", "hand/made.json").etag == expected


def test_key_and_directory_cannot_collide(store: LocalObjectStore) -> None:
    store.put_bytes("bkt", "a", b"file")
    with pytest.raises(InvalidRequest, match="a prefix of it is already an object"):
        store.put_bytes("bkt", "a/b", b"x")
    store.put_bytes("bkt", "d/e", b"x")
    with pytest.raises(InvalidRequest, match="other keys exist under 'd/'"):
        store.put_bytes("bkt", "d", b"x")
    with pytest.raises(NotFound):
        store.head_object("bkt", "d")  # a directory is not an object
    store.delete_object("bkt", "d")  # ...and deleting it as a key is a no-op
    assert store.get_bytes("bkt", "d/e") == b"x"


def test_key_segment_longer_than_a_file_name(store: LocalObjectStore) -> None:
    with pytest.raises(InvalidRequest, match="255 bytes"):
        store.put_bytes("bkt", "x" * 256, b"x")


def test_traversal_never_touches_outside_the_root(store: LocalObjectStore, tmp_path: Path) -> None:
    before = files_under(tmp_path)
    for key in ["../escape", "../../escape", "a/../../escape", "/tmp/escape"]:
        with pytest.raises(InvalidRequest):
            store.put_bytes("bkt", key, b"x")
    with pytest.raises(InvalidRequest):
        store.list_objects("bkt", prefix="../")
    assert files_under(tmp_path) == before


def test_empty_directories_are_not_objects_or_prefixes(store: LocalObjectStore) -> None:
    (store.root / "bkt" / "empty" / "deeper").mkdir(parents=True)
    store.put_bytes("bkt", "full/x", b"x")
    page = store.list_objects("bkt", delimiter="/")
    assert (page.objects, page.common_prefixes) == ([], ["full/"])
    assert store.list_objects("bkt").objects[0].key == "full/x"


def test_reader_never_sees_a_half_written_object(store: LocalObjectStore) -> None:
    store.put_bytes("bkt", "model.bin", b"old")
    observed: list[object] = []

    def slow_chunks() -> Iterator[bytes]:
        yield b"new-part-1"
        # Mid-write: the old object is intact, the new key is invisible, no temp file listed.
        observed.append(store.get_bytes("bkt", "model.bin"))
        observed.append([o.key for o in store.list_objects("bkt").objects])
        with pytest.raises(NotFound):
            store.head_object("bkt", "fresh.bin")
        yield b"new-part-2"

    store.put_object("bkt", "model.bin", slow_chunks())
    assert observed == [b"old", ["model.bin"]]
    assert store.get_bytes("bkt", "model.bin") == b"new-part-1new-part-2"


def test_failed_put_leaves_nothing_behind(store: LocalObjectStore) -> None:
    def broken() -> Iterator[bytes]:
        yield b"partial"
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError):
        store.put_object("bkt", "dir/broken.bin", broken())
    assert files_under(store.root / "bkt") == []
    with pytest.raises(NotFound):
        store.head_object("bkt", "dir/broken.bin")


def test_open_reader_keeps_its_version(store: LocalObjectStore) -> None:
    store.put_bytes("bkt", "k", b"A" * 10)
    chunks = store.iter_object("bkt", "k", chunk_size=4)
    store.put_bytes("bkt", "k", b"B" * 10)
    assert b"".join(chunks) == b"A" * 10


def test_concurrent_writers(store: LocalObjectStore) -> None:
    payloads = {i: bytes([i]) * (300_000 + i) for i in range(8)}
    errors: list[BaseException] = []
    start = threading.Barrier(len(payloads))

    def write(i: int) -> None:
        try:
            start.wait()
            for _ in range(5):
                store.put_object("bkt", "shared/key.bin", [payloads[i][:1000], payloads[i][1000:]])
                store.put_bytes("bkt", f"own/{i}.bin", payloads[i])
                store.delete_object("bkt", f"own/{i}.bin")
                store.put_bytes("bkt", f"own/{i}.bin", payloads[i])
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = store.get_bytes("bkt", "shared/key.bin")
    assert final in payloads.values()  # one writer's whole content, never a mix
    assert store.head_object("bkt", "shared/key.bin").etag == hashlib.md5(final).hexdigest()
    keys = [o.key for o in store.iter_all("bkt")]
    assert keys == [f"own/{i}.bin" for i in payloads] + ["shared/key.bin"]
    leftovers = [n for n in files_under(store.root) if n.endswith(".tmp")]
    assert leftovers == []


def test_delete_prunes_emptied_directories(store: LocalObjectStore) -> None:
    store.put_bytes("bkt", "a/b/c/d.txt", b"x")
    store.put_bytes("bkt", "a/keep.txt", b"x")
    store.delete_object("bkt", "a/b/c/d.txt")
    assert sorted(p.name for p in (store.root / "bkt" / "a").iterdir()) == ["keep.txt"]


def test_listing_skips_subtrees_before_the_token(store: LocalObjectStore) -> None:
    keys = [f"{d}/{i}" for d in ("a", "b", "c") for i in range(3)]
    for key in keys:
        store.put_bytes("bkt", key, b"x")
    page = store.list_objects("bkt", max_keys=4)
    rest = store.list_objects("bkt", token=page.next_token)
    assert [o.key for o in page.objects + rest.objects] == keys


def test_symlinked_channel_follows_later_puts(store: LocalObjectStore, tmp_path: Path) -> None:
    store.put_bytes("bkt", "ch/x", b"v1")
    (link,) = store.materialize("s3://bkt/ch", tmp_path / "input")
    assert os.readlink(link) == str(store.local_path("bkt", "ch/x"))
    store.put_bytes("bkt", "ch/x", b"v2")
    assert link.read_bytes() == b"v2"


def test_local_path_of_missing_key(store: LocalObjectStore) -> None:
    with pytest.raises(NotFound, match="s3://bkt/nope"):
        store.local_path("bkt", "nope")
