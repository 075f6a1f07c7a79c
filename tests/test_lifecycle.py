"""The life of a classifier in a long-lived process: many fits, failures, Ctrl-C.

These tests run the package defaults (float32, dropout, mini-batches, cosine
schedule) with few epochs, not only the float64 full-batch configuration of
``test_common.py``.
"""

import gc
import pickle
import signal
import warnings
import weakref

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skfmnist import DenseClassifier
from skfmnist._engine.runtime import import_keras

keras = import_keras()


def defaults(**params):
    """The default classifier, shortened to a few epochs of a small network."""
    return DenseClassifier(
        **{"hidden_layer_sizes": (16,), "epochs": 3, "batch_size": 32,
           "random_state": 0, **params}
    )


def weights_of(clf):
    return [w.copy() for w in clf.model_.get_weights()]


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def fitted_state(clf):
    return {
        "classes": clf.classes_.copy(),
        "n_iter": clf.n_iter_,
        "t": clf.t_,
        "loss_curve": list(clf.loss_curve_),
        "history": clf.history_.copy(),
        "weights": weights_of(clf),
        "optimizer": [v.numpy().copy() for v in clf.model_.optimizer.variables],
    }


def assert_state_equal(before, after):
    np.testing.assert_array_equal(before["classes"], after["classes"])
    assert before["n_iter"] == after["n_iter"]
    assert before["t"] == after["t"]
    assert before["loss_curve"] == after["loss_curve"]
    assert before["history"].equals(after["history"])
    assert_same_weights(before["weights"], after["weights"])
    assert_same_weights(before["optimizer"], after["optimizer"])


# -- nothing outlives a fit ----------------------------------------------------


def test_deleted_estimator_frees_its_model(blobs):
    X, y = blobs
    clf = defaults().fit(X, y, X_val=X[:30], y_val=y[:30])
    clf.predict(X)
    clf.partial_fit(X, y)
    refs = [weakref.ref(clf.model_), weakref.ref(clf._engine)]
    del clf
    gc.collect()
    assert [ref() for ref in refs] == [None, None]


def test_refit_and_unpickled_copies_free_their_models(blobs):
    X, y = blobs
    clf = defaults()
    refs = []
    for seed in range(3):
        clf.set_params(random_state=seed).fit(X, y)
        refs.append(weakref.ref(clf.model_))
    copy = pickle.loads(pickle.dumps(clf))
    copy.predict(X)
    refs.append(weakref.ref(copy.model_))
    del copy
    gc.collect()
    # Only the model of the last fit is still in use.
    assert [ref() is not None for ref in refs] == [False, False, True, False]


def test_no_keras_models_accumulate_over_fits(blobs):
    X, y = blobs

    def live_models():
        gc.collect()
        return sum(isinstance(o, keras.Model) for o in gc.get_objects())

    start = live_models()
    for seed in range(4):
        defaults(random_state=seed).fit(X, y).predict_proba(X)
    assert live_models() == start


# -- atomic fits ---------------------------------------------------------------


def test_failed_refit_keeps_the_fitted_estimator(blobs):
    X, y = blobs
    clf = defaults().fit(X, y)
    before = fitted_state(clf)
    proba = clf.predict_proba(X)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, np.zeros_like(y))
    assert_state_equal(before, fitted_state(clf))
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_failed_first_fit_leaves_the_estimator_unfitted(blobs):
    X, y = blobs
    clf = defaults()
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, np.zeros_like(y))
    assert not hasattr(clf, "n_features_in_") and not hasattr(clf, "classes_")
    with pytest.raises(NotFittedError):
        clf.predict(X)


