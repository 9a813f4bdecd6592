"""Probes of how a signal passes through a `make_mlp` network, layer by layer, and a callback
that runs a probe during training.

Used by notebook 05 (batch normalization): what enters each non-linearity, how batch normalization
rescales it, and how that shows up in the backward signal. Like `utils.probes`, nothing here
changes the model: training-mode passes restore the moving statistics afterwards.
"""
import numpy as np
import tensorflow as tf

from utils.probes import layer_outputs, unchanged_state


def layer_signals(model, x, y, training=True, loss_fn=None):
    """Per hidden layer of a `make_mlp` network (plain, or with batch_norm="before"), on one batch:
    how the forward and the backward signal pass through it. A list of dicts with

      spread:     std over the batch of the activation's input z, averaged over units: for a plain
                  layer z = hW + b; with batch normalization before the activation, its output;
      slope_rms:  root mean square of the activation's derivative phi'(z);
      gain:       root mean square over units of batch normalization's factor
                  gamma / sqrt(var_B + eps), which multiplies the signal forward and backward
                  (1.0 for a layer without batch normalization);
      delta_norm: L2 norm of dL/du, the gradient at the Dense layer's output u = hW (+ b).

    `training=True` normalizes with the batch's statistics, as in a training step.
    """
    loss_fn = loss_fn or tf.keras.losses.SparseCategoricalCrossentropy()
    us, stats = [], []
    with unchanged_state(model), tf.GradientTape() as tape:
        h = tf.convert_to_tensor(x)
        for layer in model.layers:
            if layer.name.startswith("hidden_"):
                u = tf.matmul(h, layer.kernel) + (layer.bias if layer.use_bias else 0.0)
                us.append(u)
                stats.append({"gain": 1.0})
                linear = layer.activation is tf.keras.activations.linear
                h = u if linear else _activate(layer.activation, u, stats[-1])
            elif isinstance(layer, tf.keras.layers.BatchNormalization):
                factor = layer.gamma / tf.sqrt(tf.math.reduce_variance(h, axis=0) + layer.epsilon)
                stats[-1]["gain"] = float(tf.sqrt(tf.reduce_mean(tf.square(factor))))
                h = layer(h, training=training)
            elif isinstance(layer, tf.keras.layers.Activation) and stats:
                h = _activate(layer.activation, h, stats[-1])
            else:
                h = layer(h, training=training)
        loss = loss_fn(y, h)
    for record, delta in zip(stats, tape.gradient(loss, us)):
        record["delta_norm"] = float(tf.norm(delta))
    return stats


def _activate(activation, z, record):
    """phi(z), recording in `record` the spread of z and the rms of phi'(z)."""
    with tf.GradientTape() as inner:
        inner.watch(z)
        h = activation(z)
    slope = inner.gradient(h, z)
    record["spread"] = float(tf.reduce_mean(tf.math.reduce_std(z, axis=0)))
    record["slope_rms"] = float(tf.sqrt(tf.reduce_mean(tf.square(slope))))
    return h


def dense_preactivation(model, x, name, training=True):
    """u = hW + b of the Dense layer `name` on `x`, as a NumPy array: what it computes before any
    activation or normalization (batch statistics below it with `training=True`)."""
    layer = model.get_layer(name)
    below = model.layers[model.layers.index(layer) - 1]
    h, = layer_outputs(model, x, names=[below.name], training=training)
    u = h @ layer.kernel.numpy()
    return u + layer.bias.numpy() if layer.use_bias else u


class EpochProbe(tf.keras.callbacks.Callback):
    """Runs `probe(model)` at the start of training and after every epoch, one list per run.

    Passed to `utils.train_models`, which trains its runs one after another: `results[k]` holds
    run k's values, in order. With `runs` (a set of run indices) only those runs are probed
    (the others get an empty list), which saves time when a probe is needed for a few runs only.
    """

    def __init__(self, probe, runs=None):
        super().__init__()
        self.probe, self.runs, self.results = probe, runs, []

    def _active(self):
        return self.runs is None or len(self.results) - 1 in self.runs

    def on_train_begin(self, logs=None):
        self.results.append([])
        if self._active():
            self.results[-1].append(self.probe(self.model))

    def on_epoch_end(self, epoch, logs=None):
        if self._active():
            self.results[-1].append(self.probe(self.model))



def training_mode_accuracy(model, x, y, batch_sizes=(64,)):
    """Accuracy of `model` on (x, y) run in training mode, `batch_size` examples at a time, for each
    of `batch_sizes`: what batch statistics do to a prediction. The model is left unchanged."""
    forward = tf.function(lambda batch: model(batch, training=True),
                          input_signature=[tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)])
    accuracies = []
    with unchanged_state(model):
        for size in batch_sizes:
            outputs = [forward(x[i:i + size]).numpy() for i in range(0, len(x), size)]
            accuracies.append(float(np.mean(np.concatenate(outputs).argmax(axis=1) == y)))
    return accuracies
