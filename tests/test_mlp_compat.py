"""DenseClassifier (and ConvClassifier) where they share MLPClassifier's names:
the same penalty, attributes, methods and stopping rules, and an ordinary
MLPClassifier script that runs with only the class swapped."""

import inspect
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier

from skfmnist import ConvClassifier, DenseClassifier, load_sample
from skfmnist._engine.runtime import import_keras

# One network, one order, one rate: plain SGD steps comparable to the digit.
EXACT = dict(
    dtype="float64", dropout=0.0, shuffle=False, learning_rate_schedule="constant",
    optimizer="sgd",
)


def set_weights(weights):
    """A Keras callback that puts ``weights`` into the model as training begins."""
    keras = import_keras()

    class SetWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model.set_weights(weights)

    return SetWeights()


def batch_recorder():
    """A Keras callback that keeps the weights before, the logs after each call."""
    keras = import_keras()

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.weights, self.logs = [], []

        def on_train_batch_begin(self, batch, logs=None):
            self.weights.append([w.copy() for w in self.model.get_weights()])

        def on_train_batch_end(self, batch, logs=None):
            self.logs.append(dict(logs))

    return Recorder()


def tiny_weights(n_features, n_hidden, n_classes, seed=0):
    rng = np.random.RandomState(seed)
    return [
        rng.normal(0, 0.5, (n_features, n_hidden)), rng.normal(0, 0.1, n_hidden),
        rng.normal(0, 0.5, (n_hidden, n_classes)), rng.normal(0, 0.1, n_classes),
    ]


