"""The least a one-model xgboost server can do, as the yardstick for modelyard's model server.

    OMP_NUM_THREADS=1 python benchmarks/minimal_app.py --model xgboost-model --port 8081

A raw ASGI app on uvicorn (httptools, uvloop, no access log, no lifespan): GET /ping answers
200; POST /invocations parses a CSV body with bytes.split and float(), runs
Booster.inplace_predict and answers the scores as text, one per line. No content negotiation,
no validation beyond what float() does: that is what makes it a lower bound.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
import xgboost as xgb  # noqa: E402
from asgi_basics import Answer, App, invocations_app  # noqa: E402

TEXT = [(b"content-type", b"text/csv")]


def create_app(booster: xgb.Booster) -> App:
    async def predict(scope: dict[str, Any], body: bytes) -> Answer:
        try:
            rows = [[float(v) for v in line.split(b",")] for line in body.splitlines() if line]
            scores = booster.inplace_predict(
                np.array(rows, dtype=np.float32), validate_features=False
            )
            return 200, TEXT, "\n".join(str(float(s)) for s in scores).encode() + b"\n"
        except ValueError as exc:
            return 400, TEXT, str(exc).encode()

    return invocations_app(predict)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="an xgboost model file")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    booster = xgb.Booster()
    with open(args.model, "rb") as handle:
        booster.load_model(bytearray(handle.read()))
    uvicorn.run(
        create_app(booster),
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        log_level="warning",
        access_log=False,
        interface="asgi3",
    )


if __name__ == "__main__":
    main()
