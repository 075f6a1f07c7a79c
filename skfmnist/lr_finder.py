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
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._base import BaseKerasClassifier

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
    )
    runner, _ = model._prepare(X, y, sample_weight, classes=None, incremental=False)
    if schedule == "batch":
        n_points = num_steps or max(runner.steps, _MIN_BATCH_STEPS)
    else:
        n_points = epochs
    if smoothing == "auto":
        smoothing = 0.98 if schedule == "batch" else 0.0
    rates = min_lr * (max_lr / min_lr) ** (np.arange(n_points) / (n_points - 1))
    learning_rate = model.model_.optimizer.learning_rate
    losses = []
    for i, rate in enumerate(rates):
        learning_rate.assign(rate)
        if schedule == "epoch":
            losses.append(runner.run_epoch()[0])
        else:
            step = i % runner.steps
            if step == 0:
                runner.new_order()
            loss_sum, _, weight = runner.run_steps(step, step + 1)
            losses.append(loss_sum / weight if weight else math.nan)
        smoothed = _smooth(losses, smoothing)
        if divergence_threshold is not None and i >= _MIN_STEPS_BEFORE_STOP:
            current = smoothed[-1]
            if not np.isfinite(current) or current > divergence_threshold * np.nanmin(
                smoothed
            ):
                break
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
