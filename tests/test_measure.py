"""utils.measure: the shared measurements of notebooks 01-03."""
import numpy as np
import pytest
import tensorflow as tf

import utils
from utils import probes


@pytest.fixture(scope="module")
def batch():
    d = utils.load_mnist_sample()
    return d.x_train[:64], d.y_train[:64]


def test_every_public_name_of_utils_resolves():
    for name in utils.__all__:
        assert getattr(utils, name) is not None, name


def test_final_reads_histories_and_train_seeds_runs_alike():
    histories = [{"loss": [3.0, 2.0]}, {"loss": [1.0, 0.5]}]
    np.testing.assert_array_equal(utils.final(histories, "loss"), [2.0, 0.5])
    runs = [{"model": None, "history": h} for h in histories]
    np.testing.assert_array_equal(utils.final(runs, "loss"), [2.0, 0.5])


def test_value_range_is_low_to_high_rounded():
    assert utils.value_range([0.23456, 0.1, 0.3]) == "0.1 – 0.3"
    assert utils.value_range(np.array([2e-6, 5.341e-6])) == "2e-06 – 5.34e-06"


def test_show_per_seed_puts_one_column_per_seed(monkeypatch):
    shown = {}
    monkeypatch.setattr("utils.measure.show_table", lambda columns, rows, digits: shown.update(c=columns, r=rows))
    utils.show_per_seed("variant", {"a": [1, 2]}, seeds=(0, 1))
    assert shown == {"c": ["variant", "seed 0", "seed 1"], "r": [["a", 1, 2]]}


def test_kernel_gradients_match_gradient_norms(batch):
    model = utils.make_mlp(2, 8, "tanh", seed=1)
    gradients = utils.kernel_gradients(model, *batch)
    assert [g.shape for g in gradients] == [(784, 8), (8, 8), (8, 10)]
    np.testing.assert_allclose([np.linalg.norm(g) for g in gradients], utils.gradient_norms(model, *batch),
                               rtol=1e-5)


def test_sign_agreement_is_one_for_one_signed_columns_and_a_half_for_balanced_ones():
    assert utils.sign_agreement(np.array([[1.0, -2.0], [3.0, -1.0]])) == 1.0
    assert utils.sign_agreement(np.array([[1.0, -2.0], [-3.0, 1.0]])) == 0.5
    random = np.random.default_rng(0).normal(size=(1000, 50))
    assert utils.sign_agreement(random) == pytest.approx(0.5, abs=0.02)


def test_backward_factor_of_a_linear_identity_network_is_one(batch):
    model = utils.make_mlp(5, 16, "linear", seed=0)
    for layer in probes.weighted_layers(model)[1:-1]:
        layer.kernel.assign(np.eye(16, dtype=np.float32))
    measured, predicted = utils.backward_factor(model, *batch, n_var=1.0)
    assert measured == pytest.approx(1.0, rel=1e-5)
    assert predicted == pytest.approx(1.0, rel=1e-6)


def test_backward_factor_predicts_relu_with_he(batch):
    measured, predicted = utils.backward_factor(utils.make_mlp(6, 64, "relu", "he_normal", seed=3), *batch, 2.0)
    assert measured == pytest.approx(predicted, rel=0.15)
    assert predicted == pytest.approx(1.0, rel=0.1)


def test_inactive_per_layer_counts_units_never_above_zero():
    model = utils.make_mlp(1, 4, activation="relu")
    hidden = model.get_layer("hidden_1")
    hidden.kernel.assign(np.zeros(hidden.kernel.shape, np.float32))
    hidden.bias.assign(np.array([-1.0, 0.0, 1.0, 2.0], np.float32))
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(utils.inactive_per_layer(model, x), [0.5])


def test_depth_profile_measures_every_hidden_layer(batch):
    model = utils.make_mlp(3, 16, "tanh", seed=2)
    profile = utils.depth_profile(model, *batch)
    outputs = probes.layer_outputs(model, batch[0])[:3]
    np.testing.assert_allclose(profile["act_std"], [h.std() for h in outputs], rtol=1e-5)
    sizes = [784 * 16, 16 * 16, 16 * 16]
    np.testing.assert_allclose(profile["grad_rms"], utils.gradient_norms(model, *batch)[:3] / np.sqrt(sizes), rtol=1e-6)
    assert profile["first_overflow"] is None
    np.testing.assert_allclose(profile["max_abs"], [np.abs(h).max() for h in outputs])


def test_depth_profile_reports_the_first_overflowing_layer(batch):
    model = utils.make_mlp(12, 32, "relu", tf.keras.initializers.RandomNormal(stddev=1e4), seed=0)
    profile = utils.depth_profile(model, *batch)
    first = profile["first_overflow"]
    assert first is not None and not np.isfinite(profile["act_std"][first - 1]) and np.isfinite(profile["act_std"][0])


@pytest.mark.parametrize("initializer", ["glorot_normal", "he_uniform", tf.keras.initializers.RandomNormal(stddev=0.1)])
def test_reinitialize_gives_the_weights_make_mlp_draws(initializer):
    model = utils.make_mlp(3, 8, "relu", "lecun_normal", seed=0)
    model.get_layer("hidden_1").bias.assign(np.ones(8, np.float32))
    utils.reinitialize(model, initializer, seed=4)
    for a, b in zip(model.get_weights(), utils.make_mlp(3, 8, "relu", initializer, seed=4).get_weights()):
        np.testing.assert_array_equal(a, b)


def test_elementwise_seconds_times_every_function():
    seconds = utils.elementwise_seconds({"relu": tf.nn.relu, "tanh": tf.tanh}, tf.ones(1000), repeats=3)
    assert set(seconds) == {"relu", "tanh"} and all(0 < s < 1 for s in seconds.values())
