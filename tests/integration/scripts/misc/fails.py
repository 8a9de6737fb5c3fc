import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--learning-rate", type=float, default=0.1)
args, _ = parser.parse_known_args()
print("starting")
raise ValueError(f"bad learning rate {args.learning_rate}")
