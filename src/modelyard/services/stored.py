"""A request that names an object must name one that exists: checked once, said the same way."""

from __future__ import annotations

from modelyard.errors import InvalidRequest, NotFound
from modelyard.storage import ObjectStore, parse_s3_uri


def require_object(store: ObjectStore, field: str, uri: str) -> None:
    bucket, key = parse_s3_uri(uri)
    try:
        store.head_object(bucket, key)
    except NotFound:
        raise InvalidRequest(f"{field}: nothing stored at {uri}", {"field": field}) from None
