"""Plots of training histories, predictions, data and learning-rate searches.

Every function imports matplotlib when it is called, so importing this module
needs neither matplotlib nor TensorFlow. Each takes ``ax=None`` and returns
what it drew on: a single Axes, a NumPy array of Axes for a grid of panels
(the Figure is ``axes.flat[0].figure``), or a scikit-learn Display object with
``ax_`` and ``figure_``.
"""

import math
import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.multiclass import unique_labels

from ._shapes import square_shape
from .datasets import CLASS_NAMES

__all__ = [
    "plot_confusion_matrix",
    "plot_experiments",
    "plot_history",
    "plot_images",
    "plot_lr_finder",
    "plot_predictions",
]

# Size in inches of one image panel (width, height), with room for two title
# lines, and of one history panel.
_IMAGE_PANEL = (1.9, 2.3)
_HISTORY_PANEL = (5.0, 3.6)
# Line styles of the training and validation curves of plot_history.
_TRAIN_STYLE = {"color": "C0", "linestyle": "-", "label": "training"}
_VALID_STYLE = {"color": "C1", "linestyle": "--", "label": "validation"}
# Colours of the titles of right and wrong predictions.
RIGHT_COLOR = "green"
WRONG_COLOR = "red"


# -- shared helpers ----------------------------------------------------------


def _panel_axes(ax, n_panels, *, ncols, panel_size):
    """Return a 1-D object array of ``n_panels`` Axes to draw the panels on.

    With ``ax=None`` a new figure holds a grid of ``ncols`` columns whose
    unused cells are switched off; otherwise ``ax`` is one Axes (for a single
    panel) or an array or sequence of at least ``n_panels`` Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        ncols = min(ncols, n_panels)
        nrows = math.ceil(n_panels / ncols)
        _, grid = plt.subplots(
            nrows,
            ncols,
            figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
            squeeze=False,
            layout="constrained",
        )
        axes = grid.ravel()
        for unused in axes[n_panels:]:
            unused.set_axis_off()
        return axes[:n_panels]
    axes = np.empty(1, dtype=object)
    if isinstance(ax, Axes):
        axes[0] = ax
    else:
        axes = np.asarray(ax, dtype=object).ravel()
    if not all(isinstance(a, Axes) for a in axes):
        raise TypeError(
            "ax must be None, a matplotlib Axes or an array of Axes, got "
            f"{type(ax).__name__}."
        )
    if len(axes) < n_panels:
        raise ValueError(
            f"ax holds {len(axes)} Axes but {n_panels} panels are to be drawn; "
            "pass at least as many Axes, or ax=None for a new figure."
        )
    return axes[:n_panels]


def _single_axes(ax, figsize):
    """Return ``ax``, or the Axes of a new figure of ``figsize`` inches."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _is_fashion_labels(labels):
    """Whether ``labels`` are integers in 0..9, the Fashion-MNIST classes."""
    labels = np.asarray(labels)
    return (
        labels.size > 0
        and np.issubdtype(labels.dtype, np.integer)
        and labels.min() >= 0
        and labels.max() < len(CLASS_NAMES)
    )


def _class_name_map(classes, class_names):
    """Map each label of ``classes`` to the name to display for it.

    ``class_names`` is None (Fashion-MNIST names for integer labels in 0..9,
    else the labels as strings), a mapping from label to name that overrides
    those defaults, or a sequence of names in the order of ``classes``.
    """
    classes = np.asarray(classes)
    keys = classes.tolist()
    if class_names is None or isinstance(class_names, Mapping):
        if _is_fashion_labels(classes):
            names = {key: CLASS_NAMES[key] for key in keys}
        else:
            names = {key: str(key) for key in keys}
        for key in keys:
            if class_names is not None and key in class_names:
                names[key] = str(class_names[key])
        return names
    names = [str(name) for name in class_names]
    if len(names) != len(keys):
        raise ValueError(
            f"class_names has {len(names)} names but there are {len(keys)} "
            f"classes {keys}; pass one name per class, in the order of the "
            "classes, or a dict from label to name."
        )
    return dict(zip(keys, names, strict=True))


