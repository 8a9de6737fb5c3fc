"""A FrameworkProcessor entry point that imports a module beside it in its source dir."""

import argparse

from summary import describe

parser = argparse.ArgumentParser()
parser.add_argument("--input-dir", default="/opt/ml/processing/input")
parser.add_argument("--output-dir", default="/opt/ml/processing/report")
args, _ = parser.parse_known_args()
describe(args.input_dir, args.output_dir)
