import numpy as np
import pytest
import tensorflow as tf

import utils
from utils import probes

pytestmark = pytest.mark.slow   # trains networks: make check leaves these out


@pytest.fixture(scope="module")
def small():
    d = utils.load_mnist_sample()
    return d._replace(x_train=d.x_train[:512], y_train=d.y_train[:512])


def kernels(model):
    return [layer.kernel.numpy() for layer in probes.weighted_layers(model)]


def test_make_mlp_has_the_requested_shape():
    model = utils.make_mlp(depth=3, width=16, activation="tanh")
    assert [layer.name for layer in probes.weighted_layers(model)] == [
        "hidden_1", "hidden_2", "hidden_3", "output"]
    assert model.output_shape == (None, 10)
    assert model.get_layer("hidden_2").activation is tf.keras.activations.tanh


def test_same_seed_same_weights_and_layers_differ_from_each_other():
    a, b = utils.make_mlp(3, 16, seed=4), utils.make_mlp(3, 16, seed=4)
    for ka, kb in zip(kernels(a), kernels(b)):
        np.testing.assert_array_equal(ka, kb)
    assert not np.array_equal(kernels(a)[1], kernels(a)[2])
    assert not np.array_equal(kernels(a)[1], kernels(utils.make_mlp(3, 16, seed=5))[1])


def test_glorot_and_he_with_one_seed_are_the_same_draws_scaled():
    glorot = utils.make_mlp(3, 32, kernel_initializer="glorot_normal", seed=1)
    he = utils.make_mlp(3, 32, kernel_initializer="he_normal", seed=1)
    np.testing.assert_allclose(kernels(he)[1] / kernels(glorot)[1], np.sqrt(2), rtol=1e-5)


@pytest.mark.parametrize("initializer", ["zeros", "ones", tf.keras.initializers.Constant(0.5)])
def test_deterministic_initializers_need_no_seed(initializer):
    model = utils.make_mlp(2, 4, kernel_initializer=initializer)
    k1, k2 = kernels(model)[:2]
    assert np.unique(k1).size == 1 and np.unique(k2).size == 1


def test_dropout_layers_follow_each_hidden_layer_and_keep_the_weights():
    plain, dropped = utils.make_mlp(2, 16, seed=2), utils.make_mlp(2, 16, seed=2, dropout=0.5)
    assert [layer.name for layer in dropped.layers] == [
        "flatten", "hidden_1", "dropout_1", "hidden_2", "dropout_2", "output"]
    assert dropped.get_layer("dropout_2").rate == 0.5
    for ka, kb in zip(kernels(plain), kernels(dropped)):
        np.testing.assert_array_equal(ka, kb)


@pytest.mark.parametrize("place, names", [
    ("before", ["flatten", "hidden_1", "bn_1", "act_1", "hidden_2", "bn_2", "act_2", "output"]),
    ("after", ["flatten", "hidden_1", "bn_1", "hidden_2", "bn_2", "output"])])
def test_batch_norm_placement_keeps_the_kernels(place, names):
    plain, normalized = utils.make_mlp(2, 16, "tanh", seed=2), utils.make_mlp(2, 16, "tanh", seed=2,
                                                                            batch_norm=place)
    assert [layer.name for layer in normalized.layers] == names
    for ka, kb in zip(kernels(plain), kernels(normalized)):
        np.testing.assert_array_equal(ka, kb)
    assert (normalized.get_layer("hidden_1").bias is None) == (place == "before")
    x = np.random.default_rng(0).normal(size=(8, 28, 28)).astype("float32")
    hidden = tf.keras.Sequential(normalized.layers[:3 if place == "after" else 4])(x).numpy()
    if place == "before":  # tanh of normalized values with gamma 1, beta 0
        z = normalized.get_layer("hidden_1")(tf.reshape(x, (8, -1))).numpy()
        np.testing.assert_allclose(hidden, np.tanh(z / np.sqrt(1 + 1e-3)), rtol=1e-5, atol=1e-6)


def test_batch_norm_refuses_unknown_places():
    with pytest.raises(ValueError, match="batch_norm"):
        utils.make_mlp(2, 4, batch_norm="middle")


def test_biases_start_at_zero():
    model = utils.make_mlp(2, 8, seed=3)
    assert all(not layer.bias.numpy().any() for layer in probes.weighted_layers(model))


