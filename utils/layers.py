"""Layers the course needs that Keras does not ship."""
import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="course")
class Maxout(tf.keras.layers.Layer):
    """Maxout (Goodfellow et al., 2013): each output unit is the largest of `pieces` affine
    functions of the input, max_k (x W_k + b_k). With 2 pieces it can learn ReLU
    (max(z, 0)), leaky ReLU or |z|; it has `pieces` times the weights of a Dense layer.

    Column j * pieces + k of the kernel is piece k of unit j.
    """

    def __init__(self, units, pieces=2, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if units < 1 or pieces < 1:
            raise ValueError(f"units and pieces must be positive; got {units} and {pieces}")
        self.units, self.pieces = units, pieces
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.bias_initializer = tf.keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units * self.pieces),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.units * self.pieces,),
                                    initializer=self.bias_initializer)

    def call(self, inputs):
        z = tf.matmul(inputs, self.kernel) + self.bias
        z = tf.reshape(z, tf.concat([tf.shape(z)[:-1], [self.units, self.pieces]], axis=0))
        return tf.reduce_max(z, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces,
                "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": tf.keras.initializers.serialize(self.bias_initializer)}
