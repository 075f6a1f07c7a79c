"""Export fitted estimators and pipelines to ONNX, run them without TensorFlow.

Importing this module registers skl2onnx converters for
:class:`~skfmnist.PixelScaler`, :class:`~skfmnist.DenseClassifier` and
:class:`~skfmnist.ConvClassifier` (see :func:`register_converters`), so that
:func:`skl2onnx.to_onnx` converts pipelines that mix them with scikit-learn's
own steps. The networks are written from their weights with standard ONNX
operators (``Gemm``, ``Conv`` with batch normalisation folded in, ``MaxPool``
or ``AveragePool``, the activations, ``Softmax``), mirror averaging included:
no TensorFlow graph is traced or converted (tf2onnx is not used), and the
result runs without TensorFlow.

:func:`to_onnx` exports an estimator in one call, with the probabilities as a
tensor; :class:`OnnxModel` runs an exported classifier on ONNX Runtime with
``predict`` and ``predict_proba``, without TensorFlow. Needs the ``onnx``
extra: ``pip install "skfmnist[onnx]"`` (onnx, skl2onnx and onnxruntime).
"""

from ._convert import DEFAULT_OPSET, register_converters, to_onnx
from ._runtime import OnnxModel

__all__ = ["DEFAULT_OPSET", "OnnxModel", "register_converters", "to_onnx"]

try:
    import skl2onnx  # noqa: F401
except ImportError:  # serving only: to_onnx says what to install
    pass
else:
    register_converters()
