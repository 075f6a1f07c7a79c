"""The ``skfmnist`` command: train, reproduce the notebook, search layer sizes.

A thin layer over the package's API, built with :mod:`argparse`. Importing
this module does not import TensorFlow (a command imports it when it runs),
so ``skfmnist --help`` answers at once. Figures are drawn with matplotlib's
Agg backend straight into files.

Exit status: 0 on success, 2 for bad arguments (as argparse does), 1 for
runtime errors (data that cannot be loaded with ``--no-fallback``, an output
folder that cannot be written), each with a one-line ``skfmnist: error: ...``
on stderr.
"""

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

from . import __version__
from ._experiments import EXPERIMENTS, SWEEP_MAX_LR, SWEEP_MIN_LR
from .datasets import CLASS_NAMES, fetch_fashion_mnist, load_sample

__all__ = ["build_parser", "main"]

PROG = "skfmnist"
#: Default output folder of every command, relative to the working directory.
DEFAULT_OUT = "skfmnist-report"
#: Default candidates of ``skfmnist search --hidden-grid``.
DEFAULT_HIDDEN_GRID = ("128", "256,128", "20,20,20")
#: Files written by ``skfmnist train``.
TRAIN_FILES = (
    "metrics.json",
    "history.csv",
    "history.png",
    "confusion_matrix.png",
    "predictions.png",
    "model.joblib",
)
# Verbosity levels of the --quiet / --verbose options.
QUIET, NORMAL, VERBOSE = 0, 1, 2


class CommandError(Exception):
    """An expected failure, reported as one line and exit status 1."""


# -- argument types --------------------------------------------------------------


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _cv_folds(text):
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 folds, got {value}")
    return value


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer (-1 for all cores), got {text!r}"
        ) from None
    if value == 0:
        raise argparse.ArgumentTypeError("must not be 0 (use 1, 2, ... or -1)")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer seed, got {text!r}"
        ) from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32), got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number, got {text!r}"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _layer_sizes(text):
    """Parse ``"256,128"`` (commas or spaces) into ``(256, 128)``."""
    parts = text.replace(",", " ").split()
    try:
        sizes = tuple(int(part) for part in parts)
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer sizes such as 256,128, "
            f"got {text!r}"
        )
    return sizes


