import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

from skfmnist import PixelScaler


def test_uint8_images_become_flat_float32_in_unit_range(images):
    X, _ = images
    Xt = PixelScaler().fit_transform(X)
    assert Xt.shape == (X.shape[0], 64)
    assert Xt.dtype == np.float32
    assert Xt.min() >= 0 and Xt.max() <= 1
    assert_allclose(Xt, X.reshape(len(X), -1) / 255, rtol=1e-6)


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int32, np.int64, np.float32, np.float64]
)
def test_any_numeric_dtype(dtype):
    X = np.array([[0, 51, 255, 102]], dtype=dtype)
    assert_allclose(PixelScaler().fit_transform(X), [[0, 0.2, 1, 0.4]], rtol=1e-6)


def test_flat_and_image_input_give_the_same_rows(images):
    X, _ = images
    scaler = PixelScaler().fit(X)
    assert scaler.n_features_in_ == 64
    assert scaler.image_shape_ == (8, 8)
    assert_array_equal(scaler.transform(X), scaler.transform(X.reshape(len(X), -1)))


def test_keep_image_shape_with_channel_axis(images):
    X, _ = images
    Xt = PixelScaler(flatten=False).fit_transform(X.reshape(len(X), -1))
    assert Xt.shape == (len(X), 8, 8, 1)
    Xt4 = PixelScaler(flatten=False).fit_transform(X[..., None])
    assert_array_equal(Xt, Xt4)


def test_flatten_false_needs_square_images():
    with pytest.raises(ValueError, match="square images"):
        PixelScaler(flatten=False).fit_transform(np.zeros((2, 10)))


def test_custom_max_value():
    X = np.array([[0.0, 0.5, 1.0]])
    assert_allclose(PixelScaler(max_value=1.0).fit_transform(X), X)
    X16 = np.array([[0, 65535]], dtype=np.uint16)
    assert_allclose(PixelScaler(max_value=65535).fit_transform(X16), [[0, 1]])


def test_inverse_transform_round_trips(images):
    X, _ = images
    scaler = PixelScaler().fit(X)
    X_back = scaler.inverse_transform(scaler.transform(X))
    assert X_back.shape == (len(X), 64)
    assert_allclose(X_back, X.reshape(len(X), -1), atol=1e-3)


def test_feature_names_and_pandas_output(images):
    X, _ = images
    scaler = PixelScaler().set_output(transform="pandas").fit(X)
    names = scaler.get_feature_names_out()
    assert names[0] == "pixel_0" and names[-1] == "pixel_63"
    Xt = scaler.transform(X)
    assert isinstance(Xt, pd.DataFrame)
    assert list(Xt.columns) == list(names)


def test_dataframe_column_names_pass_through():
    df = pd.DataFrame([[0, 255], [51, 0]], columns=["a", "b"])
    scaler = PixelScaler().fit(df)
    assert_array_equal(scaler.feature_names_in_, ["a", "b"])
    assert_array_equal(scaler.get_feature_names_out(), ["a", "b"])


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, np.nan]]), "NaN"),
        (np.array([[0.0, np.inf]]), "infinity"),
        (np.array([[0, 256]]), r"\[0, 255\].*from 0 to 256"),
        (np.array([[-1, 3]]), "Negative values.*from -1 to 3"),
        (np.array([0, 1, 2]), "Expected 2D array, got 1D array"),
        (np.array([["a", "b"]]), "strings"),
        (np.zeros((2, 3, 4, 5)), r"shape \(2, 3, 4, 5\)"),
    ],
)
def test_bad_input_errors_name_the_problem(X, match):
    with pytest.raises(ValueError, match=match):
        PixelScaler().fit_transform(X)


def test_wrong_number_of_pixels_at_transform_time(images):
    X, _ = images
    scaler = PixelScaler().fit(X)
    with pytest.raises(ValueError, match="X has 784 features, but PixelScaler is"):
        scaler.transform(np.zeros((1, 28, 28)))


def test_bad_parameters_are_rejected_in_fit():
    scaler = PixelScaler(max_value=0)
    with pytest.raises(ValueError, match="max_value"):
        scaler.fit(np.zeros((1, 4)))


def test_clone_and_params():
    scaler = PixelScaler(max_value=1.0, flatten=False)
    assert clone(scaler).get_params() == {"max_value": 1.0, "flatten": False}


def test_tags():
    tags = PixelScaler().__sklearn_tags__()
    assert tags.input_tags.positive_only
    assert tags.transformer_tags.preserves_dtype == ["float32"]


def test_stateless_transform_works_without_fit(images):
    X, _ = images
    assert PixelScaler().transform(X).shape == (len(X), 64)
    assert not PixelScaler().__sklearn_tags__().requires_fit