@pytest.mark.parametrize("warm", ["warm_start", "partial_fit"])
def test_failed_continued_fit_puts_everything_back(blobs, warm):
    X, y = blobs
    clf = defaults(warm_start=warm == "warm_start").fit(X, y)
    before = fitted_state(clf)
    # The continued fit trains in place, then diverges: weights, optimizer
    # state, history and the random stream all go back.
    clf.set_params(learning_rate=1e9, optimizer="adam")
    X_bad = X * 1e30
    with pytest.raises(ValueError, match="Training diverged"):
        if warm == "warm_start":
            clf.fit(X_bad, y)
        else:
            clf.partial_fit(X_bad, y)
    assert_state_equal(before, fitted_state(clf))
    # ... so the next call gives what it would have given without the failure.
    clf.set_params(learning_rate=1e-3)
    reference = defaults(warm_start=warm == "warm_start").fit(X, y)
    for model in (clf, reference):
        model.fit(X, y) if warm == "warm_start" else model.partial_fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), reference.predict_proba(X))


def test_failed_partial_fit_on_bad_labels_changes_nothing(blobs):
    X, y = blobs
    clf = defaults().partial_fit(X, y)
    before = fitted_state(clf)
    with pytest.raises(ValueError, match=r"labels \[9\] that were not seen"):
        clf.partial_fit(X[:4], [0, 1, 2, 9])
    with pytest.raises(ValueError, match="X has 5 features"):
        clf.partial_fit(X[:, :5], y)
    assert_state_equal(before, fitted_state(clf))


# -- divergence ----------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_divergence_raises_a_helpful_error(blobs, optimizer):
    X, y = blobs
    clf = defaults(optimizer=optimizer, learning_rate=1e9)
    with pytest.raises(ValueError, match=r"Training diverged: the training loss "
                       r"became (nan|inf) in epoch \d+\. Scale the pixels to "
                       r"\[0, 1\] first \(PixelScaler\), or lower learning_rate "
                       r"\(now 1e\+09\)"):
        clf.fit(X * 1e30, y)
    with pytest.raises(NotFittedError):
        clf.predict_proba(X)


def test_predict_proba_never_returns_nan(blobs):
    X, y = blobs
    clf = defaults().fit(X, y)
    clf.model_.get_layer("logits").kernel.assign(
        np.full(clf.model_.get_layer("logits").kernel.shape, np.nan, np.float32)
    )
    with pytest.raises(ValueError, match="non-finite probabilities"):
        clf.predict_proba(X)


# -- Ctrl-C --------------------------------------------------------------------


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler for the test.

    A process started in the background by a non-interactive shell (``pytest
    &`` in a script) inherits SIGINT as ignored, and Python then installs no
    handler: a real SIGINT would do nothing there.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class InterruptAt(keras.callbacks.Callback):
    """Raise KeyboardInterrupt (through a real SIGINT) at a given point."""

    def __init__(self, epoch, hook="epoch_begin", batch=0):
        super().__init__()
        self.epoch, self.hook, self.batch = epoch, hook, batch
        self.weights_at_epoch_end = {}
        self.current = None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch
        if self.hook == "epoch_begin" and epoch == self.epoch:
            signal.raise_signal(signal.SIGINT)

    def on_train_batch_end(self, batch, logs=None):
        if self.hook == "batch" and self.current == self.epoch and batch >= self.batch:
            signal.raise_signal(signal.SIGINT)

    def on_epoch_end(self, epoch, logs=None):
        self.weights_at_epoch_end[epoch] = [w.copy() for w in self.model.get_weights()]


@pytest.mark.parametrize("hook", ["epoch_begin", "batch"])
def test_ctrl_c_keeps_the_complete_epochs(blobs, hook, ctrl_c_raises):
    X, y = blobs
    interrupt = InterruptAt(epoch=2, hook=hook, batch=2)
    clf = defaults(epochs=5, steps_per_execution=1, callbacks=[interrupt])
    with pytest.warns(UserWarning, match="interrupted by user after 2 complete"):
        clf.fit(X, y)
    assert clf.n_iter_ == 2
    assert len(clf.history_) == 2 and len(clf.loss_curve_) == 2
    assert clf.history_.index.tolist() == [1, 2]
    assert clf.t_ == 2 * len(y)
    # Mid-epoch updates of the interrupted epoch are rolled back.
    assert_same_weights(weights_of(clf), interrupt.weights_at_epoch_end[1])
    # The result is a usable, consistent estimator that can go on training.
    clf.set_params(callbacks=None, warm_start=True, epochs=1).fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.history_) == 3


