"""Very deep MLPs with and without identity shortcuts, from the same seeded weights as `utils.make_mlp`.

Written in pre-activation form, the network of `make_mlp(depth, ...)` is z_1 = W_1 x and
z_l = W_l phi(z_{l-1}) + b_l for l = 2..depth, with the softmax layer on phi(z_depth). A residual
block adds an identity shortcut around each step: z_l = z_{l-1} + W_l phi(z_{l-1}) + b_l. With
batch normalization ("before", as in make_mlp) each step normalizes first:
W_l phi(BN(z_{l-1})), and the head is phi(BN(z_depth)).
"""
import tensorflow as tf

from utils.models import seeded_initializer


class ResidualBlock(tf.keras.layers.Layer):
    """One step of a deep MLP on pre-activations: z + Dense(activation(BN(z))).

    `batch_norm=False` leaves BN out (the Dense layer then has a bias); `residual=False` leaves the
    shortcut out, which gives one ordinary layer of `make_mlp`'s network. The Dense sub-layer is
    `self.dense`, the BatchNormalization one `self.norm` (None without).
    """

    def __init__(self, width, kernel_initializer="he_normal", activation="relu", batch_norm=False,
                 residual=True, bn_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.residual = residual
        self.activation = tf.keras.activations.get(activation)
        self.norm = tf.keras.layers.BatchNormalization(momentum=bn_momentum, name="bn") if batch_norm else None
        self.dense = tf.keras.layers.Dense(width, use_bias=not batch_norm, kernel_initializer=kernel_initializer,
                                           name="dense")

    def build(self, input_shape):
        if self.norm is not None:
            self.norm.build(input_shape)
        self.dense.build(input_shape)

    def call(self, z, training=None):
        u = z if self.norm is None else self.norm(z, training=training)
        out = self.dense(self.activation(u))
        return z + out if self.residual else out


def make_residual_mlp(depth, width=32, activation="relu", kernel_initializer="he_normal", seed=0,
                      residual=True, batch_norm=None, bn_momentum=0.99, input_shape=(28, 28), n_classes=10):
    """`utils.make_mlp`'s network with an identity shortcut around each of layers 2..depth.

    Layers: flatten, hidden_1 (Dense, linear: z_1), block_2 ... block_depth (`ResidualBlock`s), then
    bn_depth (with batch_norm="before"), act_depth and output. Kernels are drawn exactly as make_mlp
    draws them for the same `seed`, so with residual=False the network computes make_mlp's function
    (with batch_norm="before", make_mlp's batch-normalized one), and every variant of a comparison
    starts from the same weights.
    """
    if batch_norm not in (None, "before"):
        raise ValueError(f"batch_norm must be None or 'before', got {batch_norm!r}")
    layers = tf.keras.layers
    stack = [tf.keras.Input(shape=input_shape), layers.Flatten(name="flatten"),
             layers.Dense(width, use_bias=not batch_norm, name="hidden_1",
                          kernel_initializer=seeded_initializer(kernel_initializer, seed * 1000))]
    for i in range(2, depth + 1):
        stack.append(ResidualBlock(width, seeded_initializer(kernel_initializer, seed * 1000 + i - 1), activation,
                                   bool(batch_norm), residual, bn_momentum, name=f"block_{i}"))
    if batch_norm:
        stack.append(layers.BatchNormalization(momentum=bn_momentum, name=f"bn_{depth}"))
    stack += [layers.Activation(activation, name=f"act_{depth}"),
              layers.Dense(n_classes, activation="softmax", name="output",
                           kernel_initializer=seeded_initializer("glorot_uniform", seed * 1000 + depth))]
    return tf.keras.Sequential(stack)
