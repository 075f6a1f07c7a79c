"""Tests of skfmnist.plotting: what is drawn, on which Axes, and the errors."""

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skfmnist import PixelScaler, load_sample
from skfmnist.datasets import CLASS_NAMES
from skfmnist.plotting import (
    plot_confusion_matrix,
    plot_experiments,
    plot_history,
    plot_images,
    plot_lr_finder,
    plot_predictions,
)

# -- fixtures and helpers ---------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    """The first 600 images of the bundled sample, with their labels."""
    bunch = load_sample()
    return bunch.images[:600], bunch.target[:600]


@pytest.fixture(scope="module")
def fitted_pipeline(sample):
    """A tiny DenseClassifier pipeline with a validation history (2 epochs)."""
    from skfmnist import DenseClassifier

    images, y = sample
    clf = make_pipeline(
        PixelScaler(),
        DenseClassifier(
            hidden_layer_sizes=(8,), epochs=2, early_stopping=True, random_state=0
        ),
    )
    return clf.fit(images, y)


@pytest.fixture
def history():
    """A history with validation columns, indexed by epoch from 1."""
    return pd.DataFrame(
        {
            "loss": [1.5, 0.9, 0.7, 0.6],
            "accuracy": [0.5, 0.7, 0.8, 0.85],
            "val_loss": [1.2, 0.95, 0.8, 0.82],
            "val_accuracy": [0.6, 0.7, 0.75, 0.74],
            "learning_rate": [1e-3, 8e-4, 5e-4, 2e-4],
        },
        index=pd.RangeIndex(1, 5, name="epoch"),
    )


@pytest.fixture
def lr_frame():
    """A learning-rate range test: falling loss that blows up at the end."""
    lr = np.logspace(-6, 0, 61)
    loss = 2.3 - 0.2 * (np.log10(lr) + 6) + np.where(lr > 0.1, 100 * lr, 0)
    smoothed = pd.Series(loss).ewm(alpha=0.3).mean().to_numpy()
    return pd.DataFrame({"learning_rate": lr, "loss": loss, "smoothed_loss": smoothed})


class FixedClassifier:
    """Stand-in classifier whose predict_proba returns fixed rows, in turn."""

    def __init__(self, proba, classes):
        self.proba = np.asarray(proba, dtype=float)
        self.classes_ = np.asarray(classes)

    def predict_proba(self, X):
        return self.proba[: len(X)]


def _legend_texts(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def _titles(axes):
    return [ax.get_title() for ax in axes]


def _title_colors(axes):
    from matplotlib.colors import to_hex

    return [to_hex(ax.title.get_color()) for ax in axes]


GREEN, RED = "#008000", "#ff0000"  # matplotlib's "green" and "red"


# -- module ---------------------------------------------------------------------


def test_import_needs_neither_matplotlib_nor_tensorflow():
    code = (
        "import sys, skfmnist.plotting\n"
        "heavy = [m for m in sys.modules\n"
        "         if m.split('.')[0] in ('matplotlib', 'tensorflow', 'keras')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_functions_are_documented():
    import skfmnist.plotting as plotting

    # Every plot_* function is public, and the API page lists each of them.
    public = sorted(name for name in vars(plotting) if name.startswith("plot_"))
    assert sorted(plotting.__all__) == public
    api = (Path(__file__).parents[1] / "docs" / "api.rst").read_text()
    section = api.split(":mod:`skfmnist.plotting`")[1].split(":mod:")[0]
    assert sorted(re.findall(r"^   (plot_\w+)$", section, re.MULTILINE)) == public
    for name in plotting.__all__:
        doc = getattr(plotting, name).__doc__
        for section in ("Parameters", "Returns", "See Also", "Examples"):
            assert section in doc, (name, section)


# -- plot_history -------------------------------------------------------------


def test_plot_history_dataframe(pyplot, history):
    axes = plot_history(history)

    assert isinstance(axes, np.ndarray) and axes.shape == (2,)
    assert len(axes[0].figure.axes) == 2
    assert _titles(axes) == ["loss", "accuracy"]
    for ax, metric in zip(axes, ["loss", "accuracy"], strict=True):
        assert ax.get_xlabel() == "epoch"
        assert ax.get_ylabel() == metric
        assert _legend_texts(ax) == ["training", "validation"]
        train, valid = ax.get_lines()
        assert_array_equal(train.get_xdata(), [1, 2, 3, 4])
        assert_allclose(train.get_ydata(), history[metric])
        assert_array_equal(valid.get_xdata(), [1, 2, 3, 4])
        assert_allclose(valid.get_ydata(), history[f"val_{metric}"])
        assert train.get_linestyle() == "-"
        assert valid.get_linestyle() == "--"


def test_plot_history_without_validation(pyplot, history):
    axes = plot_history(history[["loss", "accuracy"]])

    for ax in axes:
        assert len(ax.get_lines()) == 1
        assert _legend_texts(ax) == ["training"]


def test_plot_history_chosen_metrics(pyplot, history):
    (ax,) = plot_history(history, metrics="learning_rate")
    assert ax.get_title() == "learning_rate"
    assert_allclose(ax.get_lines()[0].get_ydata(), history["learning_rate"])

    axes = plot_history(history, metrics=["accuracy", "loss"])
    assert _titles(axes) == ["accuracy", "loss"]


def test_plot_history_epochs_from_columns_or_positions(pyplot, history):
    # A plain frame (e.g. pd.DataFrame(keras_history.history)) counts from 1.
    (ax,) = plot_history(history.reset_index(drop=True), metrics="loss")
    assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3, 4])
    # An "epoch" column is used as it is.
    frame = history.reset_index(drop=True).assign(epoch=[5, 6, 7, 8])
    (ax,) = plot_history(frame, metrics="loss")
    assert_array_equal(ax.get_lines()[0].get_xdata(), [5, 6, 7, 8])


