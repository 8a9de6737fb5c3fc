"""Multi-model serving (SageMaker's MultiModel mode): one model server for every model.tar.gz
under an object-store prefix.

A request names its model with the TargetModel header (`X-Amzn-SageMaker-Target-Model`: the
key under the prefix, e.g. `churn/v3.tar.gz`). A model is downloaded and loaded on its first
request, off the event loop, so pings and requests for loaded models go on meanwhile; requests
for a model that is loading wait for that one load. Loaded models are kept least recently used
first and evicted to make room: when a new one would exceed the count limit, or when the
process's memory grows past its limit after a load. A model that fails to load is not kept,
so uploading it again and retrying works.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import shutil
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from modelyard.errors import InvalidRequest, NotFound
from modelyard.runtime.server_metrics import LOAD_BUCKETS, Histogram

TARGET_MODEL_HEADERS = (b"x-amzn-sagemaker-target-model", b"x-modelyard-target-model")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIN_AVAILABLE = 0.1  # without a memory limit, evict while less of the machine's is free

Handler = Callable[[bytes, "str | None", "str | None"], tuple[bytes, bytes]]
Build = Callable[[Path], Handler]
"""build(extracted model directory) -> the request handler serving that model."""


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def machine_memory() -> tuple[int, int]:
    """(available, total) bytes of the machine's memory."""
    found = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            name, value = line.split(":", 1)
            if name in ("MemAvailable", "MemTotal"):
                found[name] = int(value.split()[0]) * 1024
    return found["MemAvailable"], found["MemTotal"]


def _release_memory() -> None:
    gc.collect()
    try:  # glibc keeps freed heap pages until asked to give them back
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def check_target(target: str | None, prefix: str) -> str:
    if not target:
        raise InvalidRequest(
            f"this endpoint serves every model under {prefix}: name one with the "
            "X-Amzn-SageMaker-Target-Model header (TargetModel), e.g. 'model-a.tar.gz'",
            {"header": "X-Amzn-SageMaker-Target-Model"},
        )
    parts = PurePosixPath(target).parts
    if target.startswith("/") or ".." in parts or "\\" in target or len(target) > 1024:
        raise InvalidRequest(
            f"TargetModel {target!r} must be a key relative to {prefix}, without '..'",
            {"header": "X-Amzn-SageMaker-Target-Model"},
        )
    return target


class _Loaded:
    __slots__ = ("handle", "directory", "invocations", "loaded_at", "last_used", "load_seconds")

    def __init__(self, handle: Handler, directory: Path, load_seconds: float) -> None:
        self.handle = handle
        self.directory = directory
        self.invocations = 0
        self.loaded_at = self.last_used = time.time()
        self.load_seconds = load_seconds


