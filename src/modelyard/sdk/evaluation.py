"""Evaluation jobs in the SDK: `estimator.evaluate(test)` returns one of these."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelyard.errors import ModelyardError
from modelyard.sdk.jobs import Job
from modelyard.storage.uri import parse_s3_uri


class EvaluationJob(Job):
    kind = "evaluation"

    @property
    def metrics(self) -> dict[str, float]:
        """The headline metrics: accuracy, precision, recall, f1, auc, ... or rmse, mae, r2."""
        return self.describe()["metrics"]  # type: ignore[no-any-return]

    def evaluation(self) -> dict[str, Any]:
        """Everything measured (evaluation.json): metrics, confusion matrix, curves,
        residuals, permutation importance."""
        return json.loads(self._read("evaluation"))  # type: ignore[no-any-return]

    def report(self) -> str:
        """The self-contained HTML report (report.html)."""
        return self._read("report")

    def download_report(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.report())
        return target

    def _read(self, what: str) -> str:
        uri = self.describe().get(what)
        if not uri:
            raise ModelyardError(
                f"{self.noun} {self.name} has no {what} yet (it has not completed)"
            )
        bucket, key = parse_s3_uri(uri)
        return self.session.read_s3_file(bucket, key)
