"""The ``skfmnist`` command: train, reproduce the notebook, search layer sizes,
predict with a saved model.

A thin layer over the package's API, built with :mod:`argparse`; each command
lives in its own module of this package (``_train``, ``_experiments``,
``_search``, ``_predict``, ``_export``), sharing the option groups of
``_args``, the output of ``_console`` and the data loading of ``_data``; the
report ``train`` writes comes from :mod:`skfmnist.report`. Importing this
module does not import TensorFlow (a command imports it when it runs), so
``skfmnist --help`` answers at once.

Output is written for logs as well as terminals: one plain line per epoch
when stdout is not a terminal, Keras' progress bar on a terminal or with
``--verbose``.

Exit status: 0 on success, 2 for bad arguments (as argparse does), 1 for
runtime errors (data that cannot be loaded with ``--no-fallback``, an output
folder that cannot be written), each with a one-line ``skfmnist: error: ...``
on stderr, and 130 when interrupted with Ctrl-C. ``predict`` also exits with 2,
and one line naming the file, for an input, labels or model file it cannot use.
"""

import argparse
import logging
import sys

from .. import __version__
from ._args import (
    FIT_VERBOSE_HELP,
    VERBOSE,
    HelpFormatter,
    add_data_options,
    add_model_options,
    add_verbosity_options,
    cv_folds,
    layer_sizes,
    n_jobs,
    positive_float,
)
from ._cluster import scheduler
from ._console import PROG, CommandError, error, first_line
from ._experiments import cmd_experiments, experiments_epilog
from ._export import add_export_options, cmd_export
from ._predict import add_predict_options, cmd_predict
from ._search import DEFAULT_FILTERS_GRID, DEFAULT_HIDDEN_GRID, cmd_search
from ._train import add_train_options, cmd_train

__all__ = ["build_parser", "main"]

#: Exit status after Ctrl-C, as shells report a process ended by SIGINT.
EXIT_INTERRUPTED = 130


def _add_command(commands, name, func, **texts):
    """Add the command ``name``, which ``func(args)`` runs, and return its parser.

    ``texts`` are its ``help``, ``description`` and ``epilog``. The caller adds
    the command's own options; :func:`build_parser` then adds the data and
    verbosity options every command has.
    """
    parser = commands.add_parser(name, formatter_class=HelpFormatter, **texts)
    parser.set_defaults(func=func)
    return parser


def _add_train(commands):
    train = _add_command(
        commands, "train", cmd_train,
        help="fit a classifier, evaluate it and write a report",
        description=(
            "Fit Pipeline([PixelScaler(), DenseClassifier()]) (or ConvClassifier "
            "with\n--model conv) on the Fashion-MNIST training set (less a "
            "held-out part for\nthe curves), print its test accuracy and "
            "classification\nreport, and write to --out (see "
            "skfmnist.report.write_report):\n"
            "  metrics.json, history.csv, history.png, confusion_matrix.png,\n"
            "  predictions.png and the fitted pipeline, model.skops (load it with\n"
            "  skfmnist.load, or run it with skfmnist predict).\n"
            "Prints one line per epoch, or Keras' progress bar on a terminal."
        ),
        epilog=(
            "examples:\n"
            "  skfmnist train\n"
            "  skfmnist train --hidden 128 64 --epochs 20 --seed 0\n"
            "  skfmnist train --model conv        # the CNN, a few minutes\n"
            "  skfmnist train --sample --epochs 3 --out /tmp/report\n"
            "  skfmnist train > train.log        # one plain line per epoch"
        ),
    )
    add_model_options(train, hidden=True)
    add_train_options(train)
    return train


def _add_experiments(commands):
    experiments = _add_command(
        commands, "experiments", cmd_experiments,
        help="reproduce the six models of the original notebook, and a CNN",
        description=(
            "Reproduce the notebook's six models with its seeds and epochs (and "
            "model 7,\nthe CNN it suggests next), "
            "print their test\naccuracies next to the reported ones, and "
            "write experiments.csv and\nexperiments.png to --out."
        ),
        epilog=experiments_epilog(),
    )
    experiments.add_argument(
        "--epochs-scale", metavar="F", type=positive_float, default=1.0,
        help="multiply every model's epochs by F, for a quicker run (at least "
        "1 epoch, 2 for the sweep; default: 1)",
    )
    return experiments