def _name_of(label, names):
    """Display name of one ``label`` (a NumPy or Python scalar)."""
    key = label.item() if isinstance(label, np.generic) else label
    return names.get(key, str(key))


def _as_images(images):
    """Return ``images`` as an array ``(n, h, w)`` or ``(n, h, w, 3)`` to show.

    Flat rows of ``h * h`` pixels are reshaped into squares; a trailing channel
    axis of size 1 is dropped.
    """
    images = np.asarray(images)
    if images.ndim == 2:
        shape = square_shape(images.shape[1])
        if shape is None:
            raise ValueError(
                f"Cannot show rows of {images.shape[1]} pixels as square images; "
                "pass images of shape (n, h, w) or rows of h * h pixels."
            )
        return images.reshape(len(images), *shape)
    if images.ndim == 4 and images.shape[-1] == 1:
        return images[..., 0]
    if images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3):
        return images
    raise ValueError(
        f"images must have shape (n, h, w) or (n, h * w), got shape {images.shape}."
    )


def _show_image(ax, image, vmin, vmax):
    """Draw one image on ``ax`` in grey levels, without ticks."""
    ax.imshow(image, cmap="binary", vmin=vmin, vmax=vmax)
    ax.set_xticks([])
    ax.set_yticks([])


def _fitted_classes(estimator, plotted):
    """``estimator.classes_``; a NotFittedError naming what is ``plotted`` else."""
    try:
        return np.asarray(estimator.classes_)
    except AttributeError as exc:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. "
            f"Call fit before plotting {plotted}."
        ) from exc


def _check_predict_proba(estimator):
    """Raise a TypeError unless ``estimator`` has ``predict_proba``."""
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"{type(estimator).__name__} has no predict_proba; pass a "
            "probabilistic classifier or a pipeline ending in one."
        )


def _unexpected_type(expected, value):
    """The TypeError for an argument ``value`` that is not ``expected``."""
    return TypeError(f"Expected {expected}, got {type(value).__name__}.")


# -- training history --------------------------------------------------------


def _history_frame(estimator_or_history):
    """Return the per-epoch history as a DataFrame indexed by epoch from 1."""
    obj = estimator_or_history
    if hasattr(obj, "steps") and not isinstance(obj, pd.DataFrame):
        obj = obj.steps[-1][1]  # a Pipeline: its final estimator trained
    if isinstance(obj, pd.DataFrame):
        frame = obj
    elif isinstance(obj, Mapping):  # Keras' History.history dict
        frame = pd.DataFrame(dict(obj))
    elif hasattr(obj, "history_"):
        return _history_frame(obj.history_)
    elif isinstance(getattr(obj, "history", None), Mapping):  # keras History
        frame = pd.DataFrame(dict(obj.history))
        epochs = getattr(obj, "epoch", None)
        if epochs is not None and len(epochs) == len(frame):
            # Keras counts epochs from 0 but prints them from 1.
            frame.index = pd.Index(np.asarray(epochs) + 1, name="epoch")
    elif hasattr(obj, "fit"):
        raise NotFittedError(
            f"This {type(obj).__name__} instance has no history_: it is not "
            "fitted yet. Call fit before plotting its history."
        )
    else:
        raise _unexpected_type(
            "a fitted classifier (or a Pipeline ending in one) with a history_, "
            "a pandas DataFrame or a keras History",
            estimator_or_history,
        )
    if frame.empty:
        raise ValueError("The history is empty: there is no epoch to plot.")
    if "epoch" in frame.columns:
        frame = frame.set_index("epoch")
    elif frame.index.name != "epoch":
        frame = frame.set_axis(pd.RangeIndex(1, len(frame) + 1, name="epoch"))
    return frame


