"""``skfmnist predict``: classify images with a saved model, write a CSV.

The model is a whole fitted pipeline (``PixelScaler`` and a classifier, as
``skfmnist train`` fits), so it is given raw pixels: uint8 images of shape
``(n, 28, 28)``, light garments on a black background as in Fashion-MNIST.
The inputs are read into that form:

* IDX images files (``t10k-images-idx3-ubyte.gz``, raw or gzip) and ``.npy``
  files of shape ``(n, 28, 28)`` or ``(n, 784)``, or one ``(28, 28)`` image,
  with pixel values in 0..255; their rows are named ``file[index]``;
* PNG and JPEG images, turned upright as their EXIF orientation says, converted
  to grayscale (Pillow's ``convert("L")``, alpha dropped) and, unless they are
  28 x 28 already, resized to 28 x 28 with Pillow's Lanczos filter
  (``Image.Resampling.LANCZOS``), stretched if they are not square: crop them
  to a square first for the best results;
* folders, read as their PNG, JPEG, ``.npy`` and IDX images files
  (``*idx3-ubyte``, ``*.idx``, each possibly ``.gz``) in sorted order, not
  recursively; other entries are ignored, and listed in one line.

Which file format a model is read from is decided by its suffix, in
:data:`MODEL_LOADERS` only.

A file that cannot be used (an input, the labels or the model) ends the
command with one line naming it and exit status 2, as for bad arguments;
failing to write the output is a runtime error (exit status 1). Either way
no partial output file is left: the CSV is written to a temporary file
beside it and renamed into place.
"""

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from ..datasets import load_idx
from ._args import NORMAL, VERBOSE, add_verbosity_options, positive_int
from ._console import CommandError, Console, error, first_line, plural, text_table

NAME = "predict"
HELP = "classify images with a saved model, write a CSV"
DESCRIPTION = """\
Predict the class of each image with a fitted pipeline saved by skfmnist.save,
and write one CSV row per image: its source (the file, or file[index] for a
row of an IDX or .npy file), the predicted label and class name, and the
probability of each class (or of the --top K classes).
PNG and JPEG images are converted to grayscale and resized to 28 x 28 (Pillow,
Lanczos filter). Fashion-MNIST shows light garments on black: photos of dark
garments on a light background need --invert.
A file that cannot be used ends the command with exit status 2, and no output
file."""
EPILOG = """\
examples:
  skfmnist predict model.skops t10k-images-idx3-ubyte.gz -o predictions.csv
  skfmnist predict model.skops t10k-images-idx3-ubyte.gz \\
      --labels t10k-labels-idx1-ubyte.gz -o predictions.csv
  skfmnist predict model.skops photos/ --invert --top 3
  skfmnist predict model.skops shoe.png images.npy > predictions.csv"""

#: Exit status when an input, labels or model file cannot be used.
EXIT_BAD_FILE = 2
#: Height and width of the images the models take.
IMAGE_SHAPE = (28, 28)
#: Suffixes of the images read with Pillow (compared in lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Names of the IDX images files taken from a folder (other files given by
#: name are read as IDX whatever their name).
IDX_NAME = re.compile(r"(idx3-ubyte|\.idx)(\.gz)?$", re.IGNORECASE)
#: Rows of the table printed when the CSV goes to a file.
PREVIEW_ROWS = 10
#: Entries named when a folder has some that are not read.
IGNORED_SHOWN = 3


class BadFileError(CommandError):
    """A file ``predict`` cannot use: exit status 2, one line naming the file."""


