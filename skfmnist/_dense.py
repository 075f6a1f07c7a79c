"""DenseClassifier: a multi-layer perceptron in Keras behind fit/predict."""

import numbers

from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseKerasClassifier, positive_sizes

__all__ = ["DenseClassifier"]

# Keras' activation names, and the aliases "logistic" and "identity" (the names
# of scikit-learn's MLPClassifier) and "swish".
ACTIVATIONS = {
    **{name: name for name in ("relu", "tanh", "sigmoid", "linear", "elu", "selu",
                               "gelu", "silu", "softplus", "leaky_relu")},
    "logistic": "sigmoid",
    "identity": "linear",
    "swish": "silu",
}


class DenseClassifier(BaseKerasClassifier):
    """Multi-layer perceptron classifier built and trained with Keras.

    A stack of fully connected layers (with optional dropout and L2 penalty)
    followed by a softmax output, trained with mini-batch gradient descent on
    the cross-entropy. Image stacks ``(n, 28, 28)`` are flattened.

    The parameters and fitted attributes it shares with scikit-learn's
    :class:`~sklearn.neural_network.MLPClassifier` mean the same things
    (``alpha``, ``tol``, ``n_iter_no_change``, ``early_stopping``,
    ``coefs_``, ``loss_curve_``, ...); :ref:`mlpclassifier` lists every
    difference.

    The defaults (784-256-128-10 with dropout 0.2, Adam, batch 128, 40
    epochs on a cosine schedule) reach about 90.4% test accuracy on the
    official Fashion-MNIST split in under a minute on two CPU cores (90.3% to
    90.6% over three seeds, ``benchmarks/results/fit_default.json``). Dropout
    and the learning rate decaying to 1% let the later epochs add accuracy
    instead of over-fitting; the same net with 20 epochs stays below 90%.
    Scale pixels to [0, 1] first (``PixelScaler``): raw 0..255 intensities
    start with huge losses and train poorly.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Number of units of each hidden layer; ``()`` gives a linear model
        (multinomial logistic regression).
    activation : str, default="relu"
        Activation of the hidden layers: one of "relu", "tanh", "logistic"
        (alias "sigmoid"), "identity" (alias "linear"), "elu", "selu",
        "gelu", "swish" (alias "silu"), "softplus", "leaky_relu".
    dropout : float, default=0.2
        Fraction of the units of each hidden layer dropped during training.
    alpha : float, default=0.0
        Strength of the L2 penalty on the weight matrices (not the biases),
        as in ``MLPClassifier``: each mini-batch adds
        ``0.5 * alpha * sum(||W||^2) / n`` to its mean loss, ``n`` being its
        number of samples (its sum of sample weights, with weights), so the
        last, smaller batch of an epoch carries a larger share. The default
        is 0 where ``MLPClassifier``'s is 1e-4: ``dropout`` regularises the
        default network, and the accuracy figures were measured without
        penalty (1e-4 would change them little: at batch 128 it is a
        penalty of 4e-7 per unit of ``||W||^2``).
    optimizer : {"adam", "adamw", "nadam", "adamax", "sgd", "rmsprop", \
"adagrad"}, default="adam"
        Keras optimizer used for training.
    learning_rate : float, default=1e-3
        Initial learning rate of the optimizer.
    learning_rate_schedule : {"constant", "cosine", "plateau"}, \
default="cosine"
        How the learning rate changes from epoch to epoch. "cosine" decays it
        along a half cosine to 1% of ``learning_rate`` over ``epochs``;
        "plateau" halves it when the monitored loss (validation loss with
        ``early_stopping``, else training loss) has not improved by ``tol``
        for 3 epochs; "constant" keeps it.
    epochs : int, default=40
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
        Whether to hold out ``validation_fraction`` of the training data (or
        use ``X_val`` given to ``fit``) and stop when its accuracy stops
        improving, restoring the weights of the epoch of best accuracy, as
        ``MLPClassifier`` does. Without early stopping, training stops when
        the training loss stops improving (see ``tol``).
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.
    n_iter_no_change : int, default=10
        Number of consecutive epochs without improvement (by ``tol``) that
        training tolerates: the next one stops it, as in ``MLPClassifier``.
        Set it to ``epochs`` or more for ``fit`` to run every epoch (a warm
        fit carries the count over from the fit before, as in
        ``MLPClassifier``).
    tol : float, default=1e-4
        Improvement that counts as one. The rule is ``MLPClassifier``'s, the
        default here so that ported code stops where it did: without early
        stopping, an epoch improves when its training loss is below the best
        so far minus ``tol``; with early stopping, when its validation
        accuracy is at least the best so far plus ``tol``. After more than
        ``n_iter_no_change`` epochs in a row without improvement, training
        stops. The "plateau" schedule also uses ``tol``, on the validation
        loss (or the training loss without held-out data). To stop on the
        validation loss instead, pass ``X_val`` and a
        ``keras.callbacks.EarlyStopping(monitor="val_loss")`` callback.
    warm_start : bool, default=False
        When True, ``fit`` continues training the fitted model (and its
        optimizer state) instead of starting anew, for ``epochs`` more epochs
        whose schedule starts again from ``learning_rate``. Parameters that
        define the network (``hidden_layer_sizes``, ``activation``,
        ``dropout``, ``alpha``, ``dtype``, ``optimizer``) cannot change
        between warm fits: that raises a ValueError.
    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks, called as ``keras.Model.fit`` calls them:
        ``on_epoch_end(epoch, logs)`` gets ``loss``, ``accuracy``,
        ``val_loss`` and ``val_accuracy`` (with held-out data) and
        ``learning_rate``; batch hooks run once per compiled call (see
        ``steps_per_execution``); ``self.model`` is ``model_``, and setting
        ``self.model.stop_training = True`` stops training. ``CSVLogger``,
        ``EarlyStopping``, ``ModelCheckpoint`` and ``TensorBoard`` work
        unchanged. ``fit`` uses these very objects, so their state after
        ``fit`` is there to read, as with Keras; ``clone`` and pickling take
        copies without the model and without open files or writers (see
        :ref:`the user guide <training>`).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. An int makes ``fit`` reproducible to the last digit.
    verbose : int or bool, default=0
        0 is silent, 1 shows Keras' progress bar each epoch, 2 prints one
        line per epoch.
    dtype : {"float32", "float64"}, default="float32"
        Floating-point type of weights and computation. "float64" is slower,
        but how samples are grouped (into batches, or per forward pass) then
        changes results within about 1e-12 (relative), against about 1e-5 in
        float32.
    steps_per_execution : int or "auto", default="auto"
        Optimizer steps run per compiled call. "auto" runs a whole epoch per
        call, or about 30 calls per epoch when the progress bar is shown. The
        optimizer takes the same steps whatever it is; only the epoch's
        ``loss`` is summed another way, to about 1e-6 (relative). So the
        weights and predictions are the same to the last bit, unless that
        rounding tips a stopping or "plateau" decision (a change of the loss
        within 1e-6 of ``tol``).
    predict_batch_size : int, default=8192
        Number of samples per forward pass at prediction time (and when
        evaluating held-out data). Other sizes can take other matrix
        kernels: the probabilities then agree to rounding, within about
        1e-5 of their value in float32 (1e-12 in float64), not always to the
        last bit.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen during fit.
    n_features_in_ : int
        Number of features (pixels) seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.
    model_ : keras.Model
        The trained Keras model (input ``(n_features_in_,)``, output the
        class probabilities); its layer named "logits" gives the logits.
    history_ : pandas.DataFrame
        One row per epoch (index ``epoch`` from 1): ``loss``, ``accuracy``,
        ``val_loss`` and ``val_accuracy`` with held-out data (``X_val`` or
        early stopping), and ``learning_rate``. ``loss`` and ``val_loss``
        measure the same objective, the one training minimises: the
        (label-smoothed) cross-entropy plus the L2 penalty, weighted by
        ``sample_weight``; ``val_loss`` adds the penalty in the share the
        training loss carries (one penalty per mini-batch, per unit of
        training weight). ``loss`` and ``accuracy`` average over the epoch's
        mini-batches as they were trained (dropout on, weights changing);
        ``val_*`` are measured at the end of the epoch, as in Keras.
        Without label smoothing, sample weights and ``alpha``,
        ``model_.evaluate`` reports the same loss.
    loss_curve_ : list of float
        The ``loss`` column as a list, as in ``MLPClassifier``.
    loss_ : float
        The training loss of the last epoch, ``loss_curve_[-1]``.
    best_loss_ : float or None
        The smallest training loss reached (over warm fits and
        ``partial_fit`` calls too), the one the stopping rule compares with;
        None with ``early_stopping=True``, as in ``MLPClassifier``.
    validation_scores_ : list of float or None
        The validation accuracy of each epoch with ``early_stopping=True``
        (the ``val_accuracy`` column); None without early stopping.
    best_validation_score_ : float or None
        The best of ``validation_scores_``, whose weights the model holds
        after an early-stopped fit; None without early stopping.
    coefs_ : list of ndarray
        Weight matrices of the layers, ``coefs_[i]`` of shape
        ``(units of layer i, units of layer i + 1)`` from the input layer
        (``n_features_in_`` units) to the output (``n_outputs_``), as in
        ``MLPClassifier``. Read-only copies of ``model_``'s kernels, computed
        when read (a pickle holds the weights once): change the network
        through ``model_``.
    intercepts_ : list of ndarray
        Bias vectors, ``intercepts_[i]`` of shape ``(units of layer i + 1,)``,
        read-only copies like ``coefs_``.
    n_layers_ : int
        Number of layers, input and output included:
        ``len(hidden_layer_sizes) + 2``.
    n_outputs_ : int
        Number of output units, one per class (``MLPClassifier`` has one
        logistic output for two classes).
    out_activation_ : str
        Name of the output activation function, always "softmax".
    n_iter_ : int
        Number of epochs run, over all calls to fit and partial_fit.
    t_ : int
        Number of training samples seen, over all epochs.

    See Also
    --------
    PixelScaler : Scale pixel intensities to [0, 1] before this classifier.
    sklearn.neural_network.MLPClassifier : scikit-learn's own MLP, in NumPy.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfmnist import DenseClassifier, PixelScaler, load_sample
    >>> X, y = load_sample(return_X_y=True)
    >>> clf = make_pipeline(
    ...     PixelScaler(), DenseClassifier(hidden_layer_sizes=(64,), epochs=3,
    ...                                    random_state=0))
    >>> clf.fit(X, y).predict(X[:5]).shape
    (5,)
    >>> clf[-1].classes_
    array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]...)
    >>> clf[-1].history_.columns.tolist()
    ['loss', 'accuracy', 'learning_rate']
    >>> [coef.shape for coef in clf[-1].coefs_]
    [(784, 64), (64, 10)]
    >>> clf.predict_log_proba(X[:5]).shape
    (5, 10)
    """

    _parameter_constraints: dict = {
        **BaseKerasClassifier._parameter_constraints,
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None,
                                                      closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
    }

    _network_params = ("hidden_layer_sizes", "activation", "dropout", "alpha")

    def __init__(
        self,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        *,
        dropout=0.2,
        alpha=0.0,
        optimizer="adam",
        learning_rate=1e-3,
        learning_rate_schedule="cosine",
        epochs=40,
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
        predict_batch_size=8192,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.alpha = alpha
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

    @property
    def n_layers_(self):
        """Number of layers, input and output included."""
        return len(self.coefs_) + 1

    def _build_logits(self, inputs, n_classes, seeds):
        from ._engine.runtime import import_keras

        keras = import_keras()
        dtype = inputs.dtype
        # The numerator of MLPClassifier's penalty; the training step divides
        # it by the batch's sample count (skfmnist._engine.training).
        regularizer = keras.regularizers.L2(0.5 * self.alpha) if self.alpha else None
        x = inputs
        sizes = positive_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        for i, units in enumerate(sizes, start=1):
            x = keras.layers.Dense(
                units,
                activation=ACTIVATIONS[self.activation],
                kernel_initializer=keras.initializers.GlorotUniform(next(seeds)),
                kernel_regularizer=regularizer,
                dtype=dtype,
                name=f"dense_{i}",
            )(x)
            if self.dropout:
                x = keras.layers.Dropout(
                    self.dropout, seed=next(seeds), dtype=dtype, name=f"dropout_{i}"
                )(x)
        return keras.layers.Dense(
            n_classes,
            kernel_initializer=keras.initializers.GlorotUniform(next(seeds)),
            kernel_regularizer=regularizer,
            dtype=dtype,
            name="logits",
        )(x)
