"""Inference handlers the way SageMaker's framework containers call them."""

import json

import joblib
import numpy as np


def model_fn(model_dir):
    return joblib.load(f"{model_dir}/model.joblib")


def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError(f"this model takes application/json, not {content_type}")
    return np.asarray(json.loads(body)["rows"], dtype=float)


def predict_fn(data, model):
    if np.isnan(data).any():
        raise RuntimeError("the model cannot handle missing values")
    return model.predict_proba(data)[:, 1]


def output_fn(prediction, accept):
    return json.dumps({"probabilities": prediction.tolist()}), "application/json"
