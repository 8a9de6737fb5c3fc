"""A request that names an object must name one that exists: checked once, said the same way."""

from __future__ import annotations

from pathlib import Path

from modelyard.errors import InvalidRequest, NotFound
from modelyard.schemas.training import Channel
from modelyard.storage import ObjectStore, parse_s3_uri


def require_object(store: ObjectStore, field: str, uri: str) -> None:
    bucket, key = parse_s3_uri(uri)
    try:
        store.head_object(bucket, key)
    except NotFound:
        raise InvalidRequest(f"{field}: nothing stored at {uri}", {"field": field}) from None


def require_input(store: ObjectStore, channel: Channel) -> None:
    """A job's input: a file:// path that exists, or an s3:// object or prefix with something
    stored under it."""
    uri = channel.uri
    if uri.startswith("file://"):
        if not Path(uri[len("file://") :]).exists():
            raise InvalidRequest(
                f"channel {channel.channel!r}: {uri} does not exist",
                {"field": "inputs", "channel": channel.channel},
            )
        return
    if not uri.startswith("s3://"):
        raise InvalidRequest(
            f"channel {channel.channel!r}: {uri!r} is not an s3:// or file:// URI",
            {"field": "inputs", "channel": channel.channel},
        )
    bucket, key = parse_s3_uri(uri)
    if not store.bucket_exists(bucket):
        raise InvalidRequest(
            f"channel {channel.channel!r}: bucket {bucket!r} does not exist",
            {"field": "inputs", "channel": channel.channel},
        )
    page = store.list_objects(bucket, prefix=key, max_keys=1)
    if not page.objects:
        raise InvalidRequest(
            f"channel {channel.channel!r}: nothing stored at {uri}",
            {"field": "inputs", "channel": channel.channel},
        )


def require_bucket(store: ObjectStore, field: str, uri: str) -> None:
    """Where a job writes: its bucket must exist (the keys are the job's to make)."""
    bucket, _ = parse_s3_uri(uri)
    if not store.bucket_exists(bucket):
        raise InvalidRequest(f"{field}: bucket {bucket!r} does not exist", {"field": field})
