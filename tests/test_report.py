"""Tests of skfmnist.report.write_report, on the bundled sample."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, log_loss
from sklearn.pipeline import make_pipeline

import skfmnist
from skfmnist import CLASS_NAMES, DenseClassifier, PixelScaler, load_sample
from skfmnist import report as report_module
from skfmnist.report import REPORT_FILES, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sample():
    X, y = load_sample(subset="train", return_X_y=True)
    X_test, y_test = load_sample(subset="test", return_X_y=True)
    return SimpleNamespace(X=X, y=y, X_test=X_test, y_test=y_test)


@pytest.fixture(scope="module")
def fitted(sample):
    """A pipeline whose classifier was fitted with held-out data."""
    scaler = PixelScaler().fit(sample.X)
    clf = DenseClassifier(hidden_layer_sizes=(16,), epochs=3, random_state=0)
    clf.fit(
        scaler.transform(sample.X[:1800]), sample.y[:1800],
        X_val=scaler.transform(sample.X[1800:]), y_val=sample.y[1800:],
    )
    return make_pipeline(scaler, clf)


@pytest.fixture(scope="module")
def written(fitted, sample, tmp_path_factory):
    """One report, with the figures kept aside for inspection."""
    out = tmp_path_factory.mktemp("report") / "nested" / "out"
    figures = {}
    original = report_module._save_figure

    def keep(figure, path):
        figures[path.name] = [
            (axis.get_title(), [line.get_label() for line in axis.get_lines()])
            for axis in figure.axes
        ]
        original(figure, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_module, "_save_figure", keep)
        result = write_report(
            fitted, sample.X_test, sample.y_test, out,
            data={"source": "sample", "n_train": 1800, "n_validation": 200},
            timings={"fit": 1.5},
            metadata={"command": "test"},
        )
    metrics = json.loads((out / "metrics.json").read_text())
    return SimpleNamespace(out=out, result=result, metrics=metrics, figures=figures)


def test_writes_every_file_in_order(written):
    assert [path.name for path in written.result.files] == list(REPORT_FILES)
    assert sorted(p.name for p in written.out.iterdir()) == sorted(REPORT_FILES)
    for name in ("history.png", "confusion_matrix.png", "predictions.png"):
        assert (written.out / name).read_bytes().startswith(PNG_SIGNATURE)


def test_test_metrics_match_sklearn(written, fitted, sample):
    test = written.metrics["test"]
    y_pred = fitted.predict(sample.X_test)
    assert test["accuracy"] == pytest.approx(fitted.score(sample.X_test, sample.y_test))
    assert written.result.accuracy == test["accuracy"]
    assert test["n_correct"] == int((y_pred == sample.y_test).sum())
    assert test["n_samples"] == len(sample.y_test) == 1000
    assert test["log_loss"] == pytest.approx(
        log_loss(sample.y_test, fitted.predict_proba(sample.X_test))
    )
    np.testing.assert_array_equal(
        test["confusion_matrix"], confusion_matrix(sample.y_test, y_pred)
    )
    assert list(test["per_class"]) == list(CLASS_NAMES)
    assert [s["support"] for s in test["per_class"].values()] == [100] * 10
    recall = np.diag(confusion_matrix(sample.y_test, y_pred)) / 100
    np.testing.assert_allclose(
        [s["recall"] for s in test["per_class"].values()], recall
    )
    assert set(test["macro_avg"]) == {"precision", "recall", "f1-score", "support"}
    # The text report names the classes.
    for name in CLASS_NAMES:
        assert name in written.result.classification_report


def test_model_data_times_versions(written, fitted):
    metrics = written.metrics
    model = metrics["model"]
    clf = fitted[-1]
    assert model["steps"] == ["PixelScaler", "DenseClassifier"]
    assert model["classifier"] == "DenseClassifier"
    assert model["parameters"]["hidden_layer_sizes"] == [16]
    assert model["parameters"]["epochs"] == 3
    assert set(model["parameters"]) == set(clf.get_params(deep=False))
    assert model["n_iter"] == clf.n_iter_ == 3
    assert model["n_weights"] == clf.model_.count_params()
    assert model["classes"] == list(range(10))
    # What the caller says about the data, plus the test size.
    assert metrics["data"] == {
        "source": "sample", "n_train": 1800, "n_validation": 200, "n_test": 1000
    }
    times = metrics["wall_time_s"]
    assert times["fit"] == 1.5
    assert times["predict"] > 0 and times["report"] >= times["predict"]
    assert {"python", "numpy", "scikit-learn", "tensorflow", "keras",
            "skfmnist"} <= set(metrics["versions"])
    assert metrics["run"] == {"command": "test"}


def test_history_has_held_out_curves(written, fitted):
    history = pd.read_csv(written.out / "history.csv", index_col="epoch")
    expected = fitted[-1].history_
    assert history.index.tolist() == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.columns)
    np.testing.assert_allclose(history["val_loss"], expected["val_loss"])
    np.testing.assert_allclose(history["loss"], expected["loss"])
    # history.png: a training and a held-out curve in each panel.
    assert written.figures["history.png"] == [
        ("loss", ["training", "validation"]),
        ("accuracy", ["training", "validation"]),
    ]
    training = written.metrics["training"]
    best = int(np.argmin(expected["val_loss"]))
    assert training["best_val_loss"] == pytest.approx(expected["val_loss"].iloc[best])
    assert training["best_val_loss_epoch"] == best + 1
    assert training["last_epoch"]["val_accuracy"] == pytest.approx(
        expected["val_accuracy"].iloc[-1]
    )


def test_saved_model_predicts_like_the_estimator(written, fitted, sample):
    model = skfmnist.load(written.out / "model.skops")
    np.testing.assert_array_equal(
        model.predict(sample.X_test), fitted.predict(sample.X_test)
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_classifier_without_history(tmp_path, sample):
    """Any scikit-learn classifier: no history files, the rest as usual."""
    X, y = PixelScaler().fit_transform(sample.X[:300]), sample.y[:300]
    clf = LogisticRegression(max_iter=50).fit(X, y)
    names = {label: f"class {label}" for label in range(10)}
    result = write_report(
        clf, PixelScaler().fit_transform(sample.X_test), sample.y_test, tmp_path,
        class_names=names, save_model=False,
    )
    assert [path.name for path in result.files] == [
        "metrics.json", "confusion_matrix.png", "predictions.png"
    ]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "training" not in metrics
    assert list(metrics["test"]["per_class"]) == [f"class {i}" for i in range(10)]
    assert metrics["model"]["steps"] == ["LogisticRegression"]
    assert "tensorflow" not in metrics["model"]["parameters"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_string_labels_use_their_names(tmp_path, sample):
    names = np.array(CLASS_NAMES)
    X = PixelScaler().fit_transform(sample.X[:300])
    clf = LogisticRegression(max_iter=30).fit(X, names[sample.y[:300]])
    result = write_report(
        clf, PixelScaler().fit_transform(sample.X_test[:100]),
        names[sample.y_test[:100]], tmp_path, save_model=False,
    )
    assert set(result.metrics["test"]["per_class"]) == set(CLASS_NAMES)
    assert result.metrics["model"]["classes"] == sorted(CLASS_NAMES)


def test_unfitted_estimator(tmp_path, sample):
    with pytest.raises(NotFittedError):
        write_report(DenseClassifier(), sample.X_test, sample.y_test, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_mismatched_lengths(fitted, sample, tmp_path):
    with pytest.raises(ValueError, match="X_test has 1000 samples but y_test has 10"):
        write_report(fitted, sample.X_test, sample.y_test[:10], tmp_path)
    with pytest.raises(ValueError, match="non-empty 1-d array"):
        write_report(fitted, sample.X_test[:0], sample.y_test[:0], tmp_path)


def test_out_is_a_file(fitted, sample, tmp_path):
    out = tmp_path / "taken"
    out.write_text("")
    with pytest.raises(NotADirectoryError, match="it is a file, not a folder"):
        write_report(fitted, sample.X_test, sample.y_test, out)


def test_out_not_writable(fitted, sample, tmp_path, monkeypatch):
    # Tests run as root here, so a read-only folder would still be writable:
    # simulate the operating system's refusal instead.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report_module.tempfile, "TemporaryFile", refuse)
    out = tmp_path / "locked"
    with pytest.raises(PermissionError) as exc_info:
        write_report(fitted, sample.X_test, sample.y_test, out)
    assert str(exc_info.value) == (
        f"Cannot write the report to {out}: Permission denied"
    )
    assert exc_info.value.errno == 13