def test_initializer_instances_are_reseeded_per_layer():
    model = utils.make_mlp(2, 16, kernel_initializer=tf.keras.initializers.RandomNormal(stddev=0.01))
    k1, k2 = kernels(model)[:2]
    assert abs(k2.std() - 0.01) < 0.002
    assert not np.array_equal(k1[:16], k2)


def test_gradient_norms_match_a_direct_tape_computation(small):
    model = utils.make_mlp(2, 8, activation="sigmoid")
    x, y = small.x_train[:32], small.y_train[:32]
    with tf.GradientTape() as tape:
        loss = tf.keras.losses.sparse_categorical_crossentropy(y, model(x))
        loss = tf.reduce_mean(loss)
    expected = [np.linalg.norm(g) for g in tape.gradient(loss, [layer.kernel for layer in model.layers[1:]])]
    np.testing.assert_allclose(utils.gradient_norms(model, x, y), expected, rtol=1e-5)


def test_backprop_stats_match_the_chain_rule(small):
    model = utils.make_mlp(2, 8, activation="sigmoid", seed=1)
    x, y = small.x_train[:16], small.y_train[:16]
    stats = utils.backprop_stats(model, x, y)
    assert len(stats) == 3  # two hidden layers and the output layer
    # dL/dW = h^T delta, so for the last hidden layer ||dL/dW|| <= ||h|| ||delta||, and
    # delta of a hidden layer is phi'(z) * (delta_next W_next^T), computed here by hand.
    h1 = probes.layer_outputs(model, x)[0]
    h2, p = probes.layer_outputs(model, x)[1:]
    delta_out = (p - np.eye(10)[y]) / len(y)  # softmax + mean cross-entropy
    delta_2 = h2 * (1 - h2) * (delta_out @ model.get_layer("output").kernel.numpy().T)
    assert stats[2]["delta_norm"] == pytest.approx(np.linalg.norm(delta_out), rel=1e-4)
    assert stats[1]["delta_norm"] == pytest.approx(np.linalg.norm(delta_2), rel=1e-4)
    assert stats[1]["slope_rms"] == pytest.approx(np.sqrt(np.mean((h2 * (1 - h2)) ** 2)), rel=1e-4)
    assert stats[0]["slope_rms"] == pytest.approx(np.sqrt(np.mean((h1 * (1 - h1)) ** 2)), rel=1e-4)


def test_backprop_stats_has_no_slope_for_softmax(small):
    stats = utils.backprop_stats(utils.make_mlp(1, 4), small.x_train[:8], small.y_train[:8])
    assert stats[-1]["slope_rms"] is None and stats[0]["slope_rms"] is not None


def test_backprop_stats_of_relu_slopes_are_zero_or_one(small):
    model = utils.make_mlp(1, 32, activation="relu")
    x, y = small.x_train[:64], small.y_train[:64]
    (hidden, _) = utils.backprop_stats(model, x, y)
    active = np.mean(probes.layer_outputs(model, x)[0] > 0)
    assert hidden["slope_rms"] == pytest.approx(np.sqrt(active), rel=1e-5)


def _model_with_hidden_bias(bias):
    model = utils.make_mlp(1, 4, activation="relu")
    hidden = model.get_layer("hidden_1")
    hidden.kernel.assign(np.zeros(hidden.kernel.shape, np.float32))
    hidden.bias.assign(np.array([bias, bias, 1.0, 2.0], np.float32))
    return model


def test_activation_stats_counts_dead_units():
    x = np.random.default_rng(0).random((20, 28, 28), dtype=np.float32)
    (stats,) = utils.activation_stats(_model_with_hidden_bias(-1.0), x)
    assert stats["dead_fraction"] == 0.5 and stats["zero_fraction"] == 0.5
    assert stats["mean"] == pytest.approx(0.75) and stats["std"] == pytest.approx(np.std([0, 0, 1, 2]))
    assert stats["spread"] == 0.0  # zero kernel: no unit depends on the input
    (alive,) = utils.activation_stats(_model_with_hidden_bias(0.5), x)
    assert alive["dead_fraction"] == 0.0


def test_spread_measures_dependence_on_the_input():
    model = utils.make_mlp(1, 4, activation="linear")
    hidden = model.get_layer("hidden_1")
    kernel = np.zeros(hidden.kernel.shape, np.float32)
    kernel[0, 0] = 2.0  # unit 0 copies pixel 0, doubled; units 1-3 ignore the input
    hidden.kernel.assign(kernel)
    x = np.zeros((2, 28, 28), np.float32)
    x[1, 0, 0] = 1.0  # pixel 0 is 0 or 1: unit 0's outputs are 0 and 2, std 1
    (stats,) = utils.activation_stats(model, x)
    assert stats["spread"] == pytest.approx(1.0 / 4)


