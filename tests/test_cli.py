"""Tests of the ``skfmnist`` command, run in-process on the bundled sample."""

import contextlib
import io
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import pandas as pd
import pytest

from skfmnist import __version__, cli, load_sample
from skfmnist._experiments import EXPERIMENTS, SWEEP_MAX_LR, SWEEP_MIN_LR, scale_epochs
from skfmnist.cli import TRAIN_FILES, main
from skfmnist.datasets import CLASS_NAMES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO_ROOT = Path(__file__).resolve().parents[1]
ACCURACY_LINE = re.compile(r"^Test accuracy: (\d\.\d{4}) ", re.MULTILINE)


def run_main(argv):
    """Run ``main(argv)``, returning ``(status, stdout, stderr)``."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(argv)
    return status, stdout.getvalue(), stderr.getvalue()


def assert_png(path):
    content = path.read_bytes()
    assert content.startswith(PNG_SIGNATURE), path
    assert len(content) > 1000, path


def assert_one_line_error(stderr):
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("skfmnist: error: ")


@pytest.fixture
def no_full_data(monkeypatch):
    """Make the full data unavailable; record the calls to the loader."""
    calls = []

    def fetch(**kwargs):
        calls.append(kwargs)
        raise OSError(
            "Cannot load the Fashion-MNIST file 'train-images-idx3-ubyte'.\n"
            "Looked in:\n  - /nowhere\nTo get the data, do one of: ..."
        )

    monkeypatch.setattr(cli, "fetch_fashion_mnist", fetch)
    return calls


# -- train --------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One ``skfmnist train`` run on the sample, shared by the tests below."""
    out = tmp_path_factory.mktemp("train") / "report"  # created by the command
    argv = ["train", "--sample", "--epochs", "2", "--hidden", "32", "--seed", "0",
            "--out", str(out)]
    status, stdout, stderr = run_main(argv)
    return SimpleNamespace(status=status, stdout=stdout, stderr=stderr, out=out)


def test_train_prints_accuracy_and_report(trained):
    assert trained.status == 0, trained.stderr
    assert "Traceback" not in trained.stderr and "skfmnist:" not in trained.stderr
    match = ACCURACY_LINE.search(trained.stdout)
    assert match, trained.stdout
    assert 0 <= float(match.group(1)) <= 1
    assert "bundled sample" in trained.stdout
    for name in CLASS_NAMES:
        assert name in trained.stdout
    for column in ("precision", "recall", "f1-score", "support", "macro avg"):
        assert column in trained.stdout
    # Normal verbosity shows Keras' progress bar for each epoch.
    assert "Epoch 1/2" in trained.stdout and "Epoch 2/2" in trained.stdout


def test_train_writes_every_file(trained):
    assert sorted(path.name for path in trained.out.iterdir()) == sorted(TRAIN_FILES)
    for name in ("history.png", "confusion_matrix.png", "predictions.png"):
        assert_png(trained.out / name)


def test_train_metrics_json(trained):
    metrics = json.loads((trained.out / "metrics.json").read_text())
    printed = float(ACCURACY_LINE.search(trained.stdout).group(1))
    assert 0 <= metrics["accuracy"] <= 1
    assert metrics["accuracy"] == pytest.approx(printed, abs=5e-5)
    assert list(metrics["per_class"]) == list(CLASS_NAMES)
    for scores in metrics["per_class"].values():
        assert set(scores) == {"precision", "recall", "f1-score", "support"}
        assert scores["support"] == 100
    assert metrics["data_source"] == "sample"
    assert (metrics["n_train"], metrics["n_test"]) == (2000, 1000)
    assert metrics["fit_time_s"] > 0
    assert metrics["epochs_run"] == 2
    # Only the options given reach the classifier; the rest keep its defaults.
    assert metrics["options_set"] == {
        "hidden_layer_sizes": [32], "epochs": 2, "random_state": 0
    }
    from skfmnist import DenseClassifier

    defaults = DenseClassifier().get_params()
    parameters = metrics["parameters"]
    assert parameters["hidden_layer_sizes"] == [32]
    for name in ("batch_size", "learning_rate", "dropout", "learning_rate_schedule"):
        assert parameters[name] == defaults[name]


