"""The ONNX graph of a fitted skfmnist network, written from its weights.

The Keras model of a fitted classifier (``model_``) is a chain of layers. Each
layer is written as standard ONNX operators (domain ``ai.onnx``, opset 13 and
above) with its weights as constants, read with ``layer.get_weights()``: no
TensorFlow graph is traced or converted, and the result runs on any ONNX
runtime.

* ``Dense`` is a ``Gemm`` followed by its activation (:data:`ACTIVATIONS`);
  ``Dropout`` is the identity at prediction time and is left out;
* ``Conv2D`` is a ``Conv`` on images in ONNX's channels-first layout (NCHW);
  a ``BatchNormalization`` right after it is folded into its kernel and bias,
  as :mod:`skfmnist._engine.inference` does for TensorFlow;
* ``MaxPooling2D`` and ``AveragePooling2D`` are ``MaxPool`` and
  ``AveragePool`` with TensorFlow's "same" padding (padding left out of the
  averages, as TensorFlow does);
* ``Flatten`` flattens channels-first images: the kernel of the next
  ``Dense`` layer has its rows reordered to match, so no transpose runs;
* ``Softmax`` is ``Softmax``.

The images of a ``ConvClassifier`` are one channel deep, so the input becomes
NCHW with a ``Reshape`` alone. Mirror averaging (``test_time_augmentation``)
runs in the graph: the mirror images (a ``Slice`` with step -1 along the
width) are concatenated to the batch, and the two halves of the
probabilities averaged (``ReduceMean``).

The graph computes in float32 whatever the estimator's ``dtype``: a network
trained in float64 is rounded to float32 weights (ONNX Runtime has no float64
convolution).
"""

import numpy as np

__all__ = ["ACTIVATIONS", "MIN_OPSET", "GraphWriter", "network_graph"]

#: Oldest ONNX opset the graphs are written for (Softmax over the last axis).
MIN_OPSET = 13

# Constants of Keras' selu (the same as TensorFlow's tf.nn.selu).
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


class GraphWriter:
    """Adds constants and nodes to a skl2onnx container under unique names.

    Parameters
    ----------
    scope, container : skl2onnx objects
        What a skl2onnx converter receives.
    prefix : str
        Start of every name, to tell the nodes of one estimator apart.
    """

    def __init__(self, scope, container, prefix):
        self.scope = scope
        self.container = container
        self.prefix = prefix

    @property
    def opset(self):
        """The opset of the ``ai.onnx`` domain the model is written for."""
        return self.container.target_opset

    def name(self, hint):
        """A new unique variable name."""
        return self.scope.get_unique_variable_name(f"{self.prefix}_{hint}")

    def constant(self, value, hint="const"):
        """Add ``value`` (array-like) as an initializer; return its name."""
        from onnx import TensorProto, numpy_helper

        value = np.asarray(value)
        name = self.name(hint)
        if value.dtype.kind in "OUS":
            self.container.add_initializer(
                name, TensorProto.STRING, list(value.shape),
                [str(item).encode("utf-8") for item in value.ravel().tolist()],
            )
        else:
            self.container.add_initializer(
                name, None, None, numpy_helper.from_array(value, name)
            )
        return name

    def node(self, op_type, inputs, *, output=None, hint=None, **attrs):
        """Add one node of ``op_type``; return the name of its output."""
        output = output or self.name(hint or op_type.lower())
        self.container.add_node(
            op_type, list(inputs), [output],
            name=self.scope.get_unique_operator_name(f"{self.prefix}_{op_type}"),
            **attrs,
        )
        return output


# -- activations -------------------------------------------------------------


def _gelu(w, x):
    # Keras' gelu (approximate=False): x / 2 * (1 + erf(x / sqrt(2))). Erf
    # exists since opset 9, the Gelu operator only since opset 20.
    scaled = w.node("Mul", [x, w.constant(np.float32(1 / np.sqrt(2)), "rsqrt2")])
    erf = w.node("Erf", [scaled])
    one_plus = w.node("Add", [erf, w.constant(np.float32(1), "one")])
    half_x = w.node("Mul", [x, w.constant(np.float32(0.5), "half")])
    return w.node("Mul", [half_x, one_plus], hint="gelu")


#: Keras activations and how each is written: ``write(writer, x) -> y``.
ACTIVATIONS = {
    "linear": lambda w, x: x,
    "relu": lambda w, x: w.node("Relu", [x]),
    "tanh": lambda w, x: w.node("Tanh", [x]),
    "sigmoid": lambda w, x: w.node("Sigmoid", [x]),
    "elu": lambda w, x: w.node("Elu", [x], alpha=1.0),
    "selu": lambda w, x: w.node("Selu", [x], alpha=_SELU_ALPHA, gamma=_SELU_SCALE),
    "gelu": _gelu,
    "silu": lambda w, x: w.node("Mul", [x, w.node("Sigmoid", [x])], hint="silu"),
    "softplus": lambda w, x: w.node("Softplus", [x]),
    # Keras' leaky_relu has a negative slope of 0.2 (ONNX's default is 0.01).
    "leaky_relu": lambda w, x: w.node("LeakyRelu", [x], alpha=0.2),
}


