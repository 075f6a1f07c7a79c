"""Argument types and option groups shared by the ``skfmnist`` commands.

Each type turns one command-line string into a checked value or raises
``argparse.ArgumentTypeError`` with a message that names the problem, which
argparse prints as ``skfmnist COMMAND: error: argument --x: ...`` (exit 2).
"""

import argparse
import math
from pathlib import Path

#: Default output folder of every command, relative to the working directory.
DEFAULT_OUT = "skfmnist-report"
# Verbosity levels of the --quiet / --verbose options.
QUIET, NORMAL, VERBOSE = 0, 1, 2


def _number_type(doc, convert, expected, accept, refusal):
    """An argument type: ``convert`` the text, then check it with ``accept``.

    A text ``convert`` cannot read gives "expected EXPECTED, got 'TEXT'"; a
    value ``accept`` refuses gives ``refusal``, formatted with ``value`` and
    ``text``.
    """

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {expected}, got {text!r}"
            ) from None
        if not accept(value):
            raise argparse.ArgumentTypeError(refusal.format(value=value, text=text))
        return value

    parse.__doc__ = doc
    return parse


positive_int = _number_type(
    "An integer of at least 1.",
    int, "a positive integer",
    lambda value: value >= 1, "must be at least 1, got {value}",
)
n_jobs = _number_type(
    "A joblib ``n_jobs``: a non-zero integer, -1 for all cores.",
    int, "an integer (-1 for all cores)",
    lambda value: value != 0, "must not be 0 (use 1, 2, ... or -1)",
)
positive_float = _number_type(
    "A finite number above 0.",
    float, "a positive number",
    lambda value: math.isfinite(value) and value > 0,
    "must be a positive number, got {text}",
)
seed = _number_type(
    "A random seed NumPy accepts: an integer in [0, 2**32).",
    int, "an integer seed",
    lambda value: 0 <= value < 2**32, "must be in [0, 2**32), got {value}",
)
fraction = _number_type(
    "A fraction in [0, 1): 0 turns the feature off.",
    float, "a number in [0, 1)",
    lambda value: 0 <= value < 1, "must be in [0, 1), got {text}",
)


def cv_folds(text):
    """A number of cross-validation folds (at least 2)."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 folds, got {value}")
    return value


def layer_sizes(text):
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


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the line breaks of descriptions and epilogs (the examples)."""


def add_data_options(parser):
    """``--sample``, ``--no-fallback``, ``--data-home`` and ``--out``."""
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


def add_model_options(parser, *, hidden):
    """``--model`` and the classifier options a command exposes."""
    group = parser.add_argument_group(
        "model", "Options left out keep the classifier's defaults."
    )
    group.add_argument(
        "--model", choices=("dense", "conv"), default="dense",
        help="dense: DenseClassifier, the notebook's MLP; conv: ConvClassifier, "
        "a small CNN, slower and more accurate (default: dense)",
    )
    if hidden:
        group.add_argument(
            "--hidden", metavar="N", nargs="+", type=positive_int,
            help="units of each hidden layer of --model dense, e.g. --hidden 128 64",
        )
    group.add_argument(
        "--epochs", metavar="N", type=positive_int, help="training epochs"
    )
    group.add_argument(
        "--learning-rate", metavar="LR", type=positive_float,
        help="initial learning rate of Adam",
    )
    group.add_argument(
        "--batch-size", metavar="B", type=positive_int,
        help="samples per gradient step",
    )
    group.add_argument(
        "--seed", metavar="S", type=seed,
        help="random seed (random_state), for reproducible results",
    )


#: Help of ``--verbose`` for the commands that fit, by whether they print epochs.
FIT_VERBOSE_HELP = {
    True: "show Keras' progress bar for every epoch (also when the output is "
    "not a terminal), and more details",
    False: "show Keras' progress bar for every fit, and more details",
}


def add_verbosity_options(parser, *, quiet_help="print only the final summary",
                          verbose_help=FIT_VERBOSE_HELP[False]):
    """``--quiet`` / ``--verbose``, with the command's own help texts."""
    group = parser.add_argument_group("output verbosity")
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument(
        "-q", "--quiet", action="store_const", dest="verbosity", const=QUIET,
        default=NORMAL, help=quiet_help,
    )
    exclusive.add_argument(
        "-v", "--verbose", action="store_const", dest="verbosity", const=VERBOSE,
        help=verbose_help,
    )


def model_params(args):
    """Classifier parameters the user set; the rest keep their defaults."""
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
