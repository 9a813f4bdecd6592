"""One way to build and train the networks that notebooks compare.

Variants built with the same `seed` and the same initializer start from identical
weights, so a comparison changes only the thing under study.
"""
import math

import tensorflow as tf


def seeded_initializer(initializer, seed):
    """A copy of `initializer` (a Keras name or instance) that draws with `seed`."""
    base = tf.keras.initializers.get(initializer)
    config = base.get_config()
    if "seed" not in config:  # deterministic initializers: zeros, ones, constant, identity
        return base
    config["seed"] = seed
    return type(base).from_config(config)


def make_mlp(depth, width=64, activation="relu", kernel_initializer="he_normal", seed=0,
             input_shape=(28, 28), n_classes=10):
    """A Sequential MLP: Flatten, `depth` hidden Dense layers, a softmax output layer.

    Hidden layer i draws its kernel with seed `seed * 1000 + i` (a Keras initializer
    reused with one fixed seed would give every layer the same matrix); biases start at 0.
    """
    layers = [tf.keras.Input(shape=input_shape), tf.keras.layers.Flatten()]
    for i in range(depth):
        layers.append(tf.keras.layers.Dense(
            width, activation=activation, name=f"hidden_{i + 1}",
            kernel_initializer=seeded_initializer(kernel_initializer, seed * 1000 + i)))
    layers.append(tf.keras.layers.Dense(
        n_classes, activation="softmax", name="output",
        kernel_initializer=seeded_initializer("glorot_uniform", seed * 1000 + depth)))
    return tf.keras.Sequential(layers)


def train(model, data, epochs, optimizer="sgd", learning_rate=0.1, batch_size=64, seed=0):
    """Fit `model` on data.x_train silently and return its history as a dict of lists.

    Loss is sparse categorical cross-entropy; accuracy and the held-out (test) loss
    and accuracy are recorded after every epoch. `seed` fixes the batch order by reseeding
    Python's, NumPy's and TensorFlow's global generators.
    A whole epoch runs per call into TensorFlow (steps_per_execution), which removes most
    of Keras's per-step overhead on small models and gives the same numbers.
    """
    model.compile(
        optimizer=tf.keras.optimizers.get({"class_name": optimizer,
                                           "config": {"learning_rate": learning_rate}}),
        loss="sparse_categorical_crossentropy", metrics=["accuracy"],
        steps_per_execution=math.ceil(len(data.x_train) / batch_size))
    tf.keras.utils.set_random_seed(seed)
    history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size,
                        validation_data=(data.x_test, data.y_test), verbose=0)
    return history.history
