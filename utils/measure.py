"""Measurements notebooks 01-03 share: run summaries, per-layer depth profiles, the backward factor,
the sign agreement of weight gradients, inactive units and elementwise timings.

Each function hides plumbing a notebook would otherwise repeat; what it measures is explained in the
notebook that uses it.
"""
import time

import numpy as np
import tensorflow as tf

from utils.models import seeded_initializer
from utils.probes import backprop_stats, gradient_norms, layer_outputs, weighted_layers
from utils.report import fmt, show_table


def final(runs, metric):
    """The last epoch's `metric` of each run, as an array: runs are histories (dicts of lists) or the
    {"model", "history"} dicts that `utils.train_seeds` returns."""
    return np.array([(run["history"] if "history" in run else run)[metric][-1] for run in runs])


def value_range(values):
    """"low – high" of some values, rounded for a table."""
    values = np.asarray(values)
    return f"{fmt(values.min())} – {fmt(values.max())}"


def show_per_seed(label, rows, seeds, digits=3):
    """A table with one row per entry of `rows` (name -> one value per seed) and one column per seed."""
    show_table([label] + [f"seed {s}" for s in seeds], [[name, *values] for name, values in rows.items()], digits)


def kernel_gradients(model, x, y, loss_fn=None):
    """d(loss)/d(kernel) of every weighted layer on the batch (x, y), as NumPy arrays, first layer first."""
    loss_fn = loss_fn or tf.keras.losses.SparseCategoricalCrossentropy()
    kernels = [layer.kernel for layer in weighted_layers(model)]
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=False))
    return [gradient.numpy() for gradient in tape.gradient(loss, kernels)]


def sign_agreement(gradient):
    """How one-signed each unit's incoming weight gradients are, averaged over the units.

    `gradient` is a kernel's gradient, (inputs, units): column j holds unit j's incoming weights. Per
    unit, the share of its entries that have the sign most of them have: 1 when all move the same
    way, about 0.5 for independent signs.
    """
    positive = np.mean(np.asarray(gradient) > 0, axis=0)
    return float(np.mean(np.maximum(positive, 1 - positive)))


def backward_factor(model, x, y, n_var):
    """The per-layer factor rho of the backward signal delta in a Dense MLP: (measured, predicted).

    Measured: the geometric-mean shrink of ||delta|| from the last hidden layer L down to layer 2,
    (||delta_2|| / ||delta_L||)^(1/(L-2)). Predicted: sqrt(n_var) * rms(phi'(z)) over layers 2..L,
    where n_var is n * Var(w) of the square hidden layers.
    """
    stats = backprop_stats(model, x, y)[:-1]   # hidden layers
    delta = np.array([s["delta_norm"] for s in stats])
    slope_rms = np.sqrt(np.mean([s["slope_rms"] ** 2 for s in stats[1:]]))
    return float((delta[1] / delta[-1]) ** (1 / (len(stats) - 2))), float(np.sqrt(n_var) * slope_rms)


def inactive_per_layer(model, x):
    """Per hidden layer: the share of its units whose output is <= 0 for every example of x."""
    return np.array([np.all(h <= 0, axis=0).mean() for h in layer_outputs(model, x)[:-1]])


def depth_profile(model, x, y, saturation=0.99):
    """Per hidden layer of a Dense MLP, on the batch (x, y), a dict of arrays:

    act_std: standard deviation of the layer's outputs (in float64; not finite once they overflowed);
    grad_rms: root mean square of d(loss)/d(kernel), ||gradient|| / sqrt(number of weights);
    max_abs: largest |output|; saturated: share of outputs with |h| > `saturation` (for tanh);
    and first_overflow: the first layer (1-based) whose outputs overflowed float32, or None.
    """
    depth = len(weighted_layers(model)) - 1
    with np.errstate(over="ignore", invalid="ignore"):   # a too-large start overflows: inf, then NaN
        outputs = layer_outputs(model, x)[:depth]
        sizes = np.array([layer.kernel.shape.num_elements() for layer in weighted_layers(model)[:depth]])
        return {"act_std": np.array([h.astype(np.float64).std() for h in outputs]),
                "grad_rms": gradient_norms(model, x, y)[:depth] / np.sqrt(sizes),
                "max_abs": np.array([np.abs(h).max() for h in outputs]),
                "saturated": np.array([np.mean(np.abs(h) > saturation) for h in outputs]),
                "first_overflow": next((i + 1 for i, h in enumerate(outputs) if np.isinf(h).any()), None)}


def reinitialize(model, kernel_initializer, seed=0):
    """Give a Dense MLP of `utils.make_mlp` the weights `make_mlp(..., kernel_initializer, seed=seed)`
    would draw, in place (zero biases), and return it: one model, many starts, built once.

    Only for plain Dense MLPs (no maxout or batch normalization).
    """
    layers = weighted_layers(model)
    for i, layer in enumerate(layers):
        initializer = seeded_initializer("glorot_uniform" if i == len(layers) - 1 else kernel_initializer,
                                         seed * 1000 + i)
        layer.kernel.assign(initializer(layer.kernel.shape))
        layer.bias.assign(tf.zeros_like(layer.bias))
    return model


def elementwise_seconds(functions, x, repeats=20):
    """The fastest of `repeats` timed forward-and-backward passes of each elementwise function on x.

    `functions` maps names to functions of a tensor. The passes are interleaved (one of each
    function per round), so that a burst of load on the machine hits every function alike, and the
    minimum is the run least disturbed by it. Returns name -> seconds.
    """
    compiled = {}
    for name, function in functions.items():
        @tf.function
        def forward_backward(v, function=function):
            with tf.GradientTape() as tape:
                tape.watch(v)
                out = function(v)
            return tape.gradient(out, v)
        forward_backward(x).numpy()   # trace once, outside the timing
        compiled[name] = forward_backward
    best = dict.fromkeys(functions, np.inf)
    for _ in range(repeats):
        for name, forward_backward in compiled.items():
            start = time.perf_counter()
            forward_backward(x).numpy()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