def _activation(w, layer, x):
    """``layer.activation`` applied to ``x``, or a ValueError if not expressible."""
    import keras

    function = layer.activation
    for name, write in ACTIVATIONS.items():
        if function is keras.activations.get(name):
            return write(w, x)
    shown = getattr(function, "__name__", repr(function))
    raise ValueError(
        f"Cannot express the activation {shown!r} of layer {layer.name!r} in "
        f"ONNX; the activations skfmnist.onnx writes are "
        f"{', '.join(sorted(ACTIVATIONS))}."
    )


# -- layers ------------------------------------------------------------------


def _same_pads(sizes, kernel, strides, dilations=(1, 1)):
    """ONNX ``pads`` of TensorFlow's "same" padding (extra pixel at the end)."""
    begin, end = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


def _pads(layer, kernel, dilations=(1, 1)):
    if layer.padding == "valid":
        return [0, 0, 0, 0]
    sizes = tuple(layer.input.shape[1:3])
    return _same_pads(sizes, kernel, tuple(layer.strides), dilations)


def _check_channels_last(layer):
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(
            f"Layer {layer.name!r} is {layer.data_format}; skfmnist.onnx writes "
            "channels_last networks only."
        )


def _values(variable):
    """A Keras variable as a float64 array, or None for a missing one."""
    if variable is None:
        return None
    import keras

    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)


def _folded(kernel, bias, bn):
    """Kernel (last axis: filters) and bias of ``bn(conv(x))`` at inference."""
    scale = 1 / np.sqrt(_values(bn.moving_variance) + bn.epsilon)
    if bn.gamma is not None:
        scale = scale * _values(bn.gamma)
    shift = -_values(bn.moving_mean) * scale
    if bias is not None:
        shift = shift + bias * scale
    if bn.beta is not None:
        shift = shift + _values(bn.beta)
    return kernel * scale, shift


def _conv(w, layer, following, x):
    """A Conv2D (and a BatchNormalization right after it, folded) on NCHW ``x``.

    Returns the output and the number of layers used (1 or 2).
    """
    import keras

    _check_channels_last(layer)
    if getattr(layer, "groups", 1) != 1:
        raise ValueError(f"Cannot write the grouped convolution {layer.name!r}.")
    kernel, *rest = layer.get_weights()
    kernel = kernel.astype(np.float64)
    bias = rest[0].astype(np.float64) if rest else None
    used = 1
    foldable = (
        type(following) is keras.layers.BatchNormalization
        and following.axis in (-1, 3, [-1], [3])
        and layer.activation is keras.activations.linear
    )
    if foldable:
        kernel, bias = _folded(kernel, bias, following)
        used = 2
    elif type(following) is keras.layers.BatchNormalization:
        raise ValueError(
            f"Cannot fold the batch normalisation {following.name!r} into "
            f"{layer.name!r}."
        )
    if bias is None:
        bias = np.zeros(kernel.shape[-1])
    dilations = list(layer.dilation_rate)
    # Keras kernels are (h, w, in, out); ONNX's are (out, in, h, w).
    onnx_kernel = kernel.transpose(3, 2, 0, 1).astype(np.float32)
    y = w.node(
        "Conv",
        [x, w.constant(onnx_kernel, f"{layer.name}_kernel"),
         w.constant(bias.astype(np.float32), f"{layer.name}_bias")],
        hint=layer.name,
        kernel_shape=list(kernel.shape[:2]),
        strides=list(layer.strides),
        dilations=dilations,
        pads=_pads(layer, kernel.shape[:2], dilations),
    )
    return _activation(w, layer, y), used


def _pool(w, layer, x):
    import keras

    _check_channels_last(layer)
    size = list(layer.pool_size)
    attrs = {"kernel_shape": size, "strides": list(layer.strides),
             "pads": _pads(layer, size)}
    if isinstance(layer, keras.layers.MaxPooling2D):
        return w.node("MaxPool", [x], hint=layer.name, **attrs)
    # TensorFlow leaves the padding out of each average.
    return w.node("AveragePool", [x], hint=layer.name, count_include_pad=0, **attrs)


def _dense(w, layer, x, rows_order):
    kernel, bias = layer.get_weights()
    if rows_order is not None:
        kernel = kernel[rows_order]
    y = w.node(
        "Gemm",
        [x, w.constant(kernel.astype(np.float32), f"{layer.name}_kernel"),
         w.constant(bias.astype(np.float32), f"{layer.name}_bias")],
        hint=layer.name,
    )
    return _activation(w, layer, y)


def _channels_first_order(height, width, channels):
    """Rows of a channels-last flattened kernel, in channels-first order.

    Keras flattens (h, w, c) images; the ONNX graph flattens (c, h, w) ones.
    """
    return np.arange(height * width * channels).reshape(
        height, width, channels
    ).transpose(2, 0, 1).ravel()


