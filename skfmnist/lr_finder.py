"""The learning-rate range test: the notebook's "ideal learning rate" step.

Train a copy of the classifier while raising the learning rate exponentially,
record the loss at each rate, and suggest the rate where the loss falls
fastest (Smith, "Cyclical Learning Rates for Training Neural Networks", 2017).

The suggestion is made robust to the noise of the per-batch loss:

- a batch sweep has at least ``_MIN_BATCH_STEPS`` points, cycling through the
  data as often as needed, so that small data still gives a curve;
- the loss is smoothed over about a quarter of a decade of learning rates
  (``smoothing="auto"``), enough to calm the noise without shifting the curve
  far to the right, as a fixed 0.98 does on a short sweep;
- the first points (the noisy start, where the bias-corrected average rests on
  a few losses) are left out of the search;
- the suggestion lies on the stretch where the smoothed loss falls steadily,
  from 90% of its fall (from its highest level to its minimum) to 10% of it,
  at the steepest point of that stretch. The steepest slope of the whole curve
  is often a dip of noise at the start, which suggested ``min_lr``.
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
from sklearn.utils.validation import _num_samples

from ._base import BaseKerasClassifier, _flatten_images
from ._engine.training import DivergedError

__all__ = ["LearningRateFinderResult", "find_learning_rate"]

# Steps seen before divergence may stop the sweep: the first losses are noisy.
_MIN_STEPS_BEFORE_STOP = 10
# Points of a batch sweep at the least, whatever the size of the data.
_MIN_BATCH_STEPS = 100
# "auto" smoothing: the average's time constant spans this many decades of
# learning rate (a quarter of a decade is 4 points of a 100-point sweep over
# six decades), within the bounds of the factor below.
_SMOOTHING_DECADES = 0.25
_MAX_AUTO_SMOOTHING = 0.98
# The steady fall runs from this fraction of the fall above the minimum down
# to the complementary fraction.
_FALL_FRACTION = 0.9


@dataclass
class LearningRateFinderResult:
    """Outcome of :func:`find_learning_rate`.

    Attributes
    ----------
    history : pandas.DataFrame
        One row per step (``schedule="batch"``) or epoch (``"epoch"``):
        ``learning_rate``, ``loss`` and ``smoothed_loss``.
    suggestion : float
        Learning rate where the smoothed loss falls fastest on the stretch
        where it falls steadily, before its minimum (the noisy first points
        left out).
    min_loss_learning_rate : float
        Learning rate at the smallest smoothed loss (the noisy first points
        left out); a tenth of it is another common choice.
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


def _auto_smoothing(n_points, min_lr, max_lr):
    """Factor whose average spans ``_SMOOTHING_DECADES`` of the sweep."""
    per_decade = (n_points - 1) / math.log10(max_lr / min_lr)
    factor = 1 - 1 / max(1.0, _SMOOTHING_DECADES * per_decade)
    return float(min(factor, _MAX_AUTO_SMOOTHING))


def _noisy_start(n_points, smoothing):
    """Number of first points left out of the suggestion.

    Twice the average's time constant (the bias-corrected average rests on
    few losses before that), at least a twentieth of the sweep, at most a
    quarter of it.
    """
    span = 2 / (1 - smoothing) if smoothing else 1
    return int(min(max(math.ceil(span), n_points // 20), n_points // 4))


def _suggest(learning_rates, smoothed, skip=0):
    """``(suggestion, rate at the minimum)`` from a smoothed loss curve.

    The first ``skip`` points are left out. The steady fall is the stretch
    before the minimum from the last point at or above ``_FALL_FRACTION`` of
    the fall (from the highest smoothed loss before the minimum down to the
    minimum) to the first point at or below the complementary fraction; the
    suggestion is its point of steepest descent against the logarithm of the
    rate. Without such a stretch (the loss never falls), the rate at the
    minimum.
    """
    rates = np.asarray(learning_rates, dtype=float)[skip:]
    loss = np.asarray(smoothed, dtype=float)[skip:]
    finite = np.isfinite(loss)
    if not finite.any():
        rate = float(learning_rates[0])
        return rate, rate
    best = int(np.nanargmin(np.where(finite, loss, np.nan)))
    at_minimum = float(rates[best])
    if best < 2:
        return at_minimum, at_minimum
    before = loss[: best + 1]
    top = int(np.nanargmax(before))
    drop = before[top] - before[best]
    if not drop > 0:
        return at_minimum, at_minimum
    high = before[best] + _FALL_FRACTION * drop
    low = before[best] + (1 - _FALL_FRACTION) * drop
    start = top + int(np.flatnonzero(before[top:] >= high)[-1])
    stop = start + int(np.flatnonzero(before[start:] <= low)[0])
    slopes = np.gradient(before, np.log(rates[: best + 1]))
    steepest = start + int(np.nanargmin(slopes[start : stop + 1]))
    return float(rates[steepest]), at_minimum


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


def _batch_sweep(model, X, y, sample_weight, sweep):
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


def _epoch_sweep(model, X, y, sample_weight, sweep):
    """One rate per epoch, set and read by a Keras callback during ``fit``."""
    from ._engine.runtime import import_keras

    keras = import_keras()

    class EpochSweep(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate.assign(sweep.rates[epoch])

        def on_epoch_end(self, epoch, logs=None):
            if sweep.record(logs["loss"]):
                self.model.stop_training = True

    # n_iter_no_change=epochs: the loss rises at the end of a sweep, and
    # MLPClassifier's stopping rule must not cut it short.
    epochs = len(sweep.rates)
    model.set_params(epochs=epochs, callbacks=[EpochSweep()],
                     n_iter_no_change=epochs)
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
        data, but at least 100 steps (cycling over the data as often as
        needed).
    epochs : int, default=40
        Number of epochs of an "epoch" sweep.
    smoothing : float or "auto", default="auto"
        Factor of the exponential moving average of the loss. "auto" averages
        over about a quarter of a decade of learning rates for "batch"
        (``1 - 4 / points_per_decade``, at most 0.98: 0.76 for 100 points
        over six decades) and does not smooth for "epoch".
    divergence_threshold : float or None, default=4.0
        Stop once the smoothed loss exceeds this multiple of its minimum, or
        is not finite; None always runs to ``max_lr``.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    result : LearningRateFinderResult
        The loss per learning rate, the suggested rate and a ``plot`` method.
        The suggestion leaves out the first points of the curve (twice the
        smoothing's time constant, at least a twentieth of the sweep), and
        lies where the smoothed loss falls steadily: the steepest point
        between 90% and 10% of the fall from its highest level to its
        minimum.

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
    if schedule == "batch":
        n_samples = _num_samples(X)
        steps = math.ceil(n_samples / min(model.batch_size, n_samples))
        n_points = num_steps or max(steps, _MIN_BATCH_STEPS)
    else:
        n_points = epochs
    if smoothing == "auto":
        smoothing = (
            _auto_smoothing(n_points, min_lr, max_lr) if schedule == "batch" else 0.0
        )
    sweep = _Sweep(min_lr, max_lr, smoothing, divergence_threshold)
    sweep.set_points(n_points)
    if schedule == "batch":
        _batch_sweep(model, X, y, sample_weight, sweep)
    else:
        _epoch_sweep(model, X, y, sample_weight, sweep)
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
        history["learning_rate"].to_numpy(), history["smoothed_loss"].to_numpy(),
        skip=_noisy_start(len(rates), smoothing),
    )
    return LearningRateFinderResult(history, suggestion, at_minimum, schedule)