@validate_params(
    {"metrics": [str, list, tuple]},
    prefer_skip_nested_validation=True,
)
def plot_history(estimator_or_history, *, metrics=("loss", "accuracy"), ax=None):
    """Plot training (and validation) metrics against the epoch.

    One panel per metric, with the training curve as a solid line and, when
    the history holds ``val_<metric>`` (a classifier fitted with early
    stopping, or Keras' ``validation_data``), the validation curve dashed.

    Parameters
    ----------
    estimator_or_history : estimator, Pipeline, DataFrame, dict or History
        A fitted classifier with a ``history_`` DataFrame (such as
        :class:`~skfmnist.DenseClassifier`), a Pipeline ending in one, such a
        DataFrame, a ``keras.callbacks.History`` (what ``keras.Model.fit``
        returns) or its ``history`` dict. The x values are the ``epoch``
        column or index when there is one, else 1, 2, ...
    metrics : str or sequence of str, default=("loss", "accuracy")
        Columns of the history to plot, one panel each, in order.
    ax : matplotlib Axes or array-like of Axes, default=None
        Where to draw, one Axes per metric. If None, a new figure with one
        row of panels is created.

    Returns
    -------
    axes : ndarray of matplotlib Axes of shape (n_metrics,)
        The Axes drawn on; ``axes.flat[0].figure`` is the Figure.

    Raises
    ------
    NotFittedError
        If an estimator has no ``history_`` yet (a subclass of ValueError).
    ValueError
        If a metric is not in the history, or the history is empty.

    See Also
    --------
    plot_lr_finder : Loss against learning rate from a learning-rate search.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfmnist import DenseClassifier, PixelScaler, load_sample
    >>> from skfmnist.plotting import plot_history
    >>> X, y = load_sample(return_X_y=True)
    >>> clf = make_pipeline(PixelScaler(), DenseClassifier(
    ...     hidden_layer_sizes=(16,), epochs=3, early_stopping=True,
    ...     random_state=0)).fit(X, y)
    >>> axes = plot_history(clf)
    >>> [ax.get_title() for ax in axes]
    ['loss', 'accuracy']
    >>> [line.get_label() for line in axes[0].get_lines()]
    ['training', 'validation']
    >>> axes[0].get_lines()[0].get_xdata().tolist()
    [1, 2, 3]
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    from matplotlib.ticker import MaxNLocator

    frame = _history_frame(estimator_or_history)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ValueError("metrics is empty: name at least one metric to plot.")
    available = [col for col in frame.columns if not str(col).startswith("val_")]
    unknown = [metric for metric in metrics if metric not in frame.columns]
    if unknown:
        raise ValueError(
            f"Unknown metric(s) {unknown}: the history holds {available} "
            "(validation columns val_* are drawn with their metric)."
        )
    axes = _panel_axes(ax, len(metrics), ncols=len(metrics), panel_size=_HISTORY_PANEL)
    epochs = frame.index.to_numpy()
    marker = "o" if len(frame) <= 30 else None
    for axis, metric in zip(axes, metrics, strict=True):
        axis.plot(epochs, frame[metric].to_numpy(), marker=marker, **_TRAIN_STYLE)
        validation = f"val_{metric}"
        if validation in frame.columns:
            axis.plot(
                epochs, frame[validation].to_numpy(), marker=marker, **_VALID_STYLE
            )
        axis.set_title(metric)
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(True, alpha=0.3)
        axis.legend()
    return axes


# -- images and predictions --------------------------------------------------


# Constraints of the parameters of the grids of images.
_GRID_CONSTRAINTS = {
    "n": [Interval(numbers.Integral, 1, None, closed="left")],
    "ncols": [Interval(numbers.Integral, 1, None, closed="left")],
    "class_names": ["array-like", Mapping, None],
}


def _image_limits(images):
    """Grey-level range shared by all panels: 0..255 or 0..1 when it fits."""
    low, high = float(np.min(images)), float(np.max(images))
    top = 1.0 if high <= 1.0 else 255.0 if high <= 255.0 else high
    return min(low, 0.0), top


def _chosen_rows(n_samples, n, random_state):
    """The ``n`` rows plot_predictions shows: the first, or a sorted draw."""
    n = min(n, n_samples)
    if random_state is None:
        return np.arange(n)
    rng = check_random_state(random_state)
    return np.sort(rng.choice(n_samples, size=n, replace=False))


def _take_rows(images, rows):
    """The ``rows`` of an array-like or a DataFrame."""
    return images.iloc[rows] if hasattr(images, "iloc") else np.asarray(images)[rows]


def _draw_predictions(images, proba, classes, y_true, *, class_names, ax, ncols):
    """The panels of plot_predictions, from the probabilities of ``images``."""
    best = proba.argmax(axis=1)
    y_pred = classes[best]
    confidence = proba[np.arange(len(best)), best]
    pictures = _as_images(images)
    vmin, vmax = _image_limits(pictures)
    names = _class_name_map(classes, class_names)

    axes = _panel_axes(ax, len(best), ncols=ncols, panel_size=_IMAGE_PANEL)
    for axis, picture, pred, p, true in zip(
        axes, pictures, y_pred, confidence, y_true, strict=True
    ):
        _show_image(axis, picture, vmin, vmax)
        axis.set_title(
            f"{_name_of(pred, names)} ({p:.0%})\ntrue: {_name_of(true, names)}",
            color=RIGHT_COLOR if pred == true else WRONG_COLOR,
            fontsize="small",
        )
    return axes


@validate_params(
    {
        "images": ["array-like"],
        "y_true": ["array-like"],
        **_GRID_CONSTRAINTS,
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def plot_predictions(
    estimator,
    images,
    y_true,
    *,
    n=15,
    ncols=5,
    class_names=None,
    ax=None,
    random_state=None,
):
    """Show images with the predicted class, its probability and the truth.

    Each panel is titled ``"<predicted> (<p>%)"`` over ``"true: <label>"``,
    in green when the prediction is right and in red when it is wrong.

    Parameters
    ----------
    estimator : classifier
        Fitted classifier or pipeline with ``predict_proba`` and
        ``classes_``, taking ``images`` as given.
    images : array-like of shape (n_samples, h, w) or (n_samples, h * w)
        Images to classify and show; flat rows are shown as squares.
    y_true : array-like of shape (n_samples,)
        True labels of ``images``.
    n : int, default=15
        Number of images to classify and show (at most ``n_samples``).
    ncols : int, default=5
        Number of columns of the grid when ``ax`` is None.
    class_names : array-like of str or dict, default=None
        Names of the classes, in the order of ``estimator.classes_``, or a
        dict from label to name (for some labels or all). By default, integer
        labels in 0..9 are named with :data:`~skfmnist.datasets.CLASS_NAMES`,
        and other labels shown as they are.
    ax : array-like of matplotlib Axes, default=None
        At least ``n`` Axes to draw the images on, in order. If None, a new
        figure with a grid of ``ncols`` columns is created.
    random_state : int, RandomState instance or None, default=None
        If None, show the first ``n`` images; otherwise show ``n`` images
        drawn at random without replacement with this seed, in their order
        in ``images``.

    Returns
    -------
    axes : ndarray of matplotlib Axes of shape (n,)
        One Axes per image, titled with the prediction and the truth;
        ``axes.flat[0].figure`` is the Figure.

    See Also
    --------
    plot_images : Show images with their labels, without a model.
    plot_confusion_matrix : Counts of every (true, predicted) pair.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfmnist import DenseClassifier, PixelScaler, load_sample
    >>> from skfmnist.plotting import plot_predictions
    >>> clf = make_pipeline(PixelScaler(), DenseClassifier(
    ...     hidden_layer_sizes=(16,), epochs=2, random_state=0))
    >>> clf.fit(*load_sample(return_X_y=True))
    Pipeline(...)
    >>> test = load_sample(subset="test")
    >>> axes = plot_predictions(clf, test.images, test.target, n=10)
    >>> axes.shape
    (10,)
    >>> axes[0].get_title().splitlines()[1]
    'true: Trouser'
    >>> axes[0].title.get_color() in ("green", "red")
    True
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    _check_predict_proba(estimator)
    classes = _fitted_classes(estimator, "its predictions")
    y_true = np.asarray(y_true)
    n_samples = len(images)
    if len(y_true) != n_samples:
        raise ValueError(
            f"images and y_true have different lengths: {n_samples} and {len(y_true)}."
        )
    rows = _chosen_rows(n_samples, n, random_state)
    X = _take_rows(images, rows)
    return _draw_predictions(
        X, np.asarray(estimator.predict_proba(X)), classes, y_true[rows],
        class_names=class_names, ax=ax, ncols=ncols,
    )


