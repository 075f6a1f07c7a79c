"""A fitted classifier's state as plain data, for pickling and for safe files.

A pickled classifier holds no Keras or TensorFlow object: the network is a
list of numpy arrays (every model variable, batch normalisation statistics
and dropout seed states included, then every optimizer variable), ``history_``
is a dict of arrays, and Keras callbacks travel without their model and
without run-time resources such as open files. Loading rebuilds the network
with the classifier's own code, from the parameters it was built with, and
puts the arrays back, so that a loaded classifier predicts bit for bit as the
original and continues training exactly as it would have.

``STATE_FORMAT`` is the version of this layout. A file written by a newer
skfmnist in a format this one does not know is refused with an error that
names both versions.
"""

import copy
import pickle

import numpy as np

__all__ = [
    "STATE_FORMAT",
    "SavedStateError",
    "detached_callbacks",
    "history_from_data",
    "history_to_data",
    "network_from_data",
    "network_to_data",
]

#: Version of the plain-data layout of a fitted classifier.
STATE_FORMAT = 1


class SavedStateError(ValueError):
    """A saved classifier's state that this skfmnist cannot rebuild."""


def network_to_data(engine):
    """The network of ``engine`` as ``{"format", "variables"}``."""
    return {"format": STATE_FORMAT,
            "variables": [np.asarray(value) for value in engine.state()]}


def network_from_data(data, owner):
    """Check the format of ``data`` and return its variables.

    ``owner`` names the class in the error messages.
    """
    if not isinstance(data, dict) or not isinstance(data.get("format"), int):
        raise SavedStateError(
            f"The saved {owner} has no network in a format skfmnist knows; "
            "it was not written by skfmnist's own pickling."
        )
    if data["format"] > STATE_FORMAT:
        from . import __version__

        raise SavedStateError(
            f"The saved {owner} is in skfmnist's state format "
            f"{data['format']}, newer than format {STATE_FORMAT}, the newest "
            f"that skfmnist {__version__} reads. Upgrade skfmnist to load it."
        )
    return [np.asarray(value) for value in data["variables"]]


def history_to_data(history):
    """``history_`` (a DataFrame indexed by epoch) as a dict of arrays."""
    return {
        "index": history.index.to_numpy(),
        "index_name": history.index.name,
        "columns": {str(name): history[name].to_numpy() for name in history.columns},
    }


def history_from_data(data):
    """The DataFrame that :func:`history_to_data` took apart."""
    import pandas as pd

    index = pd.Index(data["index"], name=data["index_name"])
    if len(index) and np.array_equal(index, np.arange(1, len(index) + 1)):
        index = pd.RangeIndex(1, len(index) + 1, name=data["index_name"])
    return pd.DataFrame(dict(data["columns"]), index=index)


def detached_callbacks(callbacks):
    """Copies of Keras callbacks without their model and run-time resources.

    During ``fit`` Keras gives each callback the model (``set_model``) and
    callbacks open what they write to (``CSVLogger``'s file, ``TensorBoard``'s
    summary writers), and these stay on the objects afterwards. A copy drops
    every attribute that refers to a Keras model, and sets to None every one
    that cannot be pickled (a closed file, a writer): as in a new callback,
    the next ``fit`` sets the model and opens its files again. Settings and
    results (``EarlyStopping.stopped_epoch``, file names) are kept. The
    objects given are left as they are.
    """
    if callbacks is None:
        return None
    from ._engine.runtime import import_keras

    model_type = import_keras().Model
    copies = []
    for callback in callbacks:
        detached = copy.copy(callback)
        for name, value in vars(callback).items():
            if isinstance(value, model_type) or not _picklable(value):
                setattr(detached, name, None)
        copies.append(detached)
    return copies


def _picklable(value):
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001 - any failure means "cannot travel"
        return False
    return True
