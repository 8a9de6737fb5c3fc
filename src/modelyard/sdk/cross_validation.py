"""Cross-validation jobs in the SDK: `estimator.cross_validate(...)` returns one of these."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console

from modelyard.kinds import TERMINAL_STATUSES
from modelyard.sdk.jobs import POLL_SECONDS, Job


class CrossValidationJob(Job):
    kind = "cross-validation"

    def folds(self) -> list[dict[str, Any]]:
        """Each fold's training job: its name, status and final metrics."""
        return self.session.client.get(f"{self._path}/training-jobs")  # type: ignore[no-any-return]

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Each metric every fold reported: {"mean", "std", "min", "max", "folds"}."""
        return self.describe()["metrics"]  # type: ignore[no-any-return]

    def dataframe(self) -> Any:
        """One row per fold (fold, TrainingJobName, TrainingJobStatus, then each metric),
        and `mean` and `std` rows below them once the job has completed."""
        import pandas as pd

        description = self.describe()
        rows = [
            {"fold": f["fold"], "TrainingJobName": f["training_job_name"],
             "TrainingJobStatus": f["training_job_status"], **f["metrics"]}
            for f in description["fold_jobs"]
        ]  # fmt: skip
        frame = pd.DataFrame(rows).set_index("fold") if rows else pd.DataFrame()
        summaries = description["metrics"]
        for statistic in ("mean", "std") if summaries else ():
            frame.loc[statistic] = {name: s[statistic] for name, s in summaries.items()}
        return frame

    def wait(self, logs: bool = True, out: TextIO | None = None) -> dict[str, Any]:
        """Block until every fold has ended, with a live line; prints each fold as it ends
        and then each metric's mean and spread."""
        console = Console(file=out or sys.stderr, highlight=False, soft_wrap=True)
        started = time.monotonic()
        shown: set[str] = set()
        description = self.describe()
        with console.status("", spinner="dots") as status:
            while description["status"] not in TERMINAL_STATUSES:
                if logs:
                    self._print_ended(console, description, shown)
                done = sum(f["training_job_status"] in TERMINAL_STATUSES
                           for f in description["fold_jobs"])  # fmt: skip
                status.update(f"[bold]{self.name}[/]: {done}/{description['folds']} folds done "
                              f"({time.monotonic() - started:.0f}s)")  # fmt: skip
                time.sleep(POLL_SECONDS * 3)
                description = self.describe()
        if logs:
            self._print_ended(console, description, shown)
        console.print(f"{self.name}: {description['status']}", highlight=False)
        for name, s in description["metrics"].items():
            console.print(f"  {name}: {s['mean']:.6g} ± {s['std']:.3g} "
                          f"(min {s['min']:.6g}, max {s['max']:.6g})", highlight=False)  # fmt: skip
        return self.completed(description)

    @staticmethod
    def _print_ended(console: Console, description: dict[str, Any], shown: set[str]) -> None:
        for fold in description["fold_jobs"]:
            name = fold["training_job_name"]
            if fold["training_job_status"] in TERMINAL_STATUSES and name not in shown:
                shown.add(name)
                values = ", ".join(f"{k}={v:.6g}" for k, v in sorted(fold["metrics"].items()))
                console.print(f"  fold {fold['fold']} ({name}): {fold['training_job_status']}"
                              + (f", {values}" if values else ""), highlight=False)  # fmt: skip
