import math
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline

from skfmnist import DenseClassifier, PixelScaler

FAST = dict(
    hidden_layer_sizes=(16,),
    epochs=4,
    batch_size=32,
    learning_rate=0.01,
    random_state=0,
)


def fast(**params):
    return DenseClassifier(**{**FAST, **params})


def test_fit_predict_shapes_and_attributes(blobs):
    X, y = blobs
    clf = fast().fit(X, y)
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


def test_model_is_a_keras_model_matching_predict_proba(blobs):
    import keras

    X, y = blobs
    clf = fast().fit(X, y)
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


def test_speed_knobs_do_not_change_results(blobs):
    X, y = blobs
    reference = fast(dropout=0.2).fit(X, y)
    stepwise = fast(dropout=0.2, steps_per_execution=1, predict_batch_size=7)
    stepwise.fit(X, y)
    assert_array_equal(reference.predict_proba(X), stepwise.predict_proba(X))
    assert_allclose(reference.loss_curve_, stepwise.loss_curve_, rtol=1e-6)


@pytest.mark.parametrize("batch_size", [32, 50, 240, 1000])
def test_number_of_optimizer_steps_matches_keras_fit(blobs, batch_size):
    X, y = blobs
    clf = fast(batch_size=batch_size, epochs=3).fit(X, y)
    steps = math.ceil(len(X) / min(batch_size, len(X)))
    assert int(clf.model_.optimizer.iterations.numpy()) == 3 * steps


def test_zero_sample_weight_equals_dropping_samples(blobs):
    X, y = blobs
    params = dict(dtype="float64", batch_size=1000, dropout=0.0)
    weights = np.ones(len(X))
    weights[::3] = 0
    weighted = fast(**params).fit(X, y, sample_weight=weights)
    dropped = fast(**params).fit(X[weights > 0], y[weights > 0])
    assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X), rtol=1e-9)


def test_class_weight_shifts_predictions(blobs):
    X, y = blobs
    plain = fast(epochs=1).fit(X, y).predict_proba(X)[:, 0].mean()
    favoured = fast(epochs=1, class_weight={0: 20.0, 1: 1.0, 2: 1.0}).fit(X, y)
    assert favoured.predict_proba(X)[:, 0].mean() > plain
    fast(class_weight="balanced").fit(X, y)


def test_early_stopping_holds_out_data_and_restores_best(blobs):
    X, y = blobs
    clf = fast(epochs=50, early_stopping=True, n_iter_no_change=2, tol=10.0)
    clf.fit(X, y)
    # With an unreachable tol, no epoch after the first counts as an improvement.
    assert clf.n_iter_ == 3
    assert {"val_loss", "val_accuracy"} <= set(clf.history_.columns)
    assert clf.t_ == 3 * (len(X) - round(0.1 * len(X)))


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


def test_pickle_joblib_and_clone_of_fitted(blobs, tmp_path):
    X, y = blobs
    clf = fast().fit(X, y)
    expected = clf.predict_proba(X)
    assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    assert_array_equal(joblib.load(tmp_path / "clf.joblib").predict_proba(X), expected)
    fresh = clone(clf)
    assert not hasattr(fresh, "model_")
    assert fresh.get_params() == clf.get_params()


def test_pickled_pipeline_predicts_identically_in_a_fresh_process(images, tmp_path):
    X, y = images
    pipe = Pipeline([("scale", PixelScaler()), ("clf", fast())]).fit(X, y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", pipe.predict_proba(X))
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    code = (
        "import joblib, numpy as np, sys\n"
        f"d = {str(tmp_path)!r}\n"
        "pipe = joblib.load(d + '/pipe.joblib')\n"
        "X = np.load(d + '/X.npy')\n"
        "same = np.array_equal(pipe.predict_proba(X), np.load(d + '/expected.npy'))\n"
        "sys.exit(0 if same else 3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    # The fresh process imports TensorFlow through skfmnist: none of its noise.
    assert result.stderr == ""


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
        search = GridSearchCV(pipe, grid, cv=2, n_jobs=n_jobs).fit(X, y)
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


def test_prediction_errors(blobs):
    X, y = blobs
    with pytest.raises(NotFittedError, match="not fitted yet"):
        fast().predict(X)
    failed = fast()
    with pytest.raises(ValueError, match="only one class"):
        failed.fit(X, np.zeros_like(y))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        failed.predict(X)
    clf = fast().fit(X, y)
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
    assert out.splitlines()[0].startswith("Epoch 1: loss: ")
    assert len(out.splitlines()) == 2


def test_label_smoothing_changes_training(blobs):
    X, y = blobs
    plain = fast().fit(X, y).loss_curve_
    smooth = fast(label_smoothing=0.2).fit(X, y).loss_curve_
    assert not np.allclose(plain, smooth)


def test_alpha_adds_a_penalty(blobs):
    X, y = blobs
    plain = fast(dtype="float64").fit(X, y).model_.get_weights()[0]
    shrunk = fast(dtype="float64", alpha=1.0).fit(X, y).model_.get_weights()[0]
    assert np.linalg.norm(shrunk) < np.linalg.norm(plain)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adamw", "nadam"])
def test_every_optimizer_trains(blobs, optimizer):
    X, y = blobs
    clf = fast(optimizer=optimizer, learning_rate=0.05, epochs=5).fit(X, y)
    assert clf.score(X, y) > 0.8


def test_fused_adam_step_is_the_adam_formula(blobs):
    X, y = blobs
    params = dict(dtype="float64", epochs=1, dropout=0.0, batch_size=1000)
    initial = fast(learning_rate=1e-30, **params).fit(X, y).model_.get_weights()
    clf = fast(learning_rate_schedule="constant", **params).fit(X, y)
    optimizer = clf.model_.optimizer
    # One full-batch step from the same initial weights, by the book (Kingma
    # and Ba, with Keras' epsilon placement); the rate is stored as float32.
    lr = float(np.float32(0.01))
    alpha = lr * np.sqrt(1 - 0.999) / (1 - 0.9)
    for i, (w0, w1) in enumerate(zip(initial, clf.model_.get_weights(), strict=True)):
        m = np.asarray(optimizer._momentums[i])
        v = np.asarray(optimizer._velocities[i])
        assert_allclose(w1, w0 - alpha * m / (np.sqrt(v) + 1e-7), rtol=0, atol=1e-15)
    assert int(optimizer.iterations.numpy()) == 1


def test_fused_adam_follows_keras_adam(blobs, monkeypatch):
    import skfmnist._training as training

    X, y = blobs
    params = dict(dtype="float64", epochs=3, dropout=0.0)
    fused = fast(**params).fit(X, y)
    monkeypatch.setattr(training, "_fused_adam", lambda optimizer, variables: None)
    keras_adam = fast(**params).fit(X, y)
    # Keras' own Adam rounds a constant through float32 even in float64, so
    # the two agree to about 1e-5, not to the last digit.
    for a, b in zip(
        fused.model_.get_weights(), keras_adam.model_.get_weights(), strict=True
    ):
        assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert_allclose(fused.loss_curve_, keras_adam.loss_curve_, rtol=1e-4)


@pytest.mark.parametrize(
    "optimizer, fused", [("adam", True), ("adamw", False), ("sgd", False)]
)
def test_fused_adam_only_for_plain_adam(blobs, optimizer, fused):
    from skfmnist._training import _fused_adam

    X, y = blobs
    model = fast(optimizer=optimizer, epochs=1).fit(X, y).model_
    assert (_fused_adam(model.optimizer, model.trainable_variables) is not None) == (
        fused
    )
