"""An object store in a local directory, laid out so that objects are plain files.

    <root>/<bucket>/<key>                     the object's bytes, at the key's own path
    <root>/.meta/<bucket>/<h[:2]>/<h>.json    its ETag and content type (h = sha256 of the key)

Data files sit at their key's path so a job can symlink a training channel instead of copying
it. Metadata lives in a separate tree so listings and symlinked directories contain only data;
sidecars are named by a hash of the key because a mirrored `<key>.json` tree would collide
(key `a` → `a.json`, key `a.json/x` needs a *directory* `a.json`) and would overflow the
255-byte file-name limit for long segments. A bucket cannot be named `.meta`: bucket names
start with a letter or digit.

Writes stream into a uniquely named temp file beside the target and are os.replace()d into
place, so concurrent writers never interleave and readers never see half a file. A sidecar
records the data file's (size, mtime_ns, inode); when it is missing or does not match (the file
was put there or changed by hand, or a concurrent writer won the race), the MD5 is recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from modelyard.errors import InvalidRequest, NotFound
from modelyard.storage.base import (
    CHUNK_SIZE,
    ListPage,
    ObjectInfo,
    ObjectStore,
    Payload,
    guess_content_type,
    iter_chunks,
    resolve_range,
)
from modelyard.storage.listing import MAX_LIST_KEYS, paginate, validate_list_args
from modelyard.storage.uri import (
    is_valid_bucket,
    is_valid_key,
    join_s3_uri,
    validate_bucket,
    validate_key,
)

META_DIR = ".meta"
NAME_MAX = 255  # bytes in one file name on common filesystems (ext4, xfs, btrfs, apfs)
_TEMP_RE = re.compile(r"^\.[0-9a-f]{32}\.tmp$")
_RETRIES = 5


class LocalObjectStore(ObjectStore):
    """Objects as files under `root` (created if missing)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    # --- buckets ------------------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> None:
        (self.root / validate_bucket(bucket)).mkdir(exist_ok=True)

    def bucket_exists(self, bucket: str) -> bool:
        return (self.root / validate_bucket(bucket)).is_dir()

    def list_buckets(self) -> list[str]:
        with os.scandir(self.root) as entries:
            names = [e.name for e in entries if e.is_dir() and is_valid_bucket(e.name)]
        return sorted(names)

    # --- objects ------------------------------------------------------------------------------

    def put_object(
        self, bucket: str, key: str, data: Payload, content_type: str | None = None
    ) -> ObjectInfo:
        path = self._data_path(bucket, key)
        if _TEMP_RE.match(path.name):
            raise InvalidRequest(f"invalid key {key!r}: names like .<32 hex>.tmp are reserved")
        if path.is_dir():
            raise _collides_with_prefix(key)
        content_type = content_type or guess_content_type(key)
        md5, size = hashlib.md5(usedforsecurity=False), 0
        fd, tmp = _create_temp(path, key)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in iter_chunks(data):
                    md5.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())  # the rename must not land before the bytes do
                st = os.fstat(f.fileno())  # rename keeps inode and mtime: this is the final stat
            try:
                os.replace(tmp, path)
            except IsADirectoryError as exc:
                raise _collides_with_prefix(key) from exc
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        meta = {
            "key": key,
            "etag": md5.hexdigest(),
            "content_type": content_type,
            "fingerprint": _fingerprint(st),
        }
        self._write_meta(bucket, key, meta)
        return ObjectInfo(bucket, key, size, meta["etag"], content_type, _mtime(st))

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        path = self._data_path(bucket, key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise _no_object(bucket, key) from None
        if not stat.S_ISREG(st.st_mode):
            raise _no_object(bucket, key)
        meta = self._read_meta(bucket, key)
        if meta is None or meta.get("fingerprint") != _fingerprint(st):
            meta = self._rebuild_meta(bucket, key, path, st, meta)
        return ObjectInfo(bucket, key, st.st_size, meta["etag"], meta["content_type"], _mtime(st))

    def iter_object(
        self,
        bucket: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> Iterator[bytes]:
        path = self._data_path(bucket, key)
        try:
            f = path.open("rb")  # opened now: errors surface at call time, and the reader
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):  # keeps this version
            raise _no_object(bucket, key) from None  # even if a writer replaces the file
        try:
            size = os.fstat(f.fileno()).st_size
            offset, length = resolve_range(start, end, size, join_s3_uri(bucket, key))
            f.seek(offset)
        except BaseException:
            f.close()
            raise
        return _read(f, length, max(1, chunk_size))

    def delete_object(self, bucket: str, key: str) -> None:
        path = self._data_path(bucket, key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            path.unlink()  # a missing key, or one naming a prefix, is not an object: no-op
        with contextlib.suppress(FileNotFoundError):
            self._meta_path(bucket, key).unlink()
        # Drop directories the delete emptied, so a later put of key "a" is not blocked by a
        # leftover empty "a/" (S3 has no directories to get in the way). rmdir fails on a
        # directory holding anything, including another writer's in-flight temp file.
        bucket_dir, parent = self.root / bucket, path.parent
        while parent != bucket_dir:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str | None = None,
        max_keys: int = MAX_LIST_KEYS,
        token: str | None = None,
    ) -> ListPage:
        bucket_dir = self._bucket_dir(bucket)
        validate_key(prefix, prefix=True)  # it becomes a path below: no '..' allowed
        validate_list_args(max_keys, delimiter)
        head, sep, tail = prefix.rpartition("/")
        keys = _walk(bucket_dir / head, head + sep, tail, token, rollup=delimiter == "/")
        names, prefixes, next_token = paginate(keys, prefix, delimiter, max_keys, token)
        objects = []
        for key in names:
            with contextlib.suppress(NotFound):  # deleted since the walk saw it
                objects.append(self.head_object(bucket, key))
        return ListPage(objects, prefixes, next_token)

    def local_path(self, bucket: str, key: str) -> Path:
        path = self._data_path(bucket, key)
        if not path.is_file():
            raise _no_object(bucket, key)
        return path

    # --- paths and metadata ---------------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        path = self.root / validate_bucket(bucket)
        if not path.is_dir():
            raise NotFound(
                f"bucket {bucket!r} does not exist ({join_s3_uri(bucket)})", {"bucket": bucket}
            )
        return path

    def _data_path(self, bucket: str, key: str) -> Path:
        validate_bucket(bucket)
        validate_key(key)  # the security boundary: no '..', no leading '/', no NUL
        if any(len(segment.encode("utf-8")) > NAME_MAX for segment in key.split("/")):
            raise InvalidRequest(
                f"invalid key {key!r}: the local store keeps each '/'-separated segment as a "
                f"file name, which is limited to {NAME_MAX} bytes",
                {"key": key},
            )
        return self._bucket_dir(bucket) / key

    def _meta_path(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.root / META_DIR / bucket / digest[:2] / f"{digest}.json"

    def _read_meta(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            meta = json.loads(self._meta_path(bucket, key).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return meta if isinstance(meta, dict) and meta.get("key") == key else None

    def _write_meta(self, bucket: str, key: str, meta: dict[str, Any]) -> None:
        path = self._meta_path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_text(json.dumps(meta), "utf-8")
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def _rebuild_meta(
        self, bucket: str, key: str, path: Path, st: os.stat_result, old: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Hash a file whose sidecar is missing or stale, and cache the result if it held still."""
        md5 = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                md5.update(chunk)
        content_type = (old or {}).get("content_type") or guess_content_type(key)
        meta = {
            "key": key,
            "etag": md5.hexdigest(),
            "content_type": content_type,
            "fingerprint": _fingerprint(st),
        }
        with contextlib.suppress(OSError):
            if _fingerprint(path.stat()) == meta["fingerprint"]:
                self._write_meta(bucket, key, meta)
        return meta


def _create_temp(path: Path, key: str) -> tuple[int, Path]:
    """Create a uniquely named temp file beside `path`, making parent directories as needed."""
    for _ in range(_RETRIES):
        tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileNotFoundError:
            continue  # a concurrent delete pruned the directory between mkdir and open
        except (FileExistsError, NotADirectoryError) as exc:
            if not any(parent.is_file() for parent in path.parents):
                # mkdir saw the directory, then a concurrent delete pruned it before mkdir
                # could confirm it was one: nothing is in the way, so try again.
                continue
            raise InvalidRequest(
                f"cannot store key {key!r}: a prefix of it is already an object "
                "(the local store keeps objects as files, so a key cannot also be a directory)",
                {"key": key},
            ) from exc
    raise OSError(f"could not create a temporary file beside {path}")


def _walk(
    directory: Path, rel: str, name_prefix: str, after: str | None, rollup: bool
) -> Iterator[str]:
    """Yield the keys under `directory` in S3 order, lazily, skipping what `after` has passed.

    Sorting directories as "name/" puts their keys exactly where S3's byte order would. With
    `rollup` (delimiter "/") a non-empty subdirectory is yielded as "name/" instead of walked:
    it becomes one common prefix, so a top-level listing does not read a million-file tree.
    Directory symlinks are not followed (no loops); file symlinks are.
    """
    items: list[tuple[str, str, bool]] = []
    try:
        with os.scandir(directory) as entries:
            for e in entries:
                if not e.name.startswith(name_prefix) or _TEMP_RE.match(e.name):
                    continue
                if e.is_dir(follow_symlinks=False):
                    items.append((e.name + "/", e.name, True))
                elif e.is_file():
                    items.append((e.name, e.name, False))
    except (FileNotFoundError, NotADirectoryError):
        return
    for sort_name, name, is_dir in sorted(items):
        key = rel + sort_name
        if not is_valid_key(key.rstrip("/")):
            continue
        if not is_dir:
            yield key
        elif after is not None and key < after and not after.startswith(key):
            continue  # every key below sorts before the continuation token
        elif rollup:
            if _has_file(directory / name):
                yield key  # paginate() turns it into a common prefix
        else:
            yield from _walk(directory / name, key, "", after, rollup=False)


def _has_file(directory: Path) -> bool:
    try:
        with os.scandir(directory) as entries:
            for e in entries:
                if _TEMP_RE.match(e.name):
                    continue
                if e.is_file() or (e.is_dir(follow_symlinks=False) and _has_file(Path(e.path))):
                    return True
    except (FileNotFoundError, NotADirectoryError):
        pass  # removed by a concurrent delete
    return False


def _read(f: BinaryIO, length: int, chunk_size: int) -> Iterator[bytes]:
    with f:
        while length > 0:
            chunk = f.read(min(chunk_size, length))
            if not chunk:
                return  # truncated by hand under us; nothing more to give
            length -= len(chunk)
            yield chunk


def _fingerprint(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)


def _no_object(bucket: str, key: str) -> NotFound:
    uri = join_s3_uri(bucket, key)
    return NotFound(f"no object at {uri}", {"bucket": bucket, "key": key, "uri": uri})


def _collides_with_prefix(key: str) -> InvalidRequest:
    return InvalidRequest(
        f"cannot store key {key!r}: other keys exist under {key + '/'!r} "
        "(the local store keeps objects as files, so a key cannot also be a directory)",
        {"key": key},
    )
