"""The ``skfmnist`` command: train, reproduce the notebook, search layer sizes,
predict with a saved model, export it to ONNX.

A thin layer over the package's API, built with :mod:`argparse`. Each command
is one module of this package (``_train``, ``_experiments``, ``_search``,
``_predict``, ``_export``, listed in :data:`COMMANDS`) that holds all of it:
its help texts, its options and what it runs. They share the option groups
of ``_args``, the output of ``_console`` and the data loading of ``_data``;
the report ``train`` writes comes from :mod:`skfmnist.report`. Importing this
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
from . import _experiments, _export, _predict, _search, _train
from ._args import VERBOSE, HelpFormatter
from ._console import PROG, CommandError, error, first_line

__all__ = ["build_parser", "main"]

#: Exit status after Ctrl-C, as shells report a process ended by SIGINT.
EXIT_INTERRUPTED = 130

#: The commands, in the order ``--help`` lists them. Each module holds one
#: command: its ``NAME``, ``HELP`` (one line), ``DESCRIPTION`` and ``EPILOG``
#: (shown as written), ``add_arguments(parser)`` and ``run(args)``, which
#: returns the exit status.
COMMANDS = (_train, _experiments, _search, _predict, _export)


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
    for command in COMMANDS:
        subparser = commands.add_parser(
            command.NAME, help=command.HELP, description=command.DESCRIPTION,
            epilog=command.EPILOG, formatter_class=HelpFormatter,
        )
        command.add_arguments(subparser)
        subparser.set_defaults(func=command.run)
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
        names = [command.NAME for command in COMMANDS]
        parser.error(
            f"a command is required: {', '.join(names[:-1])} or {names[-1]}"
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
