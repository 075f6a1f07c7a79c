"""Fashion-MNIST: pinned file table, search order, verified loading, Bunch."""

import hashlib
import os
import warnings
from importlib import resources
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._fetch import CACHE_SUBFOLDER, _atomic_open, _download, get_data_home
from ._idx import _idx_header, _read_idx

__all__ = ["CLASS_NAMES", "fetch_fashion_mnist"]

#: The ten class names, indexed by label.
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: Base URLs tried in order for a download (file name appended).
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

#: System folders searched after the data home (tests may monkeypatch this).
SYSTEM_DATA_DIRS = (
    "/usr/share/datasets/fashion-mnist",  # Debian/Ubuntu dataset-fashion-mnist
    "/usr/local/share/datasets/fashion-mnist",
)


class FileInfo(NamedTuple):
    """What a verified official file must be."""

    #: Shape declared by the IDX header (the data is always uint8).
    shape: tuple
    #: SHA256 of the decompressed IDX content (header and data).
    sha256: str
    #: SHA256 of the official ``.gz`` on the mirrors (checked on download).
    gz_sha256: str


#: The official files, by name without ``.gz`` (tests may monkeypatch this).
FILES = {
    "train-images-idx3-ubyte": FileInfo(
        (60000, 28, 28),
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    ),
    "train-labels-idx1-ubyte": FileInfo(
        (60000,),
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    ),
    "t10k-images-idx3-ubyte": FileInfo(
        (10000, 28, 28),
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    ),
    "t10k-labels-idx1-ubyte": FileInfo(
        (10000,),
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
}

#: (images file, labels file) of each official split.
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_UINT8 = np.dtype("u1")


def _load_descr(name):
    """Return the text of ``descr/<name>`` shipped with the package."""
    folder = resources.files(__package__).joinpath("descr")
    return folder.joinpath(name).read_text(encoding="utf-8")


def _check_digest(path, digest, expected):
    """Raise a ``ValueError`` naming ``path`` if the content hash is wrong."""
    if digest != expected:
        raise ValueError(
            f"{path}: SHA256 of the decompressed content is {digest}, expected "
            f"{expected}: the file is damaged or not the official one."
        )


def _check_labels(path, labels):
    """Raise a ``ValueError`` if a labels file holds a value out of range."""
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise ValueError(
            f"{path}: label {labels.max()} out of range 0..{len(CLASS_NAMES) - 1}."
        )


def _read_idx_verified(path, info, out):
    """Read the IDX file ``path`` into ``out`` and check it against ``info``."""
    hasher = hashlib.sha256()
    _read_idx(path, dtype=_UINT8, shape=info.shape, out=out, hasher=hasher)
    _check_digest(path, hasher.hexdigest(), info.sha256)


def _read_npy_verified(path, info, out):
    """Read the cached ``.npy`` file ``path`` into ``out``, checked against ``info``.

    The hash covers the IDX header rebuilt from the shape plus the data, which is
    the same pinned content hash as for the official file.
    """
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(f)
        else:
            header = np.lib.format.read_array_header_2_0(f)
        shape, fortran_order, dtype = header
        if dtype != _UINT8 or fortran_order or shape != info.shape:
            raise ValueError(
                f"{path}: cached array is {dtype} of shape {shape}"
                f"{' (Fortran order)' if fortran_order else ''}, expected uint8 "
                f"of shape {info.shape}."
            )
        found = os.fstat(f.fileno()).st_size - f.tell()
        if found != out.nbytes:
            raise ValueError(
                f"{path}: cached array holds {found} bytes of data, expected "
                f"{out.nbytes}."
            )
        hasher = hashlib.sha256(_idx_header(_UINT8, info.shape))
        buf = memoryview(out.reshape(-1))
        pos = 0
        while pos < out.nbytes:
            n = f.readinto(buf[pos : pos + (1 << 20)])
            if not n:
                raise ValueError(f"{path}: cached array is truncated.")
            hasher.update(buf[pos : pos + n])
            pos += n
    _check_digest(path, hasher.hexdigest(), info.sha256)


def _write_cache(path, array):
    """Write the verified ``array`` to the ``.npy`` cache ``path``, best effort.

    A read-only data home (a shared folder holding the ``.gz`` files, say) is
    fine: the data was loaded, only the speed-up is lost.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _atomic_open(path) as f:
            np.lib.format.write_array(f, array, allow_pickle=False)
    except OSError:
        pass


def _missing_message(name, looked, download_error, download_if_missing):
    """The ``OSError`` text when no valid copy of file ``name`` can be had."""
    lines = [f"Cannot load the Fashion-MNIST file {name!r}.", "Looked in:"]
    lines += [f"  - {item}" for item in looked]
    if download_if_missing:
        lines.append(f"Tried to download it: {download_error}")
    else:
        lines.append("No download was tried (download_if_missing=False).")
    files = ", ".join(f"{n}.gz" for n in FILES)
    lines += [
        "To get the data, do one of:",
        "  - install the system package: sudo apt-get install dataset-fashion-mnist",
        f"  - put the four files ({files}) in a folder and pass data_home=<folder>"
        " or set the environment variable SKFMNIST_DATA=<folder>",
        f"  - download them by hand from {' or '.join(MIRRORS)}",
    ]
    if not download_if_missing:
        lines.append("  - call again with download_if_missing=True and internet access")
    return "\n".join(lines)


def _load_file(name, out, *, data_home, download_if_missing, n_retries, delay, verbose):
    """Fill ``out`` with the verified content of the official file ``name``.

    Sources, in order: the ``.npy`` cache, the ``fashion_mnist`` subfolder of the
    data home, the data home, :data:`SYSTEM_DATA_DIRS`, then a download. A
    damaged source is skipped with a warning. Any source other than the cache
    refreshes the cache.
    """
    info = FILES[name]
    cache_dir = data_home / CACHE_SUBFOLDER
    npy = cache_dir / f"{name}.npy"
    looked = []
    if npy.is_file():
        try:
            _read_npy_verified(npy, info, out)
            return
        except (OSError, ValueError) as exc:
            warnings.warn(
                f"Ignoring damaged cache file: {exc}", UserWarning, stacklevel=4
            )
            looked.append(f"{exc}")
    folders = [cache_dir, data_home, *map(Path, SYSTEM_DATA_DIRS)]
    for folder in dict.fromkeys(folders):
        candidates = [p for p in (folder / f"{name}.gz", folder / name) if p.is_file()]
        if not candidates:
            looked.append(f"{folder}: no {name}.gz or {name}")
        for path in candidates:
            try:
                _read_idx_verified(path, info, out)
                if out.ndim == 1:
                    _check_labels(path, out)
            except (OSError, ValueError) as exc:
                warnings.warn(
                    f"Ignoring damaged file: {exc}", UserWarning, stacklevel=4
                )
                looked.append(f"{exc}")
                continue
            _write_cache(npy, out)
            return
    download_error = None
    if download_if_missing:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            path = _download(
                [mirror + f"{name}.gz" for mirror in MIRRORS],
                cache_dir / f"{name}.gz",
                sha256=info.gz_sha256,
                n_retries=n_retries,
                delay=delay,
                verbose=verbose,
            )
            _read_idx_verified(path, info, out)
            if out.ndim == 1:
                _check_labels(path, out)
        except (OSError, ValueError) as exc:
            download_error = str(exc)
        else:
            _write_cache(npy, out)
            return
    raise OSError(_missing_message(name, looked, download_error, download_if_missing))


def _make_bunch(images, labels, *, descr, as_frame, return_X_y):
    """Package ``images`` (n, 28, 28) and ``labels`` (n,) uint8 like sklearn.

    ``data`` is a reshaped view of ``images`` (no copy); ``target`` is int64,
    or with ``as_frame`` a categorical Series of class names.
    """
    n_samples = images.shape[0]
    data = images.reshape(n_samples, -1)
    target = labels.astype(np.int64)
    feature_names = [f"pixel_{i}" for i in range(data.shape[1])]
    frame = None
    if as_frame:
        import pandas as pd

        data = pd.DataFrame(data, columns=feature_names, copy=False)
        target = pd.Series(
            pd.Categorical.from_codes(labels, categories=list(CLASS_NAMES)),
            name="label",
        )
        frame = data.copy(deep=False)
        frame["label"] = target
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        images=images,
        target=target,
        target_names=np.array(CLASS_NAMES),
        feature_names=feature_names,
        frame=frame,
        DESCR=descr,
    )


@validate_params(
    {
        "subset": [StrOptions({"train", "test", "all"})],
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
        "return_X_y": ["boolean"],
        "as_frame": ["boolean"],
        "n_retries": [Interval(Integral, 0, None, closed="left")],
        "delay": [Interval(Real, 0.0, None, closed="left")],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_fashion_mnist(
    *,
    subset="train",
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
    as_frame=False,
    n_retries=3,
    delay=1.0,
    verbose=True,
):
    """Load the Fashion-MNIST data set (classification), verified.

    Fashion-MNIST holds 70,000 grey-scale 28 x 28 images of clothing articles
    in 10 balanced classes, split into 60,000 training and 10,000 test images.

    =================   ==============================
    Classes                                         10
    Samples total                               70,000
    Samples per class   6,000 train and 1,000 test
    Dimensionality                                 784
    Features            integers 0-255 (uint8 pixels)
    =================   ==============================

    The files are looked for in the data home's cache, the data home, the
    system folders :data:`SYSTEM_DATA_DIRS` (e.g. the Debian package
    ``dataset-fashion-mnist``), and are downloaded from the official mirror as a
    last resort. Every file is checked against the pinned SHA256 of its
    decompressed content, and a fast uncompressed cache is kept in the data
    home after the first load. See the ``DESCR`` of the result for details.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        The official split to load; "all" is the training images followed by
        the test images (70,000 rows).
    data_home : str or path-like, default=None
        Folder for downloads and caches, which may also hold the four
        ``*-ubyte.gz`` files. By default the ``SKFMNIST_DATA`` environment
        variable, else scikit-learn's data home (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        If False, raise an ``OSError`` instead of downloading missing files.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame with columns ``pixel_0`` to
        ``pixel_783``, ``target`` a categorical Series of class names named
        ``label``, and ``frame`` a DataFrame holding both.
    n_retries : int, default=3
        Number of retries per mirror when a download fails.
    delay : float, default=1.0
        Seconds to wait between download retries.
    verbose : bool or int, default=True
        If true, show download progress on stderr (nothing is printed when the
        data is found locally).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : ndarray of shape (n_samples, 784), dtype uint8, or DataFrame
            The flattened images, one row per image (a view of ``images``).
            A DataFrame if ``as_frame=True``.
        images : ndarray of shape (n_samples, 28, 28), dtype uint8
            The images.
        target : ndarray of shape (n_samples,), dtype int64, or Series
            The labels 0 to 9. A categorical Series of class names if
            ``as_frame=True``.
        target_names : ndarray of shape (10,)
            The class names, indexed by label (:data:`CLASS_NAMES`).
        feature_names : list of str
            ``"pixel_0"`` to ``"pixel_783"``, in row-major order.
        frame : DataFrame of shape (n_samples, 785) or None
            The pixels and a categorical ``label`` column when
            ``as_frame=True``, else None.
        DESCR : str
            Description of the data set.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as above.

    Raises
    ------
    OSError
        If some file has no valid copy in any searched folder and cannot be
        downloaded (or ``download_if_missing=False``). The message lists each
        folder searched, each damaged file found and why, why the download
        failed, and how to get the data.
    ValueError
        If an argument has an invalid value, e.g. ``subset="validation"``.
    TypeError
        If an argument has an invalid type, e.g. ``data_home=1``.

    Warns
    -----
    UserWarning
        When a damaged file (cache or source) is skipped.

    See Also
    --------
    load_sample : A small bundled sample, no download needed.
    get_data_home : Where downloads and caches go.
    load_idx : Read one IDX file.

    Examples
    --------
    >>> from skfmnist.datasets import fetch_fashion_mnist
    >>> fmnist = fetch_fashion_mnist(subset="test")  # doctest: +SKIP
    >>> fmnist.data.shape, fmnist.images.shape  # doctest: +SKIP
    ((10000, 784), (10000, 28, 28))
    >>> fmnist.target_names[fmnist.target[:3]]  # doctest: +SKIP
    array(['Ankle boot', 'Pullover', 'Trouser'], dtype='<U11')
    """
    data_home = Path(get_data_home(data_home))
    splits = ("train", "test") if subset == "all" else (subset,)
    image_names = [SPLITS[split][0] for split in splits]
    label_names = [SPLITS[split][1] for split in splits]
    counts = [FILES[name].shape[0] for name in image_names]
    image_shape = FILES[image_names[0]].shape[1:]
    for image_name, label_name in zip(image_names, label_names, strict=True):
        if FILES[image_name].shape[1:] != image_shape or FILES[label_name].shape != (
            FILES[image_name].shape[0],
        ):
            raise ValueError(
                f"Inconsistent file table: {image_name} {FILES[image_name].shape}, "
                f"{label_name} {FILES[label_name].shape}."
            )
    # Read every file straight into its slice of the result: one copy in memory.
    images = np.empty((sum(counts), *image_shape), dtype=_UINT8)
    labels = np.empty(sum(counts), dtype=_UINT8)
    options = dict(
        data_home=data_home,
        download_if_missing=download_if_missing,
        n_retries=n_retries,
        delay=delay,
        verbose=verbose,
    )
    start = 0
    for image_name, label_name, count in zip(
        image_names, label_names, counts, strict=True
    ):
        _load_file(image_name, images[start : start + count], **options)
        _load_file(label_name, labels[start : start + count], **options)
        start += count
    return _make_bunch(
        images,
        labels,
        descr=_load_descr("fashion_mnist.rst"),
        as_frame=as_frame,
        return_X_y=return_X_y,
    )