def _add_search(commands):
    search = _add_command(
        commands, "search", cmd_search,
        help="grid-search layer sizes with cross-validation",
        description=(
            "Cross-validate Pipeline([PixelScaler(), DenseClassifier()]) for "
            "each candidate\nhidden_layer_sizes (ConvClassifier and its filters "
            "with --model conv) with\nGridSearchCV, print the "
            "ranked results and the best\nmodel's test accuracy, and write "
            "search.csv to --out."
        ),
        epilog=(
            "examples:\n"
            "  skfmnist search\n"
            "  skfmnist search --hidden-grid 128 256,128 20,20,20 --cv 3 "
            "--n-jobs 2\n"
            "  skfmnist search --sample --epochs 2 --hidden-grid 32 64,32 --cv 2\n"
            "  skfmnist search --model conv --filters-grid 16,32 32,64\n"
            "  skfmnist search --scheduler local:2      # on a Dask cluster"
        ),
    )
    search.add_argument(
        "--hidden-grid", metavar="SIZES", nargs="+", type=layer_sizes,
        default=[layer_sizes(text) for text in DEFAULT_HIDDEN_GRID],
        help="candidate hidden layer sizes of --model dense, each a "
        f"comma-separated list (default: {' '.join(DEFAULT_HIDDEN_GRID)})",
    )
    search.add_argument(
        "--filters-grid", metavar="SIZES", nargs="+", type=layer_sizes,
        default=[layer_sizes(text) for text in DEFAULT_FILTERS_GRID],
        help="candidate filters of --model conv, one count per convolutional "
        f"block (default: {' '.join(DEFAULT_FILTERS_GRID)})",
    )
    search.add_argument(
        "--cv", metavar="K", type=cv_folds, default=3,
        help="number of cross-validation folds (default: 3)",
    )
    search.add_argument(
        "--n-jobs", metavar="N", type=n_jobs, default=None,
        help="parallel fits, -1 for all cores (default: 1)",
    )
    search.add_argument(
        "--scheduler", metavar="WHERE", type=scheduler, default=None,
        help="run the fits on a Dask cluster (needs skfmnist[dask]; --n-jobs "
        "is then ignored): local (one worker per core), local:N (N workers) "
        "or the address of a running scheduler, e.g. tcp://host:8786",
    )
    add_model_options(search, hidden=False)
    return search


def _add_predict(commands):
    predict = _add_command(
        commands, "predict", cmd_predict,
        help="classify images with a saved model, write a CSV",
        description=(
            "Predict the class of each image with a fitted pipeline saved by "
            "skfmnist.save,\nand write one CSV row per image: its source (the "
            "file, or file[index] for a\nrow of an IDX or .npy file), the "
            "predicted label and class name, and the\nprobability of each class "
            "(or of the --top K classes).\n"
            "PNG and JPEG images are converted to grayscale and resized to "
            "28 x 28 (Pillow,\nLanczos filter). Fashion-MNIST shows light "
            "garments on black: photos of dark\ngarments on a light background "
            "need --invert.\n"
            "A file that cannot be used ends the command with exit status 2, "
            "and no output\nfile."
        ),
        epilog=(
            "examples:\n"
            "  skfmnist predict model.skops t10k-images-idx3-ubyte.gz "
            "-o predictions.csv\n"
            "  skfmnist predict model.skops t10k-images-idx3-ubyte.gz \\\n"
            "      --labels t10k-labels-idx1-ubyte.gz -o predictions.csv\n"
            "  skfmnist predict model.skops photos/ --invert --top 3\n"
            "  skfmnist predict model.skops shoe.png images.npy > predictions.csv"
        ),
    )
    add_predict_options(predict)
    return predict


def _add_export(commands):
    export = _add_command(
        commands, "export", cmd_export,
        help="write a saved model as an ONNX file, to serve without TensorFlow",
        description=(
            "Export a fitted pipeline saved by skfmnist.save (or skfmnist train) "
            "to ONNX\n(skfmnist.onnx.to_onnx): the scaler, the network and the "
            "class labels in one\ngraph, run by ONNX Runtime alone, "
            "e.g. with skfmnist predict model.onnx.\nThe export is checked on "
            "the bundled sample images unless --no-check.\n"
            "Needs skfmnist[onnx] (onnx, skl2onnx, onnxruntime)."
        ),
        epilog=(
            "examples:\n"
            "  skfmnist export model.skops                 # writes model.onnx\n"
            "  skfmnist export model.skops -o served/fmnist.onnx\n"
            "  skfmnist predict model.onnx t10k-images-idx3-ubyte.gz"
        ),
    )
    add_export_options(export)
    add_verbosity_options(
        export, quiet_help="print only the file written",
        verbose_help="print as much as without --quiet",
    )
    return export


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
    >>> args.validation_fraction
    0.1
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
            "  skfmnist predict model.skops photos/ -o predictions.csv\n"
            "  skfmnist train --help                # the options of a command"
        ),
        formatter_class=HelpFormatter,
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
    # Only train prints epochs; the options all commands share come last.
    for add_command, per_epoch in (
        (_add_train, True), (_add_experiments, False), (_add_search, False)
    ):
        command = add_command(commands)
        add_data_options(command)
        add_verbosity_options(command, verbose_help=FIT_VERBOSE_HELP[per_epoch])
    # predict reads only the files it is given: no data options.
    _add_predict(commands)
    _add_export(commands)
    return parser


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
        printed to stderr), 130 when interrupted with Ctrl-C. Bad arguments
        exit through ``SystemExit(2)`` and ``--help`` through
        ``SystemExit(0)``, as argparse does.

    Examples
    --------
    >>> from skfmnist.cli import main
    >>> status = main(["--version"])
    skfmnist ...
    >>> status
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in the report
    if args.version:
        print(f"{PROG} {__version__}")
        return 0
    if args.command is None:
        parser.error(
            "a command is required: train, experiments, search, predict or "
            "export"
        )
    if getattr(args, "hidden", None) and args.model != "dense":
        parser.error("argument --hidden: sets the layers of --model dense only")
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
        error(str(exc))
    except OSError as exc:
        if args.verbosity >= VERBOSE and "\n" in str(exc).strip():
            print(str(exc), file=sys.stderr)
        error(first_line(exc))
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    finally:
        tf_logger.setLevel(tf_level)
    return 1