def test_activation_stats_can_include_the_output_layer():
    model = utils.make_mlp(2, 8)
    x = np.zeros((4, 28, 28), np.float32)
    assert len(utils.activation_stats(model, x)) == 2
    stats = utils.activation_stats(model, x, include_output=True)
    assert stats[-1]["mean"] == pytest.approx(0.1)  # softmax rows sum to 1 over 10 classes


def test_training_is_deterministic_and_records_held_out_metrics(small):
    histories = [utils.train(utils.make_mlp(2, 16, seed=3), small, epochs=2, seed=3) for _ in range(2)]
    assert set(histories[0]) == {"loss", "accuracy", "test_loss", "test_accuracy"}
    assert len(histories[0]["loss"]) == 2
    assert histories[0] == histories[1]


def test_training_an_epoch_per_call_equals_training_step_by_step(small):
    small = small._replace(x_train=small.x_train[:100], y_train=small.y_train[:100])  # 64 + 36
    fast = utils.train(utils.make_mlp(2, 16, seed=2), small, epochs=2, seed=2)
    model = utils.make_mlp(2, 16, seed=2)
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=1)
    tf.keras.utils.set_random_seed(2)
    slow = model.fit(small.x_train, small.y_train, epochs=2, batch_size=64,
                     validation_data=(small.x_test, small.y_test), verbose=0).history
    assert sorted(fast) == sorted(key.replace("val_", "test_") for key in slow)
    assert fast["loss"] == slow["loss"] and fast["accuracy"] == slow["accuracy"]
    # held-out metrics come from one forward pass instead of Keras's batched evaluate
    np.testing.assert_allclose(fast["test_loss"], slow["val_loss"], rtol=1e-6)
    assert fast["test_accuracy"] == slow["val_accuracy"]


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_train_seeds_equals_training_each_seed_separately(small, dropout):
    small = small._replace(x_train=small.x_train[:200], y_train=small.y_train[:200])
    build = lambda seed: utils.make_mlp(2, 16, seed=seed, dropout=dropout)  # noqa: E731
    runs = utils.train_seeds(build, small, seeds=(0, 1), epochs=2, optimizer="adam", learning_rate=1e-2)
    for seed, run in zip((0, 1), runs):
        alone = build(seed)
        assert run["history"] == utils.train(alone, small, epochs=2, optimizer="adam",
                                             learning_rate=1e-2, seed=seed)
        for a, b in zip(run["model"].get_weights(), alone.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_train_models_gives_each_model_its_own_learning_rate(small):
    small = small._replace(x_train=small.x_train[:200], y_train=small.y_train[:200])
    rates = [0.3, 0.01]
    models = [utils.make_mlp(2, 16, seed=3) for _ in rates]
    histories = utils.train_models(models, small, epochs=2, seeds=5, learning_rate=rates)
    for rate, history in zip(rates, histories):
        assert history == utils.train(utils.make_mlp(2, 16, seed=3), small, epochs=2, learning_rate=rate,
                                      seed=5)
    assert histories[0]["loss"] != histories[1]["loss"]


def test_train_seeds_accepts_activations_defined_in_a_notebook(small):
    def centred_sigmoid(z):  # a plain function: not serializable, so the runner must not be a clone
        return tf.sigmoid(z) - 0.5

    runs = utils.train_seeds(lambda seed: utils.make_mlp(2, 8, centred_sigmoid, seed=seed), small,
                             seeds=(0, 1), epochs=1)
    assert len(runs) == 2 and runs[0]["history"] != runs[1]["history"]


def test_train_models_refuses_mixed_architectures(small):
    with pytest.raises(ValueError, match="architecture"):
        utils.train_models([utils.make_mlp(2, 16), utils.make_mlp(2, 8)], small, epochs=1)
    with pytest.raises(ValueError, match="2 models need 2 seeds"):
        utils.train_models([utils.make_mlp(1, 4), utils.make_mlp(1, 4)], small, epochs=1, seeds=[0])


def test_evaluate_matches_keras_evaluate_with_dropout_off(small):
    model = utils.make_mlp(2, 16, seed=1, dropout=0.5)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_loss, keras_accuracy = model.evaluate(small.x_test, small.y_test, verbose=0)
    loss, accuracy = utils.evaluate(model, small.x_test, small.y_test)
    assert loss == pytest.approx(keras_loss, rel=1e-6)
    assert accuracy == pytest.approx(keras_accuracy, abs=1e-7)
    assert utils.evaluate(model, small.x_test, small.y_test) == (loss, accuracy)  # no dropout noise


def test_callbacks_can_add_per_epoch_measurements_to_the_history(small):
    def log_epoch(epoch, logs):
        logs["epoch_seen"] = float(epoch)

    history = utils.train(utils.make_mlp(1, 4), small, epochs=2,
                          callbacks=[tf.keras.callbacks.LambdaCallback(on_epoch_end=log_epoch)])
    assert history["epoch_seen"] == [0.0, 1.0]


def test_hidden_biases_can_start_shifted():
    model = utils.make_mlp(2, 4, bias_initializer=tf.keras.initializers.Constant(-1.0))
    assert (model.get_layer("hidden_2").bias.numpy() == -1.0).all()
    assert (model.get_layer("output").bias.numpy() == 0.0).all()


def test_a_relu_mlp_learns_the_digits(small):
    history = utils.train(utils.make_mlp(2, 32, seed=0), small, epochs=5, learning_rate=0.1)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["test_accuracy"][-1] > 0.5


def test_optimizers_can_be_configured():
    optimizer = utils.make_optimizer({"class_name": "SGD", "config": {"momentum": 0.9, "nesterov": True}}, 0.05)
    assert isinstance(optimizer, tf.keras.optimizers.SGD)
    assert optimizer.nesterov and optimizer.momentum == 0.9
    assert float(optimizer.learning_rate) == pytest.approx(0.05)


def test_other_optimizers_are_chosen_by_name(small):
    model = utils.make_mlp(1, 8)
    utils.train(model, small, epochs=1, optimizer="adam", learning_rate=1e-3)
    assert isinstance(model.optimizer, tf.keras.optimizers.Adam)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)


