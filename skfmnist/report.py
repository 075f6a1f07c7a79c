"""The training report: test metrics, history, figures and the fitted model.

:func:`write_report` evaluates a fitted classifier on test data and writes a
folder that documents the run: ``metrics.json`` (model, parameters, data,
library versions, wall times, test metrics), ``history.csv`` and
``history.png`` (training and held-out curves), ``confusion_matrix.png``,
``predictions.png`` and ``model.skops``. The ``skfmnist train`` command is a
thin layer over it. Importing this module does not import TensorFlow.
"""

import datetime
import json
import numbers
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["REPORT_FILES", "write_report"]

#: Files :func:`write_report` writes, in order (the history files only for a
#: classifier with a ``history_``, the model only with ``save_model=True``).
REPORT_FILES = (
    "metrics.json",
    "history.csv",
    "history.png",
    "confusion_matrix.png",
    "predictions.png",
    "model.skops",
)
#: Version of the layout of ``metrics.json``; raised when a key changes meaning.
METRICS_FORMAT = 1
# Libraries whose versions a report records (TensorFlow and Keras only when
# the process has imported them: a scikit-learn model does not need them).
_LIBRARIES = ("numpy", "pandas", "sklearn", "matplotlib", "tensorflow", "keras")


def check_output_folder(out):
    """Create ``out`` (and its parents) and check that files can be written in it.

    Parameters
    ----------
    out : path-like
        The folder.

    Returns
    -------
    out : pathlib.Path
        The folder, as a Path.

    Raises
    ------
    NotADirectoryError
        If ``out`` is an existing file.
    OSError
        If the folder cannot be created or written to (the message names the
        folder and the reason, for instance "Permission denied").
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(
            f"Cannot write the report to {out}: it is a file, not a folder."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc).strip() or type(exc).__name__
        # A one-argument OSError reads as the message alone, without the
        # "[Errno 13]" prefix; the number stays available as errno.
        error = type(exc)(f"Cannot write the report to {out}: {reason}")
        error.errno = exc.errno
        raise error from None
    return out


def _final_classifier(estimator):
    """The last step of a Pipeline, or the estimator itself."""
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def _jsonable(value):
    """Parameters as JSON values: tuples to lists, NumPy scalars to Python."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not np.isfinite(value):
            return None  # JSON has no NaN; null reads as "not measured"
        return value
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return repr(value)


def _versions():
    """Versions of Python, skfmnist and the libraries the process has loaded."""
    from . import __version__

    found = {"python": platform.python_version(), "skfmnist": __version__}
    for name in _LIBRARIES:
        module = sys.modules.get(name)
        if module is not None:
            label = "scikit-learn" if name == "sklearn" else name
            found[label] = getattr(module, "__version__", "unknown")
    return found


def _model_section(estimator, clf):
    """What was trained: the estimator, its steps, the classifier's parameters."""
    section = {
        "estimator": repr(estimator),
        "classifier": type(clf).__name__,
        "steps": [type(step).__name__ for _, step in getattr(estimator, "steps", [])]
        or [type(clf).__name__],
        "parameters": _jsonable(clf.get_params(deep=False)),
        "classes": _jsonable(np.asarray(clf.classes_)),
    }
    if hasattr(clf, "n_iter_"):  # epochs for skfmnist's classifiers
        section["n_iter"] = _jsonable(clf.n_iter_)
    model = getattr(clf, "model_", None)
    if hasattr(model, "count_params"):
        section["n_weights"] = int(model.count_params())
    return section


def _training_section(history):
    """The last epoch's figures and, with held-out data, the best epoch."""
    last = history.iloc[-1]
    section = {
        "epochs": len(history),
        "last_epoch": _jsonable({k: float(v) for k, v in last.items()}),
    }
    if "val_loss" in history.columns and history["val_loss"].notna().any():
        best = int(np.nanargmin(history["val_loss"].to_numpy()))
        section["best_val_loss"] = float(history["val_loss"].iloc[best])
        section["best_val_loss_epoch"] = best + 1
    return section


