"""The object-store contract and the behaviour every backend shares.

A backend supplies a handful of primitives (bucket ops, put/head/iter/delete/list of one
object, and `local_path`). Everything built from them — file upload and download, walking all
pages, materializing a URI into a job's input directory — lives here once, so the local and S3
backends cannot drift apart in behaviour.

Contract details every backend honours:
- `put_object` streams its input (1 MiB reads), computes the MD5 ETag while streaming, and is
  atomic: a reader sees the old object or the new one, never half of one. It consumes the
  payload on the caller's thread, so the payload may be a thread-bound generator.
- `iter_object` raises NotFound / RangeNotSatisfiable when *called*, not on first iteration,
  so callers can check for errors before creating output files.
- Keys and buckets are validated by `modelyard.storage.uri` before anything touches storage.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from modelyard.errors import InvalidRequest, NotFound, RangeNotSatisfiable
from modelyard.storage.listing import MAX_LIST_KEYS
from modelyard.storage.uri import join_s3_uri, parse_s3_uri, validate_key

CHUNK_SIZE = 1 << 20
"""Bytes read or written per step when streaming; bounds the memory one transfer holds."""

DEFAULT_CONTENT_TYPE = "application/octet-stream"

Payload = BinaryIO | bytes | bytearray | Iterable[bytes]
Progress = Callable[[int], None]
"""Called with the number of bytes just transferred (a delta, like boto3's Callback)."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one object.

    In S3 listings `content_type` is guessed from the key, because ListObjects does not return
    it; `head_object` always gives the stored value.
    """

    bucket: str
    key: str
    size: int
    etag: str  # hex MD5 of the content for single-part uploads; never quoted
    content_type: str
    last_modified: datetime  # timezone-aware, UTC

    @property
    def uri(self) -> str:
        return join_s3_uri(self.bucket, self.key)


@dataclass
class ListPage:
    """One page of a listing, in S3's lexicographic (UTF-8 byte) key order."""

    objects: list[ObjectInfo] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    next_token: str | None = None  # opaque; pass back as `token` to get the next page


# mimetypes reports "x.tar.gz" as type x-tar with encoding gzip; an object store has no
# Content-Encoding here, so the honest type of those bytes is the compressor's.
_ENCODING_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}


def _guess_type(name: str) -> str | None:
    content_type, encoding = mimetypes.guess_type(name, strict=False)
    if encoding:
        return _ENCODING_TYPES.get(encoding, DEFAULT_CONTENT_TYPE)
    return content_type


def guess_content_type(key: str) -> str:
    """The MIME type the key's extension suggests, else application/octet-stream."""
    return _guess_type(key) or DEFAULT_CONTENT_TYPE


def iter_chunks(data: Payload, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Turn any accepted payload into a stream of byte chunks without reading it all at once."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for offset in range(0, len(view), chunk_size):
            yield bytes(view[offset : offset + chunk_size])
        return
    if isinstance(data, str):
        raise TypeError("object data must be bytes, a binary file or an iterable of bytes")
    read = getattr(data, "read", None)
    if read is not None:
        while chunk := read(chunk_size):
            if isinstance(chunk, str):
                raise TypeError("object data must be read from a file opened in binary mode")
            yield chunk
        return
    for chunk in data:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"object data chunks must be bytes, got {type(chunk).__name__}")
        if chunk:
            yield bytes(chunk)


def validate_range(start: int | None, end: int | None) -> None:
    """Reject ranges that are malformed whatever the object's size."""
    if (start is not None and start < 0) or (end is not None and end < 0):
        raise InvalidRequest(f"invalid byte range {start}-{end}: offsets must be >= 0")
    if start is not None and end is not None and end < start:
        raise InvalidRequest(f"invalid byte range {start}-{end}: end is before start")


def resolve_range(start: int | None, end: int | None, size: int, uri: str) -> tuple[int, int]:
    """Map inclusive HTTP-style offsets onto (offset, length) within an object of `size`."""
    validate_range(start, end)
    if start is None and end is None:
        return 0, size
    first = start or 0
    if first >= size:
        raise RangeNotSatisfiable(
            f"range start {first} is not within {uri} ({size} bytes)",
            {"uri": uri, "size": size, "start": first},
        )
    last = size - 1 if end is None else min(end, size - 1)
    return first, last - first + 1


def _with_progress(chunks: Iterable[bytes], progress: Progress | None) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk
        if progress is not None:
            progress(len(chunk))


def _temp_sibling(dest: Path) -> Path:
    """A unique name next to `dest`, so os.replace onto dest stays on one filesystem.

    The name is cut short so that a 255-byte file name still leaves room for the suffix.
    """
    return dest.with_name(f".{dest.name[:100]}.{uuid.uuid4().hex}.part")


