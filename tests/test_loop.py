"""utils.train_many: the plain training loop for many short runs."""
import numpy as np
import pytest
import tensorflow as tf

import utils
from utils import loop

pytestmark = pytest.mark.slow   # trains networks: make check leaves these out


@pytest.fixture(scope="module")
def small():
    d = utils.load_mnist_sample()
    return d._replace(x_train=d.x_train[:100], y_train=d.y_train[:100], x_test=d.x_test[:200],
                      y_test=d.y_test[:200])


def reference(model, data, epochs, seed, learning_rate, batch_size, optimizer="sgd"):
    """The same training written out step by step: batches in train_many's order, Keras's optimizer."""
    opt = utils.make_optimizer(optimizer, learning_rate)
    losses = []
    for order in loop._orders(len(data.x_train), epochs, seed):
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            with tf.GradientTape() as tape:
                p = model(data.x_train[batch], training=True)
                loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(data.y_train[batch], p))
                loss = loss + tf.add_n(model.losses) if model.losses else loss
            opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            total += float(loss) * len(batch)
        losses.append(total / len(order))
    return losses


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_many_equals_training_step_by_step(small, optimizer):
    fast = utils.make_mlp(2, 16, seed=2, kernel_regularizer=tf.keras.regularizers.L2(1e-3))
    history = utils.train_many([fast], small, epochs=2, seeds=7, optimizer=optimizer, learning_rate=0.05,
                               batch_size=32)[0]   # 100 = 3 × 32 + 4: a smaller last batch
    slow = utils.make_mlp(2, 16, seed=2, kernel_regularizer=tf.keras.regularizers.L2(1e-3))
    losses = reference(slow, small, 2, 7, 0.05, 32, optimizer)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-5)
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    loss, accuracy = utils.evaluate(fast, small.x_test, small.y_test)
    assert history["test_loss"][-1] == pytest.approx(loss, rel=1e-5)
    assert history["test_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)


def test_each_run_starts_fresh_with_its_own_rate_and_seed(small):
    rates, seeds = [0.3, 0.01, 0.3], [1, 1, 2]
    models = [utils.make_mlp(2, 16, seed=3) for _ in rates]
    together = utils.train_many(models, small, epochs=2, seeds=seeds, optimizer="adam", learning_rate=rates)
    for rate, seed, history, model in zip(rates, seeds, together, models):
        alone = utils.make_mlp(2, 16, seed=3)
        assert history == utils.train_many([alone], small, epochs=2, seeds=seed, optimizer="adam",
                                           learning_rate=rate)[0]
        for a, b in zip(model.get_weights(), alone.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert together[0]["loss"] != together[1]["loss"] != together[2]["loss"]


def test_history_keys_validation_and_last_epoch_only(small):
    validation = (small.x_test[:50], small.y_test[:50])
    history = utils.train_many([utils.make_mlp(1, 8)], small, epochs=3, validation=validation)[0]
    assert sorted(history) == ["accuracy", "loss", "test_accuracy", "test_loss", "val_accuracy", "val_loss"]
    assert all(len(values) == 3 for values in history.values())
    short = utils.train_many([utils.make_mlp(1, 8)], small, epochs=3, every_epoch=False)[0]
    assert len(short["loss"]) == 3 and len(short["test_loss"]) == 1
    assert short["test_loss"][0] == history["test_loss"][-1]


def test_constraints_and_random_layers_act_in_training(small):
    capped = utils.make_mlp(1, 16, kernel_constraint=tf.keras.constraints.MaxNorm(0.5), dropout=0.5)
    utils.train_many([capped], small, epochs=2, learning_rate=0.5)
    assert np.linalg.norm(capped.get_layer("hidden_1").kernel.numpy(), axis=0).max() <= 0.5 + 1e-6
    twice = [utils.make_mlp(1, 16, dropout=0.5, seed=4) for _ in range(2)]
    a, b = utils.train_many(twice, small, epochs=1, seeds=[0, 0])
    assert a == b   # the dropout masks come from each model's own generator state


def test_train_many_refuses_mixed_architectures(small):
    with pytest.raises(ValueError, match="architecture"):
        utils.train_many([utils.make_mlp(2, 16), utils.make_mlp(2, 8)], small, epochs=1)
    with pytest.raises(ValueError, match="2 models need 2 seeds"):
        utils.train_many([utils.make_mlp(1, 4), utils.make_mlp(1, 4)], small, epochs=1, seeds=[0])