def test_value_and_derivative_matches_closed_forms():
    z = tf.linspace(-3.0, 3.0, 61)
    value, slope = utils.value_and_derivative(tf.keras.activations.tanh, z)
    np.testing.assert_allclose(value, np.tanh(z.numpy()), atol=1e-6)
    np.testing.assert_allclose(slope, 1 - np.tanh(z.numpy()) ** 2, atol=1e-6)


@pytest.fixture
def normalized():
    model = utils.make_mlp(2, 8, "tanh", seed=1, batch_norm="before", bn_momentum=0.5)
    return model, [v.numpy() for v in model.non_trainable_variables]


def assert_unchanged(model, saved):
    for variable, value in zip(model.non_trainable_variables, saved):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_training_mode_probes_leave_moving_statistics_alone(small, normalized):
    model, saved = normalized
    utils.gradient_norms(model, small.x_train[:64], small.y_train[:64], training=True)
    assert_unchanged(model, saved)
    bn_1, = utils.layer_outputs(model, small.x_train[:64], names=["bn_1"], training=True)
    assert_unchanged(model, saved)
    np.testing.assert_allclose(bn_1.mean(axis=0), 0, atol=1e-5)  # batch statistics were used
    assert np.all((bn_1.var(axis=0) > 0.95) & (bn_1.var(axis=0) <= 1))  # σ²/(σ² + ε)
    model(small.x_train[:64], training=True)  # while a plain training-mode call does change them
    assert not np.array_equal(model.get_layer("bn_1").moving_mean.numpy(), saved[0])


def test_predict_in_training_mode_normalizes_each_batch_separately(small, normalized):
    model, saved = normalized
    x = small.x_test[:128]
    out = utils.predict_in_training_mode(model, x, batch_size=64)
    assert_unchanged(model, saved)
    expected = np.concatenate([model(x[:64], training=True).numpy(), model(x[64:], training=True).numpy()])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(out, utils.predict_in_training_mode(model, x, batch_size=2), atol=1e-3)


def test_a_validation_set_is_recorded_under_keras_names_for_callbacks(small):
    validation = (small.x_test[:64], small.y_test[:64])
    model = utils.make_mlp(2, 16, seed=3)
    stopper = tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)   # would fail without val_loss
    history = utils.train(model, small, epochs=2, seed=3, validation=validation, callbacks=[stopper])
    assert set(history) == {"loss", "accuracy", "test_loss", "test_accuracy", "val_loss", "val_accuracy"}
    assert history["val_loss"][-1] == pytest.approx(utils.evaluate(model, *validation)[0], rel=1e-6)
