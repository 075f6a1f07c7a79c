"""The base gives the network its own input shape, and runs augmentation in training."""

import pickle

import numpy as np
import pytest

from skfmnist import DenseClassifier
from skfmnist._engine.runtime import import_keras

keras = import_keras()


class ImageNet(DenseClassifier):
    """A classifier whose network consumes ``(h, w, 1)`` images."""

    def _input_shape(self, n_features):
        side = int(round(n_features**0.5))
        return (side, side, 1) if side * side == n_features else (1, n_features, 1)

    def _build_logits(self, inputs, n_classes, seeds):
        flat = keras.layers.Flatten(dtype=inputs.dtype)(inputs)
        return super()._build_logits(flat, n_classes, seeds)


class Blind(ImageNet):
    """Trains on blank images: what it learns cannot depend on the pixels."""

    def _augmentation(self):
        return lambda X, seed: X * 0.0


class Noisy(ImageNet):
    """Adds noise drawn from the step's seed to every training batch."""

    def _augmentation(self):
        import tensorflow as tf

        return lambda X, seed: X + tf.random.stateless_normal(
            tf.shape(X), seed, dtype=X.dtype
        )


def params(**kwargs):
    return {"hidden_layer_sizes": (8,), "epochs": 3, "batch_size": 32,
            "random_state": 0, **kwargs}


@pytest.fixture(scope="module")
def image_net(images):
    """``ImageNet(**params())`` fitted on the images in [0, 1], once, for the
    tests that only read it."""
    X, y = images
    return ImageNet(**params()).fit(X / 255.0, y)


def test_network_gets_its_input_shape_from_any_layout(images, image_net):
    X, y = images  # (120, 8, 8) uint8
    X = X / 255.0
    clf = image_net
    assert tuple(clf.model_.inputs[0].shape) == (None, 8, 8, 1)
    assert clf.n_features_in_ == 64
    expected = clf.predict_proba(X)
    for layout in (X.reshape(-1, 64), X.reshape(-1, 8, 8, 1)):
        np.testing.assert_array_equal(clf.predict_proba(layout), expected)
    # Training from another layout of the same pixels gives the same model.
    flat = ImageNet(**params()).fit(X.reshape(-1, 64), y)
    np.testing.assert_array_equal(flat.predict_proba(X), expected)


def test_non_image_features_become_a_strip(blobs):
    X, y = blobs
    clf = ImageNet(**params()).fit(X, y)
    assert tuple(clf.model_.inputs[0].shape) == (None, 1, 20, 1)
    assert clf.predict(X).shape == (240,)


def test_augmentation_runs_on_training_batches_only(images):
    X, y = images
    X = X / 255.0
    fast = params(epochs=30, learning_rate=3e-2, dropout=0.0)
    blind = Blind(**fast).fit(X, y)
    proba = blind.predict_proba(X)
    # Trained on blank images, but predicting on the real ones: the network
    # still responds to them, so prediction did not go through the augmentation.
    assert np.ptp(proba, axis=0).max() > 1e-3
    # And training did go through it: the real images taught it nothing, so
    # it is no better than the class prior, unlike the same net without it.
    assert blind.score(X, y) < 0.5
    assert ImageNet(**fast).fit(X, y).score(X, y) > 0.9


def test_augmentation_is_seeded_by_random_state(images, image_net):
    X, y = images
    X = X / 255.0
    a = Noisy(**params()).fit(X, y).predict_proba(X)
    b = Noisy(**params()).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    plain = image_net.predict_proba(X)
    assert not np.allclose(a, plain)


def test_image_classifier_pickles_and_continues(images):
    X, y = images
    X = X / 255.0
    clf = Noisy(**params(warm_start=True)).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    assert tuple(copy.model_.inputs[0].shape) == (None, 8, 8, 1)
    for model in (clf, copy):
        model.fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("shape", [(5, 8, 8, 3), (5, 7, 7), (5, 49)])
def test_other_image_layouts_are_flattened_and_checked(image_net, shape):
    clf = image_net
    with pytest.raises(ValueError, match="X has .* features, but ImageNet is "
                       "expecting 64 features"):
        clf.predict(np.zeros(shape))
