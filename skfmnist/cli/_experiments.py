"""``skfmnist experiments``: the notebook's models next to its figures, and a CNN."""

import time

from ..report import check_output_folder
from ._args import (
    VERBOSE,
    add_data_options,
    add_verbosity_options,
    positive_float,
)
from ._console import Console, text_table
from ._data import load_data
from ._notebook import EXPERIMENTS, SWEEP_MAX_LR, SWEEP_MIN_LR, conv_defaults

NAME = "experiments"
HELP = "reproduce the six models of the original notebook, and a CNN"
DESCRIPTION = """\
Reproduce the notebook's six models with its seeds and epochs (and model 7,
the CNN it suggests next), print their test accuracies next to the reported
ones, and write experiments.csv and experiments.png to --out."""


def _epilog():
    """The ``--help`` epilog: the models, their epochs and outcome."""
    lines = ["the notebook's models (seed 42, Adam, batch 32, no dropout):"]
    for exp in EXPERIMENTS:
        if exp.classifier == "conv":
            epochs, rate = conv_defaults()
            exp = exp._replace(epochs=epochs)
            outcome = f"ConvClassifier's defaults (lr {rate:g}), not run there"
        elif exp.sweep:
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
        "  skfmnist experiments",
        "  skfmnist experiments --sample --epochs-scale 0.1   # a quick check",
    ]
    return "\n".join(lines)


EPILOG = _epilog()


def format_experiments(results):
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
                "-" if pd.isna(reported) and pd.isna(lr_reported)
                else f"lr {lr_reported:g}" if pd.isna(reported)
                else f"{reported:.0%}"
                for reported, lr_reported in zip(
                    results["reported"], results["reported_learning_rate"],
                    strict=True,
                )
            ],
            "time_s": results["fit_time_s"].map(lambda t: f"{t:.1f}"),
        }
    )
    return text_table(table, left=("model", "learning_rate"))


def _save_figure(results, sweep, path):
    """Accuracies next to the reported ones, and the sweep's loss curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import plot_experiments, plot_lr_finder

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
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def run(args):
    from ._notebook import run_experiments

    console = Console(args.verbosity)
    out = check_output_folder(args.out)
    data = load_data(args, console)
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
    console.result(format_experiments(results))
    console.result(f"Wall time: {wall_time:.1f} s")
    results.to_csv(out / "experiments.csv", index=False)
    _save_figure(results, sweep, out / "experiments.png")
    console.result(f"Wrote experiments.csv and experiments.png to {out.resolve()}")
    return 0


def add_arguments(parser):
    """The options of ``skfmnist experiments``."""
    parser.add_argument(
        "--epochs-scale", metavar="F", type=positive_float, default=1.0,
        help="multiply every model's epochs by F, for a quicker run (at least "
        "1 epoch, 2 for the sweep; default: 1)",
    )
    add_data_options(parser)
    add_verbosity_options(parser)
