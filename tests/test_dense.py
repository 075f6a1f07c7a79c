import math
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils import compute_sample_weight

import skfmnist._engine.training as training
from skfmnist import DenseClassifier, PixelScaler
from skfmnist._engine.runtime import import_keras

FAST = dict(
    hidden_layer_sizes=(16,),
    epochs=4,
    batch_size=32,
    learning_rate=0.01,
    random_state=0,
)


def fast(**params):
    return DenseClassifier(**{**FAST, **params})


# Exact arithmetic for comparisons with a reference: one network, one order
# of the samples, one learning rate all along.
EXACT = dict(
    dtype="float64", dropout=0.0, shuffle=False, learning_rate_schedule="constant"
)


# Each optimizer option and the Keras optimizer it must be.
KERAS_OPTIMIZERS = {
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "Nadam",
    "adamax": "Adamax",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}


def initial_weights():
    """A Keras callback that keeps the model's weights as training begins."""
    keras = import_keras()

    class InitialWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.weights = [w.copy() for w in self.model.get_weights()]

    return InitialWeights()


def keras_fit(clf, weights, X, y, sample_weight, *, epochs):
    """Train a copy of ``clf.model_`` from ``weights`` with ``keras.Model.fit``.

    The same architecture up to the logits (Keras' loss on probabilities
    would clip them at 1e-7), the same optimizer class and learning rate; the
    data in order, in ``clf.batch_size`` batches, as a ``tf.data`` pipeline so
    that float64 stays float64.
    """
    import tensorflow as tf

    keras = import_keras()
    network = keras.models.clone_model(clf.model_)
    model = keras.Model(network.inputs, network.get_layer("logits").output)
    model.set_weights(weights)
    optimizer = getattr(keras.optimizers, KERAS_OPTIMIZERS[clf.optimizer])(
        learning_rate=clf.learning_rate
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, dtype="float64"
        ),
    )
    data = tf.data.Dataset.from_tensor_slices(
        (X.astype(np.float64), y, sample_weight.astype(np.float64))
    ).batch(clf.batch_size)
    history = model.fit(data, epochs=epochs, verbose=0, shuffle=False)
    return model, history.history["loss"]


@pytest.fixture(scope="module")
def fitted(blobs):
    """``fast()`` fitted on the blobs, once, for the tests that only read it."""
    X, y = blobs
    return fast().fit(X, y)


def test_fit_predict_shapes_and_attributes(blobs, fitted):
    X, y = blobs
    clf = fitted
    assert clf.predict(X).shape == (len(X),)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float64
    assert_allclose(proba.sum(axis=1), 1)
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_features_in_ == 20
    assert clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
    assert clf.t_ == 4 * len(X)
    assert list(clf.history_.columns) == ["loss", "accuracy", "learning_rate"]
    assert list(clf.history_.index) == [1, 2, 3, 4]
    assert clf.history_.index.name == "epoch"
    assert_allclose(clf.history_["loss"], clf.loss_curve_)
    assert clf.score(X, y) > 0.9


def test_model_is_a_keras_model_matching_predict_proba(blobs, fitted):
    import keras

    X, y = blobs
    clf = fitted
    assert isinstance(clf.model_, keras.Model)
    assert clf.model_.get_layer("logits").units == 3
    assert_allclose(clf.model_.predict(X, verbose=0), clf.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, 10, 42]),
        np.array(["coat", "dress", "shirt"]),
        np.array([-1.0, 0.0, 2.0]),
    ],
)
def test_any_label_type_round_trips(blobs, labels):
    X, y = blobs
    y_user = labels[y]
    clf = fast().fit(X, y_user)
    assert_array_equal(clf.classes_, np.sort(labels))
    y_pred = clf.predict(X)
    assert y_pred.dtype == y_user.dtype
    assert set(y_pred) <= set(labels)
    assert (y_pred == y_user).mean() > 0.9


def test_binary_problem(blobs):
    X, y = blobs
    mask = y < 2
    clf = fast().fit(X[mask], np.where(y[mask] == 1, "yes", "no"))
    assert clf.predict_proba(X[mask]).shape == (mask.sum(), 2)
    assert clf.score(X[mask], np.where(y[mask] == 1, "yes", "no")) > 0.9


