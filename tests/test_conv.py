"""ConvClassifier: the sklearn contract, image layouts, augmentation, pickling."""

import gc
import pickle
import subprocess
import sys
import weakref

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfmnist import ConvClassifier, DenseClassifier, PixelScaler
from skfmnist._conv import _shift_and_flip
from skfmnist._engine.runtime import import_keras

keras = import_keras()

# float64, one full batch, no dropout and no batch normalisation (whose batch
# statistics count a repeated sample twice, unlike a weight of 2): every
# output-comparing check is meaningful, and none is expected to fail.
FAST = ConvClassifier(
    filters=(4,), dense_units=(), batch_normalization=False, dropout=0.0,
    learning_rate=0.05, learning_rate_schedule="constant", epochs=30,
    batch_size=512, dtype="float64", random_state=0,
)
# What the defaults do, as a user gets them: float32, batch normalisation,
# dropout, a dense layer, mini-batches, cosine schedule, augmentation and
# test-time augmentation (square inputs only). One block of 8 filters, batches
# of 32 (the checks' datasets are small), 5 epochs of 1e-2 instead of three
# blocks, 128 and 15 of 2e-3: a third less per fit, and the outputs the checks
# ask for with any seed (check_classifiers_train's accuracy of 0.83: at least
# 0.91 over 14 seeds; check_class_weight_classifiers' 0.87: 1.0). The three
# default blocks on the checks' smallest inputs: see
# test_default_network_takes_the_smallest_inputs.
DEFAULT = ConvClassifier(
    filters=(8,), batch_size=32, epochs=5, learning_rate=1e-2, random_state=0
)
# Fits of the default configuration: marked slow (see conftest.py).
SLOW_ESTIMATORS = (DEFAULT,)
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "float32 rounding over other mini-batches, dropout masks and batch "
        "normalisation's batch statistics (which count a repeated sample "
        "twice) make a weight of 2 differ from a repeated sample by more "
        "than the check's 1e-7"
    ),
}


@parametrize_with_checks(
    [FAST, DEFAULT],
    expected_failed_checks=lambda est: {} if est is FAST else EXPECTED_FAILURES,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def small(**params):
    return ConvClassifier(
        **{"filters": (4,), "dense_units": (16,), "epochs": 2, "batch_size": 32,
           "random_state": 0, **params}
    )


@pytest.fixture(scope="module")
def fitted(digits):
    """``fitted(**params)``: ``small(**params)`` fitted on the digits, once per
    module, for the tests that only read it (predict, inspect)."""
    X, y = digits
    models = {}

    def fit(**params):
        key = repr(sorted(params.items()))
        if key not in models:
            models[key] = small(**params).fit(X, y)
        return models[key]

    return fit


@pytest.fixture(scope="module")
def digits():
    """8x8 digit images in [0, 1], three classes."""
    from sklearn.datasets import load_digits

    X, y = load_digits(n_class=3, return_X_y=True)
    return (X / 16.0).astype(np.float32), y


@pytest.mark.parametrize(
    "n_features, shape", [(784, (28, 28, 1)), (64, (8, 8, 1)), (20, (1, 20, 1)),
                          (1, (1, 1, 1)), (2, (1, 2, 1))]
)
def test_input_shape(n_features, shape):
    assert ConvClassifier()._input_shape(n_features) == shape


def test_default_network_takes_the_smallest_inputs():
    # 1, 2 and 4 pixels: strips and a 2x2 image (flipped, and mirrored at
    # test time) through the three default blocks and their pooling.
    from sklearn.datasets import make_blobs

    for n_features in (1, 2, 4):
        X, y = make_blobs(n_samples=40, n_features=n_features, centers=2,
                          random_state=0)
        clf = ConvClassifier(epochs=1, random_state=0).fit(X, y)
        assert clf.model_.input_shape == (None, *clf._input_shape(n_features))
        proba = clf.predict_proba(X)
        assert proba.shape == (40, 2) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1)


def test_layouts_give_identical_predictions(digits):
    X, y = digits
    clf = small().fit(X.reshape(-1, 8, 8), y)
    assert clf.model_.input_shape == (None, 8, 8, 1)
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict_proba(X.reshape(-1, 8, 8, 1)), expected)
    np.testing.assert_array_equal(clf.predict_proba(X.reshape(-1, 8, 8)), expected)


