"""One way to build and train the networks that notebooks compare.

Variants built with the same `seed` and the same initializer start from identical
weights, so a comparison changes only the thing under study.
"""
import math

import tensorflow as tf

from utils.layers import Maxout


def seeded_initializer(initializer, seed):
    """A copy of `initializer` (a Keras name or instance) that draws with `seed`."""
    base = tf.keras.initializers.get(initializer)
    config = base.get_config()
    if "seed" not in config:  # deterministic initializers: zeros, ones, constant, identity
        return base
    config["seed"] = seed
    return type(base).from_config(config)


def make_mlp(depth, width=64, activation="relu", kernel_initializer="he_normal", seed=0,
             input_shape=(28, 28), n_classes=10, bias_initializer="zeros", dropout=0.0,
             batch_norm=None, bn_momentum=0.99, kernel_regularizer=None, kernel_constraint=None,
             augmentation=()):
    """A Sequential MLP: Flatten, `depth` hidden Dense layers, a softmax output layer.

    `activation` is any Keras activation (name or callable), or "maxout" for
    utils.Maxout layers of 2 pieces. With `dropout` > 0, a Dropout layer of that rate
    follows every hidden layer (named dropout_1, ...); it has no weights, so the
    initial weights are the same as without it.

    `batch_norm="before"` puts a BatchNormalization layer (bn_1, ...) between each hidden
    Dense layer and its activation (act_1, ...), and drops that Dense layer's bias, which
    the normalization would cancel (its shift β replaces it). `batch_norm="after"` puts it
    after the activation. Kernels are drawn as without batch normalization. `bn_momentum`
    is the weight of the old value in the moving statistics' update (Keras's default 0.99).

    `kernel_regularizer` (e.g. tf.keras.regularizers.L2(1e-4)) applies to every Dense
    kernel, the output layer's too; `kernel_constraint` (e.g. MaxNorm(3)) to the hidden
    ones. `augmentation` is a sequence of Keras preprocessing layers (RandomRotation, ...)
    applied to each image, as (28, 28, 1), before Flatten; they act only in training.

    Hidden layer i draws its kernel with seed `seed * 1000 + i` (a Keras initializer
    reused with one fixed seed would give every layer the same matrix). Hidden biases start
    from `bias_initializer` (zeros by default), the output layer's at 0.
    """
    if batch_norm not in (None, "before", "after") or (batch_norm and activation == "maxout"):
        raise ValueError(f"batch_norm must be None, 'before' or 'after' (not with maxout), got {batch_norm!r}")
    layers = [tf.keras.Input(shape=input_shape)]
    if augmentation:
        layers += [tf.keras.layers.Reshape((*input_shape, 1), name="as_image"), *augmentation]
    layers.append(tf.keras.layers.Flatten(name="flatten"))
    for i in range(depth):
        kernel = seeded_initializer(kernel_initializer, seed * 1000 + i)
        if activation == "maxout":
            layers.append(Maxout(width, pieces=2, kernel_initializer=kernel,
                                 bias_initializer=bias_initializer, name=f"hidden_{i + 1}"))
        elif batch_norm == "before":
            layers += [tf.keras.layers.Dense(width, use_bias=False, name=f"hidden_{i + 1}",
                                             kernel_initializer=kernel, kernel_regularizer=kernel_regularizer,
                                             kernel_constraint=kernel_constraint),
                       tf.keras.layers.BatchNormalization(momentum=bn_momentum, name=f"bn_{i + 1}"),
                       tf.keras.layers.Activation(activation, name=f"act_{i + 1}")]
        else:
            layers.append(tf.keras.layers.Dense(width, activation=activation, name=f"hidden_{i + 1}",
                                                kernel_initializer=kernel,
                                                bias_initializer=bias_initializer,
                                                kernel_regularizer=kernel_regularizer,
                                                kernel_constraint=kernel_constraint))
        if batch_norm == "after":
            layers.append(tf.keras.layers.BatchNormalization(momentum=bn_momentum, name=f"bn_{i + 1}"))
        if dropout:
            layers.append(tf.keras.layers.Dropout(dropout, seed=seed * 1000 + 500 + i,
                                                  name=f"dropout_{i + 1}"))
    layers.append(tf.keras.layers.Dense(
        n_classes, activation="softmax", name="output", kernel_regularizer=kernel_regularizer,
        kernel_initializer=seeded_initializer("glorot_uniform", seed * 1000 + depth)))
    return tf.keras.Sequential(layers)


def make_optimizer(optimizer, learning_rate):
    """A Keras optimizer from a name ("adam") or a {"class_name", "config"} dict, at `learning_rate`."""
    spec = {"class_name": optimizer} if isinstance(optimizer, str) else dict(optimizer)
    spec["config"] = {**spec.get("config", {}), "learning_rate": learning_rate}
    return tf.keras.optimizers.get(spec)


def _compile(model, optimizer, learning_rate, data, batch_size):
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss="sparse_categorical_crossentropy", metrics=["accuracy"],
        steps_per_execution=math.ceil(len(data.x_train) / batch_size))


def evaluate(model, x, y):
    """Cross-entropy loss and accuracy of `model` on (x, y) in inference mode, as floats.

    One forward pass with training=False, so dropout is off; unlike the training loss
    that fit reports, which is averaged over an epoch with dropout on.
    """
    probabilities = model(tf.convert_to_tensor(x), training=False)
    labels = tf.convert_to_tensor(y, dtype=tf.int32)
    loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, probabilities))
    hits = tf.equal(tf.argmax(probabilities, axis=1, output_type=tf.int32), labels)
    return float(loss), float(tf.reduce_mean(tf.cast(hits, tf.float32)))