def test_same_seed_same_predictions_other_seed_differs(blobs):
    X, y = blobs
    a = fast(dropout=0.3).fit(X, y).predict_proba(X)
    b = fast(dropout=0.3).fit(X, y).predict_proba(X)
    c = fast(dropout=0.3, random_state=1).fit(X, y).predict_proba(X)
    assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_steps_per_execution_takes_the_same_steps(blobs):
    # One traced loop runs every call, over the same mini-batches with the
    # same seeds, whether a call takes one step or the whole epoch: the very
    # same arithmetic, so the same weights and predictions to the last bit.
    X, y = blobs
    reference = fast(dropout=0.2).fit(X, y)
    stepwise = fast(dropout=0.2, steps_per_execution=1).fit(X, y)
    for ours, theirs in zip(
        reference.model_.get_weights(), stepwise.model_.get_weights(), strict=True
    ):
        assert_array_equal(ours, theirs)
    assert_array_equal(reference.predict_proba(X), stepwise.predict_proba(X))
    # Only the epoch's loss is added up otherwise: in the graph (float32) over
    # one call, or in Python over one call per step.
    assert_allclose(reference.loss_curve_, stepwise.loss_curve_, rtol=1e-6)


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-12)])
def test_predict_batch_size_changes_probabilities_by_rounding_only(
    blobs, dtype, rtol
):
    # Other row counts per forward pass may take other matrix kernels (on an
    # AVX2 machine, chunks of 7 or 32 of these 240 rows change the last bits
    # of a tenth of the float32 probabilities), so the promise is a
    # tolerance: rtol, and an atol for the tiniest probabilities, whose
    # relative error is the absolute rounding error of a large logit.
    X, y = blobs
    clf = fast(dropout=0.2, dtype=dtype).fit(X, y)
    expected = clf.predict_proba(X)
    for size in (1, 7, 32):
        proba = clf.set_params(predict_batch_size=size).predict_proba(X)
        assert_allclose(proba, expected, rtol=rtol, atol=rtol * 1e-4)


def test_every_optimizer_option_is_compared_with_keras():
    constraint = DenseClassifier._parameter_constraints["optimizer"][0]
    assert set(constraint.options) == set(KERAS_OPTIMIZERS)


@pytest.mark.parametrize(
    "optimizer, batch_size",
    [("adam", size) for size in (32, 50, 240, 1000)]
    + [(name, 32) for name in KERAS_OPTIMIZERS if name != "adam"],
)
def test_training_matches_keras_fit(blobs, monkeypatch, optimizer, batch_size):
    """The compiled loop takes exactly the steps ``keras.Model.fit`` takes."""
    # Keras' own Adam update; the fused kernel has its own test below.
    monkeypatch.setattr(training, "_use_fused_adam", lambda optimizer: False)
    X, y = blobs
    # Per-batch weights summing to the batch size, where Keras' mean over
    # the batch and skfmnist's weighted mean agree (every batch is even).
    sample_weight = np.tile([0.5, 1.5], len(X) // 2)
    start = initial_weights()
    clf = fast(
        optimizer=optimizer, batch_size=batch_size, epochs=2, callbacks=[start],
        **EXACT,
    ).fit(X, y, sample_weight=sample_weight)
    reference, loss = keras_fit(clf, start.weights, X, y, sample_weight, epochs=2)
    steps = math.ceil(len(X) / min(batch_size, len(X)))
    assert type(clf.model_.optimizer).__name__ == KERAS_OPTIMIZERS[optimizer]
    assert int(clf.model_.optimizer.iterations.numpy()) == 2 * steps
    assert int(reference.optimizer.iterations.numpy()) == 2 * steps
    for before, ours, theirs in zip(
        start.weights, clf.model_.get_weights(), reference.get_weights(), strict=True
    ):
        assert not np.allclose(before, ours, rtol=0, atol=1e-6)
        assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    # Keras accumulates its loss metric in float32.
    assert_allclose(clf.loss_curve_, loss, rtol=1e-6)


def test_fused_adam_matches_keras_fit_within_its_tolerance(blobs):
    X, y = blobs
    sample_weight = np.ones(len(X))
    start = initial_weights()
    clf = fast(epochs=2, callbacks=[start], **EXACT).fit(X, y)
    if not training._use_fused_adam(clf.model_.optimizer):
        pytest.skip("this Keras version trains Adam without the fused kernel")
    reference, loss = keras_fit(clf, start.weights, X, y, sample_weight, epochs=2)
    # _fused_adam's docstring: Keras rounds one constant through float32, so
    # the two agree to about 1e-5 (Keras' loss metric is float32 besides).
    for ours, theirs in zip(
        clf.model_.get_weights(), reference.get_weights(), strict=True
    ):
        assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    assert_allclose(clf.loss_curve_, loss, rtol=1e-4)


def test_zero_sample_weight_equals_dropping_samples(blobs):
    X, y = blobs
    params = dict(dtype="float64", batch_size=1000, dropout=0.0)
    weights = np.ones(len(X))
    weights[::3] = 0
    weighted = fast(**params).fit(X, y, sample_weight=weights)
    dropped = fast(**params).fit(X[weights > 0], y[weights > 0])
    assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X), rtol=1e-9)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 3.0, 2: 9.0}])
