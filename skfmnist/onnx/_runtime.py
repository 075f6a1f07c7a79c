"""An exported model run by ONNX Runtime, with the classifier's methods.

This module needs NumPy and onnxruntime only (and the ``onnx`` package for a
model exported without skfmnist's metadata): TensorFlow is never imported.
"""

import json
import os

import numpy as np

__all__ = ["OnnxModel"]

# ONNX tensor element types of the inputs this adapter feeds, as NumPy dtypes.
_INPUT_DTYPES = {
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
}


class OnnxModel:
    """A classifier exported by :func:`skfmnist.onnx.to_onnx`, on ONNX Runtime.

    It offers what the command line and simple serving code need of a fitted
    pipeline: ``classes_``, ``predict`` and ``predict_proba``, computed by an
    ``onnxruntime.InferenceSession``. Inputs are reshaped to the model's
    input shape (so ``(n, 28, 28)`` images feed a model exported with flat
    rows) and converted to its input type.

    Parameters
    ----------
    model : str, path-like, bytes or onnx.ModelProto
        The ONNX file, or the model itself, exported with ``zipmap=False``
        (outputs ``label`` and ``probabilities``).
    batch_size : int or None, default=512
        Largest number of samples per call of the session (None: all at
        once). It bounds the memory the network's activations take: a
        ConvClassifier's first layer alone holds 100 KB per image.
    session_options : onnxruntime.SessionOptions, default=None
        Options of the session (threads, optimisation level).

    Attributes
    ----------
    session : onnxruntime.InferenceSession
        The session running the model.
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of the probability columns.
    input_name : str
        Name of the model's input.
    input_shape : tuple
        Shape of one sample, as the model declares it (None where free).
    input_dtype : numpy.dtype
        Type of the model's input.

    Examples
    --------
    >>> from skfmnist.onnx import OnnxModel
    >>> model = OnnxModel("model.onnx")  # doctest: +SKIP
    >>> model.predict(images)  # doctest: +SKIP
    array([9, 2, 1, ...])
    """

    def __init__(self, model, *, batch_size=512, session_options=None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError(
                'Running an ONNX model needs onnxruntime: pip install onnxruntime '
                '(or "skfmnist[onnx]").'
            ) from exc

        if hasattr(model, "SerializeToString"):
            model = model.SerializeToString()
        elif not isinstance(model, bytes):
            model = os.fspath(model)
        self.session = ort.InferenceSession(
            model, sess_options=session_options, providers=["CPUExecutionProvider"]
        )
        self.batch_size = batch_size
        (spec,) = self.session.get_inputs()
        if spec.type not in _INPUT_DTYPES:
            raise ValueError(
                f"The model's input {spec.name!r} is a {spec.type}; expected a "
                "tensor of numbers."
            )
        self.input_name = spec.name
        self.input_dtype = np.dtype(_INPUT_DTYPES[spec.type])
        self.input_shape = tuple(
            d if isinstance(d, int) else None for d in spec.shape[1:]
        )
        outputs = {output.name: output for output in self.session.get_outputs()}
        if set(outputs) != {"label", "probabilities"} or not outputs[
            "probabilities"
        ].type.startswith("tensor("):
            raise ValueError(
                "Expected a classifier exported with zipmap=False, whose outputs "
                f"are 'label' and 'probabilities'; this model's are "
                f"{', '.join(repr(name) for name in outputs)}."
            )
        self.classes_ = self._classes(model)

    def _classes(self, source):
        """The labels of the probability columns, read from the model.

        :func:`~skfmnist.onnx.to_onnx` records them in the model's metadata;
        for other exports they are read from the graph (with the ``onnx``
        package): the constant the label is gathered from.
        """
        meta = self.session.get_modelmeta().custom_metadata_map
        if "classes" in meta:
            return np.asarray(json.loads(meta["classes"]))
        import onnx

        if isinstance(source, bytes):
            model = onnx.load_model_from_string(source)
        else:
            model = onnx.load(source)
        graph = model.graph
        producers = {out: node for node in graph.node for out in node.output}
        constants = {init.name: init for init in graph.initializer}
        node = producers.get("label")
        while node is not None and node.op_type in ("Identity", "Cast"):
            node = producers.get(node.input[0])
        if node is None or node.op_type != "Gather" or node.input[0] not in constants:
            raise ValueError("Cannot find the class labels in this model.")
        classes = onnx.numpy_helper.to_array(constants[node.input[0]])
        if classes.dtype.kind in "OS":
            classes = np.array(
                [c.decode("utf-8") if isinstance(c, bytes) else c for c in classes]
            )
        return classes

    def __getstate__(self):
        raise TypeError("An OnnxModel cannot be pickled; keep the .onnx file.")

    def _inputs(self, X):
        X = np.asarray(X)
        if X.ndim == 0 or not len(X):
            raise ValueError(
                f"Expected at least one sample along the first axis; got an "
                f"array of shape {X.shape}."
            )
        n = X.shape[0]
        if None not in self.input_shape:
            expected = int(np.prod(self.input_shape, dtype=np.int64))
            if X[0].size != expected:
                raise ValueError(
                    f"The model takes samples of {expected} values (shape "
                    f"{self.input_shape}); got samples of shape {X.shape[1:]}."
                )
            X = X.reshape(n, *self.input_shape)
        if X.dtype != self.input_dtype:
            if self.input_dtype.kind in "iu" and X.dtype.kind == "f":
                info = np.iinfo(self.input_dtype)
                if (X.size and (X.min() < info.min or X.max() > info.max
                                or not np.array_equal(X, np.round(X)))):
                    raise ValueError(
                        f"The model takes {self.input_dtype} values, such as raw "
                        f"pixels in {info.min}..{info.max}; got other numbers."
                    )
            X = X.astype(self.input_dtype)
        return X

    def predict_proba(self, X):
        """Class probabilities, float32 of shape ``(n_samples, n_classes)``."""
        return self._run(X)[1]

    def predict(self, X):
        """Predicted class labels, shape ``(n_samples,)``."""
        return self._run(X)[0]

    def _run(self, X):
        X = self._inputs(X)
        size = self.batch_size or len(X)
        outputs = ["label", "probabilities"]
        parts = [
            self.session.run(outputs, {self.input_name: X[i:i + size]})
            for i in range(0, len(X), size)
        ]
        labels = np.concatenate([p[0] for p in parts])
        if labels.dtype.kind in "OSU":
            labels = labels.astype(object)
        return labels, np.concatenate([p[1] for p in parts])

    def __repr__(self):
        return (
            f"OnnxModel(input {self.input_name!r}: {self.input_dtype} "
            f"{self.input_shape}, {len(self.classes_)} classes)"
        )
