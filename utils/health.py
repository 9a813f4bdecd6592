"""Training health: what to watch while a network trains.

`HealthProbe` is a Keras callback. At every training step it records the step's training loss and,
for every kernel, the update-to-data ratio ||W_after - W_before|| / ||W_before||. Every `every`
steps, and before the first and after the last, it measures on a fixed probe batch each hidden
layer's activation statistics (`utils.activation_stats`) and each kernel's gradient norm
(`utils.gradient_norms`). `train_watched` trains a model with one watching, one step per call into
TensorFlow so that the callback sees every step.

`signal_per_block` measures, for any Sequential model (residual blocks included), the size of each
hidden layer's or block's output going forward, of the loss gradient with respect to it going
backward, and how alike the outputs of different examples are.
"""
import numpy as np
import tensorflow as tf

from utils import models
from utils.probes import activation_stats, gradient_norms, layer_outputs, unchanged_state

PROBED = ("gradient_norm", "dead_fraction", "std", "spread")   # recorded at each probe


def kernels(model):
    """Every kernel variable of `model`, nested layers included, first to last."""
    return [v for v in model.trainable_variables if v.path.split("/")[-1] == "kernel"]


def update_ratios(before, after):
    """||after - before|| / ||before|| for each pair of arrays (one pair per kernel)."""
    with np.errstate(divide="ignore", invalid="ignore"):   # an all-zero kernel gives inf (or nan)
        return np.array([np.linalg.norm(a - b) / np.linalg.norm(b) for b, a in zip(before, after)])


class HealthProbe(tf.keras.callbacks.Callback):
    """Records a network's training health (see the module's docstring).

    After training, as NumPy arrays: `loss` (one per step) and `update_ratio` (steps x kernels, the
    output layer last); with `every` > 0 also `probed_at` (the steps after which the probe batch
    (x, y) was measured; 0 is before training), `gradient_norm` (probes x kernels), and
    `dead_fraction`, `std`, `spread` (probes x hidden layers, as `utils.activation_stats` defines
    them), and `first_outputs` / `last_outputs`: each hidden layer's outputs on the probe batch
    before and after training, for histograms. The per-layer probes need a model whose layers carry
    their kernels (`utils.make_mlp`'s); `every=0` records only the loss and the update ratios, for
    any model. Use it through `train_watched`, which runs one step per execution.
    """

    def __init__(self, x, y, every=10):
        super().__init__()
        self.x, self.y, self.every = x, y, every
        self.epoch_size, self.batch_size = None, None   # set by train_watched

    def _probe(self):
        self.probed_at.append(self._step)
        self.gradient_norm.append(gradient_norms(self.model, self.x, self.y))
        stats = activation_stats(self.model, self.x)
        for key in PROBED[1:]:
            getattr(self, key).append([layer[key] for layer in stats])

    def on_train_begin(self, logs=None):
        self.loss, self.update_ratio, self.probed_at = [], [], []
        for key in PROBED:
            setattr(self, key, [])
        self._step = 0
        if self.every:
            self.first_outputs = layer_outputs(self.model, self.x)[:-1]
            self._probe()

    def on_epoch_begin(self, epoch, logs=None):
        self._seen, self._total = 0, 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._before = [k.numpy() for k in kernels(self.model)]

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        self.update_ratio.append(update_ratios(self._before, [k.numpy() for k in kernels(self.model)]))
        # Keras logs the mean loss of the epoch so far, weighted by examples: recover this step's.
        size = min(self.batch_size, self.epoch_size - self._seen)
        total = float(logs["loss"]) * (self._seen + size)
        self.loss.append((total - self._total) / size)
        self._seen, self._total = self._seen + size, total
        if self.every and self._step % self.every == 0:
            self._probe()

    def on_train_end(self, logs=None):
        if self.every:
            if self.probed_at[-1] != self._step:
                self._probe()
            self.last_outputs = layer_outputs(self.model, self.x)[:-1]
        for key in ("loss", "update_ratio", "probed_at", *PROBED):
            setattr(self, key, np.array(getattr(self, key)))


def train_watched(model, data, epochs, probe, optimizer="sgd", learning_rate=0.1, batch_size=64, seed=0):
    """Train like `utils.train`, with `probe` (a HealthProbe) watching every step; returns the history.

    `learning_rate` may also be a Keras schedule. The history has `loss` and `accuracy` (training)
    and `test_loss` and `test_accuracy` (held out) per epoch, as `utils.train` records them.
    """
    model.compile(optimizer=models.make_optimizer(optimizer, learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    probe.epoch_size, probe.batch_size = len(data.x_train), batch_size
    return models._fit(model, data, epochs, batch_size, seed, [probe])


def signal_per_block(model, x, y, training=False):
    """Forward and backward signal at each hidden layer or block of a Sequential model, on batch (x, y).

    Returns a dict of arrays, one value per layer named hidden_* or block_* (first to last):
      rms:       root mean square of its output;
      grad_norm: L2 norm of d(loss)/d(output), the backward signal there (sparse categorical
                 cross-entropy on the model's probabilities);
      cosine:    mean cosine similarity between the outputs of two different examples (1 when the
                 layer maps every input to the same direction);
    and "loss", the loss on the batch (a float).
    `training=True` uses batch statistics, as during fitting; the model is left unchanged.
    """
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    outputs = []
    with unchanged_state(model), tf.GradientTape() as tape:
        h = tf.convert_to_tensor(x)
        for layer in model.layers:
            h = layer(h, training=training)
            if layer.name.startswith(("hidden_", "block_")):
                outputs.append(h)
        loss = loss_fn(y, h)
    grads = tape.gradient(loss, outputs)
    n = len(x)

    def cosine(a):
        unit = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)
        return float(((unit @ unit.T).sum() - np.trace(unit @ unit.T)) / (n * (n - 1)))

    return {"rms": np.array([float(tf.sqrt(tf.reduce_mean(tf.square(o)))) for o in outputs]),
            "grad_norm": np.array([float(tf.norm(g)) for g in grads]),
            "cosine": np.array([cosine(o.numpy().astype(np.float64)) for o in outputs]),
            "loss": float(loss)}