@validate_params(
    {"images": ["array-like"], "labels": ["array-like", None], **_GRID_CONSTRAINTS},
    prefer_skip_nested_validation=True,
)
def plot_images(images, labels=None, *, n=25, ncols=5, class_names=None, ax=None):
    """Show the first images of a data set in a grid, titled with their class.

    Parameters
    ----------
    images : array-like of shape (n_samples, h, w) or (n_samples, h * w)
        Images to show; flat rows are shown as squares.
    labels : array-like of shape (n_samples,), default=None
        Labels of ``images``, shown as panel titles. If None, no titles.
    n : int, default=25
        Number of images to show (at most ``n_samples``).
    ncols : int, default=5
        Number of columns of the grid when ``ax`` is None.
    class_names : array-like of str or dict, default=None
        Names indexed by integer label (``class_names[label]``), or a dict
        from label to name (for some labels or all). By default, integer
        labels in 0..9 are named with :data:`~skfmnist.datasets.CLASS_NAMES`,
        other labels shown as they are.
    ax : array-like of matplotlib Axes, default=None
        At least ``n`` Axes to draw the images on, in order. If None, a new
        figure with a grid of ``ncols`` columns is created.

    Returns
    -------
    axes : ndarray of matplotlib Axes of shape (n,)
        One Axes per image, titled with its label's name when ``labels`` is
        given; ``axes.flat[0].figure`` is the Figure.

    See Also
    --------
    plot_predictions : Show images with a classifier's predictions.
    skfmnist.load_sample : The bundled sample of Fashion-MNIST.

    Examples
    --------
    >>> from skfmnist import load_sample
    >>> from skfmnist.plotting import plot_images
    >>> sample = load_sample()
    >>> axes = plot_images(sample.images, sample.target, n=10)
    >>> axes.shape
    (10,)
    >>> [ax.get_title() for ax in axes[:3]]
    ['Sneaker', 'Bag', 'Pullover']
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    n_samples = len(images)
    n = min(n, n_samples)
    first = images.iloc[:n] if hasattr(images, "iloc") else np.asarray(images)[:n]
    pictures = _as_images(first)
    vmin, vmax = _image_limits(pictures)
    titles = [""] * n
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != n_samples:
            raise ValueError(
                f"images and labels have different lengths: {n_samples} and "
                f"{len(labels)}."
            )
        titles = _label_titles(labels[:n], class_names)

    axes = _panel_axes(ax, n, ncols=ncols, panel_size=_IMAGE_PANEL)
    for axis, picture, title in zip(axes, pictures, titles, strict=True):
        _show_image(axis, picture, vmin, vmax)
        if title:
            axis.set_title(title, fontsize="small")
    return axes


def _label_titles(labels, class_names):
    """Titles for ``labels``, with names indexed by label (see plot_images)."""
    if class_names is None or isinstance(class_names, Mapping):
        names = _class_name_map(np.unique(labels), class_names)
        return [names[label] for label in labels.tolist()]
    names = [str(name) for name in class_names]
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "A sequence of class_names is indexed by integer label, but the "
            f"labels are of type {labels.dtype}; pass a dict from label to name."
        )
    out_of_range = labels[(labels < 0) | (labels >= len(names))]
    if out_of_range.size:
        raise ValueError(
            f"class_names has {len(names)} names, too few for label "
            f"{out_of_range.max()}."
        )
    return [names[label] for label in labels.tolist()]


# -- model evaluation ---------------------------------------------------------


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "class_names": ["array-like", Mapping, None],
        "normalize": [StrOptions({"true", "pred", "all"}), None],
    },
    prefer_skip_nested_validation=False,
)
def plot_confusion_matrix(
    estimator, X, y, *, class_names=None, normalize=None, ax=None, **kwargs
):
    """Plot the confusion matrix of a classifier, with class names.

    A thin layer over
    :meth:`sklearn.metrics.ConfusionMatrixDisplay.from_estimator`: it names
    the Fashion-MNIST classes, shows every class the classifier knows (also
    those missing from ``y``) and tilts the x tick labels so long names fit.

    Parameters
    ----------
    estimator : classifier
        Fitted classifier or pipeline ending in one, with ``classes_``.
    X : array-like of shape (n_samples, n_features) or (n_samples, h, w)
        Input samples, as ``estimator.predict`` takes them.
    y : array-like of shape (n_samples,)
        True labels.
    class_names : array-like of str or dict, default=None
        Names of the classes, in the order of ``estimator.classes_`` (or of
        ``labels`` when given in ``kwargs``), or a dict from label to name
        (for some labels or all). By default, integer labels in 0..9 are
        named with :data:`~skfmnist.datasets.CLASS_NAMES`, other labels shown
        as they are.
    normalize : {"true", "pred", "all"}, default=None
        Normalise counts over the true labels (rows), the predicted labels
        (columns) or all samples. If None, show counts.
    ax : matplotlib Axes, default=None
        Axes to draw on. If None, a new figure is created.
    **kwargs : dict
        Further arguments of ``ConfusionMatrixDisplay.from_estimator``, such
        as ``cmap``, ``values_format``, ``colorbar``, ``sample_weight`` or
        ``labels``; ``xticks_rotation`` defaults to 45 degrees.

    Returns
    -------
    display : sklearn.metrics.ConfusionMatrixDisplay
        The display, with the matrix in ``confusion_matrix``, the Axes in
        ``ax_`` and the Figure in ``figure_``.

    See Also
    --------
    sklearn.metrics.ConfusionMatrixDisplay : The display this function makes.
    plot_predictions : Show images with a classifier's predictions.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfmnist import DenseClassifier, PixelScaler, load_sample
    >>> from skfmnist.plotting import plot_confusion_matrix
    >>> X_train, y_train = load_sample(return_X_y=True)
    >>> X_test, y_test = load_sample(subset="test", return_X_y=True)
    >>> dense = DenseClassifier(hidden_layer_sizes=(16,), epochs=2, random_state=0)
    >>> clf = make_pipeline(PixelScaler(), dense).fit(X_train, y_train)
    >>> display = plot_confusion_matrix(clf, X_test, y_test, normalize="true")
    >>> display.confusion_matrix.shape
    (10, 10)
    >>> [label.get_text() for label in display.ax_.get_xticklabels()][:3]
    ['T-shirt/top', 'Trouser', 'Pullover']
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    from sklearn.base import is_classifier

    classes = _fitted_classes(estimator, "its confusion matrix")
    if not is_classifier(estimator):
        raise ValueError(
            "ConfusionMatrixDisplay.from_estimator only supports classifiers"
        )
    return _confusion_matrix_display(
        y, estimator.predict(X), classes,
        class_names=class_names, normalize=normalize, ax=ax, **kwargs,
    )


