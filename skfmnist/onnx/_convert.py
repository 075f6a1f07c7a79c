"""skl2onnx converters of skfmnist's estimators, and :func:`to_onnx`."""

import numbers
import os
from pathlib import Path

import numpy as np

from ._graph import GraphWriter, network_graph

__all__ = ["DEFAULT_OPSET", "register_converters", "to_onnx"]

#: Opset of the ``ai.onnx`` domain :func:`to_onnx` writes by default: ONNX
#: Runtime 1.14 (2023) and later run it.
DEFAULT_OPSET = 18

#: Options of the classifiers' converters, as skl2onnx's own classifiers have.
CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [False, True],
    "output_class_labels": [False, True],
}

_registered = False


def _skl2onnx():
    try:
        import skl2onnx
    except ImportError as exc:
        raise ImportError(
            "Exporting to ONNX needs skl2onnx, onnx and onnxruntime: "
            'pip install "skfmnist[onnx]".'
        ) from exc
    return skl2onnx


# -- PixelScaler ---------------------------------------------------------------


def _scaler_output_shape(scaler, input_shape):
    """Output shape ``[N, ...]`` of ``scaler`` on an input of ``input_shape``."""
    from .._shapes import square_shape

    batch, *rest = input_shape
    known = all(isinstance(d, numbers.Integral) for d in rest)
    if rest and rest[-1] == 1 and len(rest) == 3:
        rest = rest[:2]
    n_features = getattr(scaler, "n_features_in_", None)
    if n_features is None and known:
        n_features = int(np.prod(rest))
    if n_features is None:
        raise ValueError(
            "PixelScaler: the number of pixels is unknown (fit the scaler, or "
            "give an input of known shape)."
        )
    if scaler.flatten:
        return [batch, int(n_features)]
    image_shape = (
        tuple(rest) if len(rest) == 2 and known
        else getattr(scaler, "image_shape_", None) or square_shape(int(n_features))
    )
    if image_shape is None:
        raise ValueError(
            "flatten=False needs square images or a 3-D input; got "
            f"{n_features} pixels per row."
        )
    return [batch, *map(int, image_shape), 1]


def _scaler_shape_calculator(operator):
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.common.utils import check_input_and_output_numbers

    check_input_and_output_numbers(operator, input_count_range=1,
                                   output_count_range=1)
    shape = _scaler_output_shape(operator.raw_operator, operator.inputs[0].type.shape)
    operator.outputs[0].type = FloatTensorType(shape)