def test_plot_history_keras_history(pyplot):
    from skfmnist._engine.runtime import import_keras

    keras = import_keras()
    callback = keras.callbacks.History()
    callback.history = {
        "loss": [2.0, 1.0, 0.5],
        "accuracy": [0.3, 0.6, 0.8],
        "val_loss": [1.8, 1.1, 0.9],
        "val_accuracy": [0.35, 0.55, 0.7],
    }
    axes = plot_history(callback)
    assert _titles(axes) == ["loss", "accuracy"]
    assert _legend_texts(axes[1]) == ["training", "validation"]
    train, valid = axes[0].get_lines()
    assert_array_equal(train.get_xdata(), [1, 2, 3])
    assert_allclose(valid.get_ydata(), [1.8, 1.1, 0.9])

    # Keras numbers epochs from 0 (continued with initial_epoch=2 here).
    callback.epoch = [2, 3, 4]
    (ax,) = plot_history(callback, metrics="loss")
    assert_array_equal(ax.get_lines()[0].get_xdata(), [3, 4, 5])

    # Its plain history dict works too.
    (ax,) = plot_history(callback.history, metrics="accuracy")
    assert_allclose(ax.get_lines()[0].get_ydata(), [0.3, 0.6, 0.8])


def test_plot_history_fitted_estimator_and_pipeline(pyplot, fitted_pipeline):
    history = fitted_pipeline[-1].history_
    assert {"val_loss", "val_accuracy"} <= set(history.columns)
    for fitted in (fitted_pipeline, fitted_pipeline[-1]):
        axes = plot_history(fitted)
        assert _titles(axes) == ["loss", "accuracy"]
        for ax, metric in zip(axes, ["loss", "accuracy"], strict=True):
            train, valid = ax.get_lines()
            assert_array_equal(train.get_xdata(), [1, 2])
            assert_allclose(train.get_ydata(), history[metric])
            assert_allclose(valid.get_ydata(), history[f"val_{metric}"])


def test_plot_history_draws_on_given_axes(pyplot, history):
    fig, grid = pyplot.subplots(2, 2)
    axes = plot_history(history, ax=grid[1])
    assert axes[0] is grid[1, 0] and axes[1] is grid[1, 1]
    assert len(fig.axes) == 4
    assert not grid[0, 0].get_lines()
    assert grid[1, 1].get_title() == "accuracy"

    # A list of Axes, and a single Axes for a single metric.
    axes = plot_history(history, ax=[grid[0, 1], grid[0, 0]])
    assert axes[0] is grid[0, 1] and grid[0, 0].get_title() == "accuracy"
    _, single = pyplot.subplots()
    (ax,) = plot_history(history, metrics="loss", ax=single)
    assert ax is single