class ModelCache:
    def __init__(
        self,
        prefix: str,
        build: Build,
        work_dir: Path,
        storage_url: str | None = None,
        *,
        max_models: int | None = None,
        memory_limit_bytes: int | None = None,
    ) -> None:
        from modelyard.storage import parse_s3_uri

        if not prefix.startswith("s3://") or not prefix.endswith("/"):
            raise InvalidRequest(
                f"multi-model data {prefix!r} must be an s3:// prefix ending in '/'",
                {"field": "model_data"},
            )
        self.prefix = prefix
        self.bucket, self.key_prefix = parse_s3_uri(prefix)
        self.build = build
        self.dir = work_dir / "models"
        self.storage_url = storage_url
        self.max_models = max_models
        self.memory_limit = memory_limit_bytes
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()  # least recently used first
        self._loading: dict[str, asyncio.Future[_Loaded]] = {}
        self._store: Any = None
        self._serial = 0
        # What /metrics shows.
        self.loads: dict[str, int] = {}
        self.evictions: dict[str, int] = {}
        self.hits = 0
        self.load_seconds = Histogram(LOAD_BUCKETS)

    def __len__(self) -> int:
        return len(self._loaded)

    @staticmethod
    def memory_bytes() -> int:
        return resident_bytes()

    def loaded(self) -> list[dict[str, Any]]:
        """The loaded models, least recently used first (GET /models)."""
        return [
            {
                "target_model": target,
                "invocations": entry.invocations,
                "loaded_at": entry.loaded_at,
                "last_used_at": entry.last_used,
                "load_seconds": round(entry.load_seconds, 4),
            }
            for target, entry in self._loaded.items()
        ]

    async def handler(self, target: str | None) -> Handler:
        """The handler of the named model, loading it first if need be."""
        target = check_target(target, self.prefix)
        entry = self._loaded.get(target)
        if entry is not None:
            self._loaded.move_to_end(target)
            self.hits += 1
        else:
            loading = self._loading.get(target)
            if loading is None:
                loading = self._loading[target] = asyncio.ensure_future(self._load(target))
                loading.add_done_callback(lambda _: self._loading.pop(target, None))
            entry = await asyncio.shield(loading)
        entry.invocations += 1
        entry.last_used = time.time()
        return entry.handle

    async def _load(self, target: str) -> _Loaded:
        if self.max_models is not None:
            while self._loaded and len(self._loaded) >= self.max_models:
                self._evict_oldest(f"at most {self.max_models} models are loaded")
        self._serial += 1
        directory = self.dir / str(self._serial)
        started = time.perf_counter()
        try:
            handle = await asyncio.to_thread(self._fetch_and_build, target, directory)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        seconds = time.perf_counter() - started
        entry = _Loaded(handle, directory, seconds)
        self._loaded[target] = entry
        self.loads[target] = self.loads.get(target, 0) + 1
        self.load_seconds.observe(seconds)
        print(f"loaded model {target} in {seconds:.3f}s ({len(self._loaded)} loaded)", flush=True)
        while len(self._loaded) > 1 and (short := self._memory_short()):
            self._evict_oldest(short)
        return entry

    def _memory_short(self) -> str | None:
        """Why memory is short now, or None: over the cache's limit, or without one, the
        machine has under MIN_AVAILABLE of its memory left."""
        if self.memory_limit is not None:
            if resident_bytes() > self.memory_limit:
                return f"memory is over its limit of {self.memory_limit / 2**20:.0f} MiB"
            return None
        available, total = machine_memory()
        if available < MIN_AVAILABLE * total:
            return f"the machine has {available / 2**20:.0f} MiB of memory available"
        return None

    def _fetch_and_build(self, target: str, directory: Path) -> Handler:
        from modelyard.runtime.serving import fetch_local

        if self._store is None:
            from modelyard.storage import open_store

            if self.storage_url is None:
                from modelyard.settings import Settings

                self.storage_url = Settings().resolved_storage_url
            self._store = open_store(self.storage_url)
        key = self.key_prefix + target
        archive = directory / "model.tar.gz"
        try:
            self._store.download_file(self.bucket, key, archive)
        except NotFound:
            raise NotFound(
                f"model {target!r} is not under {self.prefix} (no object "
                f"s3://{self.bucket}/{key}); the models there: {self._listing()}",
                {"target_model": target},
            ) from None
        return self.build(fetch_local(archive, directory))

    def _listing(self, limit: int = 10) -> str:
        names = []
        for info in self._store.iter_all(self.bucket, self.key_prefix):
            names.append(info.key[len(self.key_prefix) :])
            if len(names) > limit:
                break
        if not names:
            return "none"
        shown = ", ".join(names[:limit])
        return shown + (", ..." if len(names) > limit else "")

    def _evict_oldest(self, why: str) -> None:
        target, entry = self._loaded.popitem(last=False)
        self.evictions[target] = self.evictions.get(target, 0) + 1
        shutil.rmtree(entry.directory, ignore_errors=True)
        del entry
        _release_memory()
        print(f"evicted model {target} (least recently used; {why})", file=sys.stdout, flush=True)
