"""The learning-rate range test: the notebook's "ideal learning rate" step.

Train a copy of the classifier while raising the learning rate exponentially,
record the loss at each rate, and suggest the rate where the loss falls
fastest (Smith, "Cyclical Learning Rates for Training Neural Networks", 2017).
"""

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._base import BaseKerasClassifier, _flatten_images
from ._engine.training import DivergedError

__all__ = ["LearningRateFinderResult", "find_learning_rate"]

# Steps seen before divergence may stop the sweep: the first losses are noisy.
_MIN_STEPS_BEFORE_STOP = 10
_MIN_BATCH_STEPS = 50


@dataclass
class LearningRateFinderResult:
    """Outcome of :func:`find_learning_rate`.

    Attributes
    ----------
    history : pandas.DataFrame
        One row per step (``schedule="batch"``) or epoch (``"epoch"``):
        ``learning_rate``, ``loss`` and ``smoothed_loss``.
    suggestion : float
        Learning rate where the smoothed loss falls fastest, before its
        minimum.
    min_loss_learning_rate : float
        Learning rate at the smallest smoothed loss; a tenth of it is another
        common choice.
    schedule : str
        "batch" or "epoch".

    Examples
    --------
    >>> import pandas as pd
    >>> from skfmnist.lr_finder import LearningRateFinderResult
    >>> frame = pd.DataFrame({"learning_rate": [1e-4, 1e-3, 1e-2],
    ...                       "loss": [2.3, 1.0, 3.0],
    ...                       "smoothed_loss": [2.3, 1.0, 3.0]})
    >>> LearningRateFinderResult(frame, 1e-3, 1e-3, "batch").suggestion
    0.001
    """

    history: pd.DataFrame
    suggestion: float
    min_loss_learning_rate: float
    schedule: str

    def plot(self, ax=None):
        """Plot loss against learning rate, marking the suggestion.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        ax : matplotlib Axes
            The axes drawn on.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import pandas as pd
        >>> from skfmnist.lr_finder import LearningRateFinderResult
        >>> frame = pd.DataFrame({"learning_rate": [1e-4, 1e-3, 1e-2],
        ...                       "loss": [2.3, 1.0, 3.0],
        ...                       "smoothed_loss": [2.3, 1.0, 3.0]})
        >>> ax = LearningRateFinderResult(frame, 1e-3, 1e-3, "batch").plot()
        >>> ax.get_xscale()
        'log'
        """
        from .plotting import plot_lr_finder

        return plot_lr_finder(self, ax=ax)


def _smooth(losses, smoothing):
    """Bias-corrected exponential moving average, as in the original test."""
    average, smoothed = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = smoothing * average + (1 - smoothing) * loss
        smoothed.append(average / (1 - smoothing**i) if smoothing else loss)
    return np.asarray(smoothed)


def _suggest(learning_rates, smoothed):
    best = int(np.nanargmin(smoothed))
    if best < 2:
        return float(learning_rates[best]), float(learning_rates[best])
    slopes = np.gradient(smoothed[: best + 1], np.log(learning_rates[: best + 1]))
    return float(learning_rates[int(np.argmin(slopes))]), float(learning_rates[best])

class _Sweep:
    """Learning rates of the sweep, the losses seen, and when to stop."""

    def __init__(self, min_lr, max_lr, smoothing, divergence_threshold):
        self.min_lr, self.max_lr = min_lr, max_lr
        self.smoothing = smoothing
        self.divergence_threshold = divergence_threshold
        self.losses = []

    def set_points(self, n_points):
        ratio = self.max_lr / self.min_lr
        self.rates = self.min_lr * ratio ** (np.arange(n_points) / (n_points - 1))

    def record(self, loss):
        """Note one loss; return True when the sweep should stop (divergence)."""
        self.losses.append(loss)
        if self.divergence_threshold is None:
            return False
        if len(self.losses) <= _MIN_STEPS_BEFORE_STOP:
            return False
        smoothed = _smooth(self.losses, self.smoothing)
        current = smoothed[-1]
        return not np.isfinite(current) or current > (
            self.divergence_threshold * np.nanmin(smoothed)
        )


def _batch_sweep(model, X, y, sample_weight, sweep, num_steps):
    """One optimizer step per rate, each a ``partial_fit`` on one mini-batch."""
    X = _flatten_images(X)
    y = np.asarray(y)
    n_samples = len(y)
    weights = np.ones(n_samples) if sample_weight is None else np.asarray(
        sample_weight, dtype=np.float64)
    if model.class_weight is not None:
        # "balanced" must mean the balance of the whole data, not of a batch.
        weights = weights * compute_sample_weight(model.class_weight, y)
        model.set_params(class_weight=None)
    batch_size = min(model.batch_size, n_samples)
    steps = math.ceil(n_samples / batch_size)
    sweep.set_points(num_steps or max(steps, _MIN_BATCH_STEPS))
    rng = check_random_state(model.random_state)
    classes = np.unique(y)
    for i, rate in enumerate(sweep.rates):
        step = i % steps
        if step == 0:
            order = rng.permutation(n_samples)
        batch = order[step * batch_size : (step + 1) * batch_size]
        model.set_params(learning_rate=float(rate))
        try:
            model.partial_fit(X[batch], y[batch], classes=classes,
                              sample_weight=weights[batch])
        except DivergedError:
            return
        if sweep.record(float(model.history_["loss"].iloc[-1])):
            return