def _reason(exc, path):
    """What went wrong in ``exc``, in words that do not repeat ``path``."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    name = str(path)
    text = first_line(exc).removeprefix(f"{name}: ")
    if text.startswith(f"{name} "):  # "model.skops is not a skops file"
        text = "the file " + text[len(name) + 1 :]
    return text.replace(f" {name!r}", "")  # "cannot identify image file 'x'"


def _bad_file(path, what, exc):
    """``BadFileError("PATH: WHAT: REASON")``, for ``exc`` about ``path``."""
    return BadFileError(f"{path}: {what}: {_reason(exc, path)}")


# -- models -------------------------------------------------------------------


def _load_skops(path):
    """A model saved with :func:`skfmnist.save` (only trusted types load)."""
    from ..persistence import load

    return load(path)


def _load_onnx(path):
    """A model exported by skfmnist.onnx.to_onnx, run by ONNX Runtime alone."""
    from ..onnx import OnnxModel

    return OnnxModel(path)


#: Model loaders by file suffix, the one place that says which model files
#: ``predict`` reads. A loader returns an object with ``classes_`` and
#: ``predict_proba``, which takes uint8 pixels of shape (n, 28, 28).
MODEL_LOADERS = {".skops": _load_skops, ".onnx": _load_onnx}


def model_file(text):
    """A model file whose suffix has a loader in :data:`MODEL_LOADERS`."""
    path = Path(text)
    if path.suffix.lower() not in MODEL_LOADERS:
        supported = ", ".join(MODEL_LOADERS)
        raise argparse.ArgumentTypeError(
            f"{text}: unsupported model file {path.suffix or 'without suffix'}; "
            f"supported: {supported} (write one with skfmnist.save(model, "
            "'model.skops'); pickle and joblib files are not loaded, as loading "
            "them can run any code)"
        )
    return path


def output_file(text):
    """The ``-o`` file: in an existing folder, and not a folder itself."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder, not a file")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text}: no such folder: {path.parent}"
        )
    return path


def load_model(path):
    """The model in ``path``, read by the loader of its suffix, and checked."""
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "no such file"
        raise BadFileError(f"{path}: {problem}, expected a model file")
    loader = MODEL_LOADERS[path.suffix.lower()]
    try:
        model = loader(path)
    except ImportError as exc:
        raise CommandError(f"cannot load {path}: {first_line(exc)}") from None
    except Exception as exc:  # any failure of a file from anywhere: one line
        types = getattr(exc, "types", None)  # persistence.UntrustedTypesError
        if types:
            raise BadFileError(
                f"{path}: refusing to load the model, which names types that "
                f"are not trusted: {', '.join(types)}; nothing was loaded"
            ) from None
        raise _bad_file(path, "cannot load the model", exc) from None
    if not (hasattr(model, "predict_proba") and hasattr(model, "classes_")):
        raise BadFileError(
            f"{path}: holds a {type(model).__name__}, not a fitted classifier "
            "with predict_proba and classes_"
        )
    return model


def describe_model(model):
    """``"Pipeline(PixelScaler, DenseClassifier)"``, or the class name."""
    steps = getattr(model, "steps", None)
    name = type(model).__name__
    if not steps:
        return name
    return f"{name}({', '.join(type(step).__name__ for _, step in steps)})"


# -- inputs -------------------------------------------------------------------


def input_kind(path, *, in_folder=False):
    """``"image"``, ``"npy"`` or ``"idx"``: how ``path`` is read.

    A file given by name that is neither an image nor ``.npy`` is read as IDX;
    in a folder only IDX-like names are, and others give None (ignored).

    Examples
    --------
    >>> from pathlib import Path
    >>> input_kind(Path("shoe.JPG")), input_kind(Path("x.npy"))
    ('image', 'npy')
    >>> input_kind(Path("t10k-images-idx3-ubyte.gz"), in_folder=True)
    'idx'
    >>> input_kind(Path("notes.txt"), in_folder=True) is None
    True
    """
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix == ".npy":
        return "npy"
    if not in_folder or IDX_NAME.search(path.name):
        return "idx"
    return None


