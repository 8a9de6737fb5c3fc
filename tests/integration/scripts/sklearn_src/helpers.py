import glob
import os

import numpy as np


def load_csv(directory):
    files = sorted(glob.glob(os.path.join(directory, "*.csv")))
    return np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