def _confusion_matrix_display(
    y, y_pred, classes, *, class_names=None, normalize=None, ax=None, **kwargs
):
    """plot_confusion_matrix from the predictions of a classifier of ``classes``."""
    from sklearn.metrics import ConfusionMatrixDisplay

    if "display_labels" in kwargs:
        if class_names is not None:
            raise TypeError("Pass class_names or display_labels, not both.")
        class_names = kwargs.pop("display_labels")
    labels = kwargs.pop("labels", None)
    if labels is None:
        labels = unique_labels(np.asarray(y), classes)
    names = _class_name_map(labels, class_names)
    kwargs.setdefault("xticks_rotation", 45)
    if ax is None:
        n_labels = len(labels)
        side = max(4.8, 0.55 * n_labels + 2.5)
        ax = _single_axes(None, (side + 1.2, side))
    display = ConfusionMatrixDisplay.from_predictions(
        y,
        y_pred,
        labels=labels,
        normalize=normalize,
        display_labels=list(names.values()),
        ax=ax,
        **kwargs,
    )
    if kwargs["xticks_rotation"] not in ("horizontal", "vertical", 0, 90):
        # Anchor tilted labels by their end, under their column.
        for tick in display.ax_.get_xticklabels():
            tick.set_horizontalalignment("right")
            tick.set_rotation_mode("anchor")
    return display


