"""A controller's thread: run `tick()` every interval, or at once when woken."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod


class ControlLoop(ABC):
    name = "controller"
    interval = 0.5

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pass_lock = threading.Lock()  # one pass at a time, whoever asks for it
        self._logger = logging.getLogger(f"modelyard.{self.name}")

    @abstractmethod
    def tick(self) -> None:
        """One reconciliation pass."""

    def run_once(self) -> None:
        """One pass now, in the caller's thread, never overlapping the loop's own pass."""
        with self._pass_lock:
            self.tick()

    def start_loop(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop_loop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        """Run the next pass now: something changed (a new job, a process ended)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a controller must outlive one bad pass
                self._logger.exception("%s pass failed", self.name)
            self._wake.wait(self.interval)
            self._wake.clear()
