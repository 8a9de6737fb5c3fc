"""The object store a job process reads and writes, opened once per process: opening one
resolves its root (a local store) or builds a client (S3), which a job needs several times."""

from __future__ import annotations

from functools import cache

from modelyard.storage import ObjectStore, open_store


@cache
def job_store(url: str) -> ObjectStore:
    return open_store(url)