def test_ctrl_c_in_the_first_epoch_aborts_and_changes_nothing(blobs, ctrl_c_raises):
    X, y = blobs
    clf = defaults(callbacks=[InterruptAt(epoch=0)])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    clf.set_params(callbacks=None).fit(X, y)
    before = fitted_state(clf)
    clf.set_params(warm_start=True, callbacks=[InterruptAt(epoch=3)])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert_state_equal(before, fitted_state(clf))


# -- warm start and partial_fit --------------------------------------------------


def test_each_warm_fit_runs_its_schedule_from_learning_rate(blobs):
    X, y = blobs
    clf = defaults(warm_start=True, epochs=4).fit(X, y)
    first = clf.history_["learning_rate"].to_numpy()
    assert first[0] == pytest.approx(1e-3) and first[-1] < 1e-3
    clf.fit(X, y)
    np.testing.assert_allclose(clf.history_["learning_rate"].to_numpy()[4:], first)
    clf.set_params(learning_rate=5e-3).fit(X, y)
    np.testing.assert_allclose(
        clf.history_["learning_rate"].to_numpy()[8:], first * 5, rtol=1e-6
    )
    assert clf.n_iter_ == 12 and clf.history_.index.tolist() == list(range(1, 13))


def test_constant_schedule_follows_set_params_between_warm_fits(blobs):
    X, y = blobs
    clf = defaults(warm_start=True, learning_rate_schedule="constant").fit(X, y)
    clf.set_params(learning_rate=2e-2).fit(X, y)
    np.testing.assert_allclose(
        clf.history_["learning_rate"], [1e-3] * 3 + [2e-2] * 3, rtol=1e-6
    )


def test_partial_fit_follows_the_schedule_by_epoch(blobs):
    X, y = blobs
    full = defaults(epochs=4).fit(X, y).history_["learning_rate"].to_numpy()
    clf = defaults(epochs=4)
    for _ in range(6):
        clf.partial_fit(X, y)
    rates = clf.history_["learning_rate"].to_numpy()
    np.testing.assert_allclose(rates[:4], full, rtol=1e-6)
    np.testing.assert_allclose(rates[4:], [1e-3 * 0.01] * 2, rtol=1e-5)


@pytest.mark.parametrize(
    "param, value",
    [("hidden_layer_sizes", (8,)), ("activation", "tanh"), ("dropout", 0.5),
     ("alpha", 1e-3), ("dtype", "float64"), ("optimizer", "sgd")],
)
def test_network_parameters_cannot_change_between_warm_fits(blobs, param, value):
    X, y = blobs
    clf = defaults(warm_start=True).fit(X, y)
    before = fitted_state(clf)
    clf.set_params(**{param: value})
    with pytest.raises(ValueError, match=f"Cannot continue training: {param} from"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match="set warm_start=False"):
        clf.partial_fit(X, y)
    assert_state_equal(before, fitted_state(clf))
    # A cold fit builds the new network.
    clf.set_params(warm_start=False).fit(X, y)
    assert clf.n_iter_ == 3


def test_same_sizes_as_list_or_tuple_continue(blobs):
    X, y = blobs
    clf = defaults(warm_start=True, hidden_layer_sizes=(16,)).fit(X, y)
    clf.set_params(hidden_layer_sizes=[16]).fit(X, y)
    assert clf.n_iter_ == 6


# -- one objective -------------------------------------------------------------


