"""Object storage: S3-shaped buckets and keys on a local directory or on S3.

`open_store(url)` is the one place a backend is chosen, by the URL's scheme:

    /var/lib/modelyard/objects, file:///var/lib/modelyard/objects   -> LocalObjectStore
    s3://bucket?endpoint_url=http://minio:9000&region=us-east-1    -> S3ObjectStore

Importing this package does not import boto3; only constructing an S3ObjectStore does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from modelyard.errors import InvalidRequest
from modelyard.storage.base import ListPage, ObjectInfo, ObjectStore
from modelyard.storage.local import LocalObjectStore
from modelyard.storage.s3 import S3ObjectStore
from modelyard.storage.uri import join_s3_uri, parse_s3_uri

__all__ = [
    "DEFAULT_BUCKET",
    "STORE_FACTORIES",
    "ListPage",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "S3ObjectStore",
    "default_bucket_name",
    "join_s3_uri",
    "open_store",
    "parse_s3_uri",
    "register_store",
]

DEFAULT_BUCKET = "modelyard-default"
"""The bucket modelyard uses when the store URL does not name one."""

StoreFactory = Callable[[str], ObjectStore]
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_S3_OPTIONS = ("endpoint_url", "region", "addressing_style")


def _open_local(url: str) -> ObjectStore:
    if not url.lower().startswith("file:"):
        return LocalObjectStore(Path(url))
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.query or not parts.path:
        raise InvalidRequest(
            f"invalid file URL {url!r}: expected file:///absolute/path (or a plain path)"
        )
    return LocalObjectStore(Path(unquote(parts.path)))


def _open_s3(url: str) -> ObjectStore:
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.fragment:
        raise InvalidRequest(
            f"invalid S3 store URL {url!r}: expected s3://bucket?endpoint_url=...&region=... "
            "(a store URL names a bucket, not a key prefix)"
        )
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _S3_OPTIONS:
            raise InvalidRequest(
                f"unknown option {name!r} in S3 store URL {url!r}; known options: "
                + ", ".join(_S3_OPTIONS)
            )
        options[name] = value
    return S3ObjectStore(default_bucket=parts.netloc or None, **options)


STORE_FACTORIES: dict[str, StoreFactory] = {"file": _open_local, "s3": _open_s3}
"""URL scheme -> factory taking the whole URL. Plain paths use the "file" entry."""


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Add a backend for URLs of `scheme` (a plug-in hook; built-ins are registered above)."""
    STORE_FACTORIES[scheme.lower()] = factory


def open_store(url: str) -> ObjectStore:
    """Open the object store a URL (or a plain directory path) names."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequest("the object store URL is empty; give a directory or s3://bucket")
    scheme = _scheme_of(url)
    factory = STORE_FACTORIES.get(scheme)
    if factory is None:
        raise InvalidRequest(
            f"unknown object store URL scheme {scheme!r} in {url!r}; known schemes: "
            + ", ".join(sorted(STORE_FACTORIES))
            + " (or a plain directory path)"
        )
    return factory(url)


def _scheme_of(url: str) -> str:
    """The URL's scheme; "file" for file: URLs and for anything without "scheme://"."""
    if url.lower().startswith("file:"):
        return "file"
    match = _SCHEME_RE.match(url)
    return match.group(1).lower() if match else "file"


def default_bucket_name(store: ObjectStore) -> str:
    """The bucket modelyard keeps its own objects in: the S3 URL's bucket, else a fixed name."""
    return store.default_bucket or DEFAULT_BUCKET
