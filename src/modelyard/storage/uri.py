"""S3-style URIs and the naming rules for buckets and keys, shared by every backend.

The key rules are stricter than S3's on purpose: the local backend maps a key straight onto a
file path, so anything that could climb out of the bucket directory (`..`, a leading `/`, NUL)
is a security boundary, and anything that two filesystems would spell as one file (`a//b`,
`a/./b`, a trailing `/`) would make two keys alias each other. Applying the same rules to S3
keeps every key portable between backends.
"""

from __future__ import annotations

import re

from modelyard.errors import InvalidRequest

SCHEME = "s3://"
MAX_KEY_BYTES = 1024

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_RULE = (
    "bucket names are 3-63 characters of lowercase letters, digits, dots and hyphens, "
    "and start and end with a letter or digit"
)
KEY_RULE = (
    f"keys are 1-{MAX_KEY_BYTES} bytes of UTF-8 without NUL, do not start or end with '/', "
    "and have no empty, '.' or '..' path segments"
)


def validate_bucket(bucket: str) -> str:
    """Return `bucket` unchanged, or raise InvalidRequest stating S3's naming rule."""
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket):
        raise InvalidRequest(f"invalid bucket name {bucket!r}: {BUCKET_RULE}", {"bucket": bucket})
    return bucket


def is_valid_bucket(bucket: str) -> bool:
    return isinstance(bucket, str) and bool(_BUCKET_RE.match(bucket))


def validate_key(key: str, *, prefix: bool = False) -> str:
    """Return `key` unchanged, or raise InvalidRequest saying which rule it breaks.

    With `prefix=True` the value is a listing prefix rather than an object key: it may be
    empty, and its last segment is a partial name ('' after a trailing '/', or even '.'), so
    only the segments before the last '/' must be proper path segments.
    """
    if not isinstance(key, str):
        raise InvalidRequest(f"invalid key {key!r}: keys are strings")
    if key == "" and prefix:
        return key
    problem = _key_problem(key, partial_last=prefix)
    if problem:
        raise InvalidRequest(f"invalid key {key!r}: {problem}; {KEY_RULE}", {"key": key})
    return key


def is_valid_key(key: str) -> bool:
    """Whether `key` may name an object (used to skip files no key can reach)."""
    return _key_problem(key) is None


def _key_problem(key: str, partial_last: bool = False) -> str | None:
    if key == "":
        return "it is empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"it is {size} bytes long"
    if "\x00" in key:
        return "it contains NUL"
    if key.startswith("/"):
        return "it starts with '/'"
    segments = key.split("/")
    if partial_last:
        segments.pop()
    elif key.endswith("/"):
        return "it ends with '/'"
    if "" in segments:
        return "it has an empty path segment ('//')"
    for segment in (".", ".."):
        if segment in segments:
            return f"it has a {segment!r} path segment"
    return None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into (bucket, key); the key is '' for `s3://bucket[/]`.

    The key part may end in '/' (it then names a prefix, as SageMaker channel URIs do).
    """
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        raise InvalidRequest(
            f"invalid S3 URI {uri!r}: expected s3://bucket or s3://bucket/key", {"uri": uri}
        )
    bucket, _, key = uri[len(SCHEME) :].partition("/")
    validate_bucket(bucket)
    validate_key(key, prefix=True)
    return bucket, key


def join_s3_uri(bucket: str, key: str = "") -> str:
    """The inverse of parse_s3_uri: `s3://bucket/key` (`s3://bucket/` when key is empty)."""
    return f"{SCHEME}{bucket}/{key}"
