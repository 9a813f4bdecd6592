"""Datasets. Offline by default: a 5,000-image MNIST sample ships in data/.

`load_mnist_sample()` needs no network and is what every notebook uses.
`load_full_dataset("mnist" | "fashion_mnist")` downloads the full sets through
Keras once when a network exists, caches them under data/cache/ (git-ignored),
and offline fails with a message that names the offline dataset.
"""
import gzip
import hashlib
import pathlib
from typing import NamedTuple

import numpy as np

DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"
SAMPLE_FILE = DATA_DIR / "mnist_5k.npz"
# SHA-256 of the images' then the labels' raw bytes (uint8), so the check does not
# depend on how the .npz archive was compressed. data/README.md says how it was made.
SAMPLE_SHA256 = "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"
CACHE_DIR = DATA_DIR / "cache"

_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class DataError(RuntimeError):
    """A dataset is missing, corrupt or cannot be downloaded."""


class Digits(NamedTuple):
    """Images as float32 in [0, 1] with shape (n, 28, 28); labels as int64 class ids."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def sample_checksum(images, labels):
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def read_sample(path=SAMPLE_FILE):
    """Read and verify the shipped sample: (images uint8 (5000, 28, 28), labels uint8 (5000,))."""
    path = pathlib.Path(path)
    restore = ("It ships with the course pack: restore it with "
               f"`git checkout -- data/{path.name}`.")
    if not path.exists():
        raise DataError(f"The offline MNIST sample {path.name} is missing from data/. {restore}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except Exception as exc:  # zip, key or format errors all mean the same to a user
        raise DataError(f"The offline MNIST sample data/{path.name} cannot be read "
                        f"({type(exc).__name__}: {exc}). {restore}") from exc
    if (images.shape, images.dtype, labels.shape, labels.dtype) != (
            (5000, 28, 28), np.uint8, (5000,), np.uint8) or sample_checksum(images, labels) != SAMPLE_SHA256:
        raise DataError(f"The offline MNIST sample data/{path.name} does not match its "
                        f"checksum: the file is corrupt or was changed. {restore}")
    return images, labels


def stratified_split(labels, n_test, seed):
    """Indices (train, test) with n_test/10 test images per class, both shuffled."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    if n_test % len(classes):
        raise ValueError(f"n_test must be a multiple of {len(classes)} (one share per class)")
    per_class = n_test // len(classes)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class]
                           for c in classes])
    train = np.setdiff1d(np.arange(len(labels)), test)
    return rng.permutation(train), rng.permutation(test)


def load_mnist_sample(n_test=1000, seed=0, path=SAMPLE_FILE):
    """The offline 5,000-digit MNIST sample, split into train and held-out test sets.

    The split is stratified (n_test/10 test digits per class) and depends only on `seed`.
    """
    images, labels = read_sample(path)
    train, test = stratified_split(labels, n_test, seed)
    x = images.astype(np.float32) / 255.0
    y = labels.astype(np.int64)
    return Digits(x[train], y[train], x[test], y[test])


def _download(fname, sha256, cache_dir):
    import tensorflow as tf

    try:
        return tf.keras.utils.get_file(fname, origin=_KERAS_ORIGIN + fname, file_hash=sha256,
                                       cache_dir=str(cache_dir), cache_subdir=".")
    except Exception as exc:
        raise DataError(
            f"Could not download or verify {fname}: {type(exc).__name__}: {exc}\n"
            "The full datasets are optional. Offline, use the MNIST sample that ships "
            "with the pack: utils.load_mnist_sample() (5,000 digits in data/mnist_5k.npz)."
        ) from exc


def _read_idx(path):
    """A uint8 array from an IDX file (the MNIST file format), gzip-compressed."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        if raw[:3] != b"\x00\x00\x08":
            raise ValueError("not an IDX file of unsigned bytes")
        ndim = raw[3]
        shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, EOFError, ValueError, IndexError) as exc:
        raise DataError(f"The cached file {path} is damaged ({exc}); delete it and load again "
                        "to download it anew.") from exc


def load_full_dataset(name="mnist", cache_dir=CACHE_DIR):
    """Full MNIST or Fashion-MNIST (60,000 + 10,000 images), downloaded once and cached.

    Needs a network on first use; raises DataError naming the offline sample otherwise.
    """
    if name == "mnist":
        with np.load(_download("mnist.npz", _MNIST_SHA256, cache_dir)) as f:
            arrays = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    elif name == "fashion_mnist":
        # Keras publishes no checksum for these four files.
        arrays = tuple(_read_idx(_download(fname, None, cache_dir)) for fname in _FASHION_FILES)
    else:
        raise ValueError(f"name must be 'mnist' or 'fashion_mnist'; got {name!r}")
    x_train, y_train, x_test, y_test = arrays
    return Digits(x_train.astype(np.float32) / 255.0, y_train.astype(np.int64),
                  x_test.astype(np.float32) / 255.0, y_test.astype(np.int64))
