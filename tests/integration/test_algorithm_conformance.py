"""The conformance suite over every registered algorithm (plug-ins installed in this environment
included): the in-process checks of `modelyard.algorithms.conformance`, then the end-to-end
part through a real server: a training job, its metrics, a bad hyperparameter refused by the
API, and an endpoint answering exactly what the downloaded artifact predicts in-process."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelyard as my
from modelyard.algorithms import algorithm_names, get_algorithm
from modelyard.algorithms.base import Algorithm
from modelyard.algorithms.conformance import cases as conformance_cases
from modelyard.algorithms.conformance import (
    channels_for,
    check_algorithm,
    make_data,
    write_channel,
)
from modelyard.algorithms.registry import BUILTIN
from modelyard.errors import InvalidHyperparameters
from modelyard.sdk.deserializers import CSVDeserializer
from tests.support import RunningServer

NAMES = algorithm_names()


@pytest.mark.parametrize("name", NAMES)
def test_in_process_conformance(name: str, tmp_path: Path) -> None:
    passed = check_algorithm(get_algorithm(name), tmp_path)
    assert any("bad hyperparameters refused" in line for line in passed)
    assert any("round trip equal" in line for line in passed)


def flat(value: Any) -> list[float]:
    """Every number in a JSON answer, in order."""
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in flat(value[k])]
    if isinstance(value, list):
        return [x for v in value for x in flat(v)]
    return [float(value)]


def served_equals_in_process(
    session: my.Session, algorithm: Algorithm, tmp_path: Path, prefix: str
) -> None:
    """Train through the server on text/csv data, deploy, and compare with the artifact."""
    case = conformance_cases(algorithm)[0]
    inputs = {}
    for channel, (X, y) in channels_for(algorithm, case).items():
        directory = write_channel(tmp_path / "data" / channel, "text/csv", X, y)
        inputs[channel] = session.upload_data(directory, key_prefix=f"{prefix}/{channel}")

    with pytest.raises(InvalidHyperparameters) as refused:
        my.Estimator(
            algorithm=algorithm.name,
            session=session,
            hyperparameters={**case.hyperparameters, "no_such_knob": "1"},
        ).fit(inputs, job_name=f"{prefix}-bad", logs=False)
    assert "no_such_knob" in refused.value.problems

    estimator = my.Estimator(
        algorithm=algorithm.name, session=session, hyperparameters=case.hyperparameters
    )
    estimator.fit(inputs, job_name=prefix, logs=False)
    metrics = estimator.training_job_analytics.dataframe()
    assert len(metrics) > 0, f"{algorithm.name}: the job reported no metrics"
    assert set(metrics["metric_name"]) <= {m.name for m in algorithm.metrics}

    bucket, _, key = estimator.model_data.removeprefix("s3://").partition("/")
    archive = Path(session.download_data(str(tmp_path / "artifact"), bucket, key)[0])
    model_dir = tmp_path / "model"
    with tarfile.open(archive) as tar:
        tar.extractall(model_dir, filter="data")
    X, _ = make_data(case.problem_type, rows=9, seed=11)
    expected = algorithm.predict(algorithm.load(model_dir), X)

    predictor = estimator.deploy(initial_instance_count=1, endpoint_name=prefix)
    try:
        answer = predictor.predict(X)
        assert list(answer) == [expected.key]
        np.testing.assert_allclose(flat(answer[expected.key]), flat(expected.records), rtol=1e-6)
        as_csv = my.Predictor(prefix, session=session, deserializer=CSVDeserializer())
        rows = np.array(as_csv.predict(X), dtype=np.float64)
        np.testing.assert_allclose(
            rows.reshape(np.asarray(expected.array).shape), expected.array, rtol=1e-6
        )
    finally:
        predictor.delete_endpoint()


@pytest.mark.parametrize("name", NAMES)
def test_served_predictions_equal_in_process(
    name: str, server: RunningServer, tmp_path: Path
) -> None:
    served_equals_in_process(server.session(), get_algorithm(name), tmp_path, f"conf-{name}")


def test_the_cli_lists_every_builtin(server: RunningServer) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "algorithms", "list"],
        env=server.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert all(name in listed for name in BUILTIN)
    described = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "algorithms", "describe", "kmeans"],
        env=server.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "train:msd" in described
    assert "local_lloyd_max_iter" in described and "model.joblib" in described