def test_class_weight_equals_matching_sample_weight(blobs, class_weight):
    X, y = blobs
    # Imbalanced: 80, 30 and 10 samples.
    counts = (80, 30, 10)
    keep = np.concatenate([np.flatnonzero(y == k)[:n] for k, n in enumerate(counts)])
    X, y = X[keep], y[keep]
    sample_weight = np.linspace(0.5, 2.0, len(y))
    params = dict(dtype="float64", dropout=0.0, epochs=3)
    by_class = fast(class_weight=class_weight, **params)
    by_class.fit(X, y, sample_weight=sample_weight)
    matching = sample_weight * compute_sample_weight(class_weight, y)
    by_sample = fast(**params).fit(X, y, sample_weight=matching)
    assert_allclose(
        by_class.predict_proba(X), by_sample.predict_proba(X), rtol=1e-10
    )
    plain = fast(**params).fit(X, y, sample_weight=sample_weight)
    assert not np.allclose(
        plain.predict_proba(X), by_class.predict_proba(X), rtol=1e-3
    )


@pytest.mark.parametrize("early_stopping", [True, False])
def test_stopping_counts_epochs_as_mlpclassifier(blobs, early_stopping):
    from sklearn.neural_network import MLPClassifier

    X, y = blobs
    params = dict(early_stopping=early_stopping, n_iter_no_change=2, tol=10.0)
    clf = fast(epochs=50, **params).fit(X, y)
    # With an unreachable tol, no epoch after the first counts as an
    # improvement; more than n_iter_no_change of them stop, as in sklearn.
    mlp = MLPClassifier((16,), max_iter=50, random_state=0, **params).fit(X, y)
    assert clf.n_iter_ == mlp.n_iter_ == 4
    if early_stopping:
        assert {"val_loss", "val_accuracy"} <= set(clf.history_.columns)
        assert clf.t_ == 4 * (len(X) - round(0.1 * len(X)))
        assert clf.validation_scores_ == clf.history_["val_accuracy"].tolist()
        assert clf.best_validation_score_ == max(clf.validation_scores_)
        assert clf.best_loss_ is None
    else:
        assert clf.validation_scores_ is None is clf.best_validation_score_
        assert clf.best_loss_ == min(clf.loss_curve_)
        assert clf.loss_ == clf.loss_curve_[-1]


def _stop_epoch(values, tol, patience, higher_is_better):
    """The epoch (1-based) where MLPClassifier's rule stops, or None."""
    sign = 1 if higher_is_better else -1
    count, best = 0, -np.inf
    for epoch, value in enumerate(sign * np.asarray(values), start=1):
        count = count + 1 if value < best + tol else 0
        best = max(best, value)
        if count > patience:
            return epoch
    return None


def test_training_loss_stops_without_early_stopping(blobs):
    X, y = blobs
    # Full-batch steps on separable data: the loss soon falls by less than tol.
    clf = fast(epochs=500, batch_size=240, tol=1e-2, n_iter_no_change=3,
               **EXACT).fit(X, y)
    assert clf.n_iter_ == _stop_epoch(clf.loss_curve_, 1e-2, 3, False) < 500
    assert clf.best_loss_ == min(clf.loss_curve_)
    always = fast(epochs=30, batch_size=240, tol=1e-2, n_iter_no_change=30,
                  **EXACT).fit(X, y)
    assert always.n_iter_ == 30


