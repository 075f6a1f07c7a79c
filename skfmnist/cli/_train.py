"""``skfmnist train``: fit the default pipeline, evaluate it, write a report."""

import shlex
import time

from ..report import REPORT_FILES, check_output_folder
from ._args import (
    FIT_VERBOSE_HELP,
    add_data_options,
    add_model_options,
    add_verbosity_options,
    fraction,
    model_params,
)
from ._console import Console, plural
from ._data import hold_out, load_data
from ._models import classifier_class, describe, make_pipeline

#: Share of the training images held out for the curves of ``history.png``.
DEFAULT_VALIDATION_FRACTION = 0.1
#: Seed of the held-out split when ``--seed`` is not given.
VALIDATION_SEED = 0

NAME = "train"
HELP = "fit a classifier, evaluate it and write a report"
DESCRIPTION = """\
Fit Pipeline([PixelScaler(), DenseClassifier()]) (or ConvClassifier with
--model conv) on the Fashion-MNIST training set (less a held-out part for
the curves), print its test accuracy and classification report, and write
to --out (see skfmnist.report.write_report):
  metrics.json, history.csv, history.png, confusion_matrix.png,
  predictions.png and the fitted pipeline, model.skops (load it with
  skfmnist.load, or run it with skfmnist predict).
Prints one line per epoch, or Keras' progress bar on a terminal."""
EPILOG = """\
examples:
  skfmnist train
  skfmnist train --hidden 128 64 --epochs 20 --seed 0
  skfmnist train --model conv        # the CNN, a few minutes
  skfmnist train --sample --epochs 3 --out /tmp/report
  skfmnist train > train.log        # one plain line per epoch"""


def use_agg():
    """Draw figures off-screen: a command never opens a window."""
    import matplotlib

    matplotlib.use("Agg")


def _training_output(console, params, model):
    """``verbose`` and ``callbacks`` of the classifier for this console."""
    if console.progress_bars:
        return {"verbose": 1}
    if console.epoch_lines:
        from ._progress import EpochLines  # imports Keras

        epochs = params.get("epochs", classifier_class(model)().epochs)
        return {"verbose": 0, "callbacks": [EpochLines(epochs, write=console.info)]}
    return {"verbose": 0}


def _held_out_summary(history):
    """``"held-out loss 0.31 (best 0.30 at epoch 28), accuracy 0.89"``."""
    if "val_loss" not in history.columns:
        return None
    last = history.iloc[-1]
    best = int(history["val_loss"].to_numpy().argmin())
    text = f"held-out loss {last['val_loss']:.4f}"
    if best != len(history) - 1:
        text += f" (lowest {history['val_loss'].iloc[best]:.4f} at epoch {best + 1})"
    if "val_accuracy" in history.columns:
        text += f", held-out accuracy {last['val_accuracy']:.4f}"
    return text


def run(args):
    console = Console(args.verbosity)
    out = check_output_folder(args.out)
    start = time.perf_counter()
    data = load_data(args, console)
    load_s = time.perf_counter() - start
    console.info(f"Data: {data.describe()}")

    fraction = args.validation_fraction
    split_seed = VALIDATION_SEED if args.seed is None else args.seed
    X_fit, X_val, y_fit, y_val = hold_out(data.X, data.y, fraction, split_seed)
    if X_val is not None:
        console.info(
            f"Holding out {len(y_val):,} training images ({fraction:.0%}, "
            f"stratified, seed {split_seed}) for the held-out curves; training "
            f"on {len(y_fit):,}"
        )
    params = model_params(args)
    pipe = make_pipeline(
        {**params, **_training_output(console, params, args.model)}, args.model
    )
    console.info(f"Training {describe(params, args.model)}")
    console.detail(f"Parameters: {pipe[-1].get_params()}")

    fit_params = {}
    start = time.perf_counter()
    if X_val is not None:
        from sklearn.base import clone

        # The classifier sees X_val as the pipeline's earlier steps give it X.
        Xt_val = clone(pipe[:-1]).fit(X_fit, y_fit).transform(X_val)
        fit_params = {"clf__X_val": Xt_val, "clf__y_val": y_val}
    pipe.fit(X_fit, y_fit, **fit_params)
    fit_s = time.perf_counter() - start
    # The saved model must not print this command's lines when refitted.
    pipe.set_params(clf__callbacks=None)
    clf = pipe[-1]
    console.info(f"Trained {plural(clf.n_iter_, 'epoch')} in {fit_s:.1f} s")

    use_agg()
    from ..report import write_report

    report = write_report(
        pipe,
        data.X_test,
        data.y_test,
        out,
        data={
            "source": data.source,
            "description": data.label,
            "n_available": len(data.y),
            "n_train": len(y_fit),
            "n_validation": 0 if y_val is None else len(y_val),
            "validation_fraction": fraction,
            "validation_split": None
            if y_val is None
            else f"stratified train_test_split, random_state={split_seed}",
        },
        timings={"load_data": load_s, "fit": fit_s},
        metadata={
            "command": shlex.join(["skfmnist", *args.argv]),
            "options_set": params,
        },
        random_state=params.get("random_state", 0),
    )
    test = report.metrics["test"]
    console.result(
        f"Test accuracy: {report.accuracy:.4f} ({test['n_correct']:,} of "
        f"{test['n_samples']:,} test images, {data.label})"
    )
    held_out = _held_out_summary(clf.history_)
    if held_out:
        console.info(f"Last epoch: {held_out}")
    console.result()
    console.result(report.classification_report.rstrip())
    for path in report.files:
        console.detail(f"  wrote {path}")
    names = [name for name in REPORT_FILES if out / name in report.files]
    console.result(f"\nWrote {', '.join(names)} to {out.resolve()}")
    model = out.resolve() / "model.skops"
    if model in {path.resolve() for path in report.files}:
        console.result(
            f"Load the model with skfmnist.load({str(model)!r}) (a safe file: "
            "loading runs no code from it),\nor predict new images with: "
            f"skfmnist predict {shlex.quote(str(model))} IMAGES..."
        )
    return 0


def add_arguments(parser):
    """The options of ``skfmnist train``."""
    add_model_options(parser, hidden=True)
    group = parser.add_argument_group("report")
    group.add_argument(
        "--validation-fraction", metavar="F", type=fraction,
        default=DEFAULT_VALIDATION_FRACTION,
        help="share of the training images held out (stratified, seeded with "
        f"--seed, else {VALIDATION_SEED}) to draw held-out loss and accuracy "
        "next to the training curves; 0 trains on every training image "
        f"(default: {DEFAULT_VALIDATION_FRACTION})",
    )
    add_data_options(parser)
    add_verbosity_options(parser, verbose_help=FIT_VERBOSE_HELP[True])
