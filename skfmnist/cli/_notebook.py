"""The six models of the original Fashion-MNIST notebook, as a data table.

The notebook trained small Keras MLPs with ``tf.random.set_seed(42)``, Adam at
a constant learning rate, mini-batches of 32, the sparse categorical
cross-entropy and no dropout. Each row of :data:`EXPERIMENTS` is one of its
models; :func:`run_experiments` fits them all with the same settings through
the package's own estimators. Importing this module is cheap: TensorFlow is
only imported when the experiments run.
"""

import math
import time
from typing import NamedTuple

__all__ = ["EXPERIMENTS", "Experiment", "run_experiments", "scale_epochs"]


class Experiment(NamedTuple):
    """One model of the notebook."""

    #: Number of the model in the notebook (1 to 6).
    number: int
    #: Short label for tables and plots.
    model: str
    #: Units of each hidden ReLU layer.
    hidden_layer_sizes: tuple
    #: Epochs the notebook trained for.
    epochs: int
    #: Whether pixels were divided by 255 first (model 1 used raw 0..255).
    scaled: bool = True
    #: Constant learning rate of Adam (model 4: the rate the sweep found).
    learning_rate: float = 1e-3
    #: Test accuracy the notebook reported (NaN for the sweep).
    reported: float = math.nan
    #: Whether this is the learning-rate sweep rather than a fit.
    sweep: bool = False
    #: Learning rate the notebook read off the sweep.
    reported_learning_rate: float = math.nan
    #: "dense" for the notebook's MLPs, "conv" for the CNN it suggested next.
    classifier: str = "dense"


#: The notebook's models, in order.
EXPERIMENTS = (
    Experiment(1, "4-4, raw pixels", (4, 4), 10, scaled=False, reported=0.34),
    Experiment(2, "4-4, scaled pixels", (4, 4), 10, reported=0.80),
    Experiment(
        3, "4-4, learning-rate sweep", (4, 4), 40, sweep=True,
        reported_learning_rate=1e-3,
    ),
    Experiment(4, "4-4, tuned learning rate", (4, 4), 20, reported=0.80),
    Experiment(5, "20-20-20", (20, 20, 20), 20, reported=0.87),
    Experiment(6, "20-20-20-20", (20, 20, 20, 20), 20, reported=0.87),
    # The notebook's suggested next step, not one of its runs: ConvClassifier
    # with its own defaults (epochs None: the classifier's default).
    Experiment(7, "the suggested CNN", (), None, learning_rate=None,
               classifier="conv"),
)

#: DenseClassifier settings shared by every model: the notebook's Keras setup.
NOTEBOOK_PARAMS = {
    "dropout": 0.0,
    "learning_rate_schedule": "constant",
    "batch_size": 32,
    "random_state": 42,
}

#: The sweep's rates: ``1e-3 * 10 ** (epoch / 20)`` for epochs 0 to 39.
SWEEP_MIN_LR = 1e-3
SWEEP_MAX_LR = 1e-3 * 10 ** (39 / 20)


def scale_epochs(epochs, scale, minimum=1):
    """Return ``epochs * scale`` rounded, but at least ``minimum``.

    Parameters
    ----------
    epochs : int
        Epochs of the notebook.
    scale : float
        Factor, e.g. 0.1 for a quick run.
    minimum : int, default=1
        Smallest result.

    Returns
    -------
    epochs : int
        The scaled number of epochs.

    Examples
    --------
    >>> from skfmnist.cli._notebook import scale_epochs
    >>> scale_epochs(40, 0.1), scale_epochs(10, 0.05), scale_epochs(20, 1.0)
    (4, 1, 20)
    """
    return max(minimum, round(epochs * scale))


def conv_defaults():
    """Epochs and learning rate of ConvClassifier's defaults (no TensorFlow)."""
    import inspect

    from .._conv import ConvClassifier

    params = inspect.signature(ConvClassifier).parameters
    return params["epochs"].default, params["learning_rate"].default