def test_train_history_csv(trained):
    history = pd.read_csv(trained.out / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    assert {"loss", "accuracy", "learning_rate"} <= set(history.columns)
    assert np.isfinite(history["loss"]).all()


def test_train_model_joblib_predicts(trained):
    model = joblib.load(trained.out / "model.joblib")
    X_test, y_test = load_sample(subset="test", return_X_y=True)
    assert model.predict(X_test[:5]).shape == (5,)
    assert set(np.unique(model.predict(X_test))) <= set(range(10))
    metrics = json.loads((trained.out / "metrics.json").read_text())
    assert model.score(X_test, y_test) == pytest.approx(metrics["accuracy"])


def test_train_falls_back_to_sample(no_full_data, tmp_path, capsys):
    out = tmp_path / "report"
    status = main(["--data-home", str(tmp_path / "home"), "train", "--quiet",
                   "--epochs", "1", "--hidden", "8", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    # One clear line on stderr, and the summary says what data was used.
    warning = captured.err.strip().splitlines()
    assert len(warning) == 1, captured.err
    assert warning[0].startswith("skfmnist: warning: ")
    assert "falling back to the bundled sample" in warning[0]
    assert "Cannot load the Fashion-MNIST file" in warning[0]
    summary = next(line for line in captured.out.splitlines() if "accuracy" in line)
    assert summary.startswith("Test accuracy:") and "bundled sample" in summary
    # --quiet: no progress bar nor progress lines, only the summary.
    assert "Epoch" not in captured.out
    assert not captured.out.startswith("Data:")
    assert json.loads((out / "metrics.json").read_text())["data_source"] == "sample"
    assert no_full_data[0]["data_home"] == str(tmp_path / "home")


def test_train_no_fallback_fails(no_full_data, tmp_path, capsys):
    out = tmp_path / "report"
    status = main(["train", "--no-fallback", "--data-home", str(tmp_path / "home"),
                   "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 1
    assert_one_line_error(captured.err)
    assert "cannot load the full Fashion-MNIST data" in captured.err
    assert not (out / "model.joblib").exists()
    # The subcommand's --data-home reaches the loader too.
    assert no_full_data[0]["data_home"] == str(tmp_path / "home")


def test_train_out_not_writable(tmp_path, capsys):
    out = tmp_path / "a-file"
    out.write_text("not a folder")
    start = time.perf_counter()
    status = main(["train", "--sample", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 1
    assert_one_line_error(captured.err)
    assert str(out) in captured.err
    # Checked before loading data or training.
    assert time.perf_counter() - start < 5


# -- experiments and search -----------------------------------------------------


def test_experiments_table(tmp_path, capsys):
    out = tmp_path / "experiments"
    status = main(["experiments", "--sample", "--epochs-scale", "0.05", "--quiet",
                   "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    results = pd.read_csv(out / "experiments.csv")
    assert len(results) == 6
    assert results["experiment"].tolist() == [1, 2, 3, 4, 5, 6]
    assert results["epochs"].tolist() == [
        scale_epochs(e.epochs, 0.05, minimum=2 if e.sweep else 1) for e in EXPERIMENTS
    ]
    reported = [e.reported for e in EXPERIMENTS]
    np.testing.assert_allclose(results["reported"], reported)
    sweep = results.iloc[2]
    assert math.isnan(sweep["accuracy"])
    assert SWEEP_MIN_LR <= sweep["learning_rate"] <= SWEEP_MAX_LR
    assert results.drop(index=2)["accuracy"].between(0, 1).all()
    assert_png(out / "experiments.png")
    # The printed table: every model with the notebook's figure, and the time.
    for experiment in EXPERIMENTS:
        assert experiment.model in captured.out
    assert "reported" in captured.out and "34%" in captured.out
    assert "(suggested)" in captured.out
    assert "Wall time:" in captured.out
    assert "[1/6]" not in captured.out  # --quiet


def test_search_table(tmp_path, capsys):
    out = tmp_path / "search"
    status = main(["search", "--sample", "--epochs", "1", "--hidden-grid", "16",
                   "32,16", "--cv", "2", "--seed", "0", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    header = next(line for line in captured.out.splitlines() if "rank" in line)
    assert header.split() == [
        "rank", "params", "mean_accuracy", "std_accuracy", "mean_fit_time_s"
    ]
    assert "hidden_layer_sizes=(16,)" in captured.out
    assert "hidden_layer_sizes=(32, 16)" in captured.out
    assert "Best: hidden_layer_sizes=" in captured.out
    results = pd.read_csv(out / "search.csv")
    assert len(results) == 2
    assert results["rank_test_score"].is_monotonic_increasing
    assert {"params", "mean_test_score", "std_test_score", "mean_fit_time",
            "split0_test_score", "split1_test_score"} <= set(results.columns)
    assert results["mean_test_score"].between(0, 1).all()


# -- arguments, help, version ---------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--hidden", "abc"], "--hidden"),
        (["train", "--learning-rate", "-1"], "--learning-rate"),
        (["train", "--quiet", "--verbose"], "not allowed with"),
        (["frobnicate"], "invalid choice"),
        ([], "a command is required"),
        (["experiments", "--epochs-scale", "0"], "--epochs-scale"),
        (["search", "--hidden-grid", "64,x"], "--hidden-grid"),
        (["search", "--cv", "1"], "--cv"),
        (["search", "--n-jobs", "0"], "--n-jobs"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc_info:
        main(argv)
    assert exc_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert re.match(r"skfmnist( \w+)?: error: ", last), err
    assert message in last


@pytest.mark.parametrize("command", [[], ["train"], ["experiments"], ["search"]])
def test_help_exits_0(command, capsys):
    with pytest.raises(SystemExit) as exc_info:
        main([*command, "--help"])
    assert exc_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: skfmnist {' '.join(command)}".rstrip())
    assert "examples:" in out


def test_experiments_help_states_epochs(capsys):
    with pytest.raises(SystemExit):
        main(["experiments", "--help"])
    out = capsys.readouterr().out
    for experiment in EXPERIMENTS:
        assert re.search(
            rf"^  {experiment.number}  {re.escape(experiment.model)} +"
            rf"{experiment.epochs} epochs",
            out,
            re.MULTILINE,
        ), out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"skfmnist {__version__}\n"


@pytest.mark.parametrize(
    "text, sizes", [("128", (128,)), ("256,128", (256, 128)), ("20, 20 20", (20,) * 3)]
)
def test_layer_sizes(text, sizes):
    assert cli._layer_sizes(text) == sizes


def test_python_m_skfmnist_help_is_fast():
    # -X importtime lists every module imported: TensorFlow must not be one.
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "skfmnist", "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage: skfmnist")
    imported = re.findall(r"\|\s+([\w.]+)\s*$", result.stderr, re.MULTILINE)
    assert "skfmnist.cli" in imported
    assert not [name for name in imported if name.split(".")[0] in
                ("tensorflow", "keras", "matplotlib")]
    assert elapsed < 20