def _folder_files(folder, console):
    """The files of ``folder`` that ``predict`` reads, in sorted order."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise _bad_file(folder, "cannot list the folder", exc) from None
    files, ignored = [], []
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden files, such as .DS_Store
        if entry.is_file() and input_kind(entry, in_folder=True):
            files.append(entry)
        else:
            ignored.append(entry.name + "/" * entry.is_dir())
    if ignored:
        shown = ", ".join(ignored[:IGNORED_SHOWN])
        more = len(ignored) - IGNORED_SHOWN
        noun, verb = ("entry", "is") if len(ignored) == 1 else ("entries", "are")
        console.info(
            f"Ignored {len(ignored)} {noun} of {folder} that {verb} not PNG, JPEG, "
            f".npy or IDX images files: {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    if not files:
        raise BadFileError(
            f"{folder}: no PNG, JPEG, .npy or IDX images file in this folder"
        )
    return files


def as_images(array, path):
    """``array`` of 28 x 28 images as ``(n, 28, 28)``, and whether it was one.

    Raises a :class:`BadFileError` naming ``path`` for any other shape, for
    data that are not numbers, and for pixel values outside 0..255.

    Examples
    --------
    >>> import numpy as np
    >>> images, single = as_images(np.zeros((2, 784), dtype=np.uint8), "x.npy")
    >>> images.shape, single
    ((2, 28, 28), False)
    >>> as_images(np.zeros((28, 28)), "x.npy")[0].shape
    (1, 28, 28)
    >>> as_images(np.zeros((2, 32, 32)), "x.npy")
    Traceback (most recent call last):
    ...
    skfmnist.cli._predict.BadFileError: x.npy: expected 28 x 28 images, ...
    """
    height, width = IMAGE_SHAPE
    shape, single = array.shape, False
    if shape == IMAGE_SHAPE:
        array, single = array[np.newaxis], True
    elif array.ndim == 2 and shape[1] == height * width:
        array = array.reshape(-1, height, width)
    elif array.ndim != 3 or shape[1:] != IMAGE_SHAPE:
        raise BadFileError(
            f"{path}: expected 28 x 28 images, of shape (n, 28, 28) or (n, 784), "
            f"or one image of shape (28, 28); got shape {shape}"
        )
    if array.dtype.kind not in "uif":
        raise BadFileError(
            f"{path}: expected pixel values (numbers), got data of type "
            f"{array.dtype}"
        )
    if array.size and not (
        np.isfinite(array).all() and array.min() >= 0 and array.max() <= 255
    ):
        raise BadFileError(
            f"{path}: pixel values must be in 0..255, found values from "
            f"{array.min()} to {array.max()}"
        )
    if array.dtype.kind == "f" and np.array_equal(array, np.round(array)):
        array = array.astype(np.uint8)
    return array, single


def read_image(path):
    """A PNG or JPEG file as a (28, 28) uint8 array: upright, grayscale, resized."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise CommandError(
            f"cannot read {path}: reading PNG and JPEG images needs Pillow "
            "(pip install pillow)"
        ) from None
    try:
        with Image.open(path) as image:
            gray = ImageOps.exif_transpose(image).convert("L")
        if gray.size != IMAGE_SHAPE[::-1]:
            gray = gray.resize(IMAGE_SHAPE[::-1], Image.Resampling.LANCZOS)
        return np.asarray(gray, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _bad_file(path, "cannot read the image", exc) from None


def read_array(path, kind):
    """The images of a ``.npy`` or IDX file, shape (n, 28, 28), and sources."""
    try:
        if kind == "npy":
            array = np.load(path, allow_pickle=False)
            if not isinstance(array, np.ndarray):
                array.close()  # an .npz archive under a .npy name
                raise ValueError("not a .npy file (an .npz archive)")
        else:
            array = load_idx(path)
    except (OSError, ValueError, EOFError) as exc:
        what = "cannot read the .npy file" if kind == "npy" else (
            "cannot read the IDX file"
        )
        raise _bad_file(path, what, exc) from None
    images, single = as_images(array, path)
    if single:
        return images, [str(path)]
    return images, [f"{path}[{index}]" for index in range(len(images))]


def read_inputs(paths, console):
    """Every image of ``paths``, in order: ``(images, sources)``."""
    files = []
    for path in paths:
        if path.is_dir():
            files += _folder_files(path, console)
        elif path.exists():
            files.append(path)
        else:
            raise BadFileError(f"{path}: no such file or folder")
    arrays, sources = [], []
    for path in files:
        kind = input_kind(path)
        if kind == "image":
            images, names = read_image(path)[np.newaxis], [str(path)]
        else:
            images, names = read_array(path, kind)
            if images.dtype.kind == "f" and images.size and images.max() <= 1:
                console.warn(
                    f"{path}: the pixel values are all in [0, 1]; the model "
                    "expects raw pixels in 0..255 (it scales them itself)"
                )
        console.detail(f"  {path}: {plural(len(images), 'image')}")
        arrays.append(images)
        sources += names
    images = np.concatenate(arrays)
    if not len(images):
        names = ", ".join(str(path) for path in paths)
        raise BadFileError(f"{names}: no images to predict (0 images)")
    return images, sources


def read_labels(path, n_images):
    """The labels of ``--labels``: one integer per image of the inputs."""
    try:
        labels = load_idx(path)
    except (OSError, ValueError) as exc:
        raise _bad_file(path, "cannot read the IDX labels file", exc) from None
    if labels.ndim != 1 or labels.dtype.kind not in "ui":
        raise BadFileError(
            f"{path}: expected a labels file, integers of shape (n,); got "
            f"{labels.dtype} of shape {labels.shape}"
        )
    if len(labels) != n_images:
        raise BadFileError(
            f"{path}: {plural(len(labels), 'label')} for {plural(n_images, 'image')}"
            " (the labels must match the images of all inputs, in order)"
        )
    return labels


# -- predictions and output ---------------------------------------------------


def class_names(classes):
    """Display names of ``classes``: Fashion-MNIST's for integer labels 0..9."""
    from ..plotting import _class_name_map

    names = _class_name_map(classes, None)
    return [names[key] for key in np.asarray(classes).tolist()]


def predictions_table(sources, proba, classes, names, top=None):
    """One row per image: source, label, class and the probabilities.

    With ``top``, only the ``top`` most probable classes and their
    probabilities, as ``top1_class, top1_proba, top2_class, ...``; else one
    probability column per class, named by class name.

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.1, 0.7, 0.2]])
    >>> table = predictions_table(["a.png"], proba, np.array([0, 1, 2]),
    ...                           ["T-shirt/top", "Trouser", "Pullover"], top=2)
    >>> print(table.to_csv(index=False), end="")
    source,label,class,top1_class,top1_proba,top2_class,top2_proba
    a.png,1,Trouser,Trouser,0.7,Pullover,0.2
    """
    import pandas as pd

    names = np.asarray(names, dtype=object)
    best = proba.argmax(axis=1)
    columns = {
        "source": sources,
        "label": np.asarray(classes)[best],
        "class": names[best],
    }
    if top is None:
        columns.update(zip(names, proba.T, strict=True))
    else:
        order = np.argsort(-proba, axis=1, kind="stable")[:, :top]
        rows = np.arange(len(proba))
        for rank in range(order.shape[1]):
            columns[f"top{rank + 1}_class"] = names[order[:, rank]]
            columns[f"top{rank + 1}_proba"] = proba[rows, order[:, rank]]
    return pd.DataFrame(columns)


def preview(table, proba, rows=PREVIEW_ROWS):
    """The first ``rows`` rows of ``table`` as text, probabilities rounded."""
    head = table.head(rows)
    if "top1_class" in head.columns:
        shown = head.copy()
        for column in shown.columns:
            if column.endswith("_proba"):
                shown[column] = shown[column].map("{:.3f}".format)
    else:
        shown = head[["source", "label", "class"]].copy()
        shown["proba"] = [f"{value:.3f}" for value in proba[: len(head)].max(axis=1)]
    left = [column for column in shown.columns if column == "source"
            or column.endswith("class")]
    return text_table(shown, left=left)


def write_atomically(path, text):
    """Write ``text`` to ``path`` via a temporary file renamed into place."""
    from ..datasets._fetch import _atomic_open

    try:
        with _atomic_open(path) as f:
            f.write(text.encode("utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {_reason(exc, path)}") from None


class _Messages(Console):
    """A :class:`Console` writing to ``stream``: stderr when stdout has the CSV."""

    def __init__(self, verbosity, stream):
        super().__init__(verbosity)
        self.stream = stream

    def _print(self, message):
        print(message, file=self.stream, flush=True)

    def info(self, message):
        if self.verbosity >= NORMAL:
            self._print(message)

    def detail(self, message):
        if self.verbosity >= VERBOSE:
            self._print(message)

    def result(self, message=""):
        self._print(message)


def _accuracy_report(labels, predicted, classes, names, labels_path):
    """The accuracy line and sklearn's classification report, as text.

    The report has a row for each class that occurs in the labels or the
    predictions, named as in the CSV.
    """
    import warnings

    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import classification_report

    known = np.asarray(classes).tolist()
    unknown = sorted(set(np.unique(labels).tolist()) - set(known))
    if unknown:
        raise BadFileError(
            f"{labels_path}: labels {', '.join(map(str, unknown))} are not "
            f"classes of the model ({', '.join(map(str, known))})"
        )
    correct = int(np.sum(predicted == labels))
    present = np.isin(classes, np.union1d(labels, predicted))
    with warnings.catch_warnings():
        # Scores of a class with no image or no prediction are 0, as shown.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        report = classification_report(
            labels, predicted, labels=np.asarray(classes)[present],
            target_names=np.asarray(names, dtype=object)[present].tolist(),
            digits=3, zero_division=0,
        )
    return (
        f"Accuracy: {correct / len(labels):.4f} ({correct:,} of "
        f"{plural(len(labels), 'image')}, labels from {labels_path})\n\n"
        f"{report.rstrip()}"
    )


def _predict(args):
    to_file = args.output is not None
    console = _Messages(args.verbosity, sys.stdout if to_file else sys.stderr)
    images, sources = read_inputs(args.inputs, console)
    labels = None if args.labels is None else read_labels(args.labels, len(images))
    if args.invert:
        images = 255 - images
    console.info(
        f"Images: {len(images):,} from {plural(len(args.inputs), 'input')}"
        + (", inverted" if args.invert else "")
    )
    model = load_model(args.model)
    classes = np.asarray(model.classes_)
    names = class_names(classes)
    console.info(
        f"Model: {args.model}, {describe_model(model)}, {len(classes)} classes"
    )
    try:
        proba = np.asarray(model.predict_proba(images))
    except (ValueError, TypeError) as exc:
        raise _bad_file(args.model, "cannot predict these images", exc) from None
    top = None if args.top is None else min(args.top, len(classes))
    table = predictions_table(sources, proba, classes, names, top=top)
    report = None
    if labels is not None:
        report = _accuracy_report(
            labels, table["label"].to_numpy(), classes, names, args.labels
        )
    csv = table.to_csv(index=False, float_format="%.6f", lineterminator="\n")
    if to_file:
        write_atomically(args.output, csv)
        console.result(preview(table, proba))
        if len(table) > PREVIEW_ROWS:
            console.result(
                f"... and {plural(len(table) - PREVIEW_ROWS, 'more row')} in "
                f"{args.output}"
            )
    else:
        sys.stdout.write(csv)
        sys.stdout.flush()
    if report is not None:
        console.result()
        console.result(report)
    if to_file:
        console.result(
            f"\nWrote the predictions of {plural(len(table), 'image')} to "
            f"{args.output.resolve()}"
        )
    return 0


def run(args):
    try:
        return _predict(args)
    except BadFileError as exc:
        error(str(exc))
        return EXIT_BAD_FILE


def add_arguments(parser):
    """The arguments and options of ``skfmnist predict``."""
    supported = ", ".join(MODEL_LOADERS)
    parser.add_argument(
        "model", metavar="MODEL", type=model_file,
        help="the fitted pipeline: a .skops file written by skfmnist.save (or "
        f"skfmnist train), or a .onnx file from skfmnist export ({supported})",
    )
    parser.add_argument(
        "inputs", metavar="INPUT", type=Path, nargs="+",
        help="IDX images files (.gz or raw), .npy files, PNG or JPEG images, "
        "or folders of them",
    )
    group = parser.add_argument_group("predictions")
    group.add_argument(
        "-o", "--output", metavar="FILE", type=output_file, default=None,
        help="write the CSV to FILE and print its first rows (default: print "
        "the CSV to stdout, and any other output to stderr)",
    )
    group.add_argument(
        "--top", metavar="K", type=positive_int, default=None,
        help="keep only the K most probable classes of each image (all of them "
        "if K is larger), as columns top1_class, top1_proba, ... (default: one "
        "probability column per class)",
    )
    group.add_argument(
        "--invert", action="store_true",
        help="use 255 - pixel for every image: for dark garments on a light "
        "background (Fashion-MNIST has light garments on black)",
    )
    group.add_argument(
        "--labels", metavar="LABELS_IDX", type=Path, default=None,
        help="IDX labels file of the images (of all inputs, in order): print "
        "the accuracy and the classification report",
    )
    add_verbosity_options(
        parser, quiet_help="print only the predictions and the accuracy",
        verbose_help="also list the images read from each input",
    )