def _make_model(experiment, epochs, verbose):
    """The notebook's model as a classifier, behind a PixelScaler if scaled."""
    from sklearn.pipeline import Pipeline

    from .._scaler import PixelScaler

    if experiment.classifier == "conv":
        from .._conv import ConvClassifier

        clf = ConvClassifier(epochs=epochs, random_state=42, verbose=verbose)
        return Pipeline([("scale", PixelScaler()), ("clf", clf)])
    from .._dense import DenseClassifier

    clf = DenseClassifier(
        hidden_layer_sizes=experiment.hidden_layer_sizes,
        learning_rate=experiment.learning_rate,
        epochs=epochs,
        verbose=verbose,
        **NOTEBOOK_PARAMS,
    )
    if not experiment.scaled:
        return clf
    return Pipeline([("scale", PixelScaler()), ("clf", clf)])


def run_experiments(
    X, y, X_test, y_test, *, epochs_scale=1.0, verbose=0, log=None, experiments=None
):
    """Fit the notebook's models and measure their test accuracy.

    Parameters
    ----------
    X, y : array-like
        Training images (uint8, 0..255) and labels.
    X_test, y_test : array-like
        Test images and labels.
    epochs_scale : float, default=1.0
        Factor applied to every model's epochs (at least 1 epoch, 2 for the
        sweep), for a quicker run. The sweep then covers the same range of
        learning rates in fewer, larger steps.
    verbose : int, default=0
        Verbosity of each classifier (1 shows Keras' progress bar).
    log : callable or None, default=None
        Called with one line of text per model when it is done.
    experiments : sequence of Experiment, default=None
        The models to run; :data:`EXPERIMENTS` when None.

    Returns
    -------
    results : pandas.DataFrame
        One row per model: ``experiment``, ``model``, ``hidden_layer_sizes``,
        ``pixels``, ``epochs``, ``learning_rate`` (for the sweep: the
        suggested rate), ``accuracy`` (NaN for the sweep), ``reported``,
        ``reported_learning_rate`` and ``fit_time_s``.
    sweep : LearningRateFinderResult or None
        The sweep's result, if one was run.
    """
    import pandas as pd

    from ..lr_finder import find_learning_rate

    experiments = EXPERIMENTS if experiments is None else tuple(experiments)
    rows, sweep = [], None
    for i, experiment in enumerate(experiments, start=1):
        if experiment.classifier == "conv":
            default_epochs, default_rate = conv_defaults()
            experiment = experiment._replace(
                epochs=experiment.epochs or default_epochs,
                learning_rate=experiment.learning_rate or default_rate,
            )
        epochs = scale_epochs(
            experiment.epochs, epochs_scale, minimum=2 if experiment.sweep else 1
        )
        model = _make_model(experiment, epochs, verbose)
        start = time.perf_counter()
        if experiment.sweep:
            sweep = find_learning_rate(
                model, X, y,
                schedule="epoch",
                epochs=epochs,
                min_lr=SWEEP_MIN_LR,
                max_lr=SWEEP_MAX_LR,
                divergence_threshold=None,  # the notebook ran every epoch
            )
            learning_rate, accuracy = sweep.suggestion, math.nan
        else:
            model.fit(X, y)
            learning_rate = experiment.learning_rate
            accuracy = float(model.score(X_test, y_test))
        elapsed = time.perf_counter() - start
        rows.append(
            {
                "experiment": experiment.number,
                "model": experiment.model,
                "hidden_layer_sizes": "-".join(
                    map(str, experiment.hidden_layer_sizes)
                ) or "-",
                "pixels": "scaled" if experiment.scaled else "raw",
                "epochs": epochs,
                "learning_rate": learning_rate,
                "accuracy": accuracy,
                "reported": experiment.reported,
                "reported_learning_rate": experiment.reported_learning_rate,
                "fit_time_s": elapsed,
            }
        )
        if log is not None:
            if experiment.sweep:
                outcome = (
                    f"suggested learning rate {learning_rate:.2g} (notebook: "
                    f"{experiment.reported_learning_rate:g})"
                )
            elif math.isnan(experiment.reported):
                outcome = f"test accuracy {accuracy:.1%} (not in the notebook)"
            else:
                outcome = (
                    f"test accuracy {accuracy:.1%} (notebook: "
                    f"{experiment.reported:.0%})"
                )
            log(
                f"[{i}/{len(experiments)}] model {experiment.number}, "
                f"{experiment.model}, {epochs} epoch{'s' * (epochs != 1)}: "
                f"{outcome} in {elapsed:.1f} s"
            )
    return pd.DataFrame(rows), sweep