def test_learns_digits_and_string_labels(digits):
    X, y = digits
    names = np.array(["zero", "one", "two"])[y]
    clf = small(epochs=8, learning_rate=1e-2, shift=0, flip=False,
                test_time_augmentation=False).fit(X, names)
    assert clf.classes_.tolist() == ["one", "two", "zero"]
    assert clf.score(X, names) > 0.9
    assert set(clf.predict(X)) <= set(names)


def test_shift_and_flip_move_whole_pixels():
    import tensorflow as tf

    X = np.zeros((64, 5, 5, 1), np.float32)
    X[:, 2, 2, 0] = 1.0  # one lit pixel in the centre
    X[:, 0, 0, 0] = 0.5  # and a dimmer one in the top left corner
    out = _shift_and_flip(2, False)(tf.constant(X), tf.constant([1, 2])).numpy()
    centres = [np.argwhere(img[..., 0] == 1.0) for img in out]
    assert all(len(c) == 1 for c in centres)
    offsets = np.array([c[0] for c in centres]) - 2
    assert offsets.min() == -2 and offsets.max() == 2  # every shift drawn
    assert out.sum(axis=(1, 2, 3)).min() >= 1.0  # the centre never leaves
    again = _shift_and_flip(2, False)(tf.constant(X), tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(out, again)
    other = _shift_and_flip(2, False)(tf.constant(X), tf.constant([1, 3])).numpy()
    assert not np.array_equal(out, other)
    flipped = _shift_and_flip(0, True)(tf.constant(X), tf.constant([1, 2])).numpy()
    pairs = list(zip(flipped, X, strict=True))
    mirrored = np.array([np.array_equal(f, x[:, ::-1]) for f, x in pairs])
    kept = np.array([np.array_equal(f, x) for f, x in pairs])
    assert (mirrored ^ kept).all() and 0.2 < mirrored.mean() < 0.8


def test_augmentation_only_for_images(digits, blobs, fitted):
    X, y = digits
    assert fitted()._augmentation() is not None
    assert small(shift=0, flip=False).fit(X, y)._augmentation() is None
    Xb, yb = blobs
    strip = small().fit(Xb, yb)
    assert strip._augmentation() is None and strip._test_time_views() == ()


def test_test_time_augmentation_averages_the_mirror_image(digits):
    X, y = digits
    clf = small(test_time_augmentation=True).fit(X, y)
    proba = clf.predict_proba(X)
    images = X.reshape(-1, 8, 8, 1)
    direct = clf.model_.predict(images, verbose=0)
    mirror = clf.model_.predict(images[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(proba, (direct + mirror) / 2, atol=1e-6)
    clf.set_params(test_time_augmentation=False)
    np.testing.assert_allclose(clf.predict_proba(X), direct, atol=1e-6)


@pytest.mark.parametrize(
    "params",
    [{}, {"pooling": "average"}, {"batch_normalization": False},
     {"filters": (4, 8), "dtype": "float64"}],
    ids=["max+bn", "average+bn", "no-bn", "two-blocks-float64"],
)
@pytest.mark.parametrize("n_rows", [1, 128, 300])
def test_prediction_network_equals_the_keras_model(digits, fitted, params, n_rows):
    # Prediction runs batch normalisation folded into the convolutions and the
    # first block over slices of rows: the same function, other rounding.
    X, y = digits
    clf = fitted(test_time_augmentation=False, **params)
    rows = np.resize(X, (n_rows, X.shape[1]))
    reference = clf.model_.predict(rows.reshape(-1, 8, 8, 1), verbose=0)
    np.testing.assert_allclose(clf.predict_proba(rows), reference, atol=1e-5)


def test_deleted_classifier_frees_its_model_and_prediction_network(digits):
    X, y = digits
    clf = small(test_time_augmentation=True).fit(X, y)
    clf.predict(X)
    clf.set_params(test_time_augmentation=False).predict(X)
    refs = [weakref.ref(clf.model_), weakref.ref(clf._engine)]
    del clf
    gc.collect()
    assert [ref() for ref in refs] == [None, None]


def test_prediction_network_follows_further_training(digits):
    X, y = digits
    clf = small(test_time_augmentation=False, warm_start=True).fit(X, y)
    before = clf.predict_proba(X)
    clf.fit(X, y)
    after = clf.predict_proba(X)
    assert not np.allclose(after, before)
    reference = clf.model_.predict(X.reshape(-1, 8, 8, 1), verbose=0)
    np.testing.assert_allclose(after, reference, atol=1e-5)


def test_same_seed_same_predictions_and_other_seed_differs(digits, fitted):
    X, y = digits
    a = fitted().predict_proba(X)
    np.testing.assert_array_equal(small().fit(X, y).predict_proba(X), a)
    assert not np.allclose(small(random_state=1).fit(X, y).predict_proba(X), a)


def test_pipelines_pickle_into_a_fresh_process(digits, images, tmp_path):
    """A new interpreter unpickles a ConvClassifier pipeline (pickle), then a
    DenseClassifier one (joblib), and both predict exactly what they predict
    here, without a word on stderr. One process for the two: each new one
    imports TensorFlow, for seconds."""
    X, y = digits
    X = (X * 255).astype(np.uint8)
    conv = make_pipeline(PixelScaler(), small()).fit(X, y)
    X_dense, y_dense = images
    dense = make_pipeline(PixelScaler(), DenseClassifier(
        hidden_layer_sizes=(16,), epochs=4, batch_size=32, learning_rate=0.01,
        random_state=0,
    )).fit(X_dense, y_dense)
    (tmp_path / "conv.pkl").write_bytes(pickle.dumps(conv))
    joblib.dump(dense, tmp_path / "dense.joblib")
    np.save(tmp_path / "X_conv.npy", X)
    np.save(tmp_path / "X_dense.npy", X_dense)
    code = (
        "import pickle, sys, numpy as np\n"
        f"d = {str(tmp_path)!r} + '/'\n"
        "pipe = pickle.loads(open(d + 'conv.pkl', 'rb').read())\n"
        "np.save(d + 'p_conv.npy', pipe.predict_proba(np.load(d + 'X_conv.npy')))\n"
        "import joblib\n"
        "pipe = joblib.load(d + 'dense.joblib')\n"
        "np.save(d + 'p_dense.npy', pipe.predict_proba(np.load(d + 'X_dense.npy')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    # The fresh process imports TensorFlow through skfmnist: none of its noise.
    assert result.stderr == ""
    np.testing.assert_array_equal(np.load(tmp_path / "p_conv.npy"),
                                  conv.predict_proba(X))
    np.testing.assert_array_equal(np.load(tmp_path / "p_dense.npy"),
                                  dense.predict_proba(X_dense))


def test_grid_search_in_two_processes(digits):
    X, y = digits
    grid = {"filters": [(2,), (4,)]}
    # refit=False: the scores are what is compared; no refit is needed.
    search = GridSearchCV(small(), grid, cv=2, n_jobs=2, refit=False).fit(X, y)
    # The sequential search runs in one of the same worker processes (joblib
    # keeps them): loky gives its workers cpu_count // n_jobs threads, and
    # TensorFlow's matrix kernels may round otherwise with this process's
    # threads. The same arithmetic, so the same scores, to the last bit.
    sequential = GridSearchCV(small(), grid, cv=2, n_jobs=1, refit=False)
    sequential = joblib.Parallel(n_jobs=2)([joblib.delayed(sequential.fit)(X, y)])[0]
    assert sequential.n_jobs == 1 and len(sequential.cv_results_["params"]) == 2
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  sequential.cv_results_["mean_test_score"])


@pytest.mark.parametrize(
    "params, message",
    [({"filters": (4, 0)}, "filters must hold positive integers"),
     ({"dense_units": (16, -2)}, "dense_units must hold positive integers"),
     ({"pooling": "min"}, "'pooling' parameter"),
     ({"shift": -1}, "'shift' parameter")],
)
def test_bad_parameters_are_named(digits, params, message):
    X, y = digits
    with pytest.raises(ValueError, match=message):
        small(**params).fit(X, y)


def test_changing_the_network_between_warm_fits_is_refused(digits):
    X, y = digits
    clf = small(warm_start=True).fit(X, y)
    clone(clf)  # the parameters stay clonable
    clf.set_params(filters=(8,))
    with pytest.raises(ValueError, match=r"filters from \(4,\) to \(8,\)"):
        clf.fit(X, y)
    clf.set_params(filters=(4,), shift=1, flip=False).fit(X, y)  # not the network
    assert clf.n_iter_ == 4
