"""Conformance checks every algorithm must pass, built-in or plug-in (like scikit-learn's
`check_estimator`).

`check_algorithm(algorithm, work_dir)` trains the algorithm in this process, for each problem
type it has an example for (`Algorithm.example_hyperparameters`), on a few hundred generated
rows written in every content type it claims, and checks that:

- every bad hyperparameter (an unknown name, a value of the wrong type, outside its range or
  not among its choices) is rejected with a message naming it;
- training succeeds and reports metrics, each one declared in the algorithm's `metrics`;
- the model directory round-trips through a tarball (as model.tar.gz does) and the reloaded
  model predicts exactly what the original one does, one record and one array row per input
  row.

A plug-in's own tests can call it:

    from modelyard.algorithms.conformance import check_algorithm
    check_algorithm(MY_ALGORITHM, tmp_path)

The platform's test suite runs it over every registered algorithm, and adds the end-to-end
part (a training job through the server, an endpoint answering as the model does in-process).
"""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.algorithms.base import Algorithm, Hyperparameter, Prediction, TrainingContext
from modelyard.algorithms.data import CSV, CSV_HEADER, LIBSVM, PARQUET
from modelyard.errors import InvalidHyperparameters

SUPERVISED_PROBLEMS = ("Regression", "BinaryClassification", "MulticlassClassification")
ROWS = 240
FEATURES = 5


@dataclass
class Case:
    """One problem type of one algorithm, with the hyperparameters it trains with."""

    problem_type: str
    hyperparameters: dict[str, Any]

    @property
    def supervised(self) -> bool:
        return self.problem_type in SUPERVISED_PROBLEMS


