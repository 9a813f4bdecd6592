import numpy as np
import pytest
import tensorflow as tf

import utils


def test_maxout_takes_the_largest_piece_per_unit():
    layer = utils.Maxout(units=3, pieces=2)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    out = layer(x).numpy()
    z = x @ layer.kernel.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(out, z.reshape(5, 3, 2).max(axis=-1), rtol=1e-6)
    assert layer.compute_output_shape((None, 4)) == (None, 3)


def test_maxout_with_pieces_z_and_0_is_relu():
    layer = utils.Maxout(units=1, pieces=2)
    layer.build((None, 1))
    layer.kernel.assign([[1.0, 0.0]])  # pieces: z and 0
    z = tf.constant(np.linspace(-2, 2, 9, dtype=np.float32)[:, None])
    np.testing.assert_allclose(layer(z).numpy(), tf.nn.relu(z).numpy())


def test_maxout_gradient_reaches_only_the_winning_piece():
    layer = utils.Maxout(units=1, pieces=2)
    layer.build((None, 1))
    layer.kernel.assign([[2.0, -1.0]])
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(layer(tf.constant([[3.0]])))  # pieces 6 and -3: piece 0 wins
    np.testing.assert_allclose(tape.gradient(out, layer.kernel).numpy(), [[3.0, 0.0]])


def test_maxout_survives_a_config_round_trip():
    layer = utils.Maxout(units=4, pieces=3, kernel_initializer="he_normal", name="mx")
    clone = utils.Maxout.from_config(layer.get_config())
    assert (clone.units, clone.pieces, clone.name) == (4, 3, "mx")
    assert isinstance(clone.kernel_initializer, tf.keras.initializers.HeNormal)


def test_maxout_rejects_empty_layers():
    with pytest.raises(ValueError, match="positive"):
        utils.Maxout(units=0)


def test_make_mlp_builds_maxout_layers():
    model = utils.make_mlp(2, 8, activation="maxout")
    assert isinstance(model.get_layer("hidden_1"), utils.Maxout)
    assert model.get_layer("hidden_2").kernel.shape == (8, 16)
    assert len(utils.gradient_norms(model, np.zeros((2, 28, 28), np.float32), np.zeros(2))) == 3
