"""utils.health (the training-health probe, signal per block) and utils.residual (deep MLPs with shortcuts)."""
import numpy as np
import pytest
import tensorflow as tf

import utils
from utils import health

pytestmark = pytest.mark.slow   # trains networks: make check leaves these out


@pytest.fixture(scope="module")
def small():
    d = utils.load_mnist_sample()
    return d._replace(x_train=d.x_train[:300], y_train=d.y_train[:300])


def test_update_ratios_are_relative_step_sizes():
    before = [np.array([3.0, 4.0]), np.ones((2, 2))]
    after = [np.array([3.0, 4.5]), np.ones((2, 2)) * 1.1]
    np.testing.assert_allclose(utils.update_ratios(before, after), [0.5 / 5, 0.1])
    assert np.isinf(utils.update_ratios([np.zeros(2)], [np.ones(2)])[0])   # no warning, no crash


def test_probe_records_every_step_and_its_update_ratio_is_the_sgd_step(small):
    model = utils.make_mlp(2, 16, seed=1)
    probe = utils.HealthProbe(small.x_train[:64], small.y_train[:64], every=2)
    start = [k.numpy() for k in health.kernels(model)]
    with tf.GradientTape() as tape:   # one batch of all 300 digits: the first step's gradient, whatever the order
        loss = tf.keras.losses.SparseCategoricalCrossentropy()(small.y_train, model(small.x_train, training=True))
    grads = tape.gradient(loss, health.kernels(model))
    utils.train_watched(model, small, 3, probe, learning_rate=0.1, batch_size=300)
    assert probe.loss.shape == (3,) and probe.update_ratio.shape == (3, 3)   # 3 steps, 3 kernels
    assert list(probe.probed_at) == [0, 2, 3]
    assert probe.gradient_norm.shape == (3, 3) and probe.dead_fraction.shape == (3, 2)
    assert len(probe.first_outputs) == len(probe.last_outputs) == 2
    expected = [0.1 * np.linalg.norm(g) / np.linalg.norm(w) for g, w in zip(grads, start)]
    np.testing.assert_allclose(probe.update_ratio[0], expected, rtol=1e-4)
    np.testing.assert_allclose(probe.loss[0], float(loss), rtol=1e-5)


def test_probe_loss_per_step_matches_keras_running_mean(small):
    model = utils.make_mlp(1, 8, seed=2)
    probe = utils.HealthProbe(small.x_train[:10], small.y_train[:10], every=0)
    history = utils.train_watched(model, small, 2, probe, learning_rate=0.05, batch_size=128)
    sizes = np.array([128, 128, 44])   # 300 digits per epoch: the last batch is smaller
    for epoch in range(2):
        losses = probe.loss[3 * epoch:3 * epoch + 3]
        np.testing.assert_allclose(np.sum(losses * sizes) / sizes.sum(), history["loss"][epoch], rtol=1e-5)
    assert not hasattr(probe, "first_outputs")   # every=0 records only the loss and the update ratios


def test_probe_follows_a_keras_schedule(small):
    ramp = tf.keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps=3, decay_rate=100.0)
    probe = utils.HealthProbe(small.x_train[:10], small.y_train[:10], every=0)
    utils.train_watched(utils.make_mlp(1, 8, seed=0), small, 1, probe, learning_rate=ramp, batch_size=100)
    growth = probe.update_ratio[1:, -1] / probe.update_ratio[:-1, -1]
    assert np.all(growth > 2)   # the rate grows 100^(1/3) ≈ 4.6 times per step


def test_residual_mlp_without_shortcuts_is_make_mlp(small):
    x = small.x_train[:32]
    for batch_norm in (None, "before"):
        deep = utils.make_residual_mlp(4, 16, seed=3, residual=False, batch_norm=batch_norm)
        plain = utils.make_mlp(4, 16, seed=3, batch_norm=batch_norm)
        np.testing.assert_allclose(deep(x, training=True), plain(x, training=True), atol=1e-6)
        assert sorted(k.numpy().sum() for k in health.kernels(deep)) == pytest.approx(
            sorted(k.numpy().sum() for k in health.kernels(plain)), abs=1e-6)


def test_residual_block_adds_its_input():
    block = utils.ResidualBlock(3, kernel_initializer="ones")
    z = np.array([[1.0, -2.0, 0.5]], "float32")
    np.testing.assert_allclose(block(z), z + np.maximum(z, 0).sum())   # z + relu(z) @ ones
    plain = utils.ResidualBlock(3, kernel_initializer="ones", residual=False)
    np.testing.assert_allclose(plain(z), np.full_like(z, 1.5))
    normed = utils.ResidualBlock(3, batch_norm=True)
    assert normed.dense.use_bias is False and normed.norm is not None


def test_residual_mlp_names_and_refuses_other_placements():
    model = utils.make_residual_mlp(3, 8, batch_norm="before")
    assert [layer.name for layer in model.layers] == ["flatten", "hidden_1", "block_2", "block_3", "bn_3",
                                                      "act_3", "output"]
    with pytest.raises(ValueError, match="batch_norm"):
        utils.make_residual_mlp(3, 8, batch_norm="after")


def test_signal_per_block_measures_forward_and_backward(small):
    x, y = small.x_train[:64], small.y_train[:64]
    model = utils.make_residual_mlp(3, 8, seed=0)
    signals = utils.signal_per_block(model, x, y)
    assert set(signals) == {"rms", "grad_norm", "cosine", "loss"} and signals["rms"].shape == (3,)
    h = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        outputs = []
        for layer in model.layers:
            h = layer(h)
            outputs.append(h)
        loss = tf.keras.losses.SparseCategoricalCrossentropy()(y, h)
    z = [outputs[i] for i in (1, 2, 3)]   # hidden_1, block_2, block_3
    np.testing.assert_allclose(signals["rms"], [np.sqrt(np.mean(v.numpy() ** 2)) for v in z], rtol=1e-5)
    np.testing.assert_allclose(signals["grad_norm"], [np.linalg.norm(g) for g in tape.gradient(loss, z)], rtol=1e-4)
    np.testing.assert_allclose(signals["loss"], float(loss), rtol=1e-6)
    same = np.ones((5, 4))
    assert utils.signal_per_block(tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(
        4, kernel_initializer="identity", name="hidden_1"), tf.keras.layers.Dense(2, activation="softmax")]),
        same, np.zeros(5))["cosine"][0] == pytest.approx(1.0)


def test_signal_per_block_leaves_batch_norm_statistics_alone(small):
    model = utils.make_residual_mlp(3, 8, batch_norm="before")
    before = [v.numpy() for v in model.non_trainable_variables]
    utils.signal_per_block(model, small.x_train[:64], small.y_train[:64], training=True)
    for a, b in zip(before, model.non_trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())
