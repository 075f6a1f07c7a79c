"""Data home, atomic writes and verified downloads.

Nothing here knows about Fashion-MNIST: this module only provides the folder to
cache data in, a way to write files that never leaves a half-written file behind
(temporary file in the target folder, then :func:`os.replace`), and a download
function with retries, progress, and a SHA256 check before the file is renamed
into place (the design of :func:`sklearn.datasets.fetch_file`, plus progress and
mirror fallback).
"""

import contextlib
import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

from sklearn.datasets import get_data_home as _sklearn_get_data_home
from sklearn.utils._param_validation import validate_params

__all__ = ["get_data_home", "clear_data_home"]

#: Environment variable naming the data home (beats scikit-learn's data home).
ENV_VAR = "SKFMNIST_DATA"
#: Subfolder of the data home that belongs to skfmnist (downloads and caches).
CACHE_SUBFOLDER = "fashion_mnist"

_CHUNK = 1 << 20
_TIMEOUT = 60


@validate_params(
    {"data_home": [str, os.PathLike, None]},
    prefer_skip_nested_validation=True,
)
def get_data_home(data_home=None):
    """Return the path of the skfmnist data home, creating it if needed.

    The folder is, in this order: ``data_home`` when given, else the value of
    the ``SKFMNIST_DATA`` environment variable when set and not empty, else
    scikit-learn's data home (:func:`sklearn.datasets.get_data_home`, by default
    ``~/scikit_learn_data``, itself set by ``SCIKIT_LEARN_DATA``). A leading
    ``~`` is expanded. Downloads and decompressed caches go into its
    ``fashion_mnist`` subfolder; the four ``*-ubyte.gz`` files may be put either
    there or in the data home itself.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use. When None, ``SKFMNIST_DATA`` or scikit-learn's data
        home is used.

    Returns
    -------
    data_home : str
        The absolute path of the data home, which exists.

    Raises
    ------
    TypeError
        If ``data_home`` is not a string, a path-like object or None.
    OSError
        If the folder cannot be created.

    See Also
    --------
    clear_data_home : Delete skfmnist's files from the data home.
    fetch_fashion_mnist : Load Fashion-MNIST, caching it in the data home.

    Examples
    --------
    >>> import os, tempfile
    >>> from skfmnist.datasets import get_data_home
    >>> folder = os.path.join(tempfile.mkdtemp(), "my_data")
    >>> get_data_home(folder) == folder
    True
    >>> os.path.isdir(folder)
    True
    """
    if data_home is None:
        data_home = os.environ.get(ENV_VAR) or _sklearn_get_data_home()
    data_home = os.path.abspath(os.path.expanduser(os.fspath(data_home)))
    os.makedirs(data_home, exist_ok=True)
    return data_home


@validate_params(
    {"data_home": [str, os.PathLike, None]},
    prefer_skip_nested_validation=True,
)
def clear_data_home(data_home=None):
    """Delete the files skfmnist stored in the data home.

    Only the ``fashion_mnist`` subfolder (downloaded files and decompressed
    caches) is removed; anything else in the data home, including Fashion-MNIST
    files you put in the data home folder itself, is left alone.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data home, as for :func:`get_data_home`.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        If ``data_home`` is not a string, a path-like object or None.

    See Also
    --------
    get_data_home : Where the files are stored.

    Examples
    --------
    >>> import os, tempfile
    >>> from skfmnist.datasets import clear_data_home, get_data_home
    >>> home = get_data_home(tempfile.mkdtemp())
    >>> os.makedirs(os.path.join(home, "fashion_mnist"))
    >>> clear_data_home(home)
    >>> os.listdir(home)
    []
    """
    folder = Path(get_data_home(data_home)) / CACHE_SUBFOLDER
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _atomic_open(path):
    """Open a temporary file next to ``path`` for binary writing.

    On a clean exit of the ``with`` block the file is renamed to ``path`` with
    :func:`os.replace` (atomic on one file system); on any error, including
    ``KeyboardInterrupt``, it is deleted and the error propagates. Readers
    therefore see either the old file, no file, or the complete new one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _sha256(path):
    """Return the SHA256 hex digest of the file at ``path``."""
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


class _Progress:
    """Download progress on stderr: one updating line on a terminal, else steps."""

    def __init__(self, label, total, enabled):
        self.label, self.total, self.enabled = label, total, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.last = -1

    def update(self, done):
        if not self.enabled:
            return
        if self.total:
            percent = 100 * done // self.total
            # On a terminal redraw every percent, in a log every 25 %.
            step = percent if self.tty else percent - percent % 25
            if step == self.last:
                return
            self.last = step
            text = f"{percent:3d}% of {self.total / 1e6:.1f} MB"
        else:
            mb = done // 1_000_000
            if mb == self.last:
                return
            self.last = mb
            text = f"{done / 1e6:.1f} MB"
        end = "\r" if self.tty else "\n"
        sys.stderr.write(f"Downloading {self.label}: {text}{end}")
        sys.stderr.flush()

    def close(self):
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _copy_url(url, f, *, label, verbose):
    """Stream ``url`` into the open file ``f``; return the SHA256 of the bytes."""
    hasher = hashlib.sha256()
    with urlopen(url, timeout=_TIMEOUT) as response:
        total = int(response.headers.get("Content-Length") or 0)
        progress = _Progress(label, total, verbose)
        done = 0
        try:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                hasher.update(chunk)
                done += len(chunk)
                progress.update(done)
        finally:
            progress.close()
    if total and done != total:
        raise OSError(f"incomplete download: got {done} of {total} bytes")
    return hasher.hexdigest()


def _download(urls, path, *, sha256, n_retries=3, delay=1.0, verbose=False):
    """Download the first of ``urls`` that works into ``path``, verified.

    Each URL is tried up to ``1 + n_retries`` times, ``delay`` seconds apart (an
    HTTP 4xx answer moves on to the next URL at once). The bytes go to a
    temporary file in the folder of ``path``; only when their SHA256 equals
    ``sha256`` is the file renamed to ``path``. A failed attempt leaves nothing
    behind.

    Returns
    -------
    path : Path
        The downloaded file.

    Raises
    ------
    OSError
        When every attempt failed; the message lists each URL and error.
    """
    path = Path(path)
    errors = []
    for url in urls:
        for attempt in range(1 + n_retries):
            if attempt:
                time.sleep(delay)
            try:
                with _atomic_open(path) as f:
                    digest = _copy_url(url, f, label=path.name, verbose=verbose)
                    if digest != sha256:
                        raise OSError(
                            f"SHA256 of the download is {digest}, expected {sha256}"
                        )
                return path
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{url} (attempt {attempt + 1}): {exc}")
                if verbose:
                    print(f"Download failed: {errors[-1]}", file=sys.stderr)
                if isinstance(exc, HTTPError) and 400 <= exc.code < 500:
                    break
    raise OSError(
        f"download of {path.name} failed:\n" + "\n".join(f"    {e}" for e in errors)
    )
