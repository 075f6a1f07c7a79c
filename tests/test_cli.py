"""Tests of the ``skfmnist`` command, run in-process on the bundled sample."""

import contextlib
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import skfmnist
from skfmnist import __version__, load_sample
from skfmnist import report as report_module
from skfmnist.cli import COMMANDS, main
from skfmnist.cli import _args as _cli_args
from skfmnist.cli import _data as _cli_data
from skfmnist.cli import _train as _cli_train
from skfmnist.cli._notebook import (
    EXPERIMENTS,
    SWEEP_MAX_LR,
    SWEEP_MIN_LR,
    conv_defaults,
    scale_epochs,
)
from skfmnist.datasets import CLASS_NAMES
from skfmnist.report import REPORT_FILES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO_ROOT = Path(__file__).resolve().parents[1]
ACCURACY_LINE = re.compile(r"^Test accuracy: (\d\.\d{4}) ", re.MULTILINE)
# The plain line printed after each epoch when stdout is not a terminal.
EPOCH_LINE = re.compile(
    r"^Epoch (\d+)/(\d+) - \d+\.\d s - loss: \d\.\d{4} - accuracy: \d\.\d{4}"
    r"( - val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4})? - learning_rate: \S+$",
    re.MULTILINE,
)
# The header line Keras' progress bar prints before each epoch.
PROGRESS_BAR_HEADER = re.compile(r"^Epoch \d+/\d+$", re.MULTILINE)
SMALL_TRAIN = ["train", "--sample", "--epochs", "2", "--hidden", "8", "--seed", "0"]


class Terminal(io.StringIO):
    """A stdout stand-in that says it is an interactive terminal."""

    def isatty(self):
        return True


def run_main(argv, stdout=None):
    """Run ``main(argv)``, returning ``(status, stdout, stderr)``."""
    stdout, stderr = stdout or io.StringIO(), io.StringIO()
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

    monkeypatch.setattr(_cli_data, "fetch_fashion_mnist", fetch)
    return calls


