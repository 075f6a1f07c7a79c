"""The small Fashion-MNIST sample bundled with skfmnist, and its generator.

Run ``python -m skfmnist.datasets._sample`` to rebuild
``data/fashion_mnist_sample.npz`` from the full data (found by the normal search
of :func:`fetch_fashion_mnist`), or with ``--check`` to compare a fresh draw
with the bundled file.
"""

import argparse
import hashlib
import io
import sys
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import StrOptions, validate_params

from ._fashion_mnist import CLASS_NAMES, _load_descr, _make_bunch

__all__ = ["load_sample"]

#: The bundled file, in ``skfmnist/datasets/data/``.
SAMPLE_FILENAME = "fashion_mnist_sample.npz"
#: SHA256 of the bundled file, checked on every load.
SAMPLE_SHA256 = "9e1308ffb47830db4b222e731dee0c304cf147c15b9d1566173712f28fd58e23"
#: Images drawn per class, and the seed of class 0 (class ``c`` uses seed + c).
SAMPLE_DESIGN = {"train": (200, 0), "test": (100, 10)}


def _draw(labels, per_class, seed):
    """Row numbers of the stratified sample of ``labels``, sorted.

    For each class ``c``, ``RandomState(seed + c)`` chooses ``per_class`` rows of
    that class without replacement.
    """
    rows = [
        np.random.RandomState(seed + c).choice(
            np.flatnonzero(labels == c), size=per_class, replace=False
        )
        for c in range(len(CLASS_NAMES))
    ]
    return np.sort(np.concatenate(rows))


def _npz_bytes(arrays):
    """Serialise ``arrays`` as a reproducible ``.npz`` (fixed zip metadata)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for key, array in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, array, version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue(), compresslevel=9)
    return buffer.getvalue()


def _build_sample(data_home=None, download_if_missing=True):
    """Draw the sample from the full data; return the arrays to store."""
    from ._fashion_mnist import fetch_fashion_mnist

    arrays = {}
    for subset, (per_class, seed) in SAMPLE_DESIGN.items():
        full = fetch_fashion_mnist(
            subset=subset, data_home=data_home, download_if_missing=download_if_missing
        )
        rows = _draw(full.target, per_class, seed)
        arrays[f"{subset}_images"] = full.images[rows]
        arrays[f"{subset}_labels"] = full.target[rows].astype(np.uint8)
        arrays[f"{subset}_index"] = rows.astype(np.int32)
        del full
    return arrays


def _read_sample():
    """Return the bundled arrays as a dict, after checking the file's SHA256."""
    path = resources.files(__package__).joinpath("data").joinpath(SAMPLE_FILENAME)
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != SAMPLE_SHA256:
        raise OSError(
            f"The bundled sample {path} is damaged: its SHA256 is {digest}, "
            f"expected {SAMPLE_SHA256}. Reinstall skfmnist."
        )
    with np.load(io.BytesIO(content), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@validate_params(
    {
        "subset": [StrOptions({"train", "test", "all"})],
        "return_X_y": ["boolean"],
        "as_frame": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_sample(*, subset="train", return_X_y=False, as_frame=False):
    """Load the small Fashion-MNIST sample bundled with skfmnist (no download).

    A stratified sample of the real data: 2,000 training images (200 per class)
    and 1,000 test images (100 per class), drawn once from the official files
    with fixed seeds and kept in their original order. For each class ``c``,
    ``numpy.random.RandomState(c)`` chose its 200 training rows and
    ``numpy.random.RandomState(10 + c)`` its 100 test rows, without
    replacement; see the ``DESCR`` for the exact procedure. The bundled file's
    SHA256 is checked on every load.

    =================   ==============================
    Classes                                         10
    Samples total                                3,000
    Samples per class   200 train and 100 test
    Dimensionality                                 784
    Features            integers 0-255 (uint8 pixels)
    =================   ==============================

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        The part to load; "all" is the training sample followed by the test
        sample (3,000 rows).
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data``, ``target`` and ``frame`` are pandas objects, as
        with :func:`fetch_fashion_mnist`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        The same layout as :func:`fetch_fashion_mnist`: ``data`` (n_samples,
        784) uint8 (a view of ``images``) or DataFrame, ``images`` (n_samples,
        28, 28) uint8, ``target`` (n_samples,) int64 or categorical Series,
        ``target_names``, ``feature_names``, ``frame`` (DataFrame or None) and
        ``DESCR``.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as above.

    Raises
    ------
    ValueError
        If ``subset`` is not one of "train", "test" or "all".
    OSError
        If the bundled file is missing or damaged (SHA256 mismatch).

    See Also
    --------
    fetch_fashion_mnist : The full data set (70,000 images).

    Examples
    --------
    >>> import numpy as np
    >>> from skfmnist.datasets import load_sample
    >>> sample = load_sample()
    >>> sample.data.shape, sample.images.shape, sample.data.dtype
    ((2000, 784), (2000, 28, 28), dtype('uint8'))
    >>> np.bincount(sample.target).tolist()
    [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]
    >>> X, y = load_sample(subset="test", return_X_y=True, as_frame=True)
    >>> X.shape, y.cat.categories[:3].tolist()
    ((1000, 784), ['T-shirt/top', 'Trouser', 'Pullover'])
    """
    arrays = _read_sample()
    subsets = ("train", "test") if subset == "all" else (subset,)
    if len(subsets) == 1:
        images = arrays[f"{subset}_images"]
        labels = arrays[f"{subset}_labels"]
    else:
        images = np.concatenate([arrays[f"{s}_images"] for s in subsets])
        labels = np.concatenate([arrays[f"{s}_labels"] for s in subsets])
    descr = _load_descr("fashion_mnist_sample.rst") + _load_descr("fashion_mnist.rst")
    return _make_bunch(
        images, labels, descr=descr, as_frame=as_frame, return_X_y=return_X_y
    )


def main(argv=None):
    """Rebuild (or with ``--check`` verify) the bundled sample; return exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m skfmnist.datasets._sample",
        description="Draw the bundled Fashion-MNIST sample from the full data.",
    )
    parser.add_argument(
        "--data-home", help="data home to search (default: the normal search)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).parent / "data" / SAMPLE_FILENAME,
        help="file to write (default: the bundled file in the package)",
    )
    parser.add_argument(
        "--no-download", action="store_true", help="fail rather than download"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare a fresh draw with the bundled sample instead of writing",
    )
    args = parser.parse_args(argv)
    arrays = _build_sample(args.data_home, download_if_missing=not args.no_download)
    if args.check:
        bundled = _read_sample()
        same = bundled.keys() == arrays.keys() and all(
            np.array_equal(bundled[k], arrays[k]) for k in arrays
        )
        print("bundled sample matches a fresh draw" if same else "MISMATCH")
        return 0 if same else 1
    from ._fetch import _atomic_open

    content = _npz_bytes(arrays)
    with _atomic_open(args.output) as f:
        f.write(content)
    digest = hashlib.sha256(content).hexdigest()
    print(f"wrote {args.output} ({len(content)} bytes)\nSHA256 {digest}")
    if digest != SAMPLE_SHA256:
        print(f"update SAMPLE_SHA256 in {__file__} to {digest!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
