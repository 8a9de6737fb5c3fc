import os
import sys

with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as handle:
    handle.write("the training data has no positive examples")
sys.exit(3)
