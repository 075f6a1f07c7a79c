"""Reader and writer for the IDX format used by the (Fashion-)MNIST files.

An IDX file is a tiny header followed by the raw array in C order, big-endian:

=======  ======  ===========================================================
offset   bytes   meaning
=======  ======  ===========================================================
0        2       zero bytes
2        1       type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                 0x0D float32, 0x0E float64)
3        1       number of dimensions ``ndim``
4        4*ndim  each dimension as a big-endian unsigned 32-bit integer
then     ...     the data, ``prod(dims) * itemsize`` bytes, nothing after it
=======  ======  ===========================================================

The reader is strict: every departure from this layout is a ``ValueError`` that
names the file and what is wrong with it.  It reads straight into one
preallocated array (no intermediate ``bytes`` copy) and can hash the content as
it goes, which is how the loader verifies the pinned SHA256 of each file.
"""

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ._fetch import _atomic_open

__all__ = ["load_idx", "save_idx"]

# Type code -> big-endian dtype, as in the format description above.
_CODE_TO_DTYPE = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# The reverse map, keyed by (kind, itemsize) so that byte order does not matter.
_KIND_TO_CODE = {(dt.kind, dt.itemsize): code for code, dt in _CODE_TO_DTYPE.items()}

_GZIP_MAGIC = b"\x1f\x8b"
# Read and hash in slices of this size: big enough to hide Python overhead,
# small enough to stay in cache between the read and the hash.
_CHUNK = 1 << 20
_MAX_DIM = 2**32 - 1


def _is_gzip(path):
    """Tell a gzip file from a raw one by its first two bytes, not its name."""
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _idx_header(dtype, shape):
    """Return the IDX header bytes for an array of ``dtype`` and ``shape``."""
    code = _KIND_TO_CODE[(dtype.kind, dtype.itemsize)]
    return struct.pack(f">2xBB{len(shape)}I", code, len(shape), *shape)


def _read_header(f, path):
    """Parse the header of the open IDX stream ``f``; return (dtype, shape, bytes)."""
    magic = f.read(4)
    if len(magic) < 4:
        raise ValueError(
            f"{path}: not an IDX file: truncated header "
            f"({len(magic)} bytes, expected at least 4)."
        )
    if magic[:2] != b"\x00\x00":
        raise ValueError(
            f"{path}: not an IDX file: wrong magic number 0x{magic.hex()} "
            "(an IDX file starts with two zero bytes, a type code and ndim)."
        )
    code, ndim = magic[2], magic[3]
    if code not in _CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise ValueError(
            f"{path}: unknown IDX data type code 0x{code:02X} (known: {known})."
        )
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions.")
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {4 * ndim} "
            f"bytes after the magic number, found {len(dims)}."
        )
    shape = struct.unpack(f">{ndim}I", dims)
    return _CODE_TO_DTYPE[code], shape, magic + dims


def _read_idx(path, *, dtype=None, shape=None, out=None, hasher=None):
    """Read the IDX file ``path`` (raw or gzip) strictly.

    Parameters
    ----------
    path : str or Path
        The file; gzip compression is detected from its content.
    dtype, shape : numpy dtype and tuple of int, default=None
        When given, the header must declare exactly these.
    out : ndarray, default=None
        C-contiguous array to read the data into (its shape and byte size must
        match the header); a new array is allocated when None.
    hasher : hashlib object, default=None
        Updated with every decompressed byte (header and data), in order.

    Returns
    -------
    array : ndarray
        The data, in the file's (big-endian for multi-byte types) dtype.
    """
    path = Path(path)
    gz = _is_gzip(path)
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as f:
            file_dtype, file_shape, header = _read_header(f, path)
            if dtype is not None and file_dtype != dtype:
                raise ValueError(
                    f"{path}: IDX header declares data type {file_dtype}, "
                    f"expected {np.dtype(dtype)}."
                )
            if shape is not None and tuple(file_shape) != tuple(shape):
                raise ValueError(
                    f"{path}: IDX header declares shape {file_shape}, expected "
                    f"{tuple(shape)} (wrong file, or a file of the wrong size)."
                )
            nbytes = int(np.prod(file_shape, dtype=object)) * file_dtype.itemsize
            if not gz:
                # For a raw file the size is known up front: fail before any
                # allocation, with the exact figures.
                size = os.fstat(f.fileno()).st_size
                _check_size(path, size - len(header), nbytes)
            if out is None:
                try:
                    out = np.empty(file_shape, dtype=file_dtype)
                except (MemoryError, ValueError) as exc:
                    raise ValueError(
                        f"{path}: IDX header declares shape {file_shape} "
                        f"({nbytes} bytes), which cannot be allocated: {exc}"
                    ) from None
            elif out.nbytes != nbytes or not out.flags.c_contiguous:
                raise ValueError(
                    f"{path}: output buffer of {out.nbytes} bytes does not fit "
                    f"the {nbytes} bytes of data."
                )
            if hasher is not None:
                hasher.update(header)
            buf = memoryview(out.reshape(-1).view(np.uint8))
            pos = 0
            while pos < nbytes:
                n = f.readinto(buf[pos : pos + _CHUNK])
                if not n:
                    _check_size(path, pos, nbytes)
                if hasher is not None:
                    hasher.update(buf[pos : pos + n])
                pos += n
            # For gzip this also runs the CRC and length checks of the stream.
            extra = 0
            while chunk := f.read(_CHUNK):
                extra += len(chunk)
            _check_size(path, nbytes + extra, nbytes)
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip data: {exc}") from None
    return out