def test_plot_history_errors(pyplot, history):
    from skfmnist import DenseClassifier

    with pytest.raises(NotFittedError, match="DenseClassifier.*not fitted"):
        plot_history(DenseClassifier())
    with pytest.raises(ValueError, match="DenseClassifier.*not fitted"):
        plot_history(make_pipeline(PixelScaler(), DenseClassifier()))
    with pytest.raises(
        ValueError,
        match=r"Unknown metric.*'f1'.*\['loss', 'accuracy', 'learning_rate'\]",
    ):
        plot_history(history, metrics=("loss", "f1"))
    with pytest.raises(ValueError, match="metrics is empty"):
        plot_history(history, metrics=[])
    with pytest.raises(ValueError, match="history is empty"):
        plot_history(pd.DataFrame())
    with pytest.raises(TypeError, match="got int"):
        plot_history(3)
    _, single = pyplot.subplots()
    with pytest.raises(ValueError, match="1 Axes but 2 panels"):
        plot_history(history, ax=single)
    with pytest.raises(TypeError, match="array of Axes"):
        plot_history(history, ax=["a", "b"])


# -- plot_predictions -------------------------------------------------------------

# Six images of classes 0, 1, 2: rows 1 and 4 are wrong.
PROBA = [
    [0.9, 0.05, 0.05],
    [0.2, 0.7, 0.1],
    [0.1, 0.1, 0.8],
    [0.6, 0.3, 0.1],
    [0.3, 0.3, 0.4],
    [0.05, 0.9, 0.05],
]
Y_TRUE = np.array([0, 2, 2, 0, 1, 1])


@pytest.fixture
def fake_images():
    return np.random.RandomState(0).randint(0, 256, size=(6, 28, 28), dtype=np.uint8)


def test_plot_predictions_titles_and_colours(pyplot, fake_images):
    clf = FixedClassifier(PROBA, classes=[0, 1, 2])
    axes = plot_predictions(clf, fake_images, Y_TRUE)

    assert axes.shape == (6,)
    assert _titles(axes) == [
        "T-shirt/top (90%)\ntrue: T-shirt/top",
        "Trouser (70%)\ntrue: Pullover",
        "Pullover (80%)\ntrue: Pullover",
        "T-shirt/top (60%)\ntrue: T-shirt/top",
        "Pullover (40%)\ntrue: Trouser",
        "Trouser (90%)\ntrue: Trouser",
    ]
    assert _title_colors(axes) == [GREEN, RED, GREEN, GREEN, RED, GREEN]
    for ax, image in zip(axes, fake_images, strict=True):
        assert_array_equal(ax.images[0].get_array(), image)
        assert len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0


def test_plot_predictions_grid_and_selection(pyplot, fake_images):
    clf = FixedClassifier(PROBA, classes=[0, 1, 2])
    # Flat rows are shown as 28 x 28 squares; n caps the panels; the rest of
    # the ncols grid is switched off.
    axes = plot_predictions(clf, fake_images.reshape(6, 784), Y_TRUE, n=4, ncols=3)
    assert axes.shape == (4,)
    assert axes[0].images[0].get_array().shape == (28, 28)
    figure_axes = axes[0].figure.axes
    assert len(figure_axes) == 6
    assert [ax.axison for ax in figure_axes] == [True] * 4 + [False] * 2

    # More panels asked than images: one per image.
    assert plot_predictions(clf, fake_images, Y_TRUE, n=50).shape == (6,)

    # A random_state shows a sorted random subset, the same for the same seed.
    rows = np.sort(np.random.RandomState(1).choice(6, size=3, replace=False))
    axes = plot_predictions(clf, fake_images, Y_TRUE, n=3, random_state=1)
    for ax, row in zip(axes, rows, strict=True):
        assert_array_equal(ax.images[0].get_array(), fake_images[row])
        assert ax.get_title().endswith(CLASS_NAMES[Y_TRUE[row]])


def test_plot_predictions_class_names(pyplot, fake_images):
    # Labels that are not Fashion-MNIST classes are shown as they are.
    clf = FixedClassifier(PROBA, classes=["cat", "dog", "emu"])
    y_true = np.array(["cat", "emu", "emu", "cat", "dog", "dog"])
    axes = plot_predictions(clf, fake_images, y_true, n=2)
    assert _titles(axes) == ["cat (90%)\ntrue: cat", "dog (70%)\ntrue: emu"]
    assert _title_colors(axes) == [GREEN, RED]

    axes = plot_predictions(clf, fake_images, y_true, n=2, class_names=["C", "D", "E"])
    assert _titles(axes) == ["C (90%)\ntrue: C", "D (70%)\ntrue: E"]
    axes = plot_predictions(clf, fake_images, y_true, n=2, class_names={"dog": "Dog"})
    assert _titles(axes) == ["cat (90%)\ntrue: cat", "Dog (70%)\ntrue: emu"]

    # A dict renames some Fashion-MNIST classes; the others keep their names.
    clf = FixedClassifier(PROBA, classes=[0, 1, 2])
    axes = plot_predictions(clf, fake_images, Y_TRUE, n=2, class_names={1: "Pants"})
    assert _titles(axes) == [
        "T-shirt/top (90%)\ntrue: T-shirt/top",
        "Pants (70%)\ntrue: Pullover",
    ]

    # Integers beyond 9 are not Fashion-MNIST classes either.
    clf = FixedClassifier(PROBA, classes=[10, 11, 12])
    axes = plot_predictions(clf, fake_images, Y_TRUE + 10, n=1)
    assert axes[0].get_title() == "10 (90%)\ntrue: 10"


