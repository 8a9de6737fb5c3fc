"""The C-level dense predictor answers exactly what xgboost's own inplace_predict does."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_iris

from modelyard.algorithms.xgboost_predict import DensePredictor


@pytest.mark.parametrize(
    ("loader", "params"),
    [
        (load_breast_cancer, {"objective": "binary:logistic"}),
        (load_breast_cancer, {"objective": "reg:squarederror"}),
        (load_iris, {"objective": "multi:softprob", "num_class": 3}),
        (load_iris, {"objective": "multi:softmax", "num_class": 3}),
    ],
)
def test_same_answers_as_inplace_predict(loader, params) -> None:  # type: ignore[no-untyped-def]
    features, labels = loader(return_X_y=True)
    booster = xgb.train(params, xgb.DMatrix(features, label=labels), 20)
    rows = np.ascontiguousarray(features, dtype=np.float32)
    rows[0, 0] = np.nan  # missing values follow the same path
    dense = DensePredictor(booster)
    got = dense.predict(rows)
    assert got is not None
    expected = booster.inplace_predict(rows)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(dense.predict(rows[:1]), booster.inplace_predict(rows[:1]))


def test_inputs_it_does_not_handle_go_back_to_the_library() -> None:
    features, labels = load_breast_cancer(return_X_y=True)
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(features, label=labels), 5)
    dense = DensePredictor(booster)
    assert dense.predict(features) is None  # float64
    assert dense.predict(np.asfortranarray(features, dtype=np.float32)) is None
    linear = xgb.train({"booster": "gblinear"}, xgb.DMatrix(features, label=labels), 5)
    rows = np.ascontiguousarray(features, dtype=np.float32)
    answer = DensePredictor(linear).predict(rows)
    assert answer is None or np.allclose(answer, linear.predict(xgb.DMatrix(rows)))