# -- learning-rate search -----------------------------------------------------


def _lr_frame_and_suggestion(result_or_frame, suggestion):
    """Return the finder's DataFrame and the learning rate to mark (or None)."""
    if isinstance(result_or_frame, pd.DataFrame):
        frame = result_or_frame
    elif isinstance(getattr(result_or_frame, "history", None), pd.DataFrame):
        frame = result_or_frame.history
        if suggestion is None:
            suggestion = getattr(result_or_frame, "suggestion", None)
    else:
        raise _unexpected_type(
            "a DataFrame with columns learning_rate, loss and smoothed_loss, or "
            "a learning-rate finder result with a history DataFrame and a "
            "suggestion",
            result_or_frame,
        )
    missing = [col for col in ("learning_rate", "loss") if col not in frame.columns]
    if missing:
        raise ValueError(
            f"The learning-rate history lacks column(s) {missing}; it has "
            f"{list(frame.columns)}."
        )
    if frame.empty:
        raise ValueError("The learning-rate history is empty: nothing to plot.")
    if suggestion is not None and not (np.isfinite(suggestion) and suggestion > 0):
        suggestion = None
    return frame, suggestion


@validate_params(
    {"suggestion": [Interval(numbers.Real, 0, None, closed="neither"), None]},
    prefer_skip_nested_validation=True,
)
def plot_lr_finder(result_or_frame, *, suggestion=None, ax=None):
    """Plot the loss against the learning rate of a learning-rate range test.

    The raw loss of each step is drawn faintly, the smoothed loss as a solid
    line, on a logarithmic learning-rate axis; a dashed vertical line and a
    dot mark the suggested learning rate, labelled with its value. The y axis
    is limited to the interesting part, from the lowest smoothed loss to a
    little above the starting loss, so that the divergence at the end does
    not flatten the rest.

    Parameters
    ----------
    result_or_frame : DataFrame or learning-rate finder result
        A DataFrame with columns ``learning_rate``, ``loss`` and (optionally)
        ``smoothed_loss``, one row per step, or an object with such a
        DataFrame as ``history`` and the suggested rate as ``suggestion``.
    suggestion : float, default=None
        Learning rate to mark. If None, the result's ``suggestion`` (if any);
        nothing is marked when it is None or NaN.
    ax : matplotlib Axes, default=None
        Axes to draw on. If None, a new 6.4 x 4.2 inch figure is created.

    Returns
    -------
    ax : matplotlib Axes
        The Axes with the loss curves and the suggestion's mark, on a
        logarithmic x axis; ``ax.figure`` is the Figure.

    See Also
    --------
    skfmnist.lr_finder.find_learning_rate : The range test this function plots.
    plot_history : Metrics per epoch of a training run.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skfmnist.plotting import plot_lr_finder
    >>> lr = np.logspace(-5, 0, 50)
    >>> loss = 2.3 - np.log10(lr / 1e-5) / 3 + (lr > 0.1) * 50 * lr
    >>> frame = pd.DataFrame({"learning_rate": lr, "loss": loss,
    ...                       "smoothed_loss": loss})
    >>> ax = plot_lr_finder(frame, suggestion=3e-3)
    >>> ax.get_xscale(), ax.get_xlabel()
    ('log', 'learning rate')
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['loss', 'smoothed loss', 'suggested 0.003']
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    frame, suggestion = _lr_frame_and_suggestion(result_or_frame, suggestion)
    ax = _single_axes(ax, (6.4, 4.2))
    lr = frame["learning_rate"].to_numpy(dtype=float)
    loss = frame["loss"].to_numpy(dtype=float)
    smoothed = (
        frame["smoothed_loss"].to_numpy(dtype=float)
        if "smoothed_loss" in frame.columns
        else None
    )
    ax.plot(lr, loss, color="C0", alpha=0.35, linewidth=1, label="loss")
    curve = loss
    if smoothed is not None:
        ax.plot(lr, smoothed, color="C0", linewidth=2, label="smoothed loss")
        curve = smoothed
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("Learning-rate range test")
    ax.grid(True, alpha=0.3)

    finite = np.isfinite(curve) & np.isfinite(lr) & (lr > 0)
    if finite.any():
        start = curve[finite][0]
        low = min(curve[finite].min(), np.nanmin(np.where(finite, loss, np.inf)))
        top = start + 0.5 * (start - low)
        high = max(curve[finite].max(), np.nanmax(np.where(finite, loss, -np.inf)))
        if low < top < high:
            ax.set_ylim(low - 0.05 * (top - low), top)
    if suggestion is not None:
        ax.axvline(
            suggestion,
            color="C3",
            linestyle="--",
            linewidth=1,
            label=f"suggested {suggestion:.2g}",
        )
        if finite.any():
            order = np.argsort(lr[finite])
            at = np.interp(
                np.log(suggestion),
                np.log(lr[finite][order]),
                curve[finite][order],
            )
            ax.plot([suggestion], [at], "o", color="C3", zorder=3)
    ax.legend()
    return ax


# -- experiment report ---------------------------------------------------------


def plot_experiments(results, *, ax=None):
    """Bar chart of the test accuracy of each experiment, with reported values.

    One horizontal bar per row, in the order of ``results`` from the top,
    labelled with its accuracy; when ``results`` has a ``reported`` column
    (the accuracy the original notebook reported), it is marked with a black
    diamond on each bar (rows with a missing value get no diamond).

    Parameters
    ----------
    results : DataFrame or list of dict
        One row per experiment with columns ``model`` (a name) and
        ``accuracy`` (a fraction in [0, 1]), and optionally ``reported``.
    ax : matplotlib Axes, default=None
        Axes to draw on. If None, a new figure is created, 7 inches wide and
        0.45 inch high per experiment.

    Returns
    -------
    ax : matplotlib Axes
        The Axes with one bar per experiment and the accuracy as a percentage
        on the x axis; ``ax.figure`` is the Figure.

    See Also
    --------
    plot_history : Metrics per epoch of one training run.

    Examples
    --------
    >>> import pandas as pd
    >>> from skfmnist.plotting import plot_experiments
    >>> results = pd.DataFrame({"model": ["logistic", "MLP"],
    ...                         "accuracy": [0.84, 0.89],
    ...                         "reported": [0.84, None]})
    >>> ax = plot_experiments(results)
    >>> [tick.get_text() for tick in ax.get_yticklabels()]
    ['logistic', 'MLP']
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['measured', 'reported']
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    from matplotlib.ticker import PercentFormatter

    frame = pd.DataFrame(results)
    missing = [col for col in ("model", "accuracy") if col not in frame.columns]
    if missing:
        raise ValueError(
            f"results lacks column(s) {missing}; it has {list(frame.columns)}."
        )
    if frame.empty:
        raise ValueError("results is empty: there is no experiment to plot.")
    value_columns = [col for col in ("accuracy", "reported") if col in frame]
    values = frame[value_columns].apply(pd.to_numeric, errors="coerce")
    scores = values.to_numpy(dtype=float)
    outside = scores[(scores < 0) | (scores > 1)]
    if outside.size:
        raise ValueError(
            "Accuracies must be fractions in [0, 1], got "
            f"{outside.tolist()}; divide percentages by 100."
        )
    accuracy = values["accuracy"].to_numpy(dtype=float)
    positions = np.arange(len(frame))
    ax = _single_axes(ax, (7.0, 1.5 + 0.45 * len(frame)))
    handles = [ax.barh(positions, accuracy, color="C0", label="measured")]
    for y, value in zip(positions, accuracy, strict=True):
        if np.isfinite(value):
            ax.text(
                0.01,
                y,
                f"{value:.1%}",
                ha="left",
                va="center",
                color="white",
                fontsize="small",
            )
    if "reported" in values:
        (marks,) = ax.plot(
            values["reported"].to_numpy(dtype=float),
            positions,
            linestyle="none",
            marker="D",
            color="black",
            label="reported",
        )
        handles.append(marks)
    ax.set_yticks(positions, labels=frame["model"].astype(str).tolist())
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("test accuracy")
    ax.set_title("Test accuracy by experiment", loc="left")
    ax.legend(
        handles=handles,
        loc="lower right",
        bbox_to_anchor=(1, 1),
        ncols=2,
        frameon=False,
        fontsize="small",
    )
    return ax
