"""Per-layer probes: gradient norms and activation statistics of a Sequential model.

Probes never change the model: those that run it in training mode (batch statistics,
dropout) restore its moving statistics and random-generator state afterwards.
"""
import contextlib

import numpy as np
import tensorflow as tf


@contextlib.contextmanager
def unchanged_state(model):
    """Restore `model`'s non-trainable variables (moving statistics, seed states) on exit.

    In Keras every call with training=True updates batch normalization's moving
    statistics, even outside `fit`; a probe must not.
    """
    saved = [v.numpy() for v in model.non_trainable_variables]
    try:
        yield
    finally:
        for variable, value in zip(model.non_trainable_variables, saved):
            variable.assign(value)


def value_and_derivative(activation, z):
    """An elementwise activation's values and derivatives at the points `z` (a float tensor).

    `tape.gradient` of a vector returns the gradient of its sum; because each output depends
    only on its own input, that is the derivative at each point.
    """
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = activation(z)
    return out.numpy(), tape.gradient(out, z).numpy()


def weighted_layers(model):
    """The layers of `model` that have a kernel (Dense and the like), in order."""
    return [layer for layer in model.layers if hasattr(layer, "kernel")]


def gradient_norms(model, x, y, loss_fn=None, training=False):
    """L2 norm of d(loss)/d(kernel) for each weighted layer, first to last, on one batch.

    The loss defaults to sparse categorical cross-entropy on the model's probabilities.
    `training=True` runs dropout and batch normalization as during fitting.
    """
    loss_fn = loss_fn or tf.keras.losses.SparseCategoricalCrossentropy()
    kernels = [layer.kernel for layer in weighted_layers(model)]
    with unchanged_state(model), tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=training))
    grads = tape.gradient(loss, kernels)
    return np.array([float(tf.norm(g)) for g in grads])


def backprop_stats(model, x, y, loss_fn=None):
    """Per weighted layer, on one batch: the backward signal and the activation's slope.

    Returns a list of dicts with
      delta_norm: L2 norm of dL/dz, the gradient at the layer's pre-activation
                  z = h W + b (called delta in backpropagation);
      slope_rms:  root mean square of the activation's derivative phi'(z) over the batch
                  (None for a softmax layer, whose activation is not elementwise).
    Computed with GradientTape through an explicit forward pass over a Sequential model
    whose weighted layers are Dense layers.
    """
    weighted = set(map(id, weighted_layers(model)))
    loss_fn = loss_fn or tf.keras.losses.SparseCategoricalCrossentropy()
    zs, slopes = [], []
    with tf.GradientTape() as tape:
        h = tf.convert_to_tensor(x)
        for layer in model.layers:
            if id(layer) not in weighted:
                h = layer(h, training=False)
                continue
            z = tf.matmul(h, layer.kernel) + layer.bias
            with tf.GradientTape() as inner:
                inner.watch(z)
                h = layer.activation(z)
            slopes.append(inner.gradient(h, z))  # elementwise activation: the derivative
            zs.append(z)
        loss = loss_fn(y, h)
    deltas = tape.gradient(loss, zs)
    softmax = [layer.activation is tf.keras.activations.softmax for layer in weighted_layers(model)]
    return [{"delta_norm": float(tf.norm(delta)),
             "slope_rms": None if is_softmax else float(tf.sqrt(tf.reduce_mean(tf.square(slope))))}
            for delta, slope, is_softmax in zip(deltas, slopes, softmax)]


def layer_outputs(model, x, names=None, training=False):
    """Outputs of a Sequential model's layers on `x`, as NumPy arrays, in order.

    By default the output of every weighted layer; with `names`, of the layers so named.
    `training=True` uses batch statistics and dropout, leaving the model unchanged.
    """
    wanted = set(names) if names is not None else set(map(id, weighted_layers(model)))
    outputs, h = [], tf.convert_to_tensor(x)
    with unchanged_state(model):
        for layer in model.layers:
            h = layer(h, training=training)
            if (layer.name if names is not None else id(layer)) in wanted:
                outputs.append(h.numpy())
    return outputs


def predict_in_training_mode(model, x, batch_size=64):
    """The model's outputs on `x` with training=True, `batch_size` examples at a time.

    Shows what batch statistics do to a prediction; the model is left unchanged.
    """
    forward = tf.function(lambda batch: model(batch, training=True),
                          input_signature=[tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)])
    with unchanged_state(model):
        return np.concatenate([forward(x[i:i + batch_size]).numpy() for i in range(0, len(x), batch_size)])


def activation_stats(model, x, include_output=False):
    """Per hidden layer on batch `x`: statistics of its outputs, as a list of dicts.

    mean, std: over all units and examples. spread: how much outputs still depend on the
    input, the std across examples averaged over units. zero_fraction: share of outputs
    exactly 0. dead_fraction: share of units whose output is exactly 0 for every example
    (for ReLU their gradient is then 0 for all of them too).
    """
    outputs = layer_outputs(model, x)
    if not include_output:
        outputs = outputs[:-1]
    return [{"mean": float(a.mean()), "std": float(a.std()), "spread": float(a.std(axis=0).mean()),
             "zero_fraction": float(np.mean(a == 0)),
             "dead_fraction": float(np.mean(np.all(a == 0, axis=0)))}
            for a in outputs]
