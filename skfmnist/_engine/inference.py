"""Prediction-time form of a network: batch normalisation folded into convolutions.

At inference a batch normalisation layer is a fixed affine map per channel,
so after a convolution it can be folded into the convolution's kernel and
bias. On the CPU this matters more than its arithmetic suggests: the
normalisation reads and writes the whole full-resolution activation map
(a gigabyte for 10,000 images after the first 32-filter layer), while the
folded kernel costs one multiply per weight.

For the same reason the layers up to the first pooling layer (the "stem")
run over slices of ``STEM_ROWS`` images, so that their full-resolution
activation maps stay in the processor's cache instead of making a round trip
through memory between every two layers. ``benchmarks/bench_conv.py --only
predict`` times the result against Keras' own ``model.predict``.
"""

from .runtime import import_keras

#: Images per slice of the stem: 128 x 28 x 28 x 32 float32 is 12.8 MB.
STEM_ROWS = 128


def _folded(conv, bn):
    """Kernel and bias of ``bn(conv(x))`` with ``bn`` in inference mode."""
    ops = import_keras().ops
    scale = ops.rsqrt(bn.moving_variance + bn.epsilon)
    if bn.gamma is not None:
        scale = scale * bn.gamma
    bias = -bn.moving_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    if bn.beta is not None:
        bias = bias + bn.beta
    return conv.kernel * scale, bias


def _foldable(layer, following):
    keras = import_keras()
    return (
        type(layer) is keras.layers.Conv2D
        and layer.activation is keras.activations.linear
        and type(following) is keras.layers.BatchNormalization
        and following.axis in (-1, 3)
        and layer.data_format == "channels_last"
    )


def inference_network(model):
    """``X -> probabilities`` of a chain-shaped ``model``, with folded BN.

    Each ``Conv2D`` (linear, channels-last) directly followed by a
    ``BatchNormalization`` runs as one convolution whose kernel and bias are
    computed from the current variables on every call, so the function stays
    right after further training. Every other layer runs as itself with
    ``training=False``. The result equals ``model(X, training=False)`` up to
    floating-point rounding.

    Parameters
    ----------
    model : keras.Model
        A functional model whose layers form a single chain.

    Returns
    -------
    network : callable
        ``network(X)``, to be traced inside a ``tf.function``.
    """
    keras = import_keras()
    layers = [
        layer for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    pools = [
        i for i, layer in enumerate(layers)
        if isinstance(layer, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D)
    ]
    stem = pools[0] + 1 if pools else 0
    stem_shape = tuple(layers[stem - 1].output.shape[1:]) if stem else None

    def network(X):
        import tensorflow as tf

        if not stem:
            return _run(layers, X)
        # Zero rows pad the last slice; their outputs are dropped.
        n = tf.shape(X)[0]
        padding = [[0, -n % STEM_ROWS]] + [[0, 0]] * (len(X.shape) - 1)
        sliced = tf.reshape(tf.pad(X, padding), [-1, STEM_ROWS, *X.shape[1:]])
        looped = tf.map_fn(
            lambda part: _run(layers[:stem], part), sliced, parallel_iterations=1,
            fn_output_signature=tf.TensorSpec([STEM_ROWS, *stem_shape], X.dtype),
        )
        x = tf.reshape(looped, [-1, *stem_shape])[:n]
        return _run(layers[stem:], x)

    return network


def _run(layers, x):
    ops = import_keras().ops
    i = 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        if _foldable(layer, following):
            kernel, bias = _folded(layer, following)
            x = ops.conv(
                x, kernel, strides=layer.strides, padding=layer.padding,
                data_format="channels_last", dilation_rate=layer.dilation_rate,
            ) + bias
            i += 2
        else:
            x = layer(x, training=False)
            i += 1
    return x
