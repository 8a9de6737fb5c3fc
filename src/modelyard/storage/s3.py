"""The object store on Amazon S3 or any S3-compatible server (MinIO, Ceph, moto...).

boto3 is imported inside the constructor, not at module level, so `import modelyard.storage`
works (and stays fast) on installs without the `s3` extra.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from modelyard.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    ModelyardError,
    NotFound,
    RangeNotSatisfiable,
    ServiceUnavailable,
)
from modelyard.storage.base import (
    CHUNK_SIZE,
    ListPage,
    ObjectInfo,
    ObjectStore,
    Payload,
    guess_content_type,
    iter_chunks,
    validate_range,
)
from modelyard.storage.listing import MAX_LIST_KEYS, validate_list_args
from modelyard.storage.uri import join_s3_uri, validate_bucket, validate_key

PART_SIZE = 8 << 20
"""Multipart threshold and part size. The payload stream is buffered one part at a time, so
an upload holds about PART_SIZE in memory, whatever the object's size."""

_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_MISSING_BUCKET = {"NoSuchBucket"}


class S3ObjectStore(ObjectStore):
    """Objects in S3. Extra keyword arguments go to `boto3.client("s3", ...)` (credentials...).

    With a custom `endpoint_url` the client uses path-style addressing (http://host/bucket),
    which S3-compatible servers expect; pass addressing_style="virtual" to override.
    """

    def __init__(
        self,
        default_bucket: str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str | None = None,
        **client_options: Any,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        if default_bucket is not None:
            validate_bucket(default_bucket)
        self.default_bucket = default_bucket
        self.endpoint_url = endpoint_url
        config = Config(
            s3={"addressing_style": addressing_style or ("path" if endpoint_url else "auto")},
            retries={"mode": "standard"},
        )
        if isinstance(client_options.get("config"), Config):
            config = config.merge(client_options.pop("config"))
        # A session of our own: boto3's shared default session is not thread-safe to set up.
        self._client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config, **client_options
        )
        # No transfer threads: the payload iterator must be consumed on the caller's thread,
        # because callers feed it from places bound to that thread (the API server bridges an
        # async request body with anyio.from_thread, which fails on any other thread). Parts
        # are therefore uploaded one after another.
        self._transfer = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            use_threads=False,
            preferred_transfer_client="classic",
        )

    def __repr__(self) -> str:
        return (
            f"S3ObjectStore(default_bucket={self.default_bucket!r}, "
            f"endpoint_url={self.endpoint_url!r})"
        )

    # --- buckets ------------------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> None:
        from botocore.exceptions import ClientError

        validate_bucket(bucket)
        args: dict[str, Any] = {"Bucket": bucket}
        region = self._client.meta.region_name
        if region and region not in ("us-east-1", "aws-global"):
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            with _errors(bucket):
                self._client.create_bucket(**args)
        except Conflict:
            # S3 answers BucketAlreadyExists both for "yours already" (us-east-1) and for
            # "someone else's"; only the latter is a conflict, and only then is HEAD refused.
            with contextlib.suppress(ClientError):
                self._client.head_bucket(Bucket=bucket)
                return
            raise

    def bucket_exists(self, bucket: str) -> bool:
        validate_bucket(bucket)
        try:
            with _errors(bucket):
                self._client.head_bucket(Bucket=bucket)
        except NotFound:
            return False
        return True

    def list_buckets(self) -> list[str]:
        with _errors():
            response = self._client.list_buckets()
        return sorted(b["Name"] for b in response.get("Buckets", []))

    # --- objects ------------------------------------------------------------------------------

    def put_object(
        self, bucket: str, key: str, data: Payload, content_type: str | None = None
    ) -> ObjectInfo:
        validate_bucket(bucket)
        validate_key(key)
        content_type = content_type or guess_content_type(key)
        reader = _HashingReader(iter_chunks(data))
        with _errors(bucket, key):
            # upload_fileobj switches to a multipart upload past PART_SIZE, so the stream is
            # never held whole; S3 itself writes atomically (readers see old or new object).
            self._client.upload_fileobj(
                reader,
                bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer,
            )
            head = self._client.head_object(Bucket=bucket, Key=key)
        etag = _unquote(head["ETag"])
        if "-" not in etag:  # single part: S3's ETag is the MD5, unless SSE-KMS scrambled it
            etag = reader.md5.hexdigest()
        return ObjectInfo(bucket, key, reader.size, etag, content_type, _utc(head["LastModified"]))

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        validate_bucket(bucket)
        validate_key(key)
        try:
            with _errors(bucket, key):
                head = self._client.head_object(Bucket=bucket, Key=key)
        except NotFound:
            # HEAD answers a bare 404 for a missing bucket too; say which one is missing.
            if not self.bucket_exists(bucket):
                raise _no_bucket(bucket) from None
            raise
        return ObjectInfo(
            bucket,
            key,
            int(head["ContentLength"]),
            _unquote(head["ETag"]),
            head.get("ContentType") or guess_content_type(key),
            _utc(head["LastModified"]),
        )

    def iter_object(
        self,
        bucket: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> Iterator[bytes]:
        validate_bucket(bucket)
        validate_key(key)
        validate_range(start, end)
        args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if start is not None or end is not None:
            args["Range"] = f"bytes={start or 0}-{'' if end is None else end}"
        with _errors(bucket, key):
            body = self._client.get_object(**args)["Body"]
        return _stream(body, max(1, chunk_size))

    def delete_object(self, bucket: str, key: str) -> None:
        validate_bucket(bucket)
        validate_key(key)
        with _errors(bucket, key):
            self._client.delete_object(Bucket=bucket, Key=key)

    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str | None = None,
        max_keys: int = MAX_LIST_KEYS,
        token: str | None = None,
    ) -> ListPage:
        validate_bucket(bucket)
        validate_key(prefix, prefix=True)
        validate_list_args(max_keys, delimiter)
        args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            args["Delimiter"] = delimiter
        if token:
            args["ContinuationToken"] = token
        with _errors(bucket):
            response = self._client.list_objects_v2(**args)
        objects = [
            ObjectInfo(
                bucket,
                o["Key"],
                int(o["Size"]),
                _unquote(o["ETag"]),
                guess_content_type(o["Key"]),
                _utc(o["LastModified"]),
            )
            for o in response.get("Contents", [])
        ]
        prefixes = [p["Prefix"] for p in response.get("CommonPrefixes", [])]
        next_token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        return ListPage(objects, prefixes, next_token)

    def local_path(self, bucket: str, key: str) -> None:
        return None  # objects live on the S3 server; materialize() downloads them