@pytest.fixture
def sample_calls(monkeypatch):
    """Record the loads of the bundled sample (the commands' data step)."""
    calls = []
    real = _cli_data.load_sample

    def load(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(_cli_data, "load_sample", load)
    return calls


@pytest.fixture
def quarter_sample(monkeypatch):
    """Make ``--sample`` load a quarter of the bundled sample (the first 50
    training and 25 test images of each class): for the commands that train
    CNNs, whose tests check what the command writes, not how well it learns."""
    real = _cli_data.load_sample

    def load(**kwargs):
        bunch = real(**kwargs)
        per_class = 50 if kwargs.get("subset", "train") == "train" else 25
        keep = np.sort(np.concatenate(
            [np.flatnonzero(bunch.target == c)[:per_class] for c in range(10)]
        ))
        bunch.data, bunch.target = bunch.data[keep], bunch.target[keep]
        return bunch

    monkeypatch.setattr(_cli_data, "load_sample", load)


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
    assert "Holding out 200 training images (10%, stratified, seed 0)" in (
        trained.stdout
    )
    assert re.search(r"^Last epoch: held-out loss \d\.\d{4}", trained.stdout,
                     re.MULTILINE)


def test_train_log_output_is_plain(trained):
    """Not a terminal: one plain line per epoch, no bar, no control codes."""
    assert "\r" not in trained.stdout and "\x1b" not in trained.stdout
    epochs = EPOCH_LINE.findall(trained.stdout)
    assert [(e[0], e[1]) for e in epochs] == [("1", "2"), ("2", "2")]
    # Held-out figures in every line, as in history.csv.
    assert all(e[2] for e in epochs)
    history = pd.read_csv(trained.out / "history.csv")
    for line, loss in zip(
        re.findall(r"^Epoch .* - loss: (\S+) ", trained.stdout, re.MULTILINE),
        history["loss"], strict=True,
    ):
        assert float(line) == pytest.approx(loss, abs=5e-5)
    assert not PROGRESS_BAR_HEADER.search(trained.stdout)


@pytest.mark.parametrize(
    "stdout, options",
    [(Terminal, []), (io.StringIO, ["--verbose"])],
    ids=["terminal", "verbose"],
)
def test_train_progress_bar_on_terminal_or_verbose(stdout, options, tmp_path):
    status, out, err = run_main(
        [*SMALL_TRAIN, *options, "--out", str(tmp_path)], stdout=stdout()
    )
    assert status == 0, err
    # Keras' progress bar instead of the plain lines.
    assert len(PROGRESS_BAR_HEADER.findall(out)) == 2
    assert not EPOCH_LINE.search(out)


def test_train_quiet_prints_no_epochs(tmp_path, capsys):
    status = main([*SMALL_TRAIN, "--quiet", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Epoch" not in captured.out
    assert captured.out.lstrip().startswith("Test accuracy:")


def test_train_writes_every_file(trained):
    assert sorted(path.name for path in trained.out.iterdir()) == sorted(REPORT_FILES)
    for name in ("history.png", "confusion_matrix.png", "predictions.png"):
        assert_png(trained.out / name)


def test_train_metrics_json(trained):
    metrics = json.loads((trained.out / "metrics.json").read_text())
    printed = float(ACCURACY_LINE.search(trained.stdout).group(1))
    test = metrics["test"]
    assert 0 <= test["accuracy"] <= 1
    assert test["accuracy"] == pytest.approx(printed, abs=5e-5)
    assert list(test["per_class"]) == list(CLASS_NAMES)
    for scores in test["per_class"].values():
        assert set(scores) == {"precision", "recall", "f1-score", "support"}
        assert scores["support"] == 100
    # The data used: the sample, less a seeded, stratified held-out part.
    assert metrics["data"] == {
        "source": "sample",
        "description": "bundled sample",
        "n_available": 2000,
        "n_train": 1800,
        "n_validation": 200,
        "validation_fraction": 0.1,
        "validation_split": "stratified train_test_split, random_state=0",
        "n_test": 1000,
    }
    times = metrics["wall_time_s"]
    assert set(times) == {"load_data", "fit", "predict", "report"}
    assert all(seconds > 0 for seconds in times.values())
    assert metrics["model"]["n_iter"] == 2
    assert metrics["training"]["epochs"] == 2
    assert {"tensorflow", "keras", "scikit-learn", "numpy", "skfmnist"} <= set(
        metrics["versions"]
    )
    # Only the options given reach the classifier; the rest keep its defaults.
    assert metrics["run"]["options_set"] == {
        "hidden_layer_sizes": [32], "epochs": 2, "random_state": 0
    }
    assert metrics["run"]["command"].startswith("skfmnist train --sample ")
    from skfmnist import DenseClassifier

    defaults = DenseClassifier().get_params()
    parameters = metrics["model"]["parameters"]
    assert parameters["hidden_layer_sizes"] == [32]
    # The command's epoch printer is not part of the saved model.
    assert parameters["callbacks"] is None
    for name in ("batch_size", "learning_rate", "dropout", "learning_rate_schedule"):
        assert parameters[name] == defaults[name]


def test_train_history_csv_has_held_out_columns(trained):
    history = pd.read_csv(trained.out / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(
        history.columns
    )
    assert np.isfinite(history[["loss", "val_loss"]]).all().all()


def test_train_model_file_predicts(trained):
    assert f"skfmnist.load('{(trained.out / 'model.skops').resolve()}')" in (
        trained.stdout)
    model = skfmnist.load(trained.out / "model.skops")
    X_test, y_test = load_sample(subset="test", return_X_y=True)
    assert model.predict(X_test[:5]).shape == (5,)
    assert set(np.unique(model.predict(X_test))) <= set(range(10))
    metrics = json.loads((trained.out / "metrics.json").read_text())
    assert model.score(X_test, y_test) == pytest.approx(metrics["test"]["accuracy"])
    assert model[-1].callbacks is None


def test_train_without_held_out_data(tmp_path, capsys):
    status = main([*SMALL_TRAIN, "--validation-fraction", "0", "--out",
                   str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["data"]["n_train"], metrics["data"]["n_validation"]) == (2000, 0)
    assert "val_loss" not in pd.read_csv(tmp_path / "history.csv").columns
    assert "Holding out" not in captured.out
    assert [e[2] for e in EPOCH_LINE.findall(captured.out)] == ["", ""]


def test_hold_out_is_seeded_and_stratified():
    X, y = load_sample(subset="train", return_X_y=True)
    first = _cli_data.hold_out(X, y, 0.1, seed=3)
    again = _cli_data.hold_out(X, y, 0.1, seed=3)
    other = _cli_data.hold_out(X, y, 0.1, seed=4)
    np.testing.assert_array_equal(first[3], again[3])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    assert np.bincount(first[3]).tolist() == [20] * 10
    assert len(first[2]) == 1800
    X_fit, X_val, y_fit, y_val = _cli_data.hold_out(X, y, 0.0, seed=3)
    assert X_val is None and y_val is None and X_fit is X


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
    assert json.loads((out / "metrics.json").read_text())["data"]["source"] == (
        "sample"
    )
    assert no_full_data[0]["data_home"] == str(tmp_path / "home")


def test_train_no_fallback_fails(no_full_data, tmp_path, capsys):
    out = tmp_path / "report"
    status = main(["train", "--no-fallback", "--data-home", str(tmp_path / "home"),
                   "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 1
    assert_one_line_error(captured.err)
    assert "cannot load the full Fashion-MNIST data" in captured.err
    assert not (out / "model.skops").exists()
    # The subcommand's --data-home reaches the loader too.
    assert no_full_data[0]["data_home"] == str(tmp_path / "home")


def test_train_out_is_a_file(tmp_path, capsys, sample_calls):
    out = tmp_path / "a-file"
    out.write_text("not a folder")
    status = main(["train", "--sample", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 1
    assert_one_line_error(captured.err)
    assert f"Cannot write the report to {out}: it is a file, not a folder" in (
        captured.err
    )
    # Checked before loading data or training.
    assert sample_calls == []


def test_train_out_permission_denied(tmp_path, capsys, monkeypatch, sample_calls):
    # Tests run as root here, where a read-only folder is still writable:
    # simulate the operating system's refusal instead.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report_module.tempfile, "TemporaryFile", refuse)
    out = tmp_path / "locked"
    status = main(["train", "--sample", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 1
    assert_one_line_error(captured.err)
    assert captured.err.strip() == (
        f"skfmnist: error: Cannot write the report to {out}: Permission denied"
    )
    assert sample_calls == []


def test_ctrl_c_while_loading_exits_130(tmp_path, capsys, monkeypatch):
    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli_data, "load_sample", interrupted)
    status = main(["train", "--sample", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 130
    assert_one_line_error(captured.err)
    assert captured.err.strip() == "skfmnist: error: interrupted"


def test_ctrl_c_in_first_epoch_exits_130(tmp_path, capsys, monkeypatch):
    """Ctrl-C before an epoch is complete: nothing to keep, no report."""
    import keras

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            raise KeyboardInterrupt

    real = _cli_train._training_output
    monkeypatch.setattr(
        _cli_train, "_training_output",
        lambda *args: {**real(*args), "callbacks": [CtrlC()]},
    )
    status = main([*SMALL_TRAIN, "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 130
    assert_one_line_error(captured.err)
    assert "interrupted" in captured.err
    assert not (tmp_path / "metrics.json").exists()
    assert not (tmp_path / "model.skops").exists()


def test_ctrl_c_after_an_epoch_keeps_it_and_reports(tmp_path, capsys, monkeypatch):
    """Ctrl-C in epoch 2: training stops with a warning, the report has epoch 1."""
    import keras

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    real = _cli_train._training_output
    monkeypatch.setattr(
        _cli_train, "_training_output",
        lambda *args: {**real(*args), "callbacks": [CtrlC()]},
    )
    with pytest.warns(UserWarning, match="(?i)interrupt"):
        status = main([*SMALL_TRAIN, "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Trained 1 epoch in" in captured.out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"]["n_iter"] == 1
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [1]


# -- experiments and search -----------------------------------------------------


def test_experiments_table(tmp_path, capsys, quarter_sample):
    out = tmp_path / "experiments"
    status = main(["experiments", "--sample", "--epochs-scale", "0.05", "--quiet",
                   "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    results = pd.read_csv(out / "experiments.csv")
    assert len(results) == 7
    assert results["experiment"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    epochs = [e.epochs or conv_defaults()[0] for e in EXPERIMENTS]
    assert results["epochs"].tolist() == [
        scale_epochs(n, 0.05, minimum=2 if e.sweep else 1)
        for n, e in zip(epochs, EXPERIMENTS, strict=True)
    ]
    reported = [e.reported for e in EXPERIMENTS]
    np.testing.assert_allclose(results["reported"], reported)
    # Model 7, the CNN, is not one of the notebook's runs: nothing reported.
    assert math.isnan(results["reported"].iloc[6])
    assert results["learning_rate"].iloc[6] == conv_defaults()[1]
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


@pytest.mark.parametrize("command", [[], *([module.NAME] for module in COMMANDS)])
def test_help_exits_0(command, capsys):
    with pytest.raises(SystemExit) as exc_info:
        main([*command, "--help"])
    assert exc_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: skfmnist {' '.join(command)}".rstrip())
    assert "examples:" in out


def test_help_shows_each_commands_texts_as_written(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    # The one-line helps are wrapped to the terminal's width.
    overview = " ".join(capsys.readouterr().out.split())
    for module in COMMANDS:
        assert f" {module.NAME} {module.HELP} " in overview
        with pytest.raises(SystemExit):
            main([module.NAME, "--help"])
        out = capsys.readouterr().out
        # Line breaks kept (HelpFormatter), whatever the terminal's width.
        assert module.DESCRIPTION in out
        assert module.EPILOG in out
    with pytest.raises(SystemExit):
        main([])
    names = [module.NAME for module in COMMANDS]
    assert f"{', '.join(names[:-1])} or {names[-1]}" in capsys.readouterr().err


def test_experiments_help_states_epochs(capsys):
    with pytest.raises(SystemExit):
        main(["experiments", "--help"])
    out = capsys.readouterr().out
    for experiment in EXPERIMENTS:
        epochs = experiment.epochs or conv_defaults()[0]
        assert re.search(
            rf"^  {experiment.number}  {re.escape(experiment.model)} +"
            rf"{epochs} epochs",
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
    assert _cli_args.layer_sizes(text) == sizes


def test_help_does_not_import_tensorflow():
    # -X importtime lists every module imported: TensorFlow must not be one.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "skfmnist", "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage: skfmnist")
    imported = re.findall(r"\|\s+([\w.]+)\s*$", result.stderr, re.MULTILINE)
    assert "skfmnist.cli" in imported
    assert not [name for name in imported if name.split(".")[0] in
                ("tensorflow", "keras", "matplotlib")]


def test_epoch_line_format():
    from skfmnist.cli._progress import EpochLines, format_logs

    logs = {"learning_rate": 0.00075, "val_accuracy": 0.5, "loss": 1.25,
            "accuracy": 0.625, "val_loss": 1.5, "extra": 2.0}
    assert format_logs(logs) == (
        "loss: 1.2500 - accuracy: 0.6250 - val_loss: 1.5000 - "
        "val_accuracy: 0.5000 - learning_rate: 0.00075 - extra: 2.0000"
    )
    lines = []
    printer = EpochLines(epochs=40, write=lines.append)
    printer.on_epoch_begin(2)
    printer.on_epoch_end(2, {"loss": 0.5})
    assert re.fullmatch(r"Epoch 3/40 - \d+\.\d s - loss: 0\.5000", lines[0])


# -- --model conv ---------------------------------------------------------------


def test_train_conv_writes_a_report_of_the_cnn(tmp_path, capsys, quarter_sample):
    out = tmp_path / "conv"
    status = main(["train", "--model", "conv", "--sample", "--epochs", "1",
                   "--seed", "0", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Training ConvClassifier(epochs=1, random_state=0)" in captured.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["classifier"] == "ConvClassifier"
    pipe = skfmnist.load(out / "model.skops")
    assert type(pipe[-1]).__name__ == "ConvClassifier"
    assert pipe[-1].model_.input_shape == (None, 28, 28, 1)


def test_hidden_is_refused_with_model_conv(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--model", "conv", "--hidden", "64", "--sample"])
    assert exc.value.code == 2
    assert "--hidden: sets the layers of --model dense only" in capsys.readouterr().err


def test_search_conv_grids_the_filters(tmp_path, capsys, quarter_sample):
    out = tmp_path / "search"
    status = main(["search", "--model", "conv", "--sample", "--epochs", "1",
                   "--filters-grid", "2", "4", "--cv", "2", "--quiet",
                   "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    table = pd.read_csv(out / "search.csv")
    assert sorted(table["params"]) == ["filters=(2,)", "filters=(4,)"]
    assert "Best: filters=(" in captured.out
