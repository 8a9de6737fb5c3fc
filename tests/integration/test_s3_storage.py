"""The whole path on the S3 backend: moto's standalone server over HTTP stands in for S3."""

from __future__ import annotations

from pathlib import Path

import boto3
import numpy as np

import modelyard as my
from tests.support import RunningServer, free_port


def test_train_deploy_predict_with_s3_storage(
    tmp_path: Path, moto_endpoint: str, breast_cancer_csvs: dict[str, Path]
) -> None:
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    storage_url = f"s3://yard-data?endpoint_url={moto_endpoint}&region=us-east-1"
    server = RunningServer(
        tmp_path / "home",
        free_port(),
        extra_env={"MODELYARD_STORAGE_URL": storage_url, **credentials},
    ).start()
    try:
        session = server.session()
        assert session.default_bucket() == "yard-data"
        uris = {
            name: session.upload_data(path, key_prefix=f"s3-test/{name}")
            for name, path in breast_cancer_csvs.items()
            if name != "test"
        }
        estimator = my.Estimator(
            algorithm="xgboost",
            session=session,
            hyperparameters={"objective": "binary:logistic", "num_round": 10},
        )
        estimator.fit(uris, job_name="on-s3", logs=False)
        # the channel was downloaded (there are no local files to link on S3)
        train_file = server.home / "jobs" / "on-s3" / "input/data/train/train.csv"
        assert train_file.is_file() and not train_file.is_symlink()
        # the artifact really is in the S3 server
        s3 = boto3.client(
            "s3",
            endpoint_url=moto_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        head = s3.head_object(Bucket="yard-data", Key="on-s3/output/model.tar.gz")
        assert head["ContentLength"] > 0
        assert not (server.home / "objects").exists()
        predictor = estimator.deploy(endpoint_name="s3-endpoint")
        rows = np.loadtxt(breast_cancer_csvs["test"], delimiter=",")
        scores = [p["score"] for p in predictor.predict(rows[:, 1:])["predictions"]]
        accuracy = np.mean((np.array(scores) > 0.5) == rows[:, 0].astype(bool))
        assert accuracy > 0.9
        predictor.delete_endpoint()
    finally:
        server.stop()