class _HashingReader:
    """A read()-only file over a chunk stream, hashing and counting what passes through.

    It is deliberately not seekable, so boto3 reads it part by part instead of trying to
    rewind or measure it.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        while size is None or size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size is None or size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.md5.update(out)
        self.size += len(out)
        return out


def _stream(body: Any, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()  # hand the connection back to the pool even if the reader stops early


@contextlib.contextmanager
def _errors(bucket: str | None = None, key: str | None = None) -> Iterator[None]:
    """Turn botocore failures into modelyard's error tree, naming the bucket or URI."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    try:
        yield
    except ClientError as exc:
        raise _translate(exc, bucket, key) from exc
    except EndpointConnectionError as exc:
        raise ServiceUnavailable(f"cannot reach the S3 endpoint: {exc}") from exc
    except NoCredentialsError as exc:
        raise ModelyardError(
            "no AWS credentials for the S3 object store (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or an AWS profile)"
        ) from exc


def _translate(exc: Any, bucket: str | None, key: str | None) -> ModelyardError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _MISSING_BUCKET and bucket:
        return _no_bucket(bucket)
    if code in _MISSING_KEY and bucket and key:
        uri = join_s3_uri(bucket, key)
        return NotFound(f"no object at {uri}", {"bucket": bucket, "key": key, "uri": uri})
    if code in _MISSING_KEY and bucket:
        return _no_bucket(bucket)
    if code == "InvalidRange" or status == 416:
        target = join_s3_uri(bucket or "", key or "")
        return RangeNotSatisfiable(f"requested range is not within {target}: {message}")
    if code in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
        return Conflict(f"bucket {bucket!r} already exists and belongs to someone else")
    if code in ("AccessDenied", "403", "Forbidden") or status == 403:
        return Forbidden(f"S3 denied access to {join_s3_uri(bucket or '', key or '')}: {message}")
    if status == 400 or code in ("InvalidArgument", "InvalidBucketName"):
        return InvalidRequest(f"S3 rejected the request ({code}): {message}")
    return ModelyardError(f"S3 error {code or status}: {message}", {"s3_code": code})


def _no_bucket(bucket: str) -> NotFound:
    return NotFound(f"bucket {bucket!r} does not exist ({join_s3_uri(bucket)})", {"bucket": bucket})


def _unquote(etag: str) -> str:
    return etag.strip('"')


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
