"""PixelScaler: pixel intensities to float32 in [0, 1]."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from ._shapes import square_shape

__all__ = ["PixelScaler"]


class PixelScaler(TransformerMixin, BaseEstimator):
    """Scale pixel intensities from ``[0, max_value]`` to float32 in ``[0, 1]``.

    Accepts image stacks ``(n, h, w)`` (or ``(n, h, w, 1)``) and flat pixel
    rows ``(n, h * w)`` of any numeric dtype, and checks that every value is a
    finite intensity in range before dividing by ``max_value``. The scaler is
    stateless: it learns nothing from data, so ``transform`` works without
    ``fit``; ``fit`` records the input shape so that a later ``transform``
    checks it.

    Parameters
    ----------
    max_value : float, default=255
        Largest possible intensity; it maps to 1.0.
    flatten : bool, default=True
        If True, output ``(n, h * w)`` rows for dense models. If False, output
        images with a channel axis, ``(n, h, w, 1)``, for convolutional models;
        flat input is then taken to be square images (784 pixels: 28 x 28).

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels per image seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names seen during fit, when ``X`` is a DataFrame with string
        column names.
    image_shape_ : tuple of int or None
        ``(h, w)`` of the images seen during fit: from a 3-D input, or the
        square shape of flat input; None when flat input is not square.

    See Also
    --------
    sklearn.preprocessing.MinMaxScaler : Learns per-feature ranges from data.
    DenseClassifier : The classifier this scaler feeds in a pipeline.

    Examples
    --------
    >>> import numpy as np
    >>> from skfmnist import PixelScaler
    >>> images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    >>> Xt = PixelScaler().fit_transform(images)
    >>> Xt
    array([[0. , 1. , 0.2, 0.4]], dtype=float32)
    >>> PixelScaler(flatten=False).fit_transform(images).shape
    (1, 2, 2, 1)
    >>> PixelScaler().fit(images).get_feature_names_out()
    array(['pixel_0', 'pixel_1', 'pixel_2', 'pixel_3'], dtype=object)
    """

    _parameter_constraints: dict = {
        "max_value": [Interval(numbers.Real, 0, None, closed="neither")],
        "flatten": ["boolean"],
    }

    def __init__(self, max_value=255, *, flatten=True):
        self.max_value = max_value
        self.flatten = flatten

    def _validate(self, X, reset):
        image_shape = None
        if not hasattr(X, "iloc") and not hasattr(X, "tocsr"):
            if not hasattr(X, "ndim"):
                X = np.asarray(X)
            if X.ndim == 4 and X.shape[-1] == 1:
                X = X[..., 0]
            if X.ndim == 3:
                image_shape = X.shape[1:]
                X = X.reshape(X.shape[0], -1)
            elif X.ndim > 3:
                raise ValueError(
                    f"Expected images of shape (n, h, w), (n, h, w, 1) or rows of "
                    f"shape (n, h * w); got an array of shape {X.shape}."
                )
        X = validate_data(self, X, reset=reset, dtype="numeric")
        if X.size:
            low, high = X.min(), X.max()
            if low < 0:
                raise ValueError(
                    f"Negative values in data passed to {type(self).__name__}: "
                    f"pixel values must lie in [0, {self.max_value}], but X ranges "
                    f"from {low} to {high}."
                )
            if high > self.max_value:
                raise ValueError(
                    f"Pixel values must lie in [0, {self.max_value}] (max_value="
                    f"{self.max_value}), but X ranges from {low} to {high}. Set "
                    "max_value to the largest intensity of your images."
                )
        return X, image_shape

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check ``X`` and record its number of pixels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, h, w)
            Images.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted scaler.
        """
        X, image_shape = self._validate(X, reset=True)
        # (h, w) of a 3-D input, else the square shape of flat rows, or None.
        self.image_shape_ = image_shape or square_shape(X.shape[1])
        return self

    def transform(self, X):
        """Scale pixels to float32 in [0, 1].

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, h, w)
            Images with values in ``[0, max_value]``.

        Returns
        -------
        Xt : ndarray of shape (n_samples, n_pixels) or (n_samples, h, w, 1)
            Scaled pixels, float32.
        """
        X, image_shape = self._validate(X, reset=False)
        Xt = np.divide(X, self.max_value, dtype=np.float32)
        if self.flatten:
            return Xt
        image_shape = (
            image_shape
            or getattr(self, "image_shape_", None)
            or square_shape(Xt.shape[1])
        )
        if image_shape is None:
            raise ValueError(
                "flatten=False needs square images or a 3-D input; got "
                f"{Xt.shape[1]} pixels per row."
            )
        return Xt.reshape(-1, *image_shape, 1)

    def inverse_transform(self, X):
        """Scale values in [0, 1] back to ``[0, max_value]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, h, w, 1)
            Scaled pixels.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_pixels)
            Intensities, float32.
        """
        X = np.asarray(X, dtype=np.float32)
        return (X.reshape(X.shape[0], -1) * np.float32(self.max_value)).astype(
            np.float32, copy=False
        )

    def get_feature_names_out(self, input_features=None):
        """Names of the output pixels.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input names; when None, the names seen in fit, else
            ``pixel_0``, ``pixel_1``, ...

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output column.
        """
        check_is_fitted(self, "n_features_in_")
        names = _check_feature_names_in(self, input_features, generate_names=False)
        if names is None:
            names = [f"pixel_{i}" for i in range(self.n_features_in_)]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.positive_only = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
