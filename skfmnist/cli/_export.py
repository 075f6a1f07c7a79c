"""``skfmnist export``: a saved model as an ONNX file, for serving without TensorFlow.

The model is a ``.skops`` file written by :func:`skfmnist.save` (``skfmnist
train`` writes one), loaded with :func:`skfmnist.load`; the ONNX file comes
from :func:`skfmnist.onnx.to_onnx`, with the probabilities as a tensor, and
runs on ONNX Runtime alone (``skfmnist predict model.onnx ...``). Unless
``--no-check``, the export is checked on the bundled sample images: the
largest difference between the probabilities of the ONNX model and of the
loaded pipeline, and whether every label is the same.

A model file that cannot be used ends the command with one line naming it and
exit status 2, as ``predict`` does; failing to write the output is a runtime
error (exit status 1), and leaves no partial file.
"""

import argparse
from pathlib import Path

from ._args import add_verbosity_options
from ._console import CommandError, Console, error, first_line, plural
from ._predict import BadFileError, load_model

NAME = "export"
HELP = "write a saved model as an ONNX file, to serve without TensorFlow"
DESCRIPTION = """\
Export a fitted pipeline saved by skfmnist.save (or skfmnist train) to ONNX
(skfmnist.onnx.to_onnx): the scaler, the network and the class labels in one
graph, run by ONNX Runtime alone, e.g. with skfmnist predict model.onnx.
The export is checked on the bundled sample images unless --no-check.
Needs skfmnist[onnx] (onnx, skl2onnx, onnxruntime)."""
EPILOG = """\
examples:
  skfmnist export model.skops                 # writes model.onnx
  skfmnist export model.skops -o served/fmnist.onnx
  skfmnist predict model.onnx t10k-images-idx3-ubyte.gz"""

#: Exit status when the model file cannot be used.
EXIT_BAD_FILE = 2
#: Largest difference of probabilities the check accepts silently.
CHECK_TOLERANCE = 1e-5
# skfmnist.onnx's DEFAULT_OPSET and MIN_OPSET (tests check they agree), here
# so that building the parser does not import skl2onnx.
DEFAULT_OPSET = 18
MIN_OPSET = 13


def skops_file(text):
    """The MODEL argument: a ``.skops`` file."""
    path = Path(text)
    if path.suffix.lower() != ".skops":
        raise argparse.ArgumentTypeError(
            f"{text}: expected a .skops file written by skfmnist.save (or "
            "skfmnist train)"
        )
    return path


def opset(text):
    """The ``--opset`` value: an integer of at least 13."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < MIN_OPSET:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_OPSET}, got {value}")
    return value


def _check(model, onnx_model):
    """``(n_images, max_abs_diff, n_same_labels)`` on the bundled sample."""
    import numpy as np

    from ..datasets import load_sample
    from ..onnx import OnnxModel

    X = load_sample(subset="test").images
    if getattr(model, "n_features_in_", X[0].size) != X[0].size:
        return None
    served = OnnxModel(onnx_model)
    proba = served.predict_proba(X)
    expected = model.predict_proba(X)
    labels = np.asarray(model.classes_)[expected.argmax(axis=1)]
    same = int(np.sum(served.predict(X) == labels))
    return len(X), float(np.abs(proba - expected).max()), same


def _export(args, console):
    try:
        from ..onnx import to_onnx
        from ..onnx._convert import _skl2onnx

        _skl2onnx()
    except ImportError as exc:
        raise CommandError(first_line(exc)) from None
    output = args.output or args.model.with_suffix(".onnx")
    console.info(f"Loading {args.model}")
    model = load_model(args.model)
    try:
        onnx_model = to_onnx(model, target_opset=args.opset)
    except Exception as exc:
        raise BadFileError(f"{args.model}: cannot export the model to ONNX: "
                           f"{first_line(exc)}") from None
    if not args.no_check:
        checked = _check(model, onnx_model)
        if checked is None:
            console.info("Not checked: the model does not take 28 x 28 images.")
        else:
            n, diff, same = checked
            line = (f"Checked on {plural(n, 'sample image')}: largest difference "
                    f"of probabilities {diff:.1e}, {same:,} of {n:,} labels the same")
            if diff > CHECK_TOLERANCE or same != n:
                console.warn(line + " (expected differences of about 1e-7)")
            else:
                console.info(line)
    from ..onnx._convert import _write

    try:
        _write(onnx_model, output)
    except OSError as exc:
        raise CommandError(
            f"cannot write {output}: {exc.strerror or first_line(exc)}"
        ) from None
    inputs = ", ".join(
        f"{value.name} ({_type_text(value)})" for value in onnx_model.graph.input
    )
    size = output.stat().st_size
    console.result(
        f"Wrote {output} ({size / 1024:,.0f} KiB, opset {args.opset}): input "
        f"{inputs}; outputs label and probabilities.\n"
        f"Run it without TensorFlow: skfmnist predict {output} IMAGES..."
    )
    return 0


def _type_text(value):
    """``uint8 [N, 784]``: the element type and shape of a graph input."""
    from onnx import helper

    tensor = value.type.tensor_type
    dims = [d.dim_param or (str(d.dim_value) if d.dim_value else "N")
            for d in tensor.shape.dim]
    name = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    return f"{name} [{', '.join(dims)}]"


def run(args):
    console = Console(args.verbosity)
    try:
        return _export(args, console)
    except BadFileError as exc:
        error(str(exc))
        return EXIT_BAD_FILE


def add_arguments(parser):
    """The arguments and options of ``skfmnist export``."""
    parser.add_argument(
        "model", metavar="MODEL", type=skops_file,
        help="the fitted pipeline, a .skops file written by skfmnist.save or "
        "skfmnist train",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", type=Path, default=None,
        help="the ONNX file to write (default: MODEL with the suffix .onnx)",
    )
    parser.add_argument(
        "--opset", metavar="N", type=opset, default=DEFAULT_OPSET,
        help=f"ONNX opset of the graph, 13 or later (default: {DEFAULT_OPSET}; "
        "ONNX Runtime 1.14 and later run it)",
    )
    parser.add_argument(
        "--no-check", action="store_true",
        help="do not compare the ONNX model's predictions with the pipeline's "
        "on the bundled sample images",
    )
    add_verbosity_options(
        parser, quiet_help="print only the file written",
        verbose_help="print as much as without --quiet",
    )