def test_loss_and_val_loss_measure_the_same_objective(blobs):
    # One full batch per epoch and no dropout: the loss of epoch k is the
    # objective at the weights that epoch k-1 ended with, where val_loss of
    # epoch k-1 was measured on the same data.
    X, y = blobs
    clf = DenseClassifier(
        hidden_layer_sizes=(8,), dropout=0.0, alpha=1e-2, label_smoothing=0.2,
        batch_size=len(y), epochs=4, dtype="float64", random_state=0,
        learning_rate_schedule="constant", shuffle=False,
    ).fit(X, y, X_val=X, y_val=y)
    history = clf.history_
    np.testing.assert_allclose(
        history["loss"].to_numpy()[1:], history["val_loss"].to_numpy()[:-1],
        rtol=1e-10,
    )


def _penalty_numerator(clf, alpha):
    """MLPClassifier's 0.5 * alpha * sum(||W||^2) over the kernels."""
    return 0.5 * alpha * sum(
        (layer.kernel.numpy().astype(np.float64) ** 2).sum()
        for layer in clf.model_.layers if isinstance(layer, keras.layers.Dense)
    )


def test_val_loss_matches_keras_evaluate_without_smoothing(blobs):
    X, y = blobs
    alpha = 1e-3
    clf = defaults(alpha=alpha).fit(X, y, X_val=X[:60], y_val=y[:60])
    # Keras adds the layers' L2(alpha / 2) whole; val_loss adds it in the
    # share the training loss carries: one per batch (8 of 32), per sample.
    keras_loss = clf.model_.evaluate(X[:60], y[:60], verbose=0)[0]
    numerator = _penalty_numerator(clf, alpha)
    expected = keras_loss - numerator + numerator * 8 / len(y)
    assert clf.history_["val_loss"].iloc[-1] == pytest.approx(expected, rel=1e-5)


def test_val_loss_is_the_smoothed_cross_entropy_plus_penalty(blobs):
    X, y = blobs
    smoothing, alpha = 0.1, 1e-2
    clf = defaults(alpha=alpha, label_smoothing=smoothing, dtype="float64").fit(
        X, y, X_val=X[:60], y_val=y[:60]
    )
    proba = clf.predict_proba(X[:60])
    log_p = np.log(proba)
    nll = -(1 - smoothing) * log_p[np.arange(60), y[:60]] - smoothing * log_p.mean(1)
    # One penalty per training batch (8 of 32 samples), per training sample.
    penalty = _penalty_numerator(clf, alpha) * 8 / len(y)
    assert clf.history_["val_loss"].iloc[-1] == pytest.approx(
        nll.mean() + penalty, rel=1e-7
    )


def test_validation_data_errors(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        defaults().fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="sample_weight_val needs X_val"):
        defaults().fit(X, y, sample_weight_val=np.ones(3))
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in y"):
        defaults().fit(X, y, X_val=X[:2], y_val=[0, 7])
    with pytest.raises(ValueError, match="X_val has 2 samples but y_val has 3"):
        defaults().fit(X, y, X_val=X[:2], y_val=[0, 1, 2])
    with pytest.raises(ValueError, match="X has 5 features"):
        defaults().fit(X, y, X_val=X[:2, :5], y_val=[0, 1])


def test_early_stopping_uses_the_given_validation_data(blobs):
    X, y = blobs
    clf = defaults(early_stopping=True, n_iter_no_change=1, tol=10.0, epochs=10)
    clf.fit(X, y, X_val=X[:50], y_val=y[:50])
    # tol=10 means no epoch after the first improves: as MLPClassifier, stop
    # after 1 + n_iter_no_change + 1.
    assert clf.n_iter_ == 3
    assert len(clf.validation_scores_) == 3
    # The whole training set was trained on (no split taken off it).
    assert clf.t_ == 3 * len(y)


# -- pickling keeps going ----------------------------------------------------------


def test_unpickled_estimator_continues_training_identically(blobs):
    X, y = blobs
    clf = defaults(warm_start=True).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    for model in (clf, copy):
        model.fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert clone(copy).get_params()["warm_start"] is True


def test_no_warnings_in_a_normal_fit(blobs):
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        defaults().fit(X, y, X_val=X[:20], y_val=y[:20]).predict(X)
