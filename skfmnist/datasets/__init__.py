"""Fashion-MNIST loaders: the full verified data set and a small bundled sample.

Nothing here imports TensorFlow or Keras.
"""

from ._fashion_mnist import CLASS_NAMES, fetch_fashion_mnist
from ._fetch import clear_data_home, get_data_home
from ._idx import load_idx, save_idx
from ._sample import load_sample

__all__ = [
    "CLASS_NAMES",
    "clear_data_home",
    "fetch_fashion_mnist",
    "get_data_home",
    "load_idx",
    "load_sample",
    "save_idx",
]