class ObjectStore(ABC):
    """An S3-shaped object store. See the module docstring for the contract."""

    default_bucket: str | None = None

    # --- primitives each backend supplies -------------------------------------------------

    @abstractmethod
    def create_bucket(self, bucket: str) -> None:
        """Create the bucket; creating one that exists (and is ours) is not an error."""

    @abstractmethod
    def bucket_exists(self, bucket: str) -> bool: ...

    @abstractmethod
    def list_buckets(self) -> list[str]: ...

    @abstractmethod
    def put_object(
        self, bucket: str, key: str, data: Payload, content_type: str | None = None
    ) -> ObjectInfo:
        """Store `data` under the key, atomically; content type defaults from the key."""

    @abstractmethod
    def head_object(self, bucket: str, key: str) -> ObjectInfo: ...

    @abstractmethod
    def iter_object(
        self,
        bucket: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> Iterator[bytes]:
        """Stream the object, or the inclusive byte range start..end of it."""

    @abstractmethod
    def delete_object(self, bucket: str, key: str) -> None:
        """Delete the key; a missing key is not an error (as in S3), a missing bucket is."""

    @abstractmethod
    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str | None = None,
        max_keys: int = MAX_LIST_KEYS,
        token: str | None = None,
    ) -> ListPage: ...

    @abstractmethod
    def local_path(self, bucket: str, key: str) -> Path | None:
        """The object's file on this machine, or None when the backend keeps no local files."""

    # --- shared behaviour -------------------------------------------------------------------

    def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str | None = None
    ) -> ObjectInfo:
        return self.put_object(bucket, key, data, content_type)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        """The whole object in memory: only for objects known to be small."""
        return b"".join(self.iter_object(bucket, key))

    def upload_file(
        self,
        path: Path | str,
        bucket: str,
        key: str,
        content_type: str | None = None,
        progress: Progress | None = None,
    ) -> ObjectInfo:
        """Stream a file into the store; the content type is guessed from the key, then the path."""
        path = Path(path)
        if content_type is None:
            content_type = _guess_type(key) or guess_content_type(path.name)
        with path.open("rb") as f:
            return self.put_object(
                bucket, key, _with_progress(iter_chunks(f), progress), content_type
            )

    def download_file(
        self, bucket: str, key: str, dest: Path | str, progress: Progress | None = None
    ) -> Path:
        """Stream the object to `dest` atomically (temp file beside it, then os.replace)."""
        dest = Path(dest)
        chunks = self.iter_object(bucket, key)  # raises NotFound before any file is created
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_sibling(dest)
        try:
            with tmp.open("wb") as f:
                for chunk in _with_progress(chunks, progress):
                    f.write(chunk)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return dest

    def iter_all(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under the prefix, walking all pages."""
        token: str | None = None
        while True:
            page = self.list_objects(bucket, prefix=prefix, token=token)
            yield from page.objects
            token = page.next_token
            if token is None:
                return

    def materialize(self, uri: str, dest_dir: Path | str, link: bool = True) -> list[Path]:
        """Make the object `uri` names, or every object under it as a prefix, appear in dest_dir.

        A key lands at dest_dir/<its last segment>; a prefix's objects keep their paths
        relative to `prefix/`. Each file is a symlink to the store's own file when `link` is
        true and the backend has local files (no copy for big training channels), else a
        download. Returns the created paths in key order.
        """
        bucket, key = parse_s3_uri(uri)
        dest_dir = Path(dest_dir)
        if key and not key.endswith("/"):
            try:
                self.head_object(bucket, key)
            except NotFound:
                pass  # not an object: try it as a prefix (a missing bucket fails there)
            else:
                return [self._materialize_one(bucket, key, dest_dir / key.rsplit("/", 1)[-1], link)]
        prefix = key if not key or key.endswith("/") else key + "/"
        paths = []
        for info in self.iter_all(bucket, prefix):
            relative = info.key[len(prefix) :]
            if relative.endswith("/"):
                continue  # a "directory marker" some S3 tools create; not a file
            validate_key(relative)  # foreign S3 keys must not escape dest_dir
            paths.append(self._materialize_one(bucket, info.key, dest_dir / relative, link))
        if not paths:
            raise NotFound(
                f"nothing to materialize at {uri}: no object with that key and no objects "
                f"under {join_s3_uri(bucket, prefix)}",
                {"uri": uri},
            )
        return paths

    def _materialize_one(self, bucket: str, key: str, dest: Path, link: bool) -> Path:
        source = self.local_path(bucket, key) if link else None
        if source is None:
            return self.download_file(bucket, key, dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_sibling(dest)
        tmp.symlink_to(source)
        try:
            os.replace(tmp, dest)  # atomic, and replaces a stale link from an earlier run
        except BaseException:
            tmp.unlink()
            raise
        return dest