def test_early_stopping_restores_the_best_validation_epoch(blobs):
    X, y = blobs
    X_train, y_train, X_val = X[:180], y[:180], X[180:]
    # A third of the validation labels are wrong: the validation accuracy
    # climbs slowly to 2/3 and stays there.
    y_val = y[180:].copy()
    y_val[::3] = (y_val[::3] + 1) % 3
    clf = fast(
        epochs=100, early_stopping=True, n_iter_no_change=3, tol=0.01,
        learning_rate=0.001, **EXACT,
    ).fit(X_train, y_train, X_val=X_val, y_val=y_val)
    scores = clf.history_["val_accuracy"].to_numpy()
    assert clf.validation_scores_ == scores.tolist()
    assert clf.n_iter_ == _stop_epoch(scores, 0.01, 3, True) < 100
    first_best = int(np.argmax(scores))
    assert first_best < clf.n_iter_ - 1
    assert clf.best_validation_score_ == scores[first_best]
    # The weights of the first epoch that reached the best score came back.
    val_loss = clf.history_["val_loss"].to_numpy()
    assert val_loss[first_best] != pytest.approx(val_loss[-1], rel=1e-6)
    proba = clf.predict_proba(X_val)
    restored = -np.mean(np.log(proba[np.arange(len(y_val)), y_val]))
    assert restored == pytest.approx(val_loss[first_best], rel=1e-9)
    assert clf.score(X_val, y_val) == scores[first_best]


def test_cosine_schedule_decays_and_plateau_halves(blobs):
    X, y = blobs
    cosine = fast(epochs=5, learning_rate_schedule="cosine").fit(X, y)
    rates = cosine.history_["learning_rate"].to_numpy()
    assert rates[0] == pytest.approx(0.01) and np.all(np.diff(rates) < 0)
    plateau = fast(epochs=8, learning_rate_schedule="plateau", tol=100.0)
    rates = plateau.fit(X, y).history_["learning_rate"].to_numpy()
    assert rates[0] == pytest.approx(0.01)
    assert rates[-1] == pytest.approx(0.01 * 0.25)
    constant = fast(learning_rate_schedule="constant").fit(X, y)
    assert_allclose(constant.history_["learning_rate"], 0.01)


def test_warm_start_continues_training(blobs):
    X, y = blobs
    clf = fast(warm_start=True, learning_rate_schedule="constant").fit(X, y)
    first_weights = clf.model_.get_weights()[0].copy()
    model = clf.model_
    clf.fit(X, y)
    assert clf.model_ is model
    assert clf.n_iter_ == 8 and len(clf.history_) == 8
    assert list(clf.history_.index) == list(range(1, 9))
    assert not np.allclose(first_weights, clf.model_.get_weights()[0])
    cold = fast().fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == 4


def test_partial_fit(blobs):
    X, y = blobs
    clf = fast()
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.partial_fit(X[y == 0], y[y == 0])
    clf = fast().partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    assert clf.n_iter_ == 1
    for _ in range(5):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 6 and clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match=r"labels \[7\] that were not seen"):
        clf.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match="X has 5 features, but DenseClassifier"):
        clf.partial_fit(X[:, :5], y)
    with pytest.raises(ValueError, match=r"not in classes=\[0, 1\]"):
        fast().partial_fit(X, y, classes=[0, 1])


def test_image_stacks_are_flattened(images):
    X, y = images
    clf = fast().fit(X / 255.0, y)
    assert clf.n_features_in_ == 64
    assert_array_equal(clf.predict(X / 255.0), clf.predict(X.reshape(len(X), -1) / 255))


def test_pandas_input_records_feature_names(blobs):
    X, y = blobs
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = fast().fit(df, pd.Series(y))
    assert_array_equal(clf.feature_names_in_, df.columns)
    assert clf.predict(df).shape == (len(df),)


def test_pickle_joblib_and_clone_of_fitted(blobs, fitted, tmp_path):
    X, y = blobs
    clf = fitted
    expected = clf.predict_proba(X)
    assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    assert_array_equal(joblib.load(tmp_path / "clf.joblib").predict_proba(X), expected)
    fresh = clone(clf)
    assert not hasattr(fresh, "model_")
    assert fresh.get_params() == clf.get_params()


