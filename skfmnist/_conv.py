"""ConvClassifier: a small convolutional network in Keras behind fit/predict."""

import numbers

from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseKerasClassifier, positive_sizes
from ._engine.inference import inference_network
from ._engine.runtime import import_keras
from ._shapes import square_shape

__all__ = ["ConvClassifier"]


def _mirror(X):
    """The horizontal mirror image of a batch ``(n, h, w, c)``."""
    import tensorflow as tf

    return tf.reverse(X, axis=[2])


def _shift_and_flip(shift, flip):
    """``augment(X, seed)``: random shifts of up to ``shift`` pixels, mirrors.

    Each image of the batch moves by its own whole-pixel offset in each
    direction (vacated pixels are black, 0) and, with ``flip``, is mirrored
    left to right with probability one half. Stateless random numbers drawn
    from ``seed`` make every step reproducible.
    """
    import tensorflow as tf

    def augment(X, seed):
        shape = tf.shape(X)
        n, height, width = shape[0], shape[1], shape[2]
        draws = tf.random.stateless_uniform([n, 3], seed, dtype=tf.float32)
        if shift:
            offsets = tf.cast(tf.floor(draws[:, :2] * (2 * shift + 1)), tf.int32)
            padded = tf.pad(X, [[0, 0], [shift, shift], [shift, shift], [0, 0]])
            rows = offsets[:, :1] + tf.range(height)[None, :]
            cols = offsets[:, 1:2] + tf.range(width)[None, :]
            X = tf.gather(padded, rows, axis=1, batch_dims=1)
            X = tf.gather(X, cols, axis=2, batch_dims=1)
        if flip:
            mirrored = draws[:, 2] < 0.5
            X = tf.where(mirrored[:, None, None, None], tf.reverse(X, axis=[2]), X)
        return X

    return augment


