"""Safe model files: :func:`save` and :func:`load`, built on ``skops.io``.

A pickle runs whatever code it names when it is loaded, so scikit-learn's
model-persistence guide says to load pickles only from trusted sources. A
skops file instead records the object tree as data (JSON for the structure,
``.npy`` arrays without pickled objects) and names every type it holds, so
that a loader can check those types before anything is built.

:func:`load` trusts what skops trusts by default (builtins, numpy and
scikit-learn's own estimators) and skfmnist's own estimators, and nothing
else: a file that names any other type is refused before any object is
built, with an error that names the types. skfmnist's classifiers store
their network as plain arrays (see :mod:`skfmnist._state`), so loading
rebuilds it with skfmnist's own code and runs no code from the file.

"Safe" here means that loading cannot run code; it says nothing about the
model's quality, which a file from a stranger may still lack.
"""

import copy
import io
import json
import os
import secrets
import warnings
import zipfile
from pathlib import Path

from ._state import SavedStateError

__all__ = ["SKFMNIST_TYPES", "UntrustedTypesError", "load", "save"]

#: The types :func:`load` adds to skops' trusted set: skfmnist's estimators.
SKFMNIST_TYPES = (
    "skfmnist._scaler.PixelScaler",
    "skfmnist._dense.DenseClassifier",
    "skfmnist._conv.ConvClassifier",
)


class UntrustedTypesError(ValueError):
    """A model file names types that :func:`load` was not told to trust.

    Attributes
    ----------
    types : list of str
        The refused types, as ``module.name``.

    Examples
    --------
    >>> import math, os, tempfile
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from skfmnist import load, save
    >>> from skfmnist.persistence import UntrustedTypesError
    >>> path = os.path.join(tempfile.mkdtemp(), "own.skops")
    >>> path = save(FunctionTransformer(math.floor), path)
    >>> try:
    ...     load(path)
    ... except UntrustedTypesError as exc:
    ...     print(exc.types)
    ['math.floor']
    >>> load(path, trusted=["math.floor"]).func is math.floor
    True
    """

    def __init__(self, message, types):
        super().__init__(message)
        self.types = types


def save(estimator, path):
    """Save a fitted estimator or pipeline to a safe skops file.

    The file holds the parameters, the fitted attributes and each network's
    weights, optimizer and random-generator state as arrays, so that a loaded
    model predicts exactly as the saved one and continues training where it
    left off. It is written to a temporary file beside ``path`` and renamed
    into place: an error never leaves a partial file.

    Keras callbacks (the ``callbacks`` parameter) are not saved: they are
    Keras objects, which :func:`load` does not trust. The file holds
    ``callbacks=None`` instead, with a warning.

    Parameters
    ----------
    estimator : object
        A skfmnist estimator, a scikit-learn estimator or a ``Pipeline`` of
        them.
    path : str or path-like
        The file to write, by convention ending in ``.skops``.

    Returns
    -------
    path : pathlib.Path
        The file written.

    See Also
    --------
    load : Load a file written by this function.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfmnist import DenseClassifier, PixelScaler, load_sample, load, save
    >>> data = load_sample(subset="train")
    >>> pipe = make_pipeline(PixelScaler(), DenseClassifier(epochs=1, random_state=0))
    >>> pipe = pipe.fit(data.images, data.target)
    >>> path = save(pipe, os.path.join(tempfile.mkdtemp(), "model.skops"))
    >>> loaded = load(path)
    >>> bool((loaded.predict(data.images[:5]) == pipe.predict(data.images[:5])).all())
    True
    """
    import skops.io as sio

    path = Path(path)
    estimator = _without_callbacks(estimator)
    # Not mkstemp: its files are private (0600); a model file is made like
    # any other file, under the user's umask.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            sio.dump(estimator, file)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path, *, trusted=None):
    """Load an estimator from a skops file, running no code from the file.

    The types the file names are checked before anything is built. Those
    skops trusts by default (builtins, numpy, scikit-learn) and skfmnist's
    estimators (:data:`SKFMNIST_TYPES`) are accepted; any other type is
    refused, with an :class:`UntrustedTypesError` that names it.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save` (or by ``skops.io.dump``).
    trusted : list of str, default=None
        More types to accept, as ``module.name`` strings, for pipelines
        with steps of your own. Add only types from code you trust: loading
        may call their ``__setstate__``. The error of a refused file lists
        the names to pass.

    Returns
    -------
    estimator : object
        The saved estimator or pipeline.

    Raises
    ------
    UntrustedTypesError
        If the file names types that are not trusted.
    ValueError
        If the file is not a readable skops file (truncated, corrupt, or
        another format such as a pickle), or holds a skfmnist state in a
        newer format than this version reads.

    See Also
    --------
    save : Write such a file.
    skops.io.get_untrusted_types : List the types a skops file names.

    Examples
    --------
    >>> import os, tempfile
    >>> from skfmnist import PixelScaler, load, save
    >>> path = os.path.join(tempfile.mkdtemp(), "scaler.skops")
    >>> load(save(PixelScaler(max_value=15), path)).max_value
    15
    """
    import skops.io as sio

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read the model file {path}: {exc.strerror}") from exc
    try:
        found = sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, EOFError,
            UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ValueError(_unreadable(path, data, exc)) from None
    allowed = {*SKFMNIST_TYPES, *(trusted or ())}
    refused = sorted(set(found) - allowed)
    if refused:
        raise UntrustedTypesError(
            f"{path} names types that are not trusted: {', '.join(refused)}. "
            "Nothing was loaded. If you know where the file comes from and "
            "trust the code of these types, pass them as load(path, "
            "trusted=[...]).",
            refused,
        )
    try:
        with warnings.catch_warnings():
            # skops' own advice to check types: load has just done so.
            warnings.filterwarnings("ignore", module="skops")
            return sio.load(io.BytesIO(data), trusted=sorted(set(found)))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, EOFError,
            UnicodeDecodeError, TypeError) as exc:
        raise ValueError(_unreadable(path, data, exc)) from None
    except SavedStateError as exc:
        raise ValueError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise ValueError(_unreadable(path, data, exc)) from None


def _unreadable(path, data, exc):
    kind = "a pickle, which load never opens" if data[:1] == b"\x80" else (
        "not a skops file, or a truncated or corrupt one")
    return f"{path} is {kind} ({type(exc).__name__}: {exc})"


def _without_callbacks(estimator):
    """``estimator``, or a copy of it whose classifiers hold no callbacks."""
    holders = [est for est in _estimators(estimator) if getattr(est, "callbacks", None)]
    if not holders:
        return estimator
    names = sorted({type(cb).__name__ for est in holders for cb in est.callbacks})
    warnings.warn(
        f"Keras callbacks ({', '.join(names)}) are not saved in a safe file; "
        "the loaded model has callbacks=None.",
        UserWarning,
        stacklevel=3,
    )
    estimator = copy.deepcopy(estimator)
    for est in _estimators(estimator):
        if getattr(est, "callbacks", None):
            est.callbacks = None
    return estimator


def _estimators(estimator):
    """``estimator`` and every estimator nested in its parameters."""
    yield estimator
    if hasattr(estimator, "get_params"):
        for value in estimator.get_params(deep=True).values():
            if hasattr(value, "get_params") and not isinstance(value, type):
                yield value
