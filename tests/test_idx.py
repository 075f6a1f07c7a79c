"""Tests of the strict IDX reader and the writer (skfmnist.datasets._idx)."""

import gzip
import os
import re
import struct

import numpy as np
import pytest

from skfmnist.datasets import load_idx, save_idx


def _raw(dtype_code, shape, data=b""):
    """IDX bytes from the parts, to build damaged files by hand."""
    return struct.pack(f">2xBB{len(shape)}I", dtype_code, len(shape), *shape) + data


def _write(path, content, *, gz=False):
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


def _match(path, text):
    """A ``match`` pattern requiring both the file name and ``text``."""
    return re.escape(str(path)) + ".*" + text


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "int16", "int32", "float32", "float64", ">i4", "<f8"]
)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)])
def test_round_trip(tmp_path, dtype, shape, gz):
    rng = np.random.RandomState(0)
    array = (rng.uniform(-100, 100, size=shape)).astype(dtype)
    path = tmp_path / ("a-idx.gz" if gz else "a-idx")
    save_idx(path, array)
    loaded = load_idx(path)
    assert loaded.shape == shape
    assert loaded.dtype == np.dtype(dtype).newbyteorder("=")
    assert loaded.dtype.isnative
    assert loaded.flags.writeable
    np.testing.assert_array_equal(loaded, array)
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left


def test_file_layout_is_big_endian_idx(tmp_path):
    path = tmp_path / "x-idx1-int"
    save_idx(path, np.array([1, 256], dtype=np.int32))
    assert path.read_bytes() == _raw(0x0C, (2,), b"\0\0\0\x01\0\0\x01\0")


def test_gzip_is_detected_by_content_and_reproducible(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_idx(tmp_path / "a.gz", array)
    save_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    # A gzip file without the .gz name, and a raw file with it, both load.
    os.rename(tmp_path / "a.gz", tmp_path / "a-raw-name")
    np.testing.assert_array_equal(load_idx(tmp_path / "a-raw-name"), array)
    _write(tmp_path / "raw.gz", _raw(0x08, (3, 4), array.tobytes()))
    np.testing.assert_array_equal(load_idx(tmp_path / "raw.gz"), array)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00", r"truncated header \(1 bytes"),
        (b"\x00\x00\x08", r"truncated header \(3 bytes"),
        (b"\x01\x02\x08\x01" + b"\0" * 8, "wrong magic number 0x01020801"),
        (b"\x1f\x9d\x08\x01" + b"\0" * 8, "wrong magic number"),
        (_raw(0x07, (2,), b"ab"), "unknown IDX data type code 0x07"),
        (_raw(0x08, ()), "declares 0 dimensions"),
        (_raw(0x08, (2, 3))[:-2], r"truncated IDX header: 2 dimensions need 8"),
        (_raw(0x08, (2, 3), b"x" * 5), "truncated IDX data.* 6 bytes.* only 5"),
        (_raw(0x08, (2, 3), b"x" * 8), "2 unexpected trailing bytes"),
        (_raw(0x0C, (2,), b"x" * 7), "truncated IDX data.* 8 bytes.* only 7"),
        (_raw(0x08, (2**32 - 1,) * 3, b"x"), "truncated IDX data|cannot be allocated"),
    ],
)
def test_damaged_files_raise_value_error_naming_file(tmp_path, content, message, gz):
    path = _write(tmp_path / "damaged-idx", content, gz=gz)
    with pytest.raises(ValueError, match=_match(path, message)):
        load_idx(path)


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(_raw(0x08, (100,), bytes(range(100))), mtime=0)
    # A cut-off stream.
    path = _write(tmp_path / "cut.gz", good[: len(good) // 2])
    with pytest.raises(ValueError, match=_match(path, "corrupt or truncated gzip")):
        load_idx(path)
    # A flipped byte in the CRC trailer.
    bad = bytearray(good)
    bad[-6] ^= 0xFF
    path = _write(tmp_path / "crc.gz", bytes(bad))
    with pytest.raises(ValueError, match=_match(path, "corrupt or truncated gzip")):
        load_idx(path)
    # Garbage after the gzip stream.
    path = _write(tmp_path / "tail.gz", good + b"garbage!")
    with pytest.raises(ValueError, match=_match(path, "corrupt or truncated gzip")):
        load_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_idx(tmp_path / "nope")


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros(3, dtype=np.int64), "Cannot write data of type int64"),
        (np.zeros(3, dtype=np.uint16), "Cannot write data of type uint16"),
        (np.array(3, dtype=np.uint8), "0-dimensional"),
    ],
)
def test_save_idx_rejects(tmp_path, array, message):
    with pytest.raises(ValueError, match=message):
        save_idx(tmp_path / "x", array)
    assert os.listdir(tmp_path) == []