class ConvClassifier(BaseKerasClassifier):
    """Convolutional neural network classifier built and trained with Keras.

    Blocks of 3x3 convolution, batch normalisation, ReLU and 2x2 max pooling,
    then fully connected layers with dropout and a softmax output, trained
    with mini-batch gradient descent on the cross-entropy. The images can be
    shifted and mirrored at random during training (data augmentation), and
    predictions can average each image with its mirror image (test-time
    augmentation). Inputs may be flat ``(n, 784)``, ``(n, 28, 28)`` or
    ``(n, 28, 28, 1)``: the network always sees 28x28x1 images. Data whose
    number of features is not a square (say, 20 features) is seen as an image
    one pixel high; it is never shifted or mirrored.

    The defaults (three blocks of 32, 64 and 128 filters, 15 epochs, mirrors,
    mirror averaging) reach about 93.3% test accuracy on the official split
    in about three and a half minutes on two CPU cores (93.2% to 93.3% over
    three seeds, fits of 192 s to 208 s; 92.85% with one view;
    ``benchmarks/results/conv_default.json``).

    Parameters
    ----------
    filters : tuple of int, default=(32, 64, 128)
        Number of filters of each convolutional block.
    kernel_size : int, default=3
        Height and width of the convolution kernels.
    batch_normalization : bool, default=True
        Whether each convolution is followed by batch normalisation.
    pooling : {"max", "average"}, default="max"
        The 2x2 pooling that halves the image after each block.
    dense_units : tuple of int, default=(128,)
        Units of the fully connected hidden layers after the blocks.
    dropout : float, default=0.3
        Fraction of the inputs of each fully connected layer dropped during
        training.
    alpha : float, default=0.0
        Strength of the L2 penalty on the kernels of the convolutions and of
        the fully connected layers (not on biases or batch normalisation), as
        ``MLPClassifier``'s: each mini-batch adds
        ``0.5 * alpha * sum(||W||^2) / n`` to its mean loss, ``n`` being its
        number of samples (its sum of sample weights, with weights).
    shift : int, default=0
        Largest random shift, in pixels, of the training images (0 for none).
        Off by default: within the default epochs, shifts cost more accuracy
        than they add (they pay off in longer training).
    flip : bool, default=True
        Whether training images are mirrored left to right at random.
    test_time_augmentation : bool, default=True
        Whether predictions average the probabilities of each image and of
        its mirror image (square images only).
    optimizer : {"adam", "adamw", "nadam", "adamax", "sgd", "rmsprop", \
"adagrad"}, default="adam"
        Keras optimizer used for training.
    learning_rate : float, default=2e-3
        Initial learning rate of the optimizer.
    learning_rate_schedule : {"constant", "cosine", "plateau"}, \
default="cosine"
        How the learning rate changes from epoch to epoch (see
        :class:`DenseClassifier`).
    epochs : int, default=15
        Number of passes over the training data (fewer with early stopping).
    batch_size : int, default=128
        Number of samples per gradient step (capped at the number of samples).
    shuffle : bool, default=True
        Whether to visit the samples in a new random order each epoch.
    label_smoothing : float, default=0.0
        Label smoothing of the cross-entropy, in [0, 1).
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``.
    early_stopping : bool, default=False
        Whether to stop when the accuracy of held-out data stops improving,
        restoring the weights of the epoch of best accuracy (``X_val`` of
        ``fit``, else ``validation_fraction`` of the training data), as
        ``MLPClassifier`` does. Without it, training stops when the training
        loss stops improving (see :class:`DenseClassifier`).
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.
    n_iter_no_change : int, default=10
        Number of consecutive epochs without improvement that training
        tolerates; the next one stops it.
    tol : float, default=1e-4
        Improvement that counts as one: of the training loss, or of the
        validation accuracy with early stopping (MLPClassifier's rule, see
        :class:`DenseClassifier`).
    warm_start : bool, default=False
        When True, ``fit`` continues training the fitted model for
        ``epochs`` more epochs. Parameters that define the network
        (``filters``, ``kernel_size``, ``batch_normalization``, ``pooling``,
        ``dense_units``, ``dropout``, ``alpha``, ``dtype``, ``optimizer``)
        cannot change between warm fits.
    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks, called as ``keras.Model.fit`` calls them (see
        :class:`DenseClassifier`).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling, augmentation and the
        validation split.
    verbose : int or bool, default=0
        0 is silent, 1 shows Keras' progress bar, 2 prints one line per epoch.
    dtype : {"float32", "float64"}, default="float32"
        Floating-point type of weights and computation.
    steps_per_execution : int or "auto", default="auto"
        Optimizer steps run per compiled call: the same steps, weights and
        predictions whatever it is; only the epoch's ``loss`` is summed
        another way (see :class:`DenseClassifier`).
    predict_batch_size : int, default=2048
        Number of samples per forward pass at prediction time; other sizes
        change the probabilities by rounding at most, within about 1e-5 of
        their value in float32 (see :class:`DenseClassifier`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen during fit.
    n_features_in_ : int
        Number of features (pixels) seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.
    model_ : keras.Model
        The trained Keras model (input ``(28, 28, 1)`` images, output the
        class probabilities of one view, without test-time augmentation);
        its layer named "logits" gives the logits.
    history_ : pandas.DataFrame
        One row per epoch, as for :class:`DenseClassifier`.
    loss_curve_ : list of float
        The ``loss`` column as a list.
    loss_ : float
        The training loss of the last epoch.
    best_loss_ : float or None
        The smallest training loss reached; None with early stopping.
    validation_scores_ : list of float or None
        Validation accuracy of each epoch (one view, without test-time
        augmentation) with early stopping; None without.
    best_validation_score_ : float or None
        The best of ``validation_scores_``; None without early stopping.
    coefs_ : list of ndarray
        Weight matrices of the fully connected layers only, from the
        flattened output of the last block to the logits (the convolution
        kernels are in ``model_``). Read-only copies, computed when read.
    intercepts_ : list of ndarray
        Bias vectors of the same layers, read-only copies.
    n_outputs_ : int
        Number of output units, one per class.
    out_activation_ : str
        Name of the output activation function, always "softmax".
    n_iter_ : int
        Number of epochs run, over all calls to fit and partial_fit.
    t_ : int
        Number of training samples seen, over all epochs.

    See Also
    --------
    DenseClassifier : A multi-layer perceptron, faster and less accurate.
    PixelScaler : Scale pixel intensities to [0, 1] before this classifier.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfmnist import ConvClassifier, PixelScaler, load_sample
    >>> X, y = load_sample(return_X_y=True)
    >>> clf = make_pipeline(
    ...     PixelScaler(), ConvClassifier(filters=(8,), dense_units=(32,),
    ...                                   epochs=1, random_state=0))
    >>> clf.fit(X[:500], y[:500]).predict(X[:5]).shape
    (5,)
    >>> clf[-1].model_.input_shape
    (None, 28, 28, 1)
    >>> [coef.shape for coef in clf[-1].coefs_]
    [(1568, 32), (32, 10)]
    >>> clf.predict_log_proba(X[:5]).shape
    (5, 10)
    """

    _parameter_constraints: dict = {
        **BaseKerasClassifier._parameter_constraints,
        "filters": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "kernel_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_normalization": ["boolean"],
        "pooling": [StrOptions({"max", "average"})],
        "dense_units": [
            "array-like", Interval(numbers.Integral, 1, None, closed="left")
        ],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "shift": [Interval(numbers.Integral, 0, None, closed="left")],
        "flip": ["boolean"],
        "test_time_augmentation": ["boolean"],
    }

    _network_params = ("filters", "kernel_size", "batch_normalization", "pooling",
                       "dense_units", "dropout", "alpha")

    def __init__(
        self,
        filters=(32, 64, 128),
        kernel_size=3,
        *,
        batch_normalization=True,
        pooling="max",
        dense_units=(128,),
        dropout=0.3,
        alpha=0.0,
        shift=0,
        flip=True,
        test_time_augmentation=True,
        optimizer="adam",
        learning_rate=2e-3,
        learning_rate_schedule="cosine",
        epochs=15,
        batch_size=128,
        shuffle=True,
        label_smoothing=0.0,
        class_weight=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        warm_start=False,
        callbacks=None,
        random_state=None,
        verbose=0,
        dtype="float32",
        steps_per_execution="auto",
        predict_batch_size=2048,
    ):
        self.filters = filters
        self.kernel_size = kernel_size
        self.batch_normalization = batch_normalization
        self.pooling = pooling
        self.dense_units = dense_units
        self.dropout = dropout
        self.alpha = alpha
        self.shift = shift
        self.flip = flip
        self.test_time_augmentation = test_time_augmentation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.label_smoothing = label_smoothing
        self.class_weight = class_weight
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype
        self.steps_per_execution = steps_per_execution
        self.predict_batch_size = predict_batch_size

    def _input_shape(self, n_features):
        # A square number of pixels is an image, anything else a 1-pixel strip.
        return (*(square_shape(n_features) or (1, n_features)), 1)

    def _is_image(self):
        return self._input_shape(self.n_features_in_)[0] > 1

    def _augmentation(self):
        if not self._is_image() or not (self.shift or self.flip):
            return None
        return _shift_and_flip(int(self.shift), bool(self.flip))

    def _test_time_views(self):
        return (_mirror,) if self.test_time_augmentation and self._is_image() else ()

    def _inference_network(self, model):
        return inference_network(model)

    def _build_logits(self, inputs, n_classes, seeds):
        keras = import_keras()
        dtype = inputs.dtype
        # The numerator of MLPClassifier's penalty; the training step divides
        # it by the batch's sample count (skfmnist._engine.training).
        regularizer = keras.regularizers.L2(0.5 * self.alpha) if self.alpha else None
        pool = {"max": keras.layers.MaxPooling2D,
                "average": keras.layers.AveragePooling2D}[self.pooling]
        x = inputs
        filters = positive_sizes(self.filters, "filters")
        for i, n_filters in enumerate(filters, start=1):
            x = keras.layers.Conv2D(
                n_filters, self.kernel_size, padding="same",
                use_bias=not self.batch_normalization,
                kernel_initializer=keras.initializers.HeUniform(next(seeds)),
                kernel_regularizer=regularizer, dtype=dtype, name=f"conv_{i}",
            )(x)
            if self.batch_normalization:
                x = keras.layers.BatchNormalization(dtype=dtype, name=f"bn_{i}")(x)
            x = keras.layers.Activation("relu", dtype=dtype, name=f"relu_{i}")(x)
            # "same" pooling also halves a one-pixel-high strip to one pixel.
            x = pool(2, padding="same", dtype=dtype, name=f"pool_{i}")(x)
        x = keras.layers.Flatten(dtype=dtype, name="flatten")(x)
        units = self.dense_units
        units = positive_sizes(units, "dense_units") if units else []
        for i, n_units in enumerate(units, start=1):
            if self.dropout:
                x = keras.layers.Dropout(
                    self.dropout, seed=next(seeds), dtype=dtype,
                    name=f"dropout_{i}",
                )(x)
            x = keras.layers.Dense(
                n_units, activation="relu",
                kernel_initializer=keras.initializers.HeUniform(next(seeds)),
                kernel_regularizer=regularizer, dtype=dtype, name=f"dense_{i}",
            )(x)
        if self.dropout:
            x = keras.layers.Dropout(
                self.dropout, seed=next(seeds), dtype=dtype, name="dropout_out"
            )(x)
        return keras.layers.Dense(
            n_classes,
            kernel_initializer=keras.initializers.GlorotUniform(next(seeds)),
            kernel_regularizer=regularizer, dtype=dtype, name="logits",
        )(x)