def _layer_chain(model):
    import keras

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("Only models with one input and one output can be "
                         "written to ONNX.")
    return [
        layer for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]


def _layers(w, layers, x):
    """Write the chain of ``layers`` from the NCHW or 2-D tensor ``x``."""
    import keras

    rows_order = None  # set by Flatten for the next Dense layer
    i = 0
    while i < len(layers):
        layer = layers[i]
        kind = type(layer)
        following = layers[i + 1] if i + 1 < len(layers) else None
        used = 1
        if kind is keras.layers.Dropout:
            pass
        elif kind is keras.layers.Dense:
            x = _dense(w, layer, x, rows_order)
            rows_order = None
        elif kind is keras.layers.Conv2D:
            x, used = _conv(w, layer, following, x)
        elif kind is keras.layers.Activation:
            x = _activation(w, layer, x)
        elif kind in (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D):
            x = _pool(w, layer, x)
        elif kind is keras.layers.Flatten:
            height, width, channels = layer.input.shape[1:]
            after = [
                other for other in layers[i + 1:]
                if type(other) is not keras.layers.Dropout
            ]
            if after and type(after[0]) is keras.layers.Dense:
                rows_order = _channels_first_order(height, width, channels)
            elif channels > 1 and height * width > 1:
                x = w.node("Transpose", [x], perm=[0, 2, 3, 1])
            x = w.node("Flatten", [x], axis=1)
        elif kind is keras.layers.Softmax:
            if layer.axis not in (-1, 1, [-1], [1]):
                raise ValueError(f"Cannot write the softmax {layer.name!r}.")
            x = w.node("Softmax", [x], hint="proba", axis=-1)
        else:
            raise ValueError(
                f"Cannot write layer {layer.name!r} ({kind.__name__}) to ONNX."
            )
        i += used
    if type(layers[-1]) is not keras.layers.Softmax:
        raise ValueError("The network must end with a Softmax layer.")
    return x


def network_graph(w, estimator, x, views=()):
    """Write the network of a fitted classifier; return its probabilities.

    Parameters
    ----------
    w : GraphWriter
        Where the nodes go.
    estimator : DenseClassifier or ConvClassifier
        The fitted classifier.
    x : str
        Name of the input tensor: float32 of any shape holding
        ``n_features_in_`` values per sample.
    views : int or sequence of str, default=()
        Test-time views whose probabilities are averaged with those of the
        input; "mirror" is the only one.

    Returns
    -------
    proba : str
        Name of the float32 probabilities, shape ``(n, n_classes)``.
    """
    if w.opset is not None and w.opset < MIN_OPSET:
        raise ValueError(
            f"skfmnist.onnx writes opset {MIN_OPSET} or later; got target "
            f"opset {w.opset}."
        )
    model = estimator.model_
    shape = tuple(model.input_shape[1:])
    layers = _layer_chain(model)
    if len(shape) == 1:
        if views:
            raise ValueError("Test-time views need image inputs.")
        x = w.node("Reshape", [x, w.constant(np.array([-1, shape[0]]), "shape")])
    elif len(shape) == 3:
        height, width, channels = shape
        if channels == 1:  # (n, h, w, 1) and (n, 1, h, w) hold the same values
            x = w.node("Reshape", [x, w.constant(
                np.array([-1, 1, height, width]), "shape")], hint="nchw")
        else:
            x = w.node("Reshape", [x, w.constant(
                np.array([-1, height, width, channels]), "shape")])
            x = w.node("Transpose", [x], perm=[0, 3, 1, 2], hint="nchw")
        mirrors = []
        for view in views:
            if view != "mirror":
                raise ValueError(f"Unknown test-time view {view!r}.")
            mirrors.append(w.node("Slice", [
                x,
                w.constant(np.array([-1]), "starts"),
                w.constant(np.array([np.iinfo(np.int64).min]), "ends"),
                w.constant(np.array([3]), "axes"),  # the width, in NCHW
                w.constant(np.array([-1]), "steps"),
            ], hint="mirror"))
        if mirrors:
            x = w.node("Concat", [x, *mirrors], axis=0, hint="views")
    else:
        raise ValueError(f"Cannot write a network whose input has shape {shape}.")
    proba = _layers(w, layers, x)
    if views:
        n_classes = int(model.output_shape[-1])
        stacked = w.node("Reshape", [proba, w.constant(
            np.array([1 + len(views), -1, n_classes]), "shape")], hint="per_view")
        axes = np.array([0])
        if w.opset is None or w.opset >= 18:
            proba = w.node("ReduceMean", [stacked, w.constant(axes, "axes")],
                           keepdims=0, hint="proba_mean")
        else:
            proba = w.node("ReduceMean", [stacked], axes=[0], keepdims=0,
                           hint="proba_mean")
    return proba
