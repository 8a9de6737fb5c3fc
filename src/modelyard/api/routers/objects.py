"""The object store over HTTP: buckets and keys, streamed both ways, with HTTP Range reads."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import format_datetime
from typing import Annotated, Any

import anyio
import anyio.from_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from modelyard.api.auth import platform, require_admin
from modelyard.errors import InvalidRequest, RangeNotSatisfiable
from modelyard.storage import ObjectInfo

router = APIRouter(
    prefix="/api/v1/buckets", tags=["objects"], dependencies=[Depends(require_admin)]
)


def info_dict(info: ObjectInfo) -> dict[str, Any]:
    return {
        "bucket": info.bucket,
        "key": info.key,
        "size": info.size,
        "etag": info.etag,
        "content_type": info.content_type,
        "last_modified": info.last_modified.isoformat(),
    }


def object_headers(info: ObjectInfo) -> dict[str, str]:
    return {
        "ETag": f'"{info.etag}"',
        "Last-Modified": format_datetime(info.last_modified, usegmt=True),
        "Accept-Ranges": "bytes",
        "Content-Type": info.content_type,
    }


def parse_range(header: str, size: int) -> tuple[int, int]:
    """An HTTP byte range ('bytes=a-b', 'bytes=a-', 'bytes=-n') as inclusive offsets."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec or "-" not in spec:
        raise InvalidRequest(
            f"unsupported Range {header!r}: use one range, bytes=START-END", {"header": "Range"}
        )
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        raise InvalidRequest(f"malformed Range {header!r}", {"header": "Range"}) from None
    if start >= size or end < start:
        raise RangeNotSatisfiable(
            f"range {header!r} is outside the object's {size} bytes", {"size": size}
        )
    return start, end


@router.get("")
def list_buckets(request: Request) -> dict[str, list[str]]:
    return {"buckets": platform(request).store.list_buckets()}


@router.put("/{bucket}", status_code=201)
def create_bucket(bucket: str, request: Request) -> dict[str, str]:
    platform(request).store.create_bucket(bucket)
    return {"bucket": bucket}


@router.get("/{bucket}/objects")
def list_objects(
    bucket: str,
    request: Request,
    prefix: str = "",
    delimiter: str | None = None,
    max_keys: Annotated[int, Query(ge=1, le=1000)] = 1000,
    next_token: str | None = None,
) -> dict[str, Any]:
    page = platform(request).store.list_objects(
        bucket, prefix=prefix, delimiter=delimiter, max_keys=max_keys, token=next_token
    )
    return {
        "objects": [info_dict(o) for o in page.objects],
        "common_prefixes": page.common_prefixes,
        "next_token": page.next_token,
    }


@router.put("/{bucket}/objects/{key:path}", status_code=201)
async def put_object(bucket: str, key: str, request: Request) -> dict[str, Any]:
    """Streams the body straight into the store: the request is never held in memory whole."""
    store = platform(request).store
    stream = request.stream().__aiter__()

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                chunk = anyio.from_thread.run(stream.__anext__)
            except StopAsyncIteration:
                return
            if chunk:
                yield chunk

    content_type = request.headers.get("content-type")
    info = await anyio.to_thread.run_sync(
        lambda: store.put_object(bucket, key, chunks(), content_type=content_type)
    )
    return info_dict(info)


@router.head("/{bucket}/objects/{key:path}")
def head_object(bucket: str, key: str, request: Request) -> Response:
    info = platform(request).store.head_object(bucket, key)
    return Response(headers={**object_headers(info), "Content-Length": str(info.size)})


@router.get("/{bucket}/objects/{key:path}")
def get_object(bucket: str, key: str, request: Request) -> StreamingResponse:
    store = platform(request).store
    info = store.head_object(bucket, key)
    headers = object_headers(info)
    range_header = request.headers.get("range")
    if range_header:
        start, end = parse_range(range_header, info.size)
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
        headers["Content-Length"] = str(end - start + 1)
        return StreamingResponse(
            store.iter_object(bucket, key, start, end),
            status_code=206,
            headers=headers,
            media_type=info.content_type,
        )
    headers["Content-Length"] = str(info.size)
    return StreamingResponse(
        store.iter_object(bucket, key), headers=headers, media_type=info.content_type
    )


@router.delete("/{bucket}/objects/{key:path}", status_code=204)
def delete_object(bucket: str, key: str, request: Request) -> Response:
    platform(request).store.delete_object(bucket, key)
    return Response(status_code=204)