# -- the parser ------------------------------------------------------------------


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the line breaks of descriptions and epilogs (the examples)."""


def _experiments_epilog():
    lines = ["the notebook's models (seed 42, Adam, batch 32, no dropout):"]
    for exp in EXPERIMENTS:
        if exp.sweep:
            outcome = (
                f"lr {SWEEP_MIN_LR:g} to {SWEEP_MAX_LR:.3g}, "
                f"found {exp.reported_learning_rate:g}"
            )
        else:
            outcome = f"lr {exp.learning_rate:g}, reported {exp.reported:.0%}"
        lines.append(
            f"  {exp.number}  {exp.model:<25} {exp.epochs:>2} epochs  {outcome}"
        )
    lines += [
        "",
        "examples:",
        "  skfmnist experiments             # about 2 minutes on 2 CPU cores",
        "  skfmnist experiments --sample --epochs-scale 0.1   # a quick check",
    ]
    return "\n".join(lines)


def _add_data_options(parser):
    group = parser.add_argument_group("data and output")
    group.add_argument(
        "--sample", action="store_true",
        help="use the small sample bundled with skfmnist (2,000 training and "
        "1,000 test images) instead of the full data",
    )
    group.add_argument(
        "--no-fallback", action="store_true",
        help="fail when the full data cannot be found or downloaded, instead "
        "of falling back to the bundled sample",
    )
    # SUPPRESS: without the option here, the global --data-home stands.
    group.add_argument(
        "--data-home", metavar="DIR", default=argparse.SUPPRESS,
        help="folder of the Fashion-MNIST files (as skfmnist --data-home)",
    )
    group.add_argument(
        "--out", metavar="DIR", type=Path, default=Path(DEFAULT_OUT),
        help=f"output folder (default: ./{DEFAULT_OUT})",
    )


def _add_model_options(parser, *, hidden):
    group = parser.add_argument_group(
        "model", "Options left out keep DenseClassifier's defaults."
    )
    if hidden:
        group.add_argument(
            "--hidden", metavar="N", nargs="+", type=_positive_int,
            help="units of each hidden layer, e.g. --hidden 128 64",
        )
    group.add_argument(
        "--epochs", metavar="N", type=_positive_int, help="training epochs"
    )
    group.add_argument(
        "--learning-rate", metavar="LR", type=_positive_float,
        help="initial learning rate of Adam",
    )
    group.add_argument(
        "--batch-size", metavar="B", type=_positive_int,
        help="samples per gradient step",
    )
    group.add_argument(
        "--seed", metavar="S", type=_seed,
        help="random seed (random_state), for reproducible results",
    )


def _add_verbosity_options(parser):
    group = parser.add_argument_group("output verbosity")
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument(
        "-q", "--quiet", action="store_const", dest="verbosity", const=QUIET,
        default=NORMAL, help="print only the final summary",
    )
    exclusive.add_argument(
        "-v", "--verbose", action="store_const", dest="verbosity", const=VERBOSE,
        help="show Keras' progress bar for every epoch, and more details",
    )


def build_parser():
    """Build the argument parser of the ``skfmnist`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser, with one subparser per command.

    Examples
    --------
    >>> from skfmnist.cli import build_parser
    >>> args = build_parser().parse_args(["train", "--sample", "--epochs", "3"])
    >>> args.command, args.sample, args.epochs, args.hidden
    ('train', True, 3, None)
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Train and evaluate scikit-learn compatible Keras classifiers on "
            "Fashion-MNIST."
        ),
        epilog=(
            "examples:\n"
            "  skfmnist train                       # fit, evaluate, write a report\n"
            "  skfmnist train --sample --epochs 3   # a quick run, no download\n"
            "  skfmnist experiments --epochs-scale 0.1\n"
            "  skfmnist search --hidden-grid 128 256,128 --cv 3 --n-jobs 2\n"
            "  skfmnist train --help                # the options of a command"
        ),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "-V", "--version", action="store_true", help="print the version and exit"
    )
    parser.add_argument(
        "--data-home", metavar="DIR", default=None,
        help="folder holding (or to download) the Fashion-MNIST files "
        "(default: $SKFMNIST_DATA, else ~/scikit_learn_data)",
    )
    commands = parser.add_subparsers(
        dest="command", title="commands", metavar="COMMAND"
    )

    train = commands.add_parser(
        "train",
        formatter_class=_HelpFormatter,
        help="fit a DenseClassifier, evaluate it and write a report",
        description=(
            "Fit Pipeline([PixelScaler(), DenseClassifier()]) on the "
            "Fashion-MNIST training\nset, print its test accuracy and "
            "classification report, and write to --out:\n"
            "  metrics.json, history.csv, history.png, confusion_matrix.png,\n"
            "  predictions.png and the fitted pipeline, model.joblib."
        ),
        epilog=(
            "examples:\n"
            "  skfmnist train\n"
            "  skfmnist train --hidden 128 64 --epochs 20 --seed 0\n"
            "  skfmnist train --sample --epochs 3 --out /tmp/report"
        ),
    )
    _add_model_options(train, hidden=True)
    _add_data_options(train)
    _add_verbosity_options(train)
    train.set_defaults(func=_cmd_train)

    experiments = commands.add_parser(
        "experiments",
        formatter_class=_HelpFormatter,
        help="reproduce the six models of the original notebook",
        description=(
            "Reproduce the notebook's six models with its seeds and epochs, "
            "print their test\naccuracies next to the reported ones, and "
            "write experiments.csv and\nexperiments.png to --out."
        ),
        epilog=_experiments_epilog(),
    )
    experiments.add_argument(
        "--epochs-scale", metavar="F", type=_positive_float, default=1.0,
        help="multiply every model's epochs by F, for a quicker run (at least "
        "1 epoch, 2 for the sweep; default: 1)",
    )
    _add_data_options(experiments)
    _add_verbosity_options(experiments)
    experiments.set_defaults(func=_cmd_experiments)

    search = commands.add_parser(
        "search",
        formatter_class=_HelpFormatter,
        help="grid-search the hidden layer sizes with cross-validation",
        description=(
            "Cross-validate Pipeline([PixelScaler(), DenseClassifier()]) for "
            "each candidate\nhidden_layer_sizes with GridSearchCV, print the "
            "ranked results and the best\nmodel's test accuracy, and write "
            "search.csv to --out."
        ),
        epilog=(
            "examples:\n"
            "  skfmnist search\n"
            "  skfmnist search --hidden-grid 128 256,128 20,20,20 --cv 3 "
            "--n-jobs 2\n"
            "  skfmnist search --sample --epochs 2 --hidden-grid 32 64,32 --cv 2"
        ),
    )
    search.add_argument(
        "--hidden-grid", metavar="SIZES", nargs="+", type=_layer_sizes,
        default=[_layer_sizes(text) for text in DEFAULT_HIDDEN_GRID],
        help="candidate hidden layer sizes, each a comma-separated list "
        f"(default: {' '.join(DEFAULT_HIDDEN_GRID)})",
    )
    search.add_argument(
        "--cv", metavar="K", type=_cv_folds, default=3,
        help="number of cross-validation folds (default: 3)",
    )
    search.add_argument(
        "--n-jobs", metavar="N", type=_n_jobs, default=None,
        help="parallel fits, -1 for all cores (default: 1)",
    )
    _add_model_options(search, hidden=False)
    _add_data_options(search)
    _add_verbosity_options(search)
    search.set_defaults(func=_cmd_search)
    return parser


# -- shared steps ----------------------------------------------------------------


class _Console:
    """Print according to the verbosity level; warnings and errors to stderr."""

    def __init__(self, verbosity):
        self.verbosity = verbosity

    def info(self, message):
        """Progress and context, hidden by --quiet."""
        if self.verbosity >= NORMAL:
            print(message, flush=True)

    def detail(self, message):
        """Details shown with --verbose only."""
        if self.verbosity >= VERBOSE:
            print(message, flush=True)

    def result(self, message=""):
        """The final summary, always shown."""
        print(message, flush=True)

    def warn(self, message):
        sys.stdout.flush()
        print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def _first_line(exc):
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _prepare_out(out):
    """Create the output folder and check that it can be written to."""
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        reason = exc.strerror or _first_line(exc)
        raise CommandError(
            f"cannot write to the output folder {out}: {reason}"
        ) from None
    return out


class _Data:
    """Training and test split of the data, and where they came from."""

    def __init__(self, train, test, source):
        self.X, self.y = train.data, train.target
        self.X_test, self.y_test = test.data, test.target
        self.source = source

    @property
    def label(self):
        return "full Fashion-MNIST" if self.source == "full" else "bundled sample"

    def describe(self):
        return (
            f"{self.label}, {len(self.y):,} training and {len(self.y_test):,} "
            "test images"
        )


def _load_data(args, console):
    """The full data, or the bundled sample (asked for, or as a fallback).

    The loader's own messages (download progress, failed attempts) show with
    --verbose only, so that a failure reads as one line otherwise.
    """
    if not args.sample:
        verbose = console.verbosity >= VERBOSE
        try:
            train, test = (
                fetch_fashion_mnist(
                    subset=subset, data_home=args.data_home, verbose=verbose
                )
                for subset in ("train", "test")
            )
            return _Data(train, test, "full")
        except OSError as exc:
            if verbose:
                print(str(exc), file=sys.stderr, flush=True)
                hint = ""
            else:
                hint = "; run with --verbose for why and how to get it"
            if args.no_fallback:
                raise CommandError(
                    f"cannot load the full Fashion-MNIST data "
                    f"({_first_line(exc)}){hint}"
                ) from None
            console.warn(
                f"cannot find or download the full Fashion-MNIST data "
                f"({_first_line(exc)}); falling back to the bundled sample{hint}"
            )
    return _Data(load_sample(subset="train"), load_sample(subset="test"), "sample")


def _model_params(args):
    """DenseClassifier parameters the user set; the rest keep their defaults."""
    options = {
        "hidden_layer_sizes": getattr(args, "hidden", None),
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "random_state": args.seed,
    }
    params = {name: value for name, value in options.items() if value is not None}
    if "hidden_layer_sizes" in params:
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return params


def _pipeline(params):
    """``Pipeline([("scale", PixelScaler()), ("clf", DenseClassifier(...))])``."""
    from sklearn.pipeline import Pipeline

    from ._dense import DenseClassifier  # imports TensorFlow
    from ._scaler import PixelScaler

    return Pipeline([("scale", PixelScaler()), ("clf", DenseClassifier(**params))])


def _describe(params):
    """``DenseClassifier(epochs=3)``: the classifier with the options set."""
    text = ", ".join(f"{name}={value!r}" for name, value in params.items())
    return f"DenseClassifier({text})"


def _plural(count, noun):
    return f"{count} {noun}{'s' * (count != 1)}"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(figure, path):
    # The plotting helpers lay figures out themselves ("constrained").
    figure.savefig(path, dpi=100, bbox_inches="tight")
    _pyplot().close(figure)


def _jsonable(value):
    """Parameters as JSON values: tuples to lists, NumPy scalars to Python."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):
        return value.item()
    return repr(value)


# -- commands --------------------------------------------------------------------


def _cmd_train(args):
    console = _Console(args.verbosity)
    out = _prepare_out(args.out)
    data = _load_data(args, console)
    console.info(f"Data: {data.describe()}")
    params = _model_params(args)
    pipe = _pipeline({**params, "verbose": 0 if args.verbosity == QUIET else 1})
    console.info(f"Training {_describe(params)}")
    console.detail(f"Parameters: {pipe[-1].get_params()}")

    start = time.perf_counter()
    pipe.fit(data.X, data.y)
    fit_time = time.perf_counter() - start
    clf = pipe[-1]
    console.info(f"Trained {_plural(clf.n_iter_, 'epoch')} in {fit_time:.1f} s")

    from sklearn.metrics import accuracy_score, classification_report

    y_pred = pipe.predict(data.X_test)
    accuracy = float(accuracy_score(data.y_test, y_pred))
    report_options = dict(
        labels=list(range(len(CLASS_NAMES))),
        target_names=list(CLASS_NAMES),
        zero_division=0,
    )
    report = classification_report(data.y_test, y_pred, digits=3, **report_options)
    scores = classification_report(
        data.y_test, y_pred, output_dict=True, **report_options
    )
    n_right = int((y_pred == data.y_test).sum())
    console.result(
        f"Test accuracy: {accuracy:.4f} ({n_right:,} of {len(data.y_test):,} test "
        f"images, {data.label})"
    )
    console.result()
    console.result(report.rstrip())

    import joblib

    _pyplot()  # selects the Agg backend before the plotting helpers draw
    from .plotting import plot_confusion_matrix, plot_history, plot_predictions

    joblib.dump(pipe, out / "model.joblib")
    clf.history_.to_csv(out / "history.csv", index_label="epoch")
    axes = plot_history(pipe)
    _save_figure(axes.flat[0].figure, out / "history.png")
    display = plot_confusion_matrix(pipe, data.X_test, data.y_test)
    _save_figure(display.figure_, out / "confusion_matrix.png")
    axes = plot_predictions(
        pipe, data.X_test, data.y_test, n=15, random_state=params.get("random_state", 0)
    )
    _save_figure(axes.flat[0].figure, out / "predictions.png")

    metrics = {
        "accuracy": accuracy,
        "per_class": {name: _counts(scores[name]) for name in CLASS_NAMES},
        "macro_avg": _counts(scores["macro avg"]),
        "weighted_avg": _counts(scores["weighted avg"]),
        "fit_time_s": fit_time,
        "epochs_run": int(clf.n_iter_),
        "data_source": data.source,
        "n_train": int(len(data.y)),
        "n_test": int(len(data.y_test)),
        "parameters": _jsonable(clf.get_params()),
        "options_set": _jsonable(params),
        "versions": _versions(),
    }
    with open(out / "metrics.json", "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    for name in TRAIN_FILES:
        console.detail(f"  wrote {out / name}")
    console.result(f"\nWrote {', '.join(TRAIN_FILES)} to {out.resolve()}")
    return 0


def _counts(scores):
    """A classification_report entry with its support as an integer."""
    return {**scores, "support": int(scores["support"])}


def _versions():
    import keras
    import sklearn

    return {
        "skfmnist": __version__,
        "scikit-learn": sklearn.__version__,
        "keras": keras.__version__,
    }


def _text_table(frame, *, left=()):
    """``frame`` as aligned text: columns in ``left`` to the left, others right."""
    columns = [str(column) for column in frame.columns]
    rows = [columns] + [
        [str(value) for value in row] for row in frame.itertuples(index=False)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column in left else cell.rjust(width)
            for cell, width, column in zip(row, widths, columns, strict=True)
        ).rstrip()
        for row in rows
    )


def _format_experiments(results):
    """The experiments table as text, with percentages and the sweep's rate."""
    import pandas as pd

    def percent(value):
        return "-" if pd.isna(value) else f"{value:.1%}"

    table = pd.DataFrame(
        {
            "#": results["experiment"],
            "model": results["model"],
            "epochs": results["epochs"],
            "learning_rate": [
                f"{lr:.2g} (suggested)" if not pd.isna(lr_reported) else f"{lr:g}"
                for lr, lr_reported in zip(
                    results["learning_rate"], results["reported_learning_rate"],
                    strict=True,
                )
            ],
            "accuracy": results["accuracy"].map(percent),
            "reported": [
                f"lr {lr_reported:g}" if pd.isna(reported) else f"{reported:.0%}"
                for reported, lr_reported in zip(
                    results["reported"], results["reported_learning_rate"],
                    strict=True,
                )
            ],
            "time_s": results["fit_time_s"].map(lambda t: f"{t:.1f}"),
        }
    )
    return _text_table(table, left=("model", "learning_rate"))


def _cmd_experiments(args):
    from ._experiments import run_experiments

    console = _Console(args.verbosity)
    out = _prepare_out(args.out)
    data = _load_data(args, console)
    console.info(f"Data: {data.describe()}")
    start = time.perf_counter()
    results, sweep = run_experiments(
        data.X, data.y, data.X_test, data.y_test,
        epochs_scale=args.epochs_scale,
        verbose=1 if args.verbosity >= VERBOSE else 0,
        log=console.info,
    )
    wall_time = time.perf_counter() - start
    console.info("")
    console.result(
        f"Test accuracy of the notebook's models ({data.label}, seed 42):"
    )
    console.result(_format_experiments(results))
    console.result(f"Wall time: {wall_time:.1f} s")

    results.to_csv(out / "experiments.csv", index=False)
    plt = _pyplot()
    from .plotting import plot_experiments, plot_lr_finder

    fits = results[results["accuracy"].notna()]
    figure, (left, right) = plt.subplots(
        1, 2,
        figsize=(13, 2.2 + 0.45 * len(fits)),
        width_ratios=(3, 2),
        layout="constrained",
    )
    labels = fits["experiment"].astype(str) + ": " + fits["model"]
    plot_experiments(fits.assign(model=labels), ax=left)
    if sweep is not None:
        plot_lr_finder(sweep, ax=right)
        right.set_title("Model 3: learning-rate sweep")
    else:
        right.set_axis_off()
    _save_figure(figure, out / "experiments.png")
    console.result(f"Wrote experiments.csv and experiments.png to {out.resolve()}")
    return 0


def _ranked_table(cv_results):
    """``cv_results_`` as a DataFrame sorted by rank (all columns)."""
    import pandas as pd

    frame = pd.DataFrame(cv_results)
    frame["params"] = [
        ", ".join(
            f"{name.split('__')[-1]}={value!r}" for name, value in params.items()
        )
        for params in frame["params"]
    ]
    first = ["rank_test_score", "params", "mean_test_score", "std_test_score"]
    frame = frame[first + [column for column in frame if column not in first]]
    return frame.sort_values(["rank_test_score", "mean_fit_time"]).reset_index(
        drop=True
    )


def _cmd_search(args):
    console = _Console(args.verbosity)
    out = _prepare_out(args.out)
    data = _load_data(args, console)
    console.info(f"Data: {data.describe()}")
    params = _model_params(args)
    pipe = _pipeline({**params, "verbose": 1 if args.verbosity >= VERBOSE else 0})

    import pandas as pd
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        pipe,
        {"clf__hidden_layer_sizes": list(dict.fromkeys(args.hidden_grid))},
        cv=args.cv,
        n_jobs=args.n_jobs,
        verbose=args.verbosity,
        error_score="raise",
    )
    console.info(f"Searching hidden_layer_sizes of {_describe(params)}")
    start = time.perf_counter()
    search.fit(data.X, data.y)
    wall_time = time.perf_counter() - start
    ranked = _ranked_table(search.cv_results_)
    table = pd.DataFrame(
        {
            "rank": ranked["rank_test_score"],
            "params": ranked["params"],
            "mean_accuracy": ranked["mean_test_score"].map("{:.4f}".format),
            "std_accuracy": ranked["std_test_score"].map("{:.4f}".format),
            "mean_fit_time_s": ranked["mean_fit_time"].map("{:.1f}".format),
        }
    )
    test_accuracy = float(search.score(data.X_test, data.y_test))
    console.result(
        f"{args.cv}-fold cross-validated accuracy ({data.label}, "
        f"{len(ranked)} candidates, {wall_time:.1f} s):"
    )
    console.result(_text_table(table, left=("params",)))
    best = search.best_params_["clf__hidden_layer_sizes"]
    console.result(
        f"Best: hidden_layer_sizes={best!r}, test accuracy {test_accuracy:.4f} "
        "(refitted on the whole training set)"
    )
    ranked.to_csv(out / "search.csv", index=False)
    console.result(f"Wrote search.csv to {out.resolve()}")
    return 0


# -- entry point -----------------------------------------------------------------


def _error(message):
    sys.stdout.flush()
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def main(argv=None):
    """Run the ``skfmnist`` command.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0 on success, 1 when the command failed (a one-line message is
        printed to stderr). Bad arguments exit through ``SystemExit(2)`` and
        ``--help`` through ``SystemExit(0)``, as argparse does.

    Examples
    --------
    >>> from skfmnist.cli import main
    >>> status = main(["--version"])
    skfmnist ...
    >>> status
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"{PROG} {__version__}")
        return 0
    if args.command is None:
        parser.error("a command is required: train, experiments or search")
    # TensorFlow warns about "retracing" when several models train in one
    # process (experiments, search); that is expected here, so only --verbose
    # shows its warnings.
    tf_logger = logging.getLogger("tensorflow")
    tf_level = tf_logger.level
    if args.verbosity < VERBOSE:
        tf_logger.setLevel(logging.ERROR)
    try:
        return args.func(args)
    except CommandError as exc:
        _error(str(exc))
    except OSError as exc:
        if args.verbosity >= VERBOSE and "\n" in str(exc).strip():
            print(str(exc), file=sys.stderr)
        _error(_first_line(exc))
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    finally:
        tf_logger.setLevel(tf_level)
    return 1