def _check_size(path, found, expected):
    """Raise a ``ValueError`` when the data part holds the wrong number of bytes."""
    if found < expected:
        raise ValueError(
            f"{path}: truncated IDX data: the header declares {expected} bytes "
            f"of data but the file holds only {found}."
        )
    if found > expected:
        raise ValueError(
            f"{path}: {found - expected} unexpected trailing bytes after the "
            f"{expected} bytes of IDX data declared by the header."
        )


def load_idx(path):
    """Load an IDX file (as used by MNIST and Fashion-MNIST) into an array.

    The file may be raw or gzip-compressed; compression is detected from the
    content, not the name. The reader is strict: it checks the magic number, the
    type code, the number of dimensions, and that the data has exactly the size
    the header declares.

    Parameters
    ----------
    path : str or path-like
        The file to read, e.g. ``"train-images-idx3-ubyte.gz"``.

    Returns
    -------
    array : ndarray
        A new, writable array with the shape from the header, in native byte
        order (uint8, int8, int16, int32, float32 or float64).

    Raises
    ------
    ValueError
        If the file is not a valid IDX file: wrong magic number, unknown type
        code, truncated header or data, trailing bytes, or corrupt gzip data.
        The message names the file and the problem.
    FileNotFoundError
        If the file does not exist.

    See Also
    --------
    save_idx : Write an array in the IDX format.
    fetch_fashion_mnist : Load the full, verified Fashion-MNIST data set.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from skfmnist.datasets import load_idx, save_idx
    >>> folder = Path(tempfile.mkdtemp())
    >>> save_idx(folder / "tiny-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    >>> X = load_idx(folder / "tiny-idx3-ubyte.gz")
    >>> X.shape, X.dtype
    ((3, 28, 28), dtype('uint8'))
    """
    array = _read_idx(path)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def save_idx(path, array):
    """Write an array to an IDX file, gzip-compressed if the name ends in ``.gz``.

    The file is written to a temporary file in the same folder and renamed into
    place, so that a reader never sees a half-written file. Gzip output is
    reproducible (no time stamp or file name in the gzip header).

    Parameters
    ----------
    path : str or path-like
        The file to write.
    array : array-like
        Data of type uint8, int8, int16, int32, float32 or float64 with at least
        one dimension, each smaller than 2**32.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        If the data type has no IDX type code, or the array has no dimension,
        more than 255 dimensions, or a dimension of 2**32 or more.

    See Also
    --------
    load_idx : Read an IDX file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skfmnist.datasets import load_idx, save_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
    >>> save_idx(path, np.array([9, 0, 0, 3], dtype=np.uint8))
    >>> os.path.getsize(path)  # 4 magic bytes, 4 for the one dimension, 4 labels
    12
    >>> load_idx(path).tolist()
    [9, 0, 0, 3]
    """
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _KIND_TO_CODE:
        raise ValueError(
            f"Cannot write data of type {array.dtype} to IDX: supported types "
            "are uint8, int8, int16, int32, float32 and float64."
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(
            f"Cannot write a {array.ndim}-dimensional array to IDX: "
            "1 to 255 dimensions are supported."
        )
    if max(array.shape) > _MAX_DIM:
        raise ValueError(
            f"Cannot write shape {array.shape} to IDX: dimensions must be "
            f"smaller than 2**32."
        )
    big = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))
    path = Path(path)
    with _atomic_open(path) as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
                f.write(_idx_header(big.dtype, big.shape))
                f.write(memoryview(big.reshape(-1).view(np.uint8)))
        else:
            raw.write(_idx_header(big.dtype, big.shape))
            big.tofile(raw)


def _content_sha256(array):
    """SHA256 of the IDX serialisation of ``array`` (header and data).

    This equals the SHA256 of the decompressed IDX file the array came from, so
    an array restored from any cache can be checked against the pinned hashes.
    """
    big = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))
    hasher = hashlib.sha256(_idx_header(big.dtype, big.shape))
    hasher.update(memoryview(big.reshape(-1).view(np.uint8)))
    return hasher.hexdigest()