def _test_section(y_test, proba, y_pred, names, classes):
    """Accuracy, log loss, per-class scores and the confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        confusion_matrix,
        log_loss,
    )

    options = dict(labels=classes, target_names=names, zero_division=0)
    text = classification_report(y_test, y_pred, digits=3, **options)
    scores = classification_report(y_test, y_pred, output_dict=True, **options)

    def with_count(entry):
        return {**entry, "support": int(entry["support"])}

    section = {
        "accuracy": float(accuracy_score(y_test, y_pred)),
        "n_correct": int(np.sum(np.asarray(y_pred) == np.asarray(y_test))),
        "n_samples": len(y_test),
        "log_loss": float(log_loss(y_test, proba, labels=classes)),
    }
    section["per_class"] = {name: with_count(scores[name]) for name in names}
    section["macro_avg"] = with_count(scores["macro avg"])
    section["weighted_avg"] = with_count(scores["weighted avg"])
    section["confusion_matrix"] = confusion_matrix(
        y_test, y_pred, labels=classes
    ).tolist()
    return section, text


def _save_figure(figure, path):
    import matplotlib.pyplot as plt

    # The plotting helpers lay their figures out themselves ("constrained").
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def write_report(
    estimator,
    X_test,
    y_test,
    out,
    *,
    class_names=None,
    data=None,
    timings=None,
    metadata=None,
    n_predictions=15,
    random_state=0,
    save_model=True,
):
    """Evaluate a fitted classifier on test data and write a report folder.

    Writes to ``out`` (created if needed):

    - ``metrics.json``: the model (estimator, steps, the classifier's
      parameters, ``n_iter_``), the data (``data``, plus the number of test
      images), the training history's last epoch and best held-out epoch,
      test metrics (accuracy, log loss, per-class precision, recall and F1,
      the confusion matrix), wall times, library versions and the date;
    - ``history.csv`` and ``history.png``: the classifier's ``history_``,
      one row per epoch, and its plot, with the held-out curves
      (``val_loss``, ``val_accuracy``) when the classifier was fitted with
      held-out data (``X_val`` / ``y_val``, or early stopping); only for
      classifiers that have a ``history_``;
    - ``confusion_matrix.png`` and ``predictions.png``: the confusion matrix
      on the test data and ``n_predictions`` test images with their
      predictions (green when right, red when wrong);
    - ``model.skops``: the fitted estimator, a safe file for
      :func:`skfmnist.load` (:func:`skfmnist.save`).

    Parameters
    ----------
    estimator : classifier
        A fitted classifier with ``predict_proba``, or a Pipeline ending in
        one, that takes ``X_test`` as given (such as ``Pipeline([PixelScaler(),
        DenseClassifier()])`` on uint8 images). The test images are predicted
        once: the predicted labels are the most probable classes.
    X_test : array-like of shape (n_samples, 784) or (n_samples, 28, 28)
        Test images.
    y_test : array-like of shape (n_samples,)
        Their labels.
    out : path-like
        Output folder; created with its parents if missing. Existing report
        files in it are replaced.
    class_names : array-like of str or dict, default=None
        Names of the classes, in the order of the classifier's ``classes_``,
        or a dict from label to name. By default integer labels 0..9 are named
        with :data:`~skfmnist.datasets.CLASS_NAMES`, other labels shown as
        they are.
    data : dict, default=None
        What the model was trained on, recorded under ``"data"`` in
        ``metrics.json`` (for example the source, the number of training and
        held-out images and how they were split).
    timings : dict, default=None
        Wall times measured by the caller, in seconds (for example
        ``{"fit": 29.5}``), recorded under ``"wall_time_s"`` next to the
        times this function measures itself: ``"predict"`` (predicting the
        test data) and ``"report"`` (this whole call).
    metadata : dict, default=None
        Anything else to record, under ``"run"`` (for example the command
        line that trained the model).
    n_predictions : int, default=15
        Number of test images shown in ``predictions.png``.
    random_state : int, default=0
        Seed of the choice of the images shown in ``predictions.png``.
    save_model : bool, default=True
        Whether to write ``model.skops``.

    Returns
    -------
    report : sklearn.utils.Bunch
        With ``accuracy`` (float), ``classification_report`` (the text of
        :func:`sklearn.metrics.classification_report`, with class names),
        ``metrics`` (the dict written to ``metrics.json``) and ``files``
        (the paths written, in the order of :data:`REPORT_FILES`).

    Raises
    ------
    NotFittedError
        If the estimator is not fitted.
    TypeError
        If the estimator has no ``predict_proba``.
    ValueError
        If ``X_test`` and ``y_test`` have different numbers of samples,
        ``y_test`` is empty, or ``n_predictions`` is not a positive integer.
    NotADirectoryError
        If ``out`` is a file.
    OSError
        If ``out`` cannot be created or written to.

    See Also
    --------
    skfmnist.plotting.plot_history : The training curves of ``history.png``.
    skfmnist.plotting.plot_confusion_matrix : ``confusion_matrix.png``.
    skfmnist.plotting.plot_predictions : ``predictions.png``.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfmnist import DenseClassifier, PixelScaler, load_sample
    >>> from skfmnist.report import write_report
    >>> X, y = load_sample(subset="train", return_X_y=True)
    >>> X_test, y_test = load_sample(subset="test", return_X_y=True)

    Hold out the last 200 training images, so that the history (and
    ``history.png``) has held-out curves:

    >>> scaler = PixelScaler().fit(X)
    >>> clf = DenseClassifier(hidden_layer_sizes=(16,), epochs=2, random_state=0)
    >>> clf = clf.fit(scaler.transform(X[:1800]), y[:1800],
    ...               X_val=scaler.transform(X[1800:]), y_val=y[1800:])
    >>> out = tempfile.mkdtemp()
    >>> report = write_report(make_pipeline(scaler, clf), X_test, y_test, out)
    >>> [path.name for path in report.files]  # doctest: +NORMALIZE_WHITESPACE
    ['metrics.json', 'history.csv', 'history.png', 'confusion_matrix.png',
     'predictions.png', 'model.skops']
    >>> list(report.metrics)  # doctest: +NORMALIZE_WHITESPACE
    ['format', 'created', 'model', 'data', 'training', 'test', 'wall_time_s',
     'versions']
    >>> report.metrics["model"]["steps"], report.metrics["test"]["n_samples"]
    (['PixelScaler', 'DenseClassifier'], 1000)
    >>> list(clf.history_.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['loss', 'accuracy', 'val_loss', 'val_accuracy', 'learning_rate']
    >>> print(report.classification_report.splitlines()[2].split()[0])
    T-shirt/top
    """
    from sklearn.utils import Bunch
    from sklearn.utils.validation import check_is_fitted

    start = time.perf_counter()
    check_is_fitted(estimator)
    clf = _final_classifier(estimator)
    y_test = np.asarray(y_test)
    if y_test.ndim != 1 or len(y_test) == 0:
        raise ValueError(
            "y_test must be a non-empty 1-d array of labels, got shape "
            f"{y_test.shape}."
        )
    if len(X_test) != len(y_test):
        raise ValueError(
            f"X_test has {len(X_test)} samples but y_test has {len(y_test)}: "
            "pass the labels of the test images, one per image."
        )
    if not isinstance(n_predictions, numbers.Integral) or n_predictions < 1:
        raise ValueError(
            f"n_predictions must be a positive integer, got {n_predictions!r}."
        )
    out = check_output_folder(out)

    # Each figure is closed once saved, so none shows up in a notebook either.
    from .plotting import (
        _check_predict_proba,
        _chosen_rows,
        _class_name_map,
        _confusion_matrix_display,
        _draw_predictions,
        _take_rows,
        plot_history,
    )

    _check_predict_proba(estimator)
    classes = np.asarray(clf.classes_)
    name_of = _class_name_map(classes, class_names)
    names = [name_of[key] for key in classes.tolist()]
    # The test set is predicted once; the metrics and figures share the result.
    predict_start = time.perf_counter()
    proba = np.asarray(estimator.predict_proba(X_test))
    predict_s = time.perf_counter() - predict_start
    y_pred = classes[proba.argmax(axis=1)]
    test, text = _test_section(y_test, proba, y_pred, names, classes)

    files = []
    history = getattr(clf, "history_", None)
    metrics = {
        "format": METRICS_FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "model": _model_section(estimator, clf),
        "data": {**_jsonable(dict(data or {})), "n_test": len(y_test)},
    }
    if history is not None and len(history):
        metrics["training"] = _training_section(history)
        history.to_csv(out / "history.csv", index_label="epoch")
        axes = plot_history(history)
        _save_figure(axes.flat[0].figure, out / "history.png")
        files += [out / "history.csv", out / "history.png"]
    metrics["test"] = test

    display = _confusion_matrix_display(
        y_test, y_pred, classes, class_names=class_names
    )
    _save_figure(display.figure_, out / "confusion_matrix.png")
    rows = _chosen_rows(len(y_test), n_predictions, random_state)
    axes = _draw_predictions(
        _take_rows(X_test, rows), proba[rows], classes, y_test[rows],
        class_names=class_names, ax=None, ncols=5,
    )
    _save_figure(axes.flat[0].figure, out / "predictions.png")
    files += [out / "confusion_matrix.png", out / "predictions.png"]
    if save_model:
        from .persistence import save

        files.append(save(estimator, out / "model.skops"))

    metrics["wall_time_s"] = {
        **_jsonable(dict(timings or {})),
        "predict": predict_s,
        "report": time.perf_counter() - start,
    }
    metrics["versions"] = _versions()
    if metadata:
        metrics["run"] = _jsonable(dict(metadata))
    with open(out / "metrics.json", "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    files.insert(0, out / "metrics.json")
    return Bunch(
        accuracy=test["accuracy"],
        classification_report=text,
        metrics=metrics,
        files=files,
    )
