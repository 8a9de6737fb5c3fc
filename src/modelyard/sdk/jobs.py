"""A job of any kind as the SDK sees it: describe, wait with streamed logs, stop.

What differs between kinds (the REST collection, the noun) comes from their declarations.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console

from modelyard.errors import UnexpectedStatusException
from modelyard.kinds import TERMINAL_STATUSES as TERMINAL
from modelyard.kinds import JobKind, job_kind
from modelyard.sdk.session import Session

POLL_SECONDS = 0.1


class Job:
    kind = "training"

    def __init__(self, session: Session, name: str, kind: str | None = None) -> None:
        if kind is not None:
            self.kind = kind
        self.session = session
        self.name = name
        self._path = f"/api/v1/{self.declaration.collection}/{name}"

    @property
    def declaration(self) -> JobKind:
        return job_kind(self.kind)

    @property
    def noun(self) -> str:
        return self.declaration.noun

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @property
    def job_name(self) -> str:
        return self.name

    def describe(self) -> dict[str, Any]:
        return self.session.client.get(self._path)  # type: ignore[no-any-return]

    def stop(self) -> dict[str, Any]:
        return self.session.client.post(f"{self._path}/stop")  # type: ignore[no-any-return]

    def logs(self, offset: int = 0) -> tuple[str, int, bool]:
        if self.declaration.runtime is None:  # no process, so no log of its own
            return "", offset, self.describe()["status"] in TERMINAL
        chunk = self.session.client.get(f"{self._path}/logs", params={"offset": offset})
        return chunk["text"], chunk["next_offset"], chunk["complete"]

    def metrics(self) -> list[dict[str, Any]]:
        return self.session.client.get(  # type: ignore[no-any-return]
            f"{self._path}/metrics"
        )

    def wait(self, logs: bool = True, out: TextIO | None = None) -> dict[str, Any]:
        """Block until the job ends, streaming its log with a live status line.

        Raises UnexpectedStatusException (with the failure reason) unless it Completed.
        """
        console = Console(file=out or sys.stderr, highlight=False, soft_wrap=True)
        started = time.monotonic()
        offset = 0
        description = self.describe()
        with console.status("", spinner="dots") as status:
            while True:
                if logs:
                    text, offset, complete = self.logs(offset)
                    if text:
                        console.out(text.rstrip("\n"), highlight=False)
                else:
                    complete = description["status"] in TERMINAL
                if description["status"] in TERMINAL and (complete or not logs):
                    break
                status.update(
                    f"[bold]{self.name}[/]: {description['status']} - "
                    f"{description.get('secondary_status', '')} "
                    f"({time.monotonic() - started:.0f}s)"
                )
                time.sleep(POLL_SECONDS)
                description = self.describe()
        self._print_summary(console, description)
        return self.completed(description, description.get("secondary_status"))

    def completed(
        self, description: dict[str, Any], otherwise: str | None = None
    ) -> dict[str, Any]:
        """The description of a job that Completed; else UnexpectedStatusException with why."""
        if description["status"] != "Completed":
            reason = description.get("failure_reason") or otherwise
            raise UnexpectedStatusException(
                f"{self.noun} {self.name} ended {description['status']}: {reason}",
                actual_status=description["status"],
                details={"name": self.name, "failure_reason": description.get("failure_reason")},
            )
        return description

    @staticmethod
    def _print_summary(console: Console, description: dict[str, Any]) -> None:
        transitions = description.get("secondary_status_transitions", [])
        steps = []
        for t in transitions:
            if t.get("end_time") and t["status"] not in TERMINAL:
                seconds = _seconds(t["start_time"], t["end_time"])
                steps.append(f"{t['status']} {seconds:.2f}s")
        console.print(
            f"{description['name']}: {description['status']}"
            + (f" ({', '.join(steps)})" if steps else ""),
            highlight=False,
        )


def _seconds(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


class TrainingJob(Job):
    kind = "training"


class ProcessingJob(Job):
    kind = "processing"