def _epoch_sweep(model, X, y, sample_weight, sweep, epochs):
    """One rate per epoch, set and read by a Keras callback during ``fit``."""
    from ._engine.runtime import import_keras

    keras = import_keras()
    sweep.set_points(epochs)

    class EpochSweep(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate.assign(sweep.rates[epoch])

        def on_epoch_end(self, epoch, logs=None):
            if sweep.record(logs["loss"]):
                self.model.stop_training = True

    model.set_params(epochs=epochs, callbacks=[EpochSweep()])
    try:
        model.fit(X, y, sample_weight=sample_weight)
    except DivergedError:
        pass  # the losses up to the divergence are what the sweep needs


@validate_params(
    {
        "estimator": [BaseKerasClassifier, Pipeline],
        "X": ["array-like"],
        "y": ["array-like"],
        "min_lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "schedule": [StrOptions({"batch", "epoch"})],
        "num_steps": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "epochs": [Interval(numbers.Integral, 2, None, closed="left")],
        "smoothing": [
            Interval(numbers.Real, 0, 1, closed="left"),
            StrOptions({"auto"}),
        ],
        "divergence_threshold": [
            Interval(numbers.Real, 1, None, closed="neither"),
            None,
        ],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=False,
)
def find_learning_rate(
    estimator,
    X,
    y,
    *,
    min_lr=1e-6,
    max_lr=1.0,
    schedule="batch",
    num_steps=None,
    epochs=40,
    smoothing="auto",
    divergence_threshold=4.0,
    sample_weight=None,
):
    """Run the learning-rate range test on a copy of a classifier.

    A clone of ``estimator`` (of the last step of a pipeline, after fitting
    and applying the earlier steps to ``X``) is trained from scratch while the
    learning rate grows geometrically from ``min_lr`` to ``max_lr``: every
    mini-batch (``schedule="batch"``, one pass over the data, fast) or every
    epoch (``schedule="epoch"``, as in the notebook, which ran 40 epochs at
    ``1e-3 * 10 ** (epoch / 20)``). The estimator passed in is not modified.

    Parameters
    ----------
    estimator : DenseClassifier or Pipeline ending in one
        The model to test; its other parameters (architecture, optimizer,
        batch size) are kept, its learning-rate schedule is ignored.
    X : array-like of shape (n_samples, n_features) or (n_samples, h, w)
        Training data.
    y : array-like of shape (n_samples,)
        Target labels.
    min_lr, max_lr : float, default=1e-6, 1.0
        First and last learning rate of the sweep.
    schedule : {"batch", "epoch"}, default="batch"
        Raise the rate every mini-batch or every epoch.
    num_steps : int, default=None
        Number of mini-batches of a "batch" sweep; None is one pass over the
        data, but at least 50 steps (cycling over the data again).
    epochs : int, default=40
        Number of epochs of an "epoch" sweep.
    smoothing : float or "auto", default="auto"
        Factor of the exponential moving average of the loss; "auto" is 0.98
        for "batch" and 0 (no smoothing) for "epoch".
    divergence_threshold : float or None, default=4.0
        Stop once the smoothed loss exceeds this multiple of its minimum, or
        is not finite; None always runs to ``max_lr``.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    result : LearningRateFinderResult
        The loss per learning rate, the suggested rate and a ``plot`` method.

    See Also
    --------
    skfmnist.plotting.plot_lr_finder : Plot the result.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfmnist import DenseClassifier, PixelScaler, load_sample
    >>> from skfmnist import find_learning_rate
    >>> X, y = load_sample(return_X_y=True)
    >>> pipe = make_pipeline(PixelScaler(),
    ...                      DenseClassifier(hidden_layer_sizes=(32,), random_state=0))
    >>> result = find_learning_rate(pipe, X, y, min_lr=1e-5, max_lr=1.0)
    >>> result.history.columns.tolist()
    ['learning_rate', 'loss', 'smoothed_loss']
    >>> 1e-5 <= result.suggestion <= 1.0
    True
    """
    if min_lr >= max_lr:
        raise ValueError(f"min_lr={min_lr} must be smaller than max_lr={max_lr}.")
    model = clone(estimator)
    if isinstance(model, Pipeline):
        if not isinstance(model[-1], BaseKerasClassifier):
            raise TypeError(
                "The last step of the pipeline must be a skfmnist classifier, "
                f"got {type(model[-1]).__name__}."
            )
        X = model[:-1].fit_transform(X, y)
        model = model[-1]
    model.set_params(
        learning_rate_schedule="constant",
        early_stopping=False,
        warm_start=False,
        verbose=0,
        callbacks=None,
    )
    if smoothing == "auto":
        smoothing = 0.98 if schedule == "batch" else 0.0
    sweep = _Sweep(min_lr, max_lr, smoothing, divergence_threshold)
    if schedule == "batch":
        _batch_sweep(model, X, y, sample_weight, sweep, num_steps)
    else:
        _epoch_sweep(model, X, y, sample_weight, sweep, epochs)
    losses = sweep.losses
    rates = sweep.rates
    history = pd.DataFrame(
        {
            "learning_rate": rates[: len(losses)],
            "loss": losses,
            "smoothed_loss": _smooth(losses, smoothing),
        }
    )
    suggestion, at_minimum = _suggest(
        history["learning_rate"].to_numpy(), history["smoothed_loss"].to_numpy()
    )
    return LearningRateFinderResult(history, suggestion, at_minimum, schedule)
