import gzip

import numpy as np
import pytest

import utils
from utils import data as data_module


@pytest.fixture(scope="module")
def digits():
    return utils.load_mnist_sample()


def test_sample_has_the_documented_shape_range_and_split(digits):
    assert digits.x_train.shape == (4000, 28, 28) and digits.x_test.shape == (1000, 28, 28)
    assert digits.x_train.dtype == np.float32
    assert 0.0 <= digits.x_train.min() and digits.x_train.max() == 1.0
    assert np.bincount(digits.y_test).tolist() == [100] * 10
    assert np.bincount(digits.y_train).tolist() == [400] * 10


def test_train_and_test_images_are_disjoint():
    images, labels = data_module.read_sample()
    train, test = data_module.stratified_split(labels, 1000, seed=0)
    assert len(np.intersect1d(train, test)) == 0
    assert len(train) + len(test) == len(labels)


def test_split_depends_only_on_its_seed(digits):
    again = utils.load_mnist_sample()
    other = utils.load_mnist_sample(seed=1)
    np.testing.assert_array_equal(digits.y_train, again.y_train)
    assert not np.array_equal(digits.y_train, other.y_train)


def test_training_order_is_shuffled(digits):
    """The shipped file is sorted by class; batches must not be."""
    assert len(np.unique(digits.y_train[:64])) == 10


def test_n_test_must_split_evenly_over_classes():
    with pytest.raises(ValueError, match="multiple of 10"):
        utils.load_mnist_sample(n_test=1005)


def test_missing_sample_says_how_to_restore_it(tmp_path):
    with pytest.raises(utils.DataError, match="missing.*git checkout -- data/mnist_5k.npz"):
        utils.load_mnist_sample(path=tmp_path / "mnist_5k.npz")


def test_unreadable_sample_is_reported(tmp_path):
    broken = tmp_path / "mnist_5k.npz"
    broken.write_bytes(b"not a zip archive")
    with pytest.raises(utils.DataError, match="cannot be read.*git checkout"):
        utils.load_mnist_sample(path=broken)


def test_sample_of_the_wrong_shape_is_refused(tmp_path):
    images, labels = data_module.read_sample()
    flat = tmp_path / "mnist_5k.npz"
    np.savez_compressed(flat, images=images.reshape(5000, 784).astype(np.int32), labels=labels)
    with pytest.raises(utils.DataError, match="does not match"):
        utils.load_mnist_sample(path=flat)


def test_rebuild_script_computes_the_same_checksum():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_mnist_5k", data_module.DATA_DIR / "make_mnist_5k.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)  # only definitions run: main() is behind __main__
    images, labels = data_module.read_sample()
    assert script.checksum(images, labels) == data_module.SAMPLE_SHA256


def test_changed_sample_fails_its_checksum(tmp_path):
    images, labels = data_module.read_sample()
    images = images.copy()
    images[0, 14, 14] ^= 1
    changed = tmp_path / "mnist_5k.npz"
    np.savez_compressed(changed, images=images, labels=labels)
    with pytest.raises(utils.DataError, match="does not match its checksum"):
        utils.load_mnist_sample(path=changed)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_offline_download_names_the_offline_dataset(tmp_path, name):
    with pytest.raises(utils.DataError) as error:
        utils.load_full_dataset(name, cache_dir=tmp_path)
    message = str(error.value)
    assert "Could not download" in message
    assert "utils.load_mnist_sample()" in message and "data/mnist_5k.npz" in message


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_cached_fashion_mnist_is_read_without_network(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28)),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 6),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (2, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 2)}
    for name, array in arrays.items():
        _write_idx(tmp_path / name, array)
    loaded = utils.load_full_dataset("fashion_mnist", cache_dir=tmp_path)
    np.testing.assert_allclose(loaded.x_train * 255, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(loaded.y_test, arrays["t10k-labels-idx1-ubyte.gz"])


def test_damaged_cached_file_says_how_to_recover(tmp_path):
    for name in data_module._FASHION_FILES:
        (tmp_path / name).write_bytes(b"truncated")
    with pytest.raises(utils.DataError, match="damaged.*delete it"):
        utils.load_full_dataset("fashion_mnist", cache_dir=tmp_path)


def test_cached_mnist_is_verified_and_read_without_network(tmp_path, monkeypatch):
    import hashlib

    fake = tmp_path / "mnist.npz"
    np.savez(fake, x_train=np.full((3, 28, 28), 255, np.uint8), y_train=np.arange(3, dtype=np.uint8),
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.arange(2, dtype=np.uint8))
    monkeypatch.setattr(data_module, "_MNIST_SHA256", hashlib.sha256(fake.read_bytes()).hexdigest())
    loaded = utils.load_full_dataset("mnist", cache_dir=tmp_path)
    assert loaded.x_train.shape == (3, 28, 28) and loaded.x_train.max() == 1.0
    assert loaded.y_test.tolist() == [0, 1]


def test_unknown_dataset_name_is_rejected():
    with pytest.raises(ValueError, match="'mnist' or 'fashion_mnist'"):
        utils.load_full_dataset("cifar10")
