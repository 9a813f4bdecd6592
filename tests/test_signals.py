"""utils.signals: per-layer forward and backward signals, Dense pre-activations, a per-epoch probe."""
import numpy as np
import pytest
import tensorflow as tf

import utils

pytestmark = pytest.mark.slow   # trains networks: make check leaves these out


@pytest.fixture(scope="module")
def small():
    d = utils.load_mnist_sample()
    return d._replace(x_train=d.x_train[:256], y_train=d.y_train[:256])


def saved_state(model):
    return [v.numpy() for v in model.non_trainable_variables]


def assert_unchanged(model, saved):
    for variable, value in zip(model.non_trainable_variables, saved):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_layer_signals_of_a_plain_network_agree_with_backprop_stats(small):
    model = utils.make_mlp(3, 16, "sigmoid", "glorot_normal", seed=1)
    x, y = small.x_train[:64], small.y_train[:64]
    signals, reference = utils.layer_signals(model, x, y), utils.backprop_stats(model, x, y)[:3]
    assert len(signals) == 3
    for got, expected in zip(signals, reference):
        assert got["gain"] == 1.0
        assert got["delta_norm"] == pytest.approx(expected["delta_norm"], rel=1e-4)
        assert got["slope_rms"] == pytest.approx(expected["slope_rms"], rel=1e-5)
    z = utils.dense_preactivation(model, x, "hidden_2")
    assert signals[1]["spread"] == pytest.approx(z.std(axis=0).mean(), rel=1e-4)


def test_layer_signals_measure_batch_normalization_gain_and_leave_the_model_alone(small):
    model = utils.make_mlp(3, 16, "sigmoid", "glorot_normal", seed=2, batch_norm="before")
    model.get_layer("bn_2").gamma.assign(np.full(16, 2.0, np.float32))
    x, y = small.x_train[:64], small.y_train[:64]
    saved = saved_state(model)
    signals = utils.layer_signals(model, x, y)
    assert_unchanged(model, saved)
    u = utils.dense_preactivation(model, x, "hidden_2")
    expected_gain = np.sqrt(np.mean((2.0 / np.sqrt(u.var(axis=0) + 1e-3)) ** 2))
    assert signals[1]["gain"] == pytest.approx(expected_gain, rel=1e-4)
    assert signals[1]["spread"] == pytest.approx(2.0, rel=0.02)   # the spread after BN is γ (up to ε)
    assert signals[0]["spread"] == pytest.approx(1.0, rel=0.02)
    # the backward signal at u_2 = the gradient of the loss with respect to hidden_2's output
    with tf.GradientTape() as tape:
        h = tf.convert_to_tensor(x)
        for layer in model.layers:
            h = layer(h, training=True)
            if layer.name == "hidden_2":
                u2 = h
                tape.watch(u2)
        loss = tf.keras.losses.SparseCategoricalCrossentropy()(y, h)
    assert signals[1]["delta_norm"] == pytest.approx(float(tf.norm(tape.gradient(loss, u2))), rel=1e-4)


def test_dense_preactivation_is_hw_plus_b(small):
    model = utils.make_mlp(2, 8, "relu", seed=3)
    x = small.x_train[:16]
    first, second = model.get_layer("hidden_1"), model.get_layer("hidden_2")
    u1 = x.reshape(16, -1) @ first.kernel.numpy() + first.bias.numpy()
    np.testing.assert_allclose(utils.dense_preactivation(model, x, "hidden_1"), u1, rtol=1e-5, atol=1e-5)
    u2 = np.maximum(u1, 0) @ second.kernel.numpy() + second.bias.numpy()
    np.testing.assert_allclose(utils.dense_preactivation(model, x, "hidden_2"), u2, rtol=1e-4, atol=1e-5)


def test_epoch_probe_records_the_chosen_runs_at_the_start_and_after_each_epoch(small):
    models = [utils.make_mlp(1, 8, seed=s) for s in (0, 1)]
    calls = utils.EpochProbe(lambda model: float(model.get_layer("hidden_1").kernel.numpy()[0, 0]), runs={1})
    utils.train_models(models, small, epochs=2, seeds=[0, 1], callbacks=[calls])
    assert calls.results[0] == [] and len(calls.results[1]) == 3
    start = utils.make_mlp(1, 8, seed=1).get_layer("hidden_1").kernel.numpy()[0, 0]
    assert calls.results[1][0] == pytest.approx(float(start))
    assert calls.results[1][-1] == pytest.approx(float(models[1].get_layer("hidden_1").kernel.numpy()[0, 0]))


def test_training_mode_accuracy_uses_each_batch_size_and_leaves_the_model_alone(small):
    model = utils.make_mlp(2, 16, seed=4, batch_norm="before")
    utils.train(model, small, epochs=1, seed=4)
    x, y = small.x_train[:128], small.y_train[:128]
    saved = saved_state(model)
    accuracies = utils.training_mode_accuracy(model, x, y, (2, 64))
    assert_unchanged(model, saved)
    for size, accuracy in zip((2, 64), accuracies):
        expected = np.mean(utils.predict_in_training_mode(model, x, size).argmax(axis=1) == y)
        assert accuracy == pytest.approx(expected)


def test_run_summary_reads_the_final_and_the_best_epoch(small):
    held_out = small._replace(x_test=small.x_test[:200], y_test=small.y_test[:200])
    run, = utils.train_seeds(lambda seed: utils.make_mlp(1, 16, seed=seed), held_out, [5], epochs=4)
    summary, history = utils.run_summary(run, held_out), run["history"]
    best = int(np.argmin(history["test_loss"]))
    assert summary["best_epoch"] == best + 1
    assert summary["best_held_out_loss"] == history["test_loss"][best]
    assert summary["accuracy_at_best"] == history["test_accuracy"][best]
    assert summary["fit_loss_at_best"] == history["loss"][best]
    assert summary["fit_train_accuracy"] == history["accuracy"][-1]
    assert summary["held_out_loss"] == pytest.approx(history["test_loss"][-1], rel=1e-6)
    loss, accuracy = utils.evaluate(run["model"], held_out.x_train, held_out.y_train)
    assert (summary["train_loss"], summary["train_accuracy"]) == (loss, accuracy)