def forward(weights, X):
    """Per-sample cross-entropy terms of a (hidden ReLU, softmax) network."""
    W0, b0, W1, b1 = weights
    logits = np.maximum(X @ W0 + b0, 0) @ W1 + b1
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def test_penalty_per_batch_is_mlpclassifier_formula(blobs):
    """Each batch, the last smaller one included, adds 0.5*alpha*||W||^2/n."""
    X, y = blobs
    X = X.astype(np.float64) / 10
    alpha, batch_size = 0.5, 100  # batches of 100, 100 and 40 samples
    start = tiny_weights(X.shape[1], 5, 3)
    recorder = batch_recorder()
    DenseClassifier(
        hidden_layer_sizes=(5,), alpha=alpha, batch_size=batch_size, epochs=1,
        learning_rate=0.1, steps_per_execution=1, random_state=0,
        callbacks=[set_weights(start), recorder], **EXACT,
    ).fit(X, y)
    sizes = [100, 100, 40]
    seen = np.cumsum(sizes)
    # The running mean loss after each batch gives each batch's loss sum.
    running = np.array([log["loss"] for log in recorder.logs]) * seen
    batch_sums = np.diff(running, prepend=0.0)
    ours, formula = [], []
    for b, (weights, n) in enumerate(zip(recorder.weights, sizes, strict=True)):
        rows = slice(b * batch_size, b * batch_size + n)
        log_proba = forward(weights, X[rows])
        nll = -log_proba[np.arange(n), y[rows]].sum()
        ours.append((batch_sums[b] - nll) / n)
        W0, _, W1, _ = weights
        formula.append(0.5 * alpha * ((W0**2).sum() + (W1**2).sum()) / n)
    # The last batch carries 100 / 40 times a full batch's share.
    assert formula[2] > 2 * formula[1]
    assert_allclose(ours, formula, rtol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_training_equals_mlpclassifier_from_the_same_weights(blobs, weighted):
    """Loss curve and weights after three epochs of SGD, as in MLPClassifier."""
    X, y = blobs
    X = X.astype(np.float64) / 10
    weights_in_mlp = "sample_weight" in inspect.signature(MLPClassifier.fit).parameters
    if weighted and not weights_in_mlp:
        pytest.skip("MLPClassifier takes sample_weight from scikit-learn 1.7")
    # A rate exact in float32, as Keras keeps it.
    alpha, batch_size, epochs, lr = 0.5, 100, 3, 0.125
    sample_weight = np.linspace(0.5, 2.0, len(y)) if weighted else None
    start = tiny_weights(X.shape[1], 5, 3)
    ours = DenseClassifier(
        hidden_layer_sizes=(5,), alpha=alpha, batch_size=batch_size, epochs=epochs,
        learning_rate=lr, random_state=0, callbacks=[set_weights(start)], **EXACT,
    ).fit(X, y, sample_weight=sample_weight)
    mlp = MLPClassifier(
        hidden_layer_sizes=(5,), alpha=alpha, batch_size=batch_size, max_iter=1,
        solver="sgd", momentum=0.0, learning_rate_init=lr, shuffle=False,
        warm_start=True, n_iter_no_change=epochs, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)  # builds the layers; the same weights then go in
        mlp.coefs_ = [start[0].copy(), start[2].copy()]
        mlp.intercepts_ = [start[1].copy(), start[3].copy()]
        weights = {"sample_weight": sample_weight} if weighted else {}
        mlp.set_params(max_iter=epochs).fit(X, y, **weights)
    for a, b in zip(ours.coefs_ + ours.intercepts_, mlp.coefs_ + mlp.intercepts_,
                    strict=True):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert not np.allclose(ours.coefs_[0], start[0])
    if not weighted:
        # With weights MLPClassifier averages the batches' losses by sample
        # count, skfmnist by weight; the steps are the same either way.
        assert_allclose(ours.loss_curve_, mlp.loss_curve_[-epochs:], rtol=1e-10)
        assert ours.loss_ == ours.loss_curve_[-1]
        assert ours.best_loss_ == pytest.approx(mlp.best_loss_, rel=1e-10)


def test_conv_penalty_counts_every_kernel_and_no_bias(images):
    X, y = images
    X = X.reshape(len(X), -1) / 255
    kernels = {}

    def fit(alpha):
        recorder = batch_recorder()
        clf = ConvClassifier(
            filters=(2,), dense_units=(4,), alpha=alpha, flip=False, epochs=1,
            batch_size=len(X), random_state=0, callbacks=[recorder], **EXACT,
        ).fit(X, y)
        layers = [layer for layer in clf.model_.layers if hasattr(layer, "kernel")]
        weights = dict(zip([v.path for v in clf.model_.weights],
                           recorder.weights[0], strict=True))
        kernels[alpha] = [weights[layer.kernel.path] for layer in layers]
        return clf

    plain, penalised = fit(0.0), fit(0.5)
    for a, b in zip(kernels[0.0], kernels[0.5], strict=True):
        assert_allclose(a, b)  # the same start
    assert len(kernels[0.5]) == 3  # conv_1, dense_1, logits
    expected = 0.5 * 0.5 * sum((k**2).sum() for k in kernels[0.5]) / len(X)
    assert penalised.loss_ - plain.loss_ == pytest.approx(expected, rel=1e-9)


def test_predict_log_proba_stays_finite_where_proba_underflows(blobs):
    X, y = blobs
    clf = DenseClassifier(hidden_layer_sizes=(16,), epochs=5, batch_size=32,
                          learning_rate=0.05, random_state=0).fit(X, y)
    far = X * 1000
    proba = clf.predict_proba(far)
    assert (proba == 0).any()  # float32 softmax underflows
    log_proba = clf.predict_log_proba(far)
    assert log_proba.shape == proba.shape and np.isfinite(log_proba).all()
    (W0, W1), (b0, b1) = clf.coefs_, clf.intercepts_
    logits = np.maximum(far @ W0 + b0, 0) @ W1.astype(np.float64) + b1
    expected = logits - logits.max(1, keepdims=True)
    expected -= np.log(np.exp(expected).sum(1, keepdims=True))
    assert_allclose(log_proba, expected, rtol=1e-5, atol=1e-4)
    near = clf.predict_log_proba(X)
    assert_allclose(np.exp(near), clf.predict_proba(X), rtol=1e-5, atol=1e-7)


def test_conv_predict_log_proba_averages_the_views(images):
    X, y = images
    X = X / 255
    clf = ConvClassifier(filters=(2,), dense_units=(4,), epochs=1, batch_size=40,
                         random_state=0).fit(X, y)
    assert clf._test_time_views()  # mirror averaging on
    assert_allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X),
                    rtol=1e-5, atol=1e-7)
    assert [c.shape for c in clf.coefs_] == [(2 * 4 * 4, 4), (4, 3)]
    assert [b.shape for b in clf.intercepts_] == [(4,), (3,)]
    assert not hasattr(clf, "n_layers_")