# A pickled pipeline predicting identically in a fresh process: checked with
# the ConvClassifier's in test_conv.py, one new process for both.


def test_warm_start_after_unpickling_keeps_training(blobs):
    X, y = blobs
    clf = pickle.loads(pickle.dumps(fast(warm_start=True).fit(X, y)))
    clf.fit(X, y)
    assert clf.n_iter_ == 8


def test_grid_search_over_layer_sizes(images):
    X, y = images
    pipe = Pipeline([("scale", PixelScaler()), ("clf", fast(epochs=2))])
    grid = {"clf__hidden_layer_sizes": [(8,), (16, 8)]}
    for n_jobs in (1, 2):
        # refit=False: best_params_ without the refit (other tests refit).
        search = GridSearchCV(pipe, grid, cv=2, n_jobs=n_jobs, refit=False)
        search.fit(X, y)
        assert search.best_params_["clf__hidden_layer_sizes"] in grid[
            "clf__hidden_layer_sizes"
        ]
        assert len(search.cv_results_["mean_test_score"]) == 2
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,)


def test_linear_model_without_hidden_layers(blobs):
    X, y = blobs
    clf = fast(hidden_layer_sizes=()).fit(X, y)
    assert [layer.name for layer in clf.model_.layers[1:]] == ["logits", "proba"]


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(optimizer="adamm"), "'optimizer' parameter .* must be a str among"),
        (dict(activation="rellu"), "'activation' parameter"),
        (dict(epochs=0), "'epochs' parameter .* must be an int in the range"),
        (dict(batch_size=0), "'batch_size' parameter"),
        (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes must hold positive"),
        (dict(hidden_layer_sizes=(10, "a")), "hidden_layer_sizes must hold positive"),
        (dict(dropout=1.0), "'dropout' parameter"),
        (dict(learning_rate=-1), "'learning_rate' parameter"),
        (dict(dtype="float16"), "'dtype' parameter"),
        (dict(validation_fraction=0), "'validation_fraction' parameter"),
    ],
)
def test_bad_parameters_raise_clear_errors(blobs, params, match):
    X, y = blobs
    with pytest.raises(ValueError, match=match):
        fast(**params).fit(X, y)


@pytest.mark.parametrize(
    "X_bad, y_bad, match",
    [
        ("nan", None, "Input X contains NaN"),
        ("inf", None, "Input X contains infinity"),
        (None, "one_class", "only one class"),
        (None, "continuous", "Unknown label type"),
        ("1d", None, "Expected 2D array, got 1D array"),
        ("strings", None, "could not convert|strings"),
    ],
)
def test_bad_data_raise_clear_errors(blobs, X_bad, y_bad, match):
    X, y = blobs
    X = X.copy()
    if X_bad == "nan":
        X[0, 0] = np.nan
    elif X_bad == "inf":
        X[0, 0] = np.inf
    elif X_bad == "1d":
        X = X[:, 0]
    elif X_bad == "strings":
        X = np.full(X.shape, "a")
    if y_bad == "one_class":
        y = np.zeros_like(y)
    elif y_bad == "continuous":
        y = np.linspace(0, 1, len(y))
    with pytest.raises(ValueError, match=match):
        fast().fit(X, y)


def test_zero_weights_for_all_but_one_class(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="Only one class has a positive sample_weight"):
        fast().fit(X, y, sample_weight=(y == 0).astype(float))


