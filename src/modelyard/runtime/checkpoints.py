"""checkpoint_s3_uri: a job's checkpoint dir, restored at start and synced while it runs.

As on SageMaker, whatever is under the checkpoint URI is copied into the local checkpoint dir
before the script starts, and files the script writes there are uploaded as they change (a
pass every few seconds, and a last one when the script ends or is stopped), so a job started
again with the same URI resumes where the last one left off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

SYNC_EVERY_SECONDS = 2.0


class CheckpointSync:
    def __init__(
        self, uri: str, local_dir: Path, storage_url: str, log: Callable[[str], None]
    ) -> None:
        from modelyard.runtime.store import job_store
        from modelyard.storage import parse_s3_uri

        self.uri = uri.rstrip("/")
        self.bucket, prefix = parse_s3_uri(self.uri)
        self.prefix = prefix.rstrip("/")
        self.local_dir = local_dir
        self.store = job_store(storage_url)
        self.log = log
        self._seen: dict[Path, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def restore(self) -> int:
        """Copy the checkpoints under the URI into the local dir; how many files came."""
        self.local_dir.mkdir(parents=True, exist_ok=True)
        count = 0
        base = f"{self.prefix}/" if self.prefix else ""
        for info in self.store.iter_all(self.bucket, base):
            relative = info.key[len(base) :]
            if not relative:
                continue
            target = self.local_dir / relative
            self.store.download_file(self.bucket, info.key, target)
            self._seen[target] = self._state(target)
            count += 1
        if count:
            self.log(f"restored {count} checkpoint file(s) from {self.uri}")
        return count

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop syncing in the background and upload what changed since the last pass."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.sync()

    def sync(self) -> int:
        with self._lock:
            uploaded = 0
            for path in sorted(p for p in self.local_dir.rglob("*") if p.is_file()):
                state = self._state(path)
                if self._seen.get(path) == state:
                    continue
                relative = path.relative_to(self.local_dir).as_posix()
                key = f"{self.prefix}/{relative}" if self.prefix else relative
                self.store.upload_file(path, self.bucket, key)
                self._seen[path] = state
                uploaded += 1
            return uploaded

    def _run(self) -> None:
        while not self._stop.wait(SYNC_EVERY_SECONDS):
            try:
                self.sync()
            except Exception as exc:  # noqa: BLE001 - a file mid-write; the next pass retries
                self.log(f"checkpoint sync will retry: {type(exc).__name__}: {exc}")

    @staticmethod
    def _state(path: Path) -> tuple[float, int]:
        stat = path.stat()
        return stat.st_mtime, stat.st_size


def checkpoint_sync(spec: dict[str, Any], local_dir: Path, log: Callable[[str], None]) -> Any:
    uri = (spec.get("script") or {}).get("checkpoint_s3_uri")
    return CheckpointSync(uri, local_dir, spec["storage_url"], log) if uri else None
