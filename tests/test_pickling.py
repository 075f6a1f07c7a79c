"""Pickled classifiers: plain data, callbacks without their model or files."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_validate

from skfmnist import ConvClassifier, DenseClassifier
from skfmnist._engine.runtime import import_keras
from skfmnist._state import STATE_FORMAT

CLASSIFIERS = [
    DenseClassifier(hidden_layer_sizes=(8,), epochs=2, batch_size=16, random_state=0),
    ConvClassifier(filters=(4,), dense_units=8, epochs=1, batch_size=16,
                   random_state=0),
]


def _objects(value, seen=None):
    """Every object reachable through containers and instance dicts."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _objects(item, seen)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _objects(item, seen)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        yield from _objects(vars(value), seen)


@pytest.mark.parametrize("clf", CLASSIFIERS, ids=lambda c: type(c).__name__)
def test_state_is_plain_data(blobs, clf):
    X, y = blobs
    clf = clone(clf).fit(X, y)
    state = clf.__getstate__()
    modules = {type(obj).__module__.split(".")[0] for obj in _objects(state)}
    assert not modules & {"keras", "tensorflow"}
    assert state["model_"]["format"] == STATE_FORMAT
    assert all(isinstance(a, np.ndarray) for a in state["model_"]["variables"])
    assert b"keras" not in pickle.dumps(clf)


def test_newer_state_format_is_refused_naming_both_versions(blobs):
    X, y = blobs
    state = clone(CLASSIFIERS[0]).fit(X, y).__getstate__()
    state["model_"]["format"] = STATE_FORMAT + 1
    blank = DenseClassifier.__new__(DenseClassifier)
    with pytest.raises(ValueError, match=(
        f"state format {STATE_FORMAT + 1}, newer than format {STATE_FORMAT}"
    )):
        blank.__setstate__(state)


def test_variables_that_do_not_fit_the_network_are_refused(blobs):
    X, y = blobs
    state = clone(CLASSIFIERS[0]).fit(X, y).__getstate__()
    state["model_"]["variables"][0] = np.zeros((3, 3), np.float32)
    blank = DenseClassifier.__new__(DenseClassifier)
    with pytest.raises(ValueError, match=r"does not match the network.*\(3, 3\)"):
        blank.__setstate__(state)


def test_network_is_rebuilt_from_the_parameters_it_was_built_with(blobs):
    X, y = blobs
    clf = clone(CLASSIFIERS[0]).fit(X, y)
    clf.set_params(hidden_layer_sizes=(3, 3))
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.hidden_layer_sizes == (3, 3)


@pytest.fixture
def logging_callbacks(tmp_path):
    keras = import_keras()
    return [keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
            keras.callbacks.TensorBoard(str(tmp_path / "tb"))]


@pytest.mark.parametrize("clf", CLASSIFIERS, ids=lambda c: type(c).__name__)
def test_fitted_classifier_with_logging_callbacks_pickles(blobs, clf,
                                                          logging_callbacks):
    X, y = blobs
    plain = clone(clf).fit(X, y)
    clf = clone(clf).set_params(callbacks=logging_callbacks).fit(X, y)
    assert all(callback.model is clf.model_ for callback in logging_callbacks)
    blob = pickle.dumps(clf)
    # No second copy of the network travels with the callbacks.
    assert len(blob) < len(pickle.dumps(plain)) + 50_000
    loaded = pickle.loads(blob)
    assert [type(c) for c in loaded.callbacks] == [type(c) for c in logging_callbacks]
    assert all(callback.model is None for callback in loaded.callbacks)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    # The user's own callback objects are left as they were.
    assert all(callback.model is clf.model_ for callback in logging_callbacks)
    # A loaded callback logs the next fit again.
    loaded.set_params(warm_start=True).fit(X, y)
    log = loaded.callbacks[0].filename
    assert open(log).read().count("\n") == 1 + clf.epochs


def test_clone_and_parallel_cross_validation_with_a_csv_logger(blobs, tmp_path):
    keras = import_keras()
    X, y = blobs
    logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    clf = clone(CLASSIFIERS[0]).set_params(callbacks=[logger]).fit(X, y)
    copy = clone(clf)
    assert copy.callbacks[0] is not logger and copy.callbacks[0].model is None
    result = cross_validate(clf, X, y, cv=2, n_jobs=2, return_estimator=True)
    assert len(result["estimator"]) == 2
    assert all(hasattr(est, "model_") for est in result["estimator"])