def test_plot_predictions_draws_on_given_axes(pyplot, fake_images):
    clf = FixedClassifier(PROBA, classes=[0, 1, 2])
    fig, grid = pyplot.subplots(2, 3)
    axes = plot_predictions(clf, fake_images, Y_TRUE, ax=grid)
    assert all(a is b for a, b in zip(axes, grid.ravel(), strict=True))
    assert len(fig.axes) == 6
    assert _title_colors(grid[0]) == [GREEN, RED, GREEN]

    with pytest.raises(ValueError, match="6 Axes but 7 panels"):
        plot_predictions(
            FixedClassifier(np.tile(PROBA, (2, 1)), classes=[0, 1, 2]),
            np.tile(fake_images, (2, 1, 1)),
            np.tile(Y_TRUE, 2),
            n=7,
            ax=grid,
        )


def test_plot_predictions_fitted_pipeline(pyplot, fitted_pipeline, sample):
    images, y = sample
    axes = plot_predictions(fitted_pipeline, images, y, n=10)

    y_pred = fitted_pipeline.predict(images[:10])
    proba = fitted_pipeline.predict_proba(images[:10]).max(axis=1)
    for ax, pred, p, true in zip(axes, y_pred, proba, y[:10], strict=True):
        assert ax.get_title() == (
            f"{CLASS_NAMES[pred]} ({p:.0%})\ntrue: {CLASS_NAMES[true]}"
        )
        assert _title_colors([ax]) == [GREEN if pred == true else RED]


def test_plot_predictions_errors(pyplot, fake_images):
    clf = FixedClassifier(PROBA, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="different lengths: 6 and 5"):
        plot_predictions(clf, fake_images, Y_TRUE[:5])
    with pytest.raises(ValueError, match="2 names but there are 3 classes"):
        plot_predictions(clf, fake_images, Y_TRUE, class_names=["a", "b"])
    with pytest.raises(ValueError, match="square images"):
        plot_predictions(clf, fake_images.reshape(6, -1)[:, :780], Y_TRUE)
    with pytest.raises(ValueError, match="'n' parameter"):
        plot_predictions(clf, fake_images, Y_TRUE, n=0)
    with pytest.raises(TypeError, match="has no predict_proba"):
        plot_predictions(object(), fake_images, Y_TRUE)
    unfitted = FixedClassifier(PROBA, classes=[0, 1, 2])
    del unfitted.classes_
    with pytest.raises(NotFittedError, match="not fitted"):
        plot_predictions(unfitted, fake_images, Y_TRUE)


# -- plot_images ----------------------------------------------------------------


def test_plot_images(pyplot, sample):
    images, y = sample
    axes = plot_images(images, y, n=7, ncols=4)

    assert axes.shape == (7,)
    assert len(axes[0].figure.axes) == 8
    assert _titles(axes) == [CLASS_NAMES[label] for label in y[:7]]
    for ax, image in zip(axes, images[:7], strict=True):
        assert_array_equal(ax.images[0].get_array(), image)
        assert len(ax.get_xticks()) == 0

    # Without labels, no titles; flat rows are shown square.
    axes = plot_images(images.reshape(len(images), -1), n=3)
    assert _titles(axes) == ["", "", ""]
    assert axes[0].images[0].get_array().shape == (28, 28)


def test_plot_images_labels_and_names(pyplot, sample):
    images, y = sample
    axes = plot_images(images, np.array(["a", "b", "c"] * 200), n=3)
    assert _titles(axes) == ["a", "b", "c"]
    axes = plot_images(images, y, n=3, class_names=[f"class {i}" for i in range(10)])
    assert _titles(axes) == [f"class {label}" for label in y[:3]]
    # A dict renames some classes; the others keep their default names.
    assert list(y[:3]) == [7, 8, 2]
    axes = plot_images(images, y, n=3, class_names={7: "Trainer"})
    assert _titles(axes) == ["Trainer", "Bag", "Pullover"]
    # Pandas input, as load_sample(as_frame=True) gives it.
    frame = load_sample(as_frame=True)
    axes = plot_images(frame.data, frame.target, n=2)
    assert _titles(axes) == [CLASS_NAMES[label] for label in y[:2]]