class _HeldOutMetrics(tf.keras.callbacks.Callback):
    """Adds `{prefix}_loss` and `{prefix}_accuracy` to each epoch's logs from one forward pass.

    The same numbers as fit's validation_data, at about a third of its per-epoch cost,
    which dominates when a small model trains for many short epochs.
    """

    def __init__(self, prefix, x, y):
        super().__init__()
        self.prefix, self.x, self.y = prefix, tf.constant(x), tf.constant(y, dtype=tf.int32)

    def on_epoch_end(self, epoch, logs=None):
        logs[f"{self.prefix}_loss"], logs[f"{self.prefix}_accuracy"] = evaluate(self.model, self.x, self.y)


def _fit(model, data, epochs, batch_size, seed, callbacks, validation=None):
    tf.keras.utils.set_random_seed(seed)
    held_out = [_HeldOutMetrics("test", data.x_test, data.y_test)]
    if validation is not None:   # first, so that callbacks such as EarlyStopping see val_loss
        held_out.insert(0, _HeldOutMetrics("val", *validation))
    history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size,
                        callbacks=[*held_out, *callbacks], verbose=0)
    return history.history


def train(model, data, epochs, optimizer="sgd", learning_rate=0.1, batch_size=64, seed=0,
          callbacks=(), validation=None):
    """Fit `model` on data.x_train silently and return its history as a dict of lists.

    `optimizer` is a Keras name ("sgd", "adam", ...) or a dict such as
    {"class_name": "SGD", "config": {"momentum": 0.9}}.
    Loss is sparse categorical cross-entropy. After every epoch the history records the
    training `loss` and `accuracy` (averaged over the epoch's batches, as Keras does), the
    `test_loss` and `test_accuracy` on data.x_test (one forward pass in inference mode),
    with `validation=(x, y)` also `val_loss` and `val_accuracy` (Keras's names, which
    callbacks such as EarlyStopping watch), and anything `callbacks` add to the logs.
    `seed` fixes the batch order by reseeding Python's, NumPy's and TensorFlow's global
    generators. A whole epoch runs per call into TensorFlow
    (steps_per_execution), which removes most of Keras's per-step overhead on small
    models and gives the same numbers.
    """
    _compile(model, optimizer, learning_rate, data, batch_size)
    return _fit(model, data, epochs, batch_size, seed, callbacks, validation)


def train_models(models, data, epochs, seeds=0, optimizer="sgd", learning_rate=0.1, batch_size=64,
                 callbacks=(), validation=None):
    """Train each of `models` (one architecture) in place, as `train` would; returns the histories.

    `seeds` (one int, or one per model) fixes each run's batch order; `learning_rate` is one
    float or one per model. Same results as calling `train` per model, faster: TensorFlow
    traces the training step once, on the first model, and every run reuses it with the
    model's own starting variables (weights, moving statistics, dropout generator state),
    a fresh optimizer state and its learning rate. Models must not share layers.
    """
    count = len(models)
    seeds, rates = per_model(count, seeds, learning_rate)
    runner = models[0]  # compiled and traced once; every run borrows it
    for model in models[1:]:
        if [v.shape for v in model.variables] != [v.shape for v in runner.variables]:
            raise ValueError(f"{model.name} does not have the architecture of {runner.name}")
    starts = [[v.numpy() for v in model.variables] for model in models]
    _compile(runner, optimizer, rates[0], data, batch_size)
    runner.optimizer.build(runner.trainable_variables)
    fresh_optimizer_state = [v.numpy() for v in runner.optimizer.variables]
    histories, results = [], []
    for start, seed, rate in zip(starts, seeds, rates):
        for variable, value in zip(runner.variables, start):
            variable.assign(value)
        for variable, value in zip(runner.optimizer.variables, fresh_optimizer_state):
            variable.assign(value)
        runner.optimizer.learning_rate.assign(rate)
        histories.append(_fit(runner, data, epochs, batch_size, seed, callbacks, validation))
        results.append([v.numpy() for v in runner.variables])
    for model, result in zip(models, results):
        for variable, value in zip(model.variables, result):
            variable.assign(value)
    return histories


def train_seeds(build, data, seeds, epochs, optimizer="sgd", learning_rate=0.1, batch_size=64,
                callbacks=(), validation=None):
    """Train `build(seed)` for each seed, as `train` would; returns [{"model", "history"}].

    The seed sets both the initial weights and the batch order; `build` must return the
    same architecture for every seed. Runs through `train_models`, tracing once.
    """
    models = [build(seed) for seed in seeds]
    histories = train_models(models, data, epochs, list(seeds), optimizer, learning_rate, batch_size,
                             callbacks, validation)
    return [{"model": model, "history": history} for model, history in zip(models, histories)]


def per_model(count, seeds, learning_rate):
    """One seed and one learning rate per model: a single value is repeated, lists must have `count` items."""
    seeds = list(seeds) if isinstance(seeds, (list, tuple, range)) else [seeds] * count
    rates = list(learning_rate) if isinstance(learning_rate, (list, tuple)) else [learning_rate] * count
    if len(seeds) != count or len(rates) != count:
        raise ValueError(f"{count} models need {count} seeds and learning rates, "
                         f"got {len(seeds)} and {len(rates)}")
    return seeds, rates
