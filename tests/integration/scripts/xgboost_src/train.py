"""An XGBoost script-mode training script in the style of SageMaker's examples."""

import argparse
import os

import numpy as np
import xgboost as xgb

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int, default=10)
    parser.add_argument("--max_depth", type=int, default=3)
    parser.add_argument("--eta", type=float, default=0.3)
    parser.add_argument("--objective", type=str, default="binary:logistic")
    parser.add_argument("--model_dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", type=str, default=os.environ.get("SM_CHANNEL_VALIDATION"))
    args, _ = parser.parse_known_args()

    def load(directory):
        data = np.loadtxt(os.path.join(directory, os.listdir(directory)[0]), delimiter=",")
        return xgb.DMatrix(data[:, 1:], label=data[:, 0])

    dtrain, dval = load(args.train), load(args.validation)
    params = {"max_depth": args.max_depth, "eta": args.eta, "objective": args.objective}
    booster = xgb.train(
        params, dtrain, args.num_round, evals=[(dtrain, "train"), (dval, "validation")]
    )
    booster.save_model(os.path.join(args.model_dir, "xgboost-model.json"))
    os.rename(
        os.path.join(args.model_dir, "xgboost-model.json"),
        os.path.join(args.model_dir, "xgboost-model"),
    )