def test_fitted_attributes_are_read_only_and_survive_pickling(blobs):
    X, y = blobs
    assert not hasattr(DenseClassifier(), "coefs_")
    clf = DenseClassifier(hidden_layer_sizes=(8, 4), epochs=2, random_state=0)
    clf.fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(20, 8), (8, 4), (4, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (4,), (3,)]
    assert (clf.n_layers_, clf.n_outputs_, clf.out_activation_) == (4, 3, "softmax")
    assert_allclose(clf.coefs_[0], clf.model_.get_layer("dense_1").kernel.numpy())
    with pytest.raises(ValueError, match="read-only"):
        clf.coefs_[0][0, 0] = 1.0
    with pytest.raises(AttributeError):
        clf.coefs_ = []
    state = clf.__getstate__()
    assert "coefs_" not in state and "intercepts_" not in state
    copy = pickle.loads(pickle.dumps(clf))
    for name in ("loss_", "best_loss_", "validation_scores_", "best_validation_score_",
                 "n_layers_", "n_outputs_", "out_activation_"):
        assert getattr(copy, name) == getattr(clf, name), name
    for a, b in zip(copy.coefs_ + copy.intercepts_, clf.coefs_ + clf.intercepts_,
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # A pickle from before these attributes existed gets them on loading.
    for name in ("loss_", "best_loss_", "validation_scores_",
                 "best_validation_score_", "_stopping"):
        del state[name]
    old = DenseClassifier.__new__(DenseClassifier)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.loss_ == clf.loss_ and old.best_loss_ == clf.best_loss_
    assert old.validation_scores_ is None


def test_warm_fits_carry_the_stopping_state_as_mlpclassifier(blobs):
    X, y = blobs
    clf = DenseClassifier(hidden_layer_sizes=(8,), epochs=3, early_stopping=True,
                          warm_start=True, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == 3
    clf.fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == 6
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    clf.set_params(early_stopping=False).fit(X, y)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.best_loss_ == min(clf.loss_curve_[6:])
    clf.partial_fit(X, y)
    assert clf.best_loss_ == min(clf.loss_curve_[6:])


def mlp_script(Classifier):
    """An ordinary MLPClassifier script; only ``Classifier`` changes."""
    X, y = load_sample(return_X_y=True)
    X = X[:200] / 255.0
    y = y[:200]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    clf = Classifier(hidden_layer_sizes=(32,), alpha=1e-4, batch_size=50,
                     tol=5e-2, n_iter_no_change=2, random_state=0)
    clf.fit(X_train, y_train)
    result = {"score": clf.score(X_test, y_test)}
    search = GridSearchCV(
        Classifier(batch_size=50, tol=5e-2, n_iter_no_change=2, random_state=0),
        {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(16,), (32,)]},
        cv=2,
    )
    search.fit(X_train, y_train)
    best = search.best_estimator_
    result.update(
        best_params=search.best_params_,
        loss_curve=best.loss_curve_,
        n_iter=best.n_iter_,
        coef_shapes=[coef.shape for coef in best.coefs_],
        intercept_shapes=[b.shape for b in best.intercepts_],
        n_layers=best.n_layers_,
        n_outputs=best.n_outputs_,
        out_activation=best.out_activation_,
        log_proba=best.predict_log_proba(X_test[:5]),
        proba=best.predict_proba(X_test[:5]),
        loss=best.loss_,
        best_loss=best.best_loss_,
    )
    return result


def test_an_mlpclassifier_script_runs_with_the_class_swapped():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = mlp_script(MLPClassifier)
    ours = mlp_script(DenseClassifier)
    for result in (theirs, ours):
        assert result["score"] > 0.5  # ten classes: chance is 0.1
        assert set(result["best_params"]) == {"alpha", "hidden_layer_sizes"}
        h = result["best_params"]["hidden_layer_sizes"][0]
        assert result["coef_shapes"] == [(784, h), (h, 10)]
        assert result["intercept_shapes"] == [(h,), (10,)]
        assert len(result["loss_curve"]) == result["n_iter"]
        assert result["loss"] == result["loss_curve"][-1]
        assert result["best_loss"] == min(result["loss_curve"])
        assert (result["n_layers"], result["n_outputs"]) == (3, 10)
        assert result["out_activation"] == "softmax"
        assert result["log_proba"].shape == (5, 10)
        assert_allclose(np.exp(result["log_proba"]), result["proba"],
                        rtol=1e-5, atol=1e-7)