def test_plot_images_draws_on_given_axes(pyplot, sample):
    images, y = sample
    fig, grid = pyplot.subplots(1, 4)
    axes = plot_images(images, y, n=3, ax=grid)
    assert all(a is b for a, b in zip(axes, grid[:3], strict=True))
    assert not grid[3].images and len(fig.axes) == 4


def test_plot_images_errors(pyplot, sample):
    images, y = sample
    with pytest.raises(ValueError, match="different lengths"):
        plot_images(images, y[:10])
    with pytest.raises(ValueError, match="too few for label"):
        plot_images(images, y, class_names=["a", "b"])
    with pytest.raises(ValueError, match="pass a dict"):
        plot_images(images, y.astype(str), class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"must have shape \(n, h, w\)"):
        plot_images(images[:, 0, 0])


# -- plot_confusion_matrix ------------------------------------------------------


def test_plot_confusion_matrix_fashion_names(pyplot, fitted_pipeline, sample):
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    images, y = sample
    display = plot_confusion_matrix(fitted_pipeline, images, y)

    assert isinstance(display, ConfusionMatrixDisplay)
    assert display.confusion_matrix.shape == (10, 10)
    assert_array_equal(
        display.confusion_matrix,
        confusion_matrix(y, fitted_pipeline.predict(images), labels=range(10)),
    )
    assert list(display.display_labels) == list(CLASS_NAMES)
    ax = display.ax_
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASS_NAMES)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(CLASS_NAMES)
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {45}
    assert {t.get_horizontalalignment() for t in ax.get_xticklabels()} == {"right"}
    assert display.figure_ is ax.figure


def test_plot_confusion_matrix_options(pyplot):
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=90, centers=3, random_state=0)
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = LogisticRegression().fit(X, labels)
    fig, ax = pyplot.subplots()

    display = plot_confusion_matrix(
        clf, X, labels, normalize="true", ax=ax, cmap="Blues", xticks_rotation=0
    )
    assert display.ax_ is ax and display.figure_ is fig
    assert list(display.display_labels) == ["cat", "dog", "emu"]
    assert_allclose(display.confusion_matrix.sum(axis=1), 1)
    assert display.im_.get_cmap().name == "Blues"
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {0}

    # Every class the classifier knows, also those missing from y.
    known = labels != "emu"
    display = plot_confusion_matrix(clf, X[known], labels[known], colorbar=False)
    assert display.confusion_matrix.shape == (3, 3)
    assert display.confusion_matrix[2].sum() == 0

    display = plot_confusion_matrix(clf, X, labels, class_names=["C", "D", "E"])
    assert list(display.display_labels) == ["C", "D", "E"]
    display = plot_confusion_matrix(clf, X, labels, display_labels=["x", "y", "z"])
    assert list(display.display_labels) == ["x", "y", "z"]
    display = plot_confusion_matrix(clf, X, labels, class_names={"dog": "Dog"})
    assert list(display.display_labels) == ["cat", "Dog", "emu"]


def test_plot_confusion_matrix_errors(pyplot):
    X = np.random.RandomState(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    with pytest.raises(NotFittedError, match="LogisticRegression.*not fitted"):
        plot_confusion_matrix(LogisticRegression(), X, y)
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="'normalize' parameter"):
        plot_confusion_matrix(clf, X, y, normalize="rows")
    with pytest.raises(TypeError, match="not both"):
        plot_confusion_matrix(clf, X, y, class_names=["a", "b"], display_labels="ab")
    with pytest.raises(ValueError, match="3 names but there are 2 classes"):
        plot_confusion_matrix(clf, X, y, class_names=["a", "b", "c"])


# -- plot_lr_finder ---------------------------------------------------------------


