"""scikit-learn compatible Keras estimators for Fashion-MNIST.

The Keras-backed names (``ConvClassifier``, ``DenseClassifier``,
``find_learning_rate`` and ``LearningRateFinderResult``) are imported on first
use, so ``import skfmnist`` and the datasets stay fast and do not start
TensorFlow.
"""

import importlib

from ._engine.runtime import get_num_threads, set_num_threads
from ._scaler import PixelScaler
from .datasets import CLASS_NAMES, fetch_fashion_mnist, load_sample
from .persistence import load, save

__version__ = "0.1.0"

_LAZY = {
    "ConvClassifier": "._conv",
    "DenseClassifier": "._dense",
    "find_learning_rate": ".lr_finder",
    "LearningRateFinderResult": ".lr_finder",
}

__all__ = [
    "CLASS_NAMES",
    "ConvClassifier",
    "DenseClassifier",
    "LearningRateFinderResult",
    "PixelScaler",
    "fetch_fashion_mnist",
    "find_learning_rate",
    "get_num_threads",
    "load",
    "load_sample",
    "save",
    "set_num_threads",
    "__version__",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