@dataclass
class Recorder:
    """A metric sink and a log sink (TrainingContext.report_metric, .log) that keep it all."""

    metrics: list[tuple[str, float, int | None]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def metric(self, name: str, value: float, step: int | None) -> None:
        self.metrics.append((name, value, step))

    def log(self, line: str) -> None:
        self.lines.append(line)

    def series(self, name: str) -> list[float]:
        """The per-round (or per-epoch) values of one metric."""
        return [v for n, v, s in self.metrics if n == name and s is not None]

    def final(self) -> dict[str, float]:
        """The final value of each metric."""
        return {n: v for n, v, s in self.metrics if s is None}


def cases(algorithm: Algorithm) -> list[Case]:
    """The problem types the algorithm gives example hyperparameters for (at least one)."""
    found = []
    for problem in algorithm.problem_types:
        example = algorithm.example_hyperparameters(problem)
        if example is not None:
            found.append(Case(problem, example))
    assert found, (
        f"{algorithm.name}: example_hyperparameters gives no example for any of its problem "
        f"types {list(algorithm.problem_types)}; the conformance suite cannot train it"
    )
    return found


def make_data(problem_type: str, rows: int = ROWS, seed: int = 0) -> tuple[Any, Any]:
    """(X, y) for a problem type: float32 features, and labels (None when unsupervised)."""
    from sklearn.datasets import make_blobs, make_classification, make_regression

    if problem_type == "Regression":
        X, y = make_regression(rows, FEATURES, noise=3.0, random_state=seed)
        return X.astype(np.float32), (y / 10).astype(np.float32)
    if problem_type in ("BinaryClassification", "MulticlassClassification"):
        classes = 2 if problem_type == "BinaryClassification" else 3
        X, y = make_classification(
            rows, FEATURES, n_informative=3, n_classes=classes, class_sep=2.0, random_state=seed
        )
        return X.astype(np.float32), y.astype(np.float32)
    X, _ = make_blobs(rows, FEATURES, centers=3, random_state=seed)
    return X.astype(np.float32), None


def write_channel(directory: Path, content_type: str, X: Any, y: Any) -> Path:
    """Write one channel of data in `content_type` (label first / named `label`)."""
    import pandas as pd

    directory.mkdir(parents=True, exist_ok=True)
    columns = {f"f{j}": X[:, j] for j in range(X.shape[1])}
    frame = pd.DataFrame({"label": y, **columns} if y is not None else columns)
    if content_type == CSV:
        np.savetxt(directory / "data.csv", frame.to_numpy(), delimiter=",", fmt="%.9g")
    elif content_type == CSV_HEADER:
        frame.to_csv(directory / "data.csv", index=False, float_format="%.9g")
    elif content_type == PARQUET:
        frame.to_parquet(directory / "data.parquet", index=False)
    elif content_type == LIBSVM:
        from sklearn.datasets import dump_svmlight_file

        labels = y if y is not None else np.zeros(X.shape[0], dtype=np.float32)
        dump_svmlight_file(X, labels, str(directory / "data.libsvm"), zero_based=True)
    else:
        raise ValueError(f"no writer for content type {content_type!r}")
    return directory


def bad_values(hp: Hyperparameter) -> list[Any]:
    """Values `hp` must refuse: of the wrong type, outside its range, not among its choices."""
    values: list[Any] = []
    if hp.type in (int, float, bool):
        values.append("not-a-value")
    if hp.type is int:
        values.append("2.5")
    if hp.choices is not None and "no-such-choice" not in hp.choices:
        values.append("no-such-choice")
    if hp.min is not None:
        values.append(hp.min if hp.min_exclusive else hp.min - 1)
    if hp.max is not None:
        values.append(hp.max + 1)
    return values


def check_rejects_bad_hyperparameters(algorithm: Algorithm, example: dict[str, Any]) -> int:
    """Every bad value is refused, naming the hyperparameter; returns how many were tried."""
    algorithm.validate(example)  # the example itself is valid
    tried = 0
    with_unknown = {**example, "no_such_hyperparameter": "1"}
    _expect_problem(algorithm, with_unknown, "no_such_hyperparameter")
    for hp in algorithm.hyperparameters:
        for value in bad_values(hp):
            _expect_problem(algorithm, {**example, hp.name: value}, hp.name)
            tried += 1
    return tried + 1


def _expect_problem(algorithm: Algorithm, raw: dict[str, Any], name: str) -> None:
    try:
        algorithm.validate(raw)
    except InvalidHyperparameters as exc:
        assert name in exc.problems, (
            f"{algorithm.name}: {name}={raw[name]!r} was refused, but the problems "
            f"{exc.problems} do not name {name!r}"
        )
        assert exc.problems[name], f"{algorithm.name}: the problem of {name!r} says nothing"
        return
    raise AssertionError(f"{algorithm.name}: {name}={raw[name]!r} was accepted; expected a refusal")


def channels_for(algorithm: Algorithm, case: Case) -> dict[str, tuple[Any, Any]]:
    """Train (and validation, where the algorithm takes it) data for a case."""
    X, y = make_data(case.problem_type)
    cut = ROWS * 3 // 4
    data = {"train": (X[:cut], None if y is None else y[:cut])}
    if "validation" in algorithm.optional_channels and case.supervised:
        data["validation"] = (X[cut:], y[cut:])
    return data


def train_in_process(
    algorithm: Algorithm,
    work_dir: Path,
    case: Case,
    content_type: str = CSV,
    data: dict[str, tuple[Any, Any]] | None = None,
) -> tuple[TrainingContext, Recorder]:
    """Train a case in this process in a SageMaker-shaped work dir, data in `content_type`."""
    data = channels_for(algorithm, case) if data is None else data
    paths = {
        name: write_channel(work_dir / "input" / "data" / name, content_type, X, y)
        for name, (X, y) in data.items()
    }
    recorder = Recorder()
    ctx = TrainingContext(
        work_dir=work_dir,
        hyperparameters=algorithm.validate(case.hyperparameters),
        channels=paths,
        content_types={name: content_type for name in paths},
        report_metric=recorder.metric,
        num_cpus=2,
        log=recorder.log,
    )
    algorithm.train(ctx)
    return ctx, recorder


def check_prediction(algorithm: Algorithm, prediction: Prediction, rows: int) -> None:
    assert isinstance(prediction, Prediction), f"{algorithm.name}: predict must return Prediction"
    assert len(prediction.records) == rows, (
        f"{algorithm.name}: {len(prediction.records)} records for {rows} rows"
    )
    array = np.asarray(prediction.array, dtype=np.float64)
    assert array.shape[0] == rows, f"{algorithm.name}: array of shape {array.shape} for {rows} rows"
    assert np.isfinite(array).all(), f"{algorithm.name}: non-finite predictions"


def check_metrics(algorithm: Algorithm, recorder: Recorder) -> None:
    assert recorder.metrics, f"{algorithm.name}: training reported no metrics"
    declared = {m.name for m in algorithm.metrics}
    undeclared = sorted({n for n, _, _ in recorder.metrics} - declared)
    assert not undeclared, f"{algorithm.name}: reported metrics it does not declare: {undeclared}"


def check_round_trip(algorithm: Algorithm, model_dir: Path, scratch: Path, X: Any) -> Prediction:
    """Tar the model directory, extract it elsewhere, and compare the two models' predictions."""
    original = algorithm.predict(algorithm.load(model_dir), X)
    archive = scratch / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    extracted = scratch / "extracted"
    with tarfile.open(archive) as tar:
        tar.extractall(extracted, filter="data")
    again = algorithm.predict(algorithm.load(extracted), X)
    np.testing.assert_array_equal(np.asarray(again.array), np.asarray(original.array))
    assert again.records == original.records, f"{algorithm.name}: reloaded records differ"
    shutil.rmtree(extracted)
    return original


def check_algorithm(algorithm: Algorithm, work_dir: Path) -> list[str]:
    """Run every in-process check; returns one line per check passed."""
    passed: list[str] = []
    for case in cases(algorithm):
        tried = check_rejects_bad_hyperparameters(algorithm, case.hyperparameters)
        passed.append(f"{case.problem_type}: {tried} bad hyperparameters refused")
        for content_type in algorithm.content_types:
            if content_type == LIBSVM and not case.supervised:
                continue  # libsvm rows always carry a label
            slug = f"{case.problem_type}-{content_type.replace('/', '_').replace(';', '_')}"
            case_dir = work_dir / slug
            ctx, recorder = train_in_process(algorithm, case_dir / "job", case, content_type)
            check_metrics(algorithm, recorder)
            X, _ = make_data(case.problem_type, rows=17, seed=5)
            prediction = check_round_trip(algorithm, ctx.model_dir, case_dir, X)
            check_prediction(algorithm, prediction, 17)
            passed.append(f"{case.problem_type}: trained on {content_type}, round trip equal")
    return passed