def test_plot_lr_finder_frame(pyplot, lr_frame):
    ax = plot_lr_finder(lr_frame, suggestion=1e-3)

    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "learning rate" and ax.get_ylabel() == "loss"
    assert _legend_texts(ax) == ["loss", "smoothed loss", "suggested 0.001"]
    raw, smooth, vline, dot = ax.get_lines()
    assert_allclose(raw.get_xdata(), lr_frame["learning_rate"])
    assert_allclose(raw.get_ydata(), lr_frame["loss"])
    assert raw.get_alpha() < 1
    assert_allclose(smooth.get_ydata(), lr_frame["smoothed_loss"])
    assert_allclose(vline.get_xdata(), [1e-3, 1e-3])
    assert vline.get_linestyle() == "--"
    # The dot sits on the smoothed curve (1e-3 is one of the rates).
    row = np.argmin(np.abs(lr_frame["learning_rate"] - 1e-3))
    assert_allclose(dot.get_xdata(), [1e-3])
    assert_allclose(dot.get_ydata(), [lr_frame["smoothed_loss"][row]])
    # The explosion at the end does not set the y range.
    bottom, top = ax.get_ylim()
    assert top < lr_frame["loss"].max()
    assert bottom < lr_frame["smoothed_loss"].min()


def test_plot_lr_finder_result_object(pyplot, lr_frame):
    result = SimpleNamespace(history=lr_frame, suggestion=2e-4)
    ax = plot_lr_finder(result)
    assert _legend_texts(ax)[-1] == "suggested 0.0002"
    assert_allclose(ax.get_lines()[2].get_xdata(), [2e-4, 2e-4])

    # An explicit suggestion wins; NaN or None marks nothing.
    ax = plot_lr_finder(result, suggestion=0.01)
    assert _legend_texts(ax)[-1] == "suggested 0.01"
    ax = plot_lr_finder(SimpleNamespace(history=lr_frame, suggestion=np.nan))
    assert _legend_texts(ax) == ["loss", "smoothed loss"]
    assert len(ax.get_lines()) == 2


def test_plot_lr_finder_without_smoothed_loss_and_given_axes(pyplot, lr_frame):
    fig, given = pyplot.subplots()
    ax = plot_lr_finder(lr_frame[["learning_rate", "loss"]], ax=given)
    assert ax is given and len(fig.axes) == 1
    assert _legend_texts(ax) == ["loss"]
    assert ax.get_xscale() == "log"


def test_plot_lr_finder_errors(pyplot, lr_frame):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['loss'\]"):
        plot_lr_finder(lr_frame[["learning_rate"]])
    with pytest.raises(ValueError, match="empty"):
        plot_lr_finder(lr_frame.iloc[:0])
    with pytest.raises(TypeError, match="learning-rate finder result"):
        plot_lr_finder({"learning_rate": [1e-3]})
    with pytest.raises(ValueError, match="'suggestion' parameter"):
        plot_lr_finder(lr_frame, suggestion=-1.0)


# -- plot_experiments -----------------------------------------------------------


def test_plot_experiments(pyplot):
    results = pd.DataFrame(
        {
            "model": ["logistic", "MLP", "MLP + dropout"],
            "accuracy": [0.84, 0.89, 0.9],
            "reported": [0.84, 0.88, np.nan],
        }
    )
    ax = plot_experiments(results)

    bars = ax.patches
    assert len(bars) == 3
    assert_allclose([bar.get_width() for bar in bars], [0.84, 0.89, 0.9])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(results["model"])
    assert ax.yaxis_inverted()  # the first row on top
    assert ax.get_xlabel() == "test accuracy"
    assert ax.get_xlim() == (0, 1)
    assert _legend_texts(ax) == ["measured", "reported"]
    (marks,) = ax.get_lines()
    assert_allclose(marks.get_xdata(), [0.84, 0.88, np.nan])
    assert [text.get_text() for text in ax.texts] == ["84.0%", "89.0%", "90.0%"]


def test_plot_experiments_without_reported_and_given_axes(pyplot):
    fig, given = pyplot.subplots()
    results = [{"model": "a", "accuracy": 0.5}, {"model": "b", "accuracy": 0.6}]
    ax = plot_experiments(results, ax=given)
    assert ax is given and len(fig.axes) == 1
    assert _legend_texts(ax) == ["measured"]
    assert not ax.get_lines()
    assert len(ax.patches) == 2


def test_plot_experiments_errors(pyplot):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['accuracy'\]"):
        plot_experiments(pd.DataFrame({"model": ["a"]}))
    with pytest.raises(ValueError, match="fractions in"):
        plot_experiments(pd.DataFrame({"model": ["a"], "accuracy": [89.5]}))
    with pytest.raises(ValueError, match="empty"):
        plot_experiments(pd.DataFrame({"model": [], "accuracy": []}))
