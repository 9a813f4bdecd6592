"""A plain TensorFlow training loop for many short runs of one small architecture.

`utils.train_models` runs each model through Keras's `fit`, which costs about 0.2 s per run
before the first step (data pipeline, callbacks) and a forward pass per epoch for the held-out
metrics. For a sweep of a hundred runs of 50 steps that set-up is most of the time.
`train_many` trains the same way (the model's loss, `model.losses`, the Keras optimizer with
its weight decay and constraints, training-mode layers) in a loop of its own, traced once.
"""
import numpy as np
import tensorflow as tf

from utils.models import make_optimizer, per_model


def _orders(n, epochs, seed):
    """The order of the examples in each epoch: a fresh permutation per epoch from the run's seed."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


def train_many(models, data, epochs, seeds=0, optimizer="sgd", learning_rate=0.1, batch_size=64,
               validation=None, every_epoch=True):
    """Train each of `models` (one architecture) in place; returns one history per model.

    The arguments mean what they mean for `utils.train_models`, and so do the history's keys:
    training `loss` (with the penalties of `model.losses`, as Keras reports it) and `accuracy`,
    averaged over the epoch's examples; `test_loss` and `test_accuracy` on data.x_test; with
    `validation=(x, y)` also `val_loss` and `val_accuracy`. With `every_epoch=False` the held-out
    metrics are measured after the last epoch only (each list then has one entry).

    Differences from `train_models`: the batch order of a run comes from NumPy's generator seeded
    with its seed, so results differ from Keras's `fit` in every digit that training moves; there
    are no callbacks. What it shares: each run starts from its model's own variables (weights,
    moving statistics, random-layer generator states) with a fresh optimizer state, and the
    training step is traced once for all runs.
    """
    count = len(models)
    seeds, rates = per_model(count, seeds, learning_rate)
    runner = models[0]
    for model in models[1:]:
        if [v.shape for v in model.variables] != [v.shape for v in runner.variables]:
            raise ValueError(f"{model.name} does not have the architecture of {runner.name}")
    starts = [[v.numpy() for v in model.variables] for model in models]
    opt = make_optimizer(optimizer, rates[0])
    opt.build(runner.trainable_variables)
    fresh_optimizer_state = [v.numpy() for v in opt.variables]
    x_train = tf.constant(data.x_train)
    y_train = tf.constant(data.y_train, dtype=tf.int32)
    held_out = {"test": (tf.constant(data.x_test), tf.constant(data.y_test, dtype=tf.int32))}
    if validation is not None:
        held_out["val"] = (tf.constant(validation[0]), tf.constant(validation[1], dtype=tf.int32))

    def step(indices):
        x, y = tf.gather(x_train, indices), tf.gather(y_train, indices)
        with tf.GradientTape() as tape:
            probabilities = runner(x, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, probabilities))
            if runner.losses:
                loss = loss + tf.add_n(runner.losses)
        variables = runner.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        hits = tf.equal(tf.argmax(probabilities, axis=1, output_type=tf.int32), y)
        return loss * tf.cast(tf.size(indices), tf.float32), tf.reduce_sum(tf.cast(hits, tf.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)])
    def epoch(full_batches, rest):
        """One epoch: every full batch in order, then the smaller last one; summed loss and hits."""
        total_loss, total_hits = tf.constant(0.0), tf.constant(0.0)
        for b in tf.range(tf.shape(full_batches)[0]):
            loss, hits = step(full_batches[b])
            total_loss, total_hits = total_loss + loss, total_hits + hits
        if tf.size(rest) > 0:
            loss, hits = step(rest)
            total_loss, total_hits = total_loss + loss, total_hits + hits
        return total_loss, total_hits

    @tf.function
    def measure(x, y):
        probabilities = runner(x, training=False)
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, probabilities))
        hits = tf.equal(tf.argmax(probabilities, axis=1, output_type=tf.int32), y)
        return loss, tf.reduce_mean(tf.cast(hits, tf.float32))

    n = len(data.x_train)
    histories, results = [], []
    for start, seed, rate in zip(starts, seeds, rates):
        for variable, value in zip(runner.variables, start):
            variable.assign(value)
        for variable, value in zip(opt.variables, fresh_optimizer_state):
            variable.assign(value)
        opt.learning_rate.assign(rate)
        history = {"loss": [], "accuracy": []}
        for order in _orders(n, epochs, seed):
            full = n // batch_size * batch_size
            total_loss, total_hits = epoch(tf.constant(order[:full].reshape(-1, batch_size), dtype=tf.int32),
                                           tf.constant(order[full:], dtype=tf.int32))
            history["loss"].append(float(total_loss) / n)
            history["accuracy"].append(float(total_hits) / n)
            if every_epoch or len(history["loss"]) == epochs:
                for prefix, (x, y) in held_out.items():
                    loss, accuracy = measure(x, y)
                    history.setdefault(f"{prefix}_loss", []).append(float(loss))
                    history.setdefault(f"{prefix}_accuracy", []).append(float(accuracy))
        histories.append(history)
        results.append([v.numpy() for v in runner.variables])
    for model, result in zip(models, results):
        for variable, value in zip(model.variables, result):
            variable.assign(value)
    return histories