def _as_float(w, variable):
    """The input ``variable`` as float32: a Cast unless it is already."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import FloatTensorType

    if isinstance(variable.type, FloatTensorType):
        return variable.full_name
    return w.node("Cast", [variable.full_name], to=TensorProto.FLOAT, hint="float")


def _scaler_converter(scope, operator, container):
    scaler = operator.raw_operator
    w = GraphWriter(scope, container, "pixelscaler")
    x = _as_float(w, operator.inputs[0])
    # np.divide(X, max_value, dtype=np.float32): float32 pixels over the
    # float32 max_value, as here.
    x = w.node("Div", [x, w.constant(np.float32(scaler.max_value), "max_value")])
    shape = _scaler_output_shape(scaler, operator.inputs[0].type.shape)
    w.node("Reshape", [x, w.constant(np.array([-1, *shape[1:]]), "shape")],
           output=operator.outputs[0].full_name)


# -- classifiers ---------------------------------------------------------------


def _label_classes(scope, classifier):
    """The class labels as the graph outputs them: int64 or string array."""
    from skl2onnx.common.utils_classifier import get_label_classes

    classes = np.asarray(get_label_classes(scope, classifier))
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        if not np.array_equal(classes, np.round(classes)):
            raise ValueError(
                f"Cannot export the class labels {classes.tolist()} to ONNX: "
                "class labels must be integers or strings."
            )
        return classes.astype(np.int64)
    if classes.dtype.kind in "US" or all(isinstance(c, str) for c in classes):
        return classes.astype(str)
    raise ValueError(
        f"Cannot export the class labels {classes.tolist()} to ONNX: class "
        "labels must be integers or strings."
    )


def _classifier_shape_calculator(operator):
    from skl2onnx.common.data_types import (
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_numbers

    check_input_and_output_numbers(operator, input_count_range=1,
                                   output_count_range=2)
    classifier = operator.raw_operator
    classes = _label_classes(operator.scope_inst, classifier)
    n = operator.inputs[0].get_first_dimension()
    label = Int64TensorType if classes.dtype == np.int64 else StringTensorType
    operator.outputs[0].type = label([n])
    operator.outputs[1].type = FloatTensorType([n, len(classifier.classes_)])


def _test_time_views(classifier):
    from .._conv import _mirror

    views = []
    for view in classifier._test_time_views():
        if view is not _mirror:
            raise ValueError(
                f"Cannot write the test-time view {view!r} of "
                f"{type(classifier).__name__} to ONNX."
            )
        views.append("mirror")
    return views


def _classifier_converter(scope, operator, container):
    classifier = operator.raw_operator
    w = GraphWriter(scope, container, type(classifier).__name__.lower())
    x = _as_float(w, operator.inputs[0])
    proba = network_graph(w, classifier, x, views=_test_time_views(classifier))
    w.node("Identity", [proba], output=operator.outputs[1].full_name)
    best = w.node("ArgMax", [proba], axis=1, keepdims=0, hint="best")
    classes = w.constant(_label_classes(scope, classifier), "classes")
    w.node("Gather", [classes, best], axis=0, output=operator.outputs[0].full_name)


# -- registration and export ---------------------------------------------------


def register_converters():
    """Register the skl2onnx converters of skfmnist's estimators.

    After this call (which ``import skfmnist.onnx`` makes when skl2onnx is
    installed), :func:`skl2onnx.to_onnx` and :func:`skl2onnx.convert_sklearn`
    convert :class:`~skfmnist.PixelScaler`, :class:`~skfmnist.DenseClassifier`
    and :class:`~skfmnist.ConvClassifier`, alone or in pipelines with
    scikit-learn's own estimators. The classifiers take skl2onnx's classifier
    options: ``zipmap`` (True by default: probabilities as a list of
    dictionaries; False: a tensor; "columns": one output per class), ``nocl``
    and ``output_class_labels``. Calling it again does nothing.
    """
    global _registered
    if _registered:
        return
    skl2onnx = _skl2onnx()
    from .._conv import ConvClassifier
    from .._dense import DenseClassifier
    from .._scaler import PixelScaler

    skl2onnx.update_registered_converter(
        PixelScaler, "SkfmnistPixelScaler", _scaler_shape_calculator,
        _scaler_converter,
    )
    for cls in (DenseClassifier, ConvClassifier):
        skl2onnx.update_registered_converter(
            cls, f"Skfmnist{cls.__name__}", _classifier_shape_calculator,
            _classifier_converter, options=CLASSIFIER_OPTIONS,
        )
    _registered = True


def _steps(estimator):
    """``estimator`` and every estimator nested in it as a pipeline step."""
    yield estimator
    for _, step in getattr(estimator, "steps", []):
        if step not in (None, "passthrough"):
            yield from _steps(step)


def _first_step(estimator):
    steps = getattr(estimator, "steps", None)
    return _first_step(steps[0][1]) if steps else estimator


def _default_input(estimator):
    """A one-row sample: raw uint8 pixels for a PixelScaler first, else float32."""
    from sklearn.utils.validation import check_is_fitted

    from .._scaler import PixelScaler

    check_is_fitted(estimator)
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        raise ValueError(
            f"Cannot tell the input of {type(estimator).__name__}: pass X, a "
            "sample of the inputs."
        )
    dtype = np.uint8 if isinstance(_first_step(estimator), PixelScaler) else (
        np.float32
    )
    return np.zeros((1, n_features), dtype=dtype)


def to_onnx(estimator, path=None, *, X=None, zipmap=False,
            target_opset=DEFAULT_OPSET):
    """Export a fitted estimator or pipeline to an ONNX model.

    The graph holds every step: :class:`~skfmnist.PixelScaler`, skfmnist's
    classifiers (their networks written from the weights with standard ONNX
    operators; mirror averaging included) and scikit-learn's own estimators
    (through skl2onnx). It runs on ONNX Runtime alone, without TensorFlow.
    The scaler's range check (pixels in ``[0, max_value]``) is not in the
    graph: out-of-range pixels are scaled like the others.

    Parameters
    ----------
    estimator : estimator or Pipeline
        The fitted estimator.
    path : str or path-like, default=None
        Where to write the model (by convention ``model.onnx``); it is
        written to a temporary file beside it and renamed into place.
    X : array-like, default=None
        A sample of the inputs: the model's input has its dtype and its shape
        after the first axis. Default: rows of ``n_features_in_`` uint8
        pixels when the first step is a ``PixelScaler``, float32 otherwise.
    zipmap : bool or "columns", default=False
        skl2onnx's ``zipmap`` option of the classifiers: False gives the
        probabilities as a float tensor ``(n, n_classes)``; True as one
        dictionary per sample (skl2onnx's default); "columns" as one output
        per class.
    target_opset : int or dict, default=DEFAULT_OPSET
        Opset of the ``ai.onnx`` domain (13 or later), or a dict of opsets by
        domain, as skl2onnx takes it.

    Returns
    -------
    model : onnx.ModelProto
        The ONNX model: input ``X``; outputs ``label`` (the predicted
        classes, int64 or strings) and ``probabilities`` (float32, columns in
        the order of ``classes_``), or skl2onnx's zipmap outputs.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfmnist import DenseClassifier, PixelScaler, load_sample
    >>> from skfmnist.onnx import to_onnx
    >>> X, y = load_sample(return_X_y=True)
    >>> pipe = make_pipeline(PixelScaler(), DenseClassifier(
    ...     hidden_layer_sizes=(32,), epochs=1, random_state=0)).fit(X, y)
    >>> session = ort.InferenceSession(to_onnx(pipe).SerializeToString())
    >>> label, proba = session.run(None, {"X": X[:5]})
    >>> bool((label == pipe.predict(X[:5])).all())
    True
    >>> bool(np.allclose(proba, pipe.predict_proba(X[:5]), atol=1e-5))
    True
    """
    skl2onnx = _skl2onnx()
    register_converters()
    from sklearn.base import is_classifier

    if X is None:
        X = _default_input(estimator)
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"X must hold samples along its first axis; got {X.shape}.")
    options = {
        id(step): {"zipmap": zipmap}
        for step in _steps(estimator)
        if is_classifier(step) and not hasattr(step, "steps")
    }
    model = skl2onnx.to_onnx(
        estimator, X[:1], target_opset=target_opset, options=options or None,
    )
    _describe(model, estimator)
    if path is not None:
        _write(model, path)
    return model


def _describe(model, estimator):
    """Name the estimator and its classes in the model's metadata."""
    import json

    import onnx

    from .. import __version__

    steps = [type(step).__name__ for step in _steps(estimator)]
    text = " > ".join(name for name in steps if name != "Pipeline") or steps[0]
    model.doc_string = f"{text}, exported by skfmnist {__version__}"
    props = {"skfmnist_version": __version__, "estimator": text}
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        kind = np.asarray(classes).dtype.kind
        values = np.asarray(classes).astype(np.int64 if kind in "biuf" else str)
        props["classes"] = json.dumps(values.tolist())
    onnx.helper.set_model_props(model, props)


def _write(model, path):
    from ..datasets._fetch import _atomic_open

    path = Path(os.fspath(path))
    with _atomic_open(path) as f:
        f.write(model.SerializeToString())