def test_negative_sample_weight_rejected(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        fast().fit(X, y, sample_weight=-np.ones(len(y)))


def test_prediction_errors(blobs, fitted):
    X, y = blobs
    with pytest.raises(NotFittedError, match="not fitted yet"):
        fast().predict(X)
    failed = fast()
    with pytest.raises(ValueError, match="only one class"):
        failed.fit(X, np.zeros_like(y))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        failed.predict(X)
    clf = fitted
    with pytest.raises(ValueError, match="X has 19 features, but DenseClassifier"):
        clf.predict(X[:, 1:])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict_proba(np.full_like(X, np.nan))


def test_verbosity_levels(blobs, capfd):
    X, y = blobs
    fast(verbose=0).fit(X, y).predict(X)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    fast(verbose=1, epochs=2).fit(X, y)
    out, _ = capfd.readouterr()
    assert out.count("Epoch 1/2") == 1 and out.count("Epoch 2/2") == 1
    assert "loss:" in out and "accuracy:" in out
    fast(verbose=2, epochs=2).fit(X, y)
    out, _ = capfd.readouterr()
    # Keras' verbose=2: a heading and one plain line per epoch, for logs.
    lines = out.splitlines()
    assert "\r" not in out and len(lines) == 4
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    for line in lines[1::2]:
        assert line.startswith("8/8 - ") and " - loss: " in line


@pytest.mark.parametrize(
    # alpha exact in float32: Keras' L2 rounds it so even in float64.
    "label_smoothing, alpha", [(0.2, 0.0), (0.0, 0.25), (0.1, 0.0625)]
)
def test_loss_and_step_follow_the_formula(blobs, label_smoothing, alpha):
    """A linear softmax model, one full-batch SGD step, worked out in NumPy."""
    X, y = blobs
    X = X.astype(np.float64) / 10
    sample_weight = np.linspace(0.5, 2.0, len(y))
    start = initial_weights()
    clf = fast(
        hidden_layer_sizes=(), optimizer="sgd", learning_rate=0.5, epochs=1,
        batch_size=len(X), label_smoothing=label_smoothing, alpha=alpha,
        callbacks=[start], **EXACT,
    ).fit(X, y, sample_weight=sample_weight)
    W, b = start.weights
    logits = X @ W + b
    log_proba = logits - logits.max(axis=1, keepdims=True)
    log_proba -= np.log(np.exp(log_proba).sum(axis=1, keepdims=True))
    n_classes = W.shape[1]
    # Smoothed targets: 1 - s + s / K on the label, s / K elsewhere.
    target = np.full(log_proba.shape, label_smoothing / n_classes)
    target[np.arange(len(y)), y] += 1 - label_smoothing
    share = sample_weight / sample_weight.sum()
    cross_entropy = share @ -(target * log_proba).sum(axis=1)
    # MLPClassifier's penalty: 0.5 * alpha * sum(W ** 2), on the kernel
    # only, over the batch's sum of sample weights.
    loss = cross_entropy + 0.5 * alpha * (W**2).sum() / sample_weight.sum()
    assert clf.loss_curve_[0] == pytest.approx(loss, rel=1e-12)
    grad_logits = share[:, None] * (np.exp(log_proba) - target)
    grad_W = X.T @ grad_logits + alpha * W / sample_weight.sum()
    grad_b = grad_logits.sum(axis=0)
    W1, b1 = clf.model_.get_weights()
    assert_allclose(W1, W - 0.5 * grad_W, rtol=1e-12, atol=1e-14)
    assert_allclose(b1, b - 0.5 * grad_b, rtol=1e-12, atol=1e-14)


def test_fused_adam_step_is_the_adam_formula(blobs):
    X, y = blobs
    start = initial_weights()
    clf = fast(epochs=1, batch_size=1000, callbacks=[start], **EXACT).fit(X, y)
    optimizer = clf.model_.optimizer
    # One full-batch step from the same initial weights, by the book (Kingma
    # and Ba, with Keras' epsilon placement); the rate is stored as float32.
    lr = float(np.float32(0.01))
    alpha = lr * np.sqrt(1 - 0.999) / (1 - 0.9)
    for i, (w0, w1) in enumerate(
        zip(start.weights, clf.model_.get_weights(), strict=True)
    ):
        m = np.asarray(optimizer._momentums[i])
        v = np.asarray(optimizer._velocities[i])
        assert_allclose(w1, w0 - alpha * m / (np.sqrt(v) + 1e-7), rtol=0, atol=1e-15)
    assert int(optimizer.iterations.numpy()) == 1


@pytest.mark.parametrize(
    "optimizer, fused", [("adam", True), ("adamw", False), ("sgd", False)]
)
def test_fused_adam_only_for_plain_adam(blobs, optimizer, fused):
    X, y = blobs
    model = fast(optimizer=optimizer, epochs=1).fit(X, y).model_
    assert training._use_fused_adam(model.optimizer) == fused
