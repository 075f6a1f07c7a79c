"""Tests of skfmnist.datasets: search order, verification, cache, download, sample.

Everything runs offline: ``urlopen`` is replaced by a function that refuses, or
by a fake server, and the pinned file table by one for tiny files the tests
write themselves. One test, marked ``real_data``, loads the real data from a
system folder (the Debian package ``dataset-fashion-mnist``) or the folder named
by ``SKFMNIST_DATA``; it skips only if neither holds the files, and in CI that
skip is a failure (see ``conftest.py``).
"""

import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.error import HTTPError, URLError

import numpy as np
import pandas as pd
import pytest

from skfmnist.datasets import (
    CLASS_NAMES,
    _fetch,
    _sample,
    clear_data_home,
    fetch_fashion_mnist,
    get_data_home,
    load_sample,
    save_idx,
)
from skfmnist.datasets import _fashion_mnist as fm
from skfmnist.datasets._idx import _content_sha256

# Read before the autouse fixture clears it: a folder of real files, if any.
_USER_DATA = os.environ.get("SKFMNIST_DATA")
N_TRAIN, N_TEST = 30, 20
NAMES = list(fm.FILES)


def _no_network(url, *args, **kwargs):
    raise URLError("no network in tests")


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path_factory):
    """No network, no user data home, scikit-learn's data home in a temp folder."""
    monkeypatch.delenv("SKFMNIST_DATA", raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path_factory.mktemp("sk_home")))
    monkeypatch.setattr(_fetch, "urlopen", _no_network)


class Fake:
    """Tiny fake Fashion-MNIST files and the table that makes them verify."""

    def __init__(self, root):
        rng = np.random.RandomState(0)
        self.arrays = {}
        for split, n in (("train", N_TRAIN), ("test", N_TEST)):
            images_name, labels_name = fm.SPLITS[split]
            self.arrays[images_name] = rng.randint(0, 256, (n, 28, 28), np.uint8)
            self.arrays[labels_name] = rng.permutation(np.arange(n) % 10).astype(
                np.uint8
            )
        self.source = root / "system"
        self.source.mkdir()
        self.home = root / "home"
        self.cache = self.home / "fashion_mnist"
        self.table = {}
        self.gz = {}
        for name, array in self.arrays.items():
            self.gz[name] = self.write(self.source / f"{name}.gz", array)
            self.table[name] = fm.FileInfo(
                array.shape,
                _content_sha256(array),
                hashlib.sha256(self.gz[name]).hexdigest(),
            )

    @staticmethod
    def write(path, array):
        """Write ``array`` as gzip IDX at ``path``; return the file's bytes."""
        save_idx(path, array)
        return path.read_bytes()

    def expected(self, subset):
        splits = ("train", "test") if subset == "all" else (subset,)
        images = np.concatenate([self.arrays[fm.SPLITS[s][0]] for s in splits])
        labels = np.concatenate([self.arrays[fm.SPLITS[s][1]] for s in splits])
        return images, labels


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Fake files in a fake system folder; the pinned table made to match them."""
    data = Fake(tmp_path)
    monkeypatch.setattr(fm, "FILES", data.table)
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", (str(data.source),))
    return data


class FakeServer:
    """Stands in for ``urlopen``: serves bytes, raises, or fails mid-stream."""

    def __init__(self, routes):
        self.routes = routes
        self.calls = []

    def __call__(self, url, timeout=None):
        self.calls.append(url)
        answer = self.routes.get(url, URLError("unknown host"))
        if callable(answer) and not isinstance(answer, BaseException):
            answer = answer()
        if isinstance(answer, BaseException):
            raise answer
        return answer if isinstance(answer, FakeResponse) else FakeResponse(answer)


class FakeResponse(io.BytesIO):
    def __init__(self, data, fail_after=None):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}
        self.fail_after = fail_after

    def read(self, size=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(size if self.fail_after is None else 4)


def _urls(name):
    return [mirror + f"{name}.gz" for mirror in fm.MIRRORS]


def _serve_all(fake, mirror=0):
    return {_urls(name)[mirror]: gz for name, gz in fake.gz.items()}


def _leftovers(folder):
    """Temporary files left in ``folder``."""
    return [p for p in os.listdir(folder) if p.endswith(".part")]


# --------------------------------------------------------------------------
# data home


def test_get_data_home_order(tmp_path, monkeypatch):
    explicit = tmp_path / "explicit" / "nested"
    assert get_data_home(explicit) == str(explicit)
    assert explicit.is_dir()
    monkeypatch.setenv("SKFMNIST_DATA", str(tmp_path / "from_env"))
    assert get_data_home() == str(tmp_path / "from_env")
    assert get_data_home(str(explicit)) == str(explicit)  # the argument wins
    monkeypatch.setenv("SKFMNIST_DATA", "")  # empty means unset
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sk"))
    assert get_data_home() == str(tmp_path / "sk")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home("~/tilde") == str(tmp_path / "tilde")


@pytest.mark.parametrize("bad", [1, b"bytes", ["list"]])
def test_get_data_home_type_error(bad):
    with pytest.raises(TypeError, match="'data_home' parameter"):
        get_data_home(bad)
    with pytest.raises(TypeError, match="'data_home' parameter"):
        fetch_fashion_mnist(data_home=bad)


def test_clear_data_home_removes_only_own_folder(fake):
    fetch_fashion_mnist(data_home=fake.home)
    (fake.home / "other.txt").write_text("keep me")
    assert fake.cache.is_dir()
    clear_data_home(fake.home)
    assert sorted(os.listdir(fake.home)) == ["other.txt"]
    clear_data_home(fake.home)  # nothing to remove is fine


# --------------------------------------------------------------------------
# loading, Bunch layout


@pytest.mark.parametrize("subset", ["train", "test", "all"])
def test_fetch_bunch_layout(fake, subset):
    images, labels = fake.expected(subset)
    bunch = fetch_fashion_mnist(subset=subset, data_home=fake.home)
    n = len(labels)
    assert set(bunch) == {
        "data",
        "images",
        "target",
        "target_names",
        "feature_names",
        "frame",
        "DESCR",
    }
    assert bunch.data.shape == (n, 784) and bunch.data.dtype == np.uint8
    assert bunch.images.shape == (n, 28, 28) and bunch.images.dtype == np.uint8
    assert np.shares_memory(bunch.data, bunch.images)  # a view, not a copy
    assert bunch.target.shape == (n,) and bunch.target.dtype == np.int64
    np.testing.assert_array_equal(bunch.images, images)
    np.testing.assert_array_equal(bunch.target, labels)
    assert bunch.target_names.tolist() == list(CLASS_NAMES)
    assert bunch.feature_names[:2] == ["pixel_0", "pixel_1"]
    assert bunch.feature_names[-1] == "pixel_783" and len(bunch.feature_names) == 784
    assert bunch.frame is None
    for text in ("Zalando SE", "MIT", "60,000", "Ankle boot", "SHA256"):
        assert text in bunch.DESCR


def test_class_names():
    assert CLASS_NAMES == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )  # fmt: skip


def test_return_X_y_and_as_frame(fake):
    images, labels = fake.expected("train")
    X, y = fetch_fashion_mnist(data_home=fake.home, return_X_y=True)
    assert X.shape == (N_TRAIN, 784) and y.shape == (N_TRAIN,)
    bunch = fetch_fashion_mnist(data_home=fake.home, as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame) and bunch.data.shape == (N_TRAIN, 784)
    assert list(bunch.data.columns) == bunch.feature_names
    assert (bunch.data.dtypes == np.uint8).all()
    assert np.shares_memory(bunch.data.to_numpy(), bunch.images)
    assert isinstance(bunch.target, pd.Series) and bunch.target.name == "label"
    assert bunch.target.cat.categories.tolist() == list(CLASS_NAMES)
    np.testing.assert_array_equal(bunch.target.cat.codes, labels)
    assert bunch.frame.shape == (N_TRAIN, 785)
    assert list(bunch.frame.columns) == [*bunch.feature_names, "label"]
    assert bunch.frame["label"].equals(bunch.target)
    X, y = fetch_fashion_mnist(data_home=fake.home, return_X_y=True, as_frame=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)
    assert y.iloc[0] == CLASS_NAMES[labels[0]]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"subset": "validation"}, ValueError, "'subset' parameter"),
        ({"subset": None}, ValueError, "'subset' parameter"),
        ({"n_retries": -1}, ValueError, "'n_retries' parameter"),
        ({"n_retries": 1.5}, TypeError, "'n_retries' parameter"),
        ({"delay": -1.0}, ValueError, "'delay' parameter"),
        ({"as_frame": "yes"}, TypeError, "'as_frame' parameter"),
        ({"return_X_y": None}, TypeError, "'return_X_y' parameter"),
        ({"download_if_missing": "no"}, TypeError, "'download_if_missing'"),
        ({"verbose": "loud"}, TypeError, "'verbose' parameter"),
    ],
)
def test_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        fetch_fashion_mnist(**kwargs)


def test_positional_arguments_rejected():
    with pytest.raises(TypeError):
        fetch_fashion_mnist("train")
    with pytest.raises(TypeError):
        load_sample("train")


# --------------------------------------------------------------------------
# search order and cache


def test_cache_written_and_reused(fake, monkeypatch):
    fetch_fashion_mnist(subset="all", data_home=fake.home)
    assert sorted(os.listdir(fake.cache)) == sorted(f"{n}.npy" for n in NAMES)
    # The system folder goes away: the cache alone is enough, and is used.
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    bunch = fetch_fashion_mnist(subset="all", data_home=fake.home)
    np.testing.assert_array_equal(bunch.images, fake.expected("all")[0])
    np.testing.assert_array_equal(bunch.target, fake.expected("all")[1])


def test_cache_is_valid_npy(fake):
    fetch_fashion_mnist(subset="test", data_home=fake.home)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        cached = np.load(fake.cache / f"{name}.npy")
        np.testing.assert_array_equal(cached, fake.arrays[name])


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "SHA256 of the decompressed content"),
        (lambda b: b[:-10], "holds .* bytes of data"),
        (lambda b: b + b"\0", "holds .* bytes of data"),
        (lambda b: b"garbage" + b, "magic"),
        (lambda b: b"", "magic|EOF"),
    ],
)
def test_damaged_cache_ignored_and_rebuilt(fake, monkeypatch, damage, message):
    fetch_fashion_mnist(data_home=fake.home)
    npy = fake.cache / "train-images-idx3-ubyte.npy"
    npy.write_bytes(damage(npy.read_bytes()))
    with pytest.warns(UserWarning, match="damaged cache file.*" + message):
        bunch = fetch_fashion_mnist(data_home=fake.home)
    np.testing.assert_array_equal(bunch.images, fake.expected("train")[0])
    # The cache was rebuilt from the source, and is now used on its own.
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    bunch = fetch_fashion_mnist(data_home=fake.home)
    np.testing.assert_array_equal(bunch.images, fake.expected("train")[0])


def test_damaged_cache_and_no_source_is_an_error(fake, monkeypatch):
    fetch_fashion_mnist(data_home=fake.home)
    npy = fake.cache / "train-labels-idx1-ubyte.npy"
    content = bytearray(npy.read_bytes())
    content[-1] = (content[-1] + 1) % 10
    npy.write_bytes(bytes(content))
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    with pytest.warns(UserWarning), pytest.raises(OSError) as info:
        fetch_fashion_mnist(data_home=fake.home, download_if_missing=False)
    assert f"{npy}: SHA256 of the decompressed content" in str(info.value)


def test_wrong_shape_cache_ignored(fake):
    fetch_fashion_mnist(data_home=fake.home)
    np.save(fake.cache / "train-labels-idx1-ubyte.npy", np.zeros(5, np.int64))
    with pytest.warns(UserWarning, match=r"cached array is int64 of shape \(5,\)"):
        bunch = fetch_fashion_mnist(data_home=fake.home)
    np.testing.assert_array_equal(bunch.target, fake.expected("train")[1])


@pytest.mark.parametrize("where", ["home", "cache"])
@pytest.mark.parametrize("compressed", [True, False])
def test_files_found_in_data_home(fake, monkeypatch, where, compressed):
    folder = fake.home if where == "home" else fake.cache
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in fake.arrays.items():
        save_idx(folder / (f"{name}.gz" if compressed else name), array)
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    bunch = fetch_fashion_mnist(subset="all", data_home=fake.home)
    np.testing.assert_array_equal(bunch.images, fake.expected("all")[0])
    assert (fake.cache / "train-images-idx3-ubyte.npy").is_file()


def test_env_var_names_the_data_home(fake, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    monkeypatch.setenv("SKFMNIST_DATA", str(fake.source))
    bunch = fetch_fashion_mnist(subset="test")
    np.testing.assert_array_equal(bunch.target, fake.expected("test")[1])
    assert (fake.source / "fashion_mnist" / "t10k-labels-idx1-ubyte.npy").is_file()


def test_unwritable_cache_is_not_an_error(fake, monkeypatch):
    def refuse(path):
        raise PermissionError(f"read-only: {path}")

    monkeypatch.setattr(fm, "_atomic_open", refuse)
    bunch = fetch_fashion_mnist(data_home=fake.home)
    np.testing.assert_array_equal(bunch.target, fake.expected("train")[1])
    assert not any(fake.cache.glob("*.npy"))


def test_damaged_source_skipped_for_a_good_one(fake):
    # A damaged copy in the data home comes first; the system folder is good.
    fake.home.mkdir()
    bad = fake.home / "train-images-idx3-ubyte.gz"
    bad.write_bytes(fake.gz["train-images-idx3-ubyte"][:100])
    with pytest.warns(UserWarning, match=re.escape(str(bad)) + ".*gzip"):
        bunch = fetch_fashion_mnist(data_home=fake.home)
    np.testing.assert_array_equal(bunch.images, fake.expected("train")[0])


def _only_source(fake, name, content):
    """Replace the system folder's copy of ``name`` by ``content``."""
    path = fake.source / f"{name}.gz"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "name, make, message",
    [
        (
            "train-images-idx3-ubyte",
            lambda a: gzip.compress(a[:, ::-1].tobytes()),
            "not an IDX file: wrong magic number",
        ),
        (
            "train-images-idx3-ubyte",
            lambda a: Fake.gz_of(a)[:-200],
            "corrupt or truncated gzip",
        ),
        (
            "train-images-idx3-ubyte",
            lambda a: Fake.gz_of(a[:-1]),
            r"IDX header declares shape \(29, 28, 28\), expected \(30, 28, 28\)",
        ),
        (
            "train-images-idx3-ubyte",
            lambda a: Fake.gz_of(a.astype(np.int32)),
            "IDX header declares data type >i4, expected uint8",
        ),
        (
            "train-images-idx3-ubyte",
            lambda a: Fake.gz_of(255 - a),
            "SHA256 of the decompressed content is [0-9a-f]{64}, expected",
        ),
        (  # a labels file whose count does not match the images
            "train-labels-idx1-ubyte",
            lambda a: Fake.gz_of(a[:-1]),
            r"IDX header declares shape \(29,\), expected \(30,\)",
        ),
        (
            "t10k-labels-idx1-ubyte",
            lambda a: gzip.compress(b"\0\0\x08\x01\0\0\0\x14" + a.tobytes() + b"!"),
            "1 unexpected trailing bytes",
        ),
    ],
)
def test_damaged_only_source_is_a_clear_error(fake, name, make, message):
    path = _only_source(fake, name, make(fake.arrays[name]))
    with pytest.warns(UserWarning), pytest.raises(OSError) as info:
        fetch_fashion_mnist(
            subset="all", data_home=fake.home, download_if_missing=False
        )
    assert re.search(re.escape(str(path)) + ": " + message, str(info.value))
    assert f"Cannot load the Fashion-MNIST file {name!r}" in str(info.value)
    assert not (fake.cache / f"{name}.npy").exists()


def _gz_of(array):
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        f.write(b"\0\0" + bytes([{1: 0x08, 4: 0x0C}[array.dtype.itemsize]]))
        f.write(bytes([array.ndim]))
        f.write(np.array(array.shape, ">u4").tobytes())
        f.write(array.astype(array.dtype.newbyteorder(">")).tobytes())
    return buffer.getvalue()


Fake.gz_of = staticmethod(_gz_of)


def test_label_out_of_range(fake, monkeypatch):
    name = "t10k-labels-idx1-ubyte"
    labels = fake.arrays[name].copy()
    labels[3] = 12
    content = fake.write(fake.source / f"{name}.gz", labels)
    fake.table[name] = fm.FileInfo(
        labels.shape, _content_sha256(labels), hashlib.sha256(content).hexdigest()
    )
    with pytest.warns(UserWarning), pytest.raises(OSError, match="label 12 out of"):
        fetch_fashion_mnist(
            subset="test", data_home=fake.home, download_if_missing=False
        )


def test_inconsistent_table(fake):
    fake.table["t10k-labels-idx1-ubyte"] = fake.table["train-labels-idx1-ubyte"]
    with pytest.raises(ValueError, match="Inconsistent file table"):
        fetch_fashion_mnist(subset="test", data_home=fake.home)


# --------------------------------------------------------------------------
# offline errors


def test_offline_without_download(fake, monkeypatch, tmp_path):
    server = FakeServer({})
    monkeypatch.setattr(_fetch, "urlopen", server)
    empty = tmp_path / "empty"
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", (str(empty), "/nonexistent/fm"))
    with pytest.raises(OSError, match="No download was tried") as info:
        fetch_fashion_mnist(data_home=fake.home, download_if_missing=False)
    message = str(info.value)
    assert server.calls == []
    assert "'train-images-idx3-ubyte'" in message
    for folder in (fake.cache, fake.home, empty, "/nonexistent/fm"):
        assert f"{folder}: no train-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data_home=" in message and "SKFMNIST_DATA" in message
    assert fm.MIRRORS[0] in message
    assert "download_if_missing=True" in message


def test_offline_download_fails(fake, monkeypatch):
    server = FakeServer({})  # every URL: URLError("unknown host")
    monkeypatch.setattr(_fetch, "urlopen", server)
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    with pytest.raises(OSError) as info:
        fetch_fashion_mnist(data_home=fake.home, n_retries=2, delay=0, verbose=False)
    message = str(info.value)
    assert "download of train-images-idx3-ubyte.gz failed" in message
    assert "unknown host" in message and "(attempt 3)" in message
    assert (
        server.calls
        == _urls("train-images-idx3-ubyte")[:1] * 3
        + _urls("train-images-idx3-ubyte")[1:] * 3
    )
    assert "apt-get install dataset-fashion-mnist" in message
    assert os.listdir(fake.cache) == []  # nothing half-written


def test_default_no_network_message(fake, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    with pytest.raises(OSError, match="(?s)download of .* failed.*no network"):
        fetch_fashion_mnist(data_home=fake.home, n_retries=0, verbose=False)


# --------------------------------------------------------------------------
# downloads


def test_download(fake, monkeypatch, capsys):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    server = FakeServer(_serve_all(fake))
    monkeypatch.setattr(_fetch, "urlopen", server)
    bunch = fetch_fashion_mnist(subset="all", data_home=fake.home, verbose=False)
    np.testing.assert_array_equal(bunch.images, fake.expected("all")[0])
    assert len(server.calls) == 4
    assert sorted(os.listdir(fake.cache)) == sorted(
        [f"{n}.gz" for n in NAMES] + [f"{n}.npy" for n in NAMES]
    )
    assert capsys.readouterr().err == ""
    # Second call: from the cache, no network.
    fetch_fashion_mnist(subset="all", data_home=fake.home)
    assert len(server.calls) == 4


def test_download_progress_when_verbose(fake, monkeypatch, capsys):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    monkeypatch.setattr(_fetch, "urlopen", FakeServer(_serve_all(fake)))
    fetch_fashion_mnist(subset="test", data_home=fake.home)
    err = capsys.readouterr().err
    assert "Downloading t10k-images-idx3-ubyte.gz: 100%" in err
    assert "Downloading t10k-labels-idx1-ubyte.gz: 100%" in err


def test_download_falls_back_to_second_mirror(fake, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    routes = _serve_all(fake, mirror=1)
    for name in NAMES:
        routes[_urls(name)[0]] = HTTPError(_urls(name)[0], 404, "Not Found", {}, None)
    server = FakeServer(routes)
    monkeypatch.setattr(_fetch, "urlopen", server)
    bunch = fetch_fashion_mnist(data_home=fake.home, delay=0, verbose=False)
    np.testing.assert_array_equal(bunch.target, fake.expected("train")[1])
    # A 404 is not retried: one try on the first mirror, then the second.
    assert server.calls[:2] == _urls("train-images-idx3-ubyte")


def test_download_retries_after_interruption(fake, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    name = "t10k-labels-idx1-ubyte"
    attempts = []

    def flaky():
        attempts.append(sorted(os.listdir(fake.cache)))
        if len(attempts) < 3:
            return FakeResponse(fake.gz[name], fail_after=8)
        return FakeResponse(fake.gz[name])

    routes = _serve_all(fake)
    routes[_urls(name)[0]] = flaky
    monkeypatch.setattr(_fetch, "urlopen", FakeServer(routes))
    bunch = fetch_fashion_mnist(subset="test", data_home=fake.home, delay=0)
    np.testing.assert_array_equal(bunch.target, fake.expected("test")[1])
    assert len(attempts) == 3
    # During each attempt exactly one temporary file exists: a failed attempt's
    # file was deleted before the next one started. None is left at the end.
    for listing in attempts:
        assert len([p for p in listing if p.endswith(".part")]) == 1
    assert _leftovers(fake.cache) == []


def test_download_checksum_mismatch(fake, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    routes = _serve_all(fake)
    name = "train-images-idx3-ubyte"
    for url in _urls(name):
        routes[url] = b"junk" + fake.gz[name]
    monkeypatch.setattr(_fetch, "urlopen", FakeServer(routes))
    with pytest.raises(OSError, match="SHA256 of the download is") as info:
        fetch_fashion_mnist(data_home=fake.home, n_retries=1, delay=0)
    assert fake.table[name].gz_sha256 in str(info.value)
    assert os.listdir(fake.cache) == []


def test_download_short_read(fake, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())

    class Short(FakeResponse):
        def __init__(self, data):
            super().__init__(data[:-5])
            self.headers = {"Content-Length": str(len(data))}

    name = "train-images-idx3-ubyte"
    routes = {url: (lambda: Short(fake.gz[name])) for url in _urls(name)}
    monkeypatch.setattr(_fetch, "urlopen", FakeServer(routes))
    with pytest.raises(OSError, match="incomplete download"):
        fetch_fashion_mnist(data_home=fake.home, n_retries=0, delay=0)
    assert os.listdir(fake.cache) == []


def test_download_is_atomic(fake, monkeypatch):
    """The file appears by one os.replace of a temp file in the same folder."""
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    monkeypatch.setattr(_fetch, "urlopen", FakeServer(_serve_all(fake)))
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        assert not Path(dst).exists()  # never written in place
        replaced.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(_fetch.os, "replace", spy)
    fetch_fashion_mnist(subset="test", data_home=fake.home, verbose=False)
    gz = [(s, d) for s, d in replaced if d.suffix == ".gz"]
    npy = [(s, d) for s, d in replaced if d.suffix == ".npy"]
    assert len(gz) == 2 and len(npy) == 2
    for src, dst in replaced:
        assert src.parent == dst.parent == fake.cache
        assert src.name.startswith(f".{dst.name}.") and src.name.endswith(".part")
    assert _leftovers(fake.cache) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_interrupted_download_leaves_nothing(fake, monkeypatch, error):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())

    class Interrupted(FakeResponse):
        def read(self, size=-1):
            if self.tell():
                raise error()
            return super().read(10)

    name = "train-images-idx3-ubyte"
    routes = {_urls(name)[0]: lambda: Interrupted(fake.gz[name])}
    monkeypatch.setattr(_fetch, "urlopen", FakeServer(routes))
    with pytest.raises(error):
        fetch_fashion_mnist(data_home=fake.home, verbose=False)
    assert os.listdir(fake.cache) == []


def test_failed_replace_leaves_nothing(fake, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    monkeypatch.setattr(_fetch, "urlopen", FakeServer(_serve_all(fake)))

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(_fetch.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        fetch_fashion_mnist(data_home=fake.home, n_retries=0, delay=0)
    assert os.listdir(fake.cache) == []


def test_damaged_download_in_cache_is_replaced(fake, monkeypatch):
    """A bad .gz in the cache folder is skipped, then overwritten by a download."""
    monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
    monkeypatch.setattr(_fetch, "urlopen", FakeServer(_serve_all(fake)))
    fake.cache.mkdir(parents=True)
    name = "train-labels-idx1-ubyte"
    (fake.cache / f"{name}.gz").write_bytes(b"\0\0\x08\x01junk")
    with pytest.warns(UserWarning, match="Ignoring damaged file"):
        fetch_fashion_mnist(data_home=fake.home, verbose=False)
    assert (fake.cache / f"{name}.gz").read_bytes() == fake.gz[name]


# --------------------------------------------------------------------------
# bundled sample


@pytest.mark.parametrize("subset, per_class", [("train", 200), ("test", 100)])
def test_load_sample_balanced(subset, per_class):
    bunch = load_sample(subset=subset)
    n = 10 * per_class
    assert bunch.data.shape == (n, 784) and bunch.data.dtype == np.uint8
    assert bunch.images.shape == (n, 28, 28)
    assert np.shares_memory(bunch.data, bunch.images)
    assert bunch.target.dtype == np.int64
    assert np.bincount(bunch.target, minlength=10).tolist() == [per_class] * 10
    assert bunch.target_names.tolist() == list(CLASS_NAMES)
    assert bunch.feature_names == [f"pixel_{i}" for i in range(784)]
    assert "How it was drawn" in bunch.DESCR and "Zalando SE" in bunch.DESCR
    assert 0 < bunch.images.mean() < 255


def test_load_sample_all_and_frames():
    train, test = load_sample(subset="train"), load_sample(subset="test")
    X, y = load_sample(subset="all", return_X_y=True)
    assert X.shape == (3000, 784)
    np.testing.assert_array_equal(X, np.concatenate([train.data, test.data]))
    np.testing.assert_array_equal(y, np.concatenate([train.target, test.target]))
    bunch = load_sample(subset="all", as_frame=True)
    assert bunch.frame.shape == (3000, 785)
    assert bunch.target.value_counts().tolist() == [300] * 10
    assert bunch.target.cat.categories.tolist() == list(CLASS_NAMES)


def test_load_sample_invalid():
    with pytest.raises(ValueError, match="'subset' parameter"):
        load_sample(subset="validation")


def test_load_sample_checks_sha256(monkeypatch):
    monkeypatch.setattr(_sample, "SAMPLE_SHA256", "0" * 64)
    with pytest.raises(OSError, match="bundled sample .* is damaged"):
        load_sample()


def test_bundled_sample_file():
    path = Path(_sample.__file__).parent / "data" / _sample.SAMPLE_FILENAME
    assert path.stat().st_size < 2_000_000
    with np.load(path) as npz:
        arrays = dict(npz)
    assert set(arrays) == {
        f"{s}_{k}" for s in ("train", "test") for k in ("images", "labels", "index")
    }
    # The stored row numbers are the documented draw from the stored labels:
    # each class's rows are sorted, unique and within the official file.
    assert np.all(np.diff(arrays["train_index"]) > 0)
    assert arrays["train_index"].max() < 60000 and arrays["test_index"].max() < 10000
    # Rebuilding the file from the arrays gives the same bytes.
    assert _sample._npz_bytes(arrays) == path.read_bytes()


def test_draw_is_stratified_and_deterministic():
    labels = np.repeat(np.arange(10), 7)[::-1]
    rows = _sample._draw(labels, 3, seed=5)
    assert np.bincount(labels[rows]).tolist() == [3] * 10
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, _sample._draw(labels, 3, seed=5))
    for c in range(10):
        expected = np.random.RandomState(5 + c).choice(
            np.flatnonzero(labels == c), 3, replace=False
        )
        assert set(rows[labels[rows] == c]) == set(expected)


def test_sample_generator(fake, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(_sample, "SAMPLE_DESIGN", {"train": (2, 0), "test": (1, 10)})
    output = tmp_path / "sample.npz"
    argv = ["--data-home", str(fake.home), "--output", str(output), "--no-download"]
    assert _sample.main(argv) == 0
    assert "SHA256" in capsys.readouterr().out
    with np.load(output) as npz:
        arrays = dict(npz)
    for split in ("train", "test"):
        images, labels = fake.expected(split)
        rows = arrays[f"{split}_index"]
        np.testing.assert_array_equal(arrays[f"{split}_images"], images[rows])
        np.testing.assert_array_equal(arrays[f"{split}_labels"], labels[rows])
    assert len(arrays["train_index"]) == 20 and len(arrays["test_index"]) == 10
    # --check compares with the real bundled sample: a fake draw differs.
    assert _sample.main(["--data-home", str(fake.home), "--check"]) == 1
    assert "MISMATCH" in capsys.readouterr().out


# --------------------------------------------------------------------------
# the real data


def _real_data_dirs():
    folders = [*fm.SYSTEM_DATA_DIRS, *([_USER_DATA] if _USER_DATA else [])]
    return [
        f
        for f in folders
        if all(os.path.isfile(os.path.join(f, f"{n}.gz")) for n in NAMES)
    ]


def _recording(read, paths):
    """Wrap the reader ``read`` so that it appends each path it reads to ``paths``."""

    def wrapper(path, info, out):
        paths.append(path)
        return read(path, info, out)

    return wrapper


@pytest.mark.real_data
def test_real_data(tmp_path, monkeypatch):
    folders = _real_data_dirs()
    if not folders:
        pytest.skip(
            "real Fashion-MNIST files not installed (apt-get install "
            "dataset-fashion-mnist, or set SKFMNIST_DATA to a folder with them)"
        )
    # Found by the loader's own search, as a user's machine would: a system
    # folder, or the data home named by SKFMNIST_DATA. That data home is a
    # fresh folder of links, so that the cache starts cold and lands here.
    home = tmp_path / "home"
    if folders[0] == _USER_DATA:
        home.mkdir()
        for name in NAMES:
            (home / f"{name}.gz").symlink_to(Path(_USER_DATA, f"{name}.gz"))
        monkeypatch.setenv("SKFMNIST_DATA", str(home))
        monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", ())
        data_home = None
    else:
        monkeypatch.setattr(fm, "SYSTEM_DATA_DIRS", (folders[0],))
        data_home = home
    reads = {"idx": [], "npy": []}
    for kind, name in (("idx", "_read_idx_verified"), ("npy", "_read_npy_verified")):
        monkeypatch.setattr(fm, name, _recording(getattr(fm, name), reads[kind]))
    bunch = fetch_fashion_mnist(
        subset="all", data_home=data_home, download_if_missing=False
    )
    # A cold data home: each file read once from its verified source.
    assert sorted(Path(p).name for p in reads["idx"]) == sorted(
        f"{n}.gz" for n in NAMES
    )
    assert reads["npy"] == []
    assert bunch.images.shape == (70000, 28, 28) and bunch.images.dtype == np.uint8
    assert bunch.data.shape == (70000, 784)
    assert bunch.target.dtype == np.int64
    train, test = bunch.target[:60000], bunch.target[60000:]
    assert np.bincount(train).tolist() == [6000] * 10
    assert np.bincount(test).tolist() == [1000] * 10
    assert train[:5].tolist() == [9, 0, 0, 3, 0]
    assert test[:5].tolist() == [9, 2, 1, 1, 6]
    assert bunch.target_names[test[:3]].tolist() == [
        "Ankle boot",
        "Pullover",
        "Trouser",
    ]
    assert bunch.images.min() == 0 and bunch.images.max() == 255

    # Later loads: the same data from the verified .npy cache alone; no
    # source file is read again.
    reads["idx"].clear()
    for subset, rows in (("train", slice(0, 60000)), ("test", slice(60000, None))):
        part = fetch_fashion_mnist(
            subset=subset, data_home=data_home, download_if_missing=False
        )
        np.testing.assert_array_equal(part.images, bunch.images[rows])
        np.testing.assert_array_equal(part.target, bunch.target[rows])
    assert reads["idx"] == []
    assert sorted(Path(p).name for p in reads["npy"]) == sorted(
        f"{n}.npy" for n in NAMES
    )
    assert all(Path(p).parent == home / "fashion_mnist" for p in reads["npy"])

    # The bundled sample is exactly the documented draw from this data.
    arrays = _sample._read_sample()
    for subset, offset in (("train", 0), ("test", 60000)):
        rows = arrays[f"{subset}_index"]
        per_class, seed = _sample.SAMPLE_DESIGN[subset]
        labels = bunch.target[offset : offset + (60000 if offset == 0 else 10000)]
        np.testing.assert_array_equal(rows, _sample._draw(labels, per_class, seed))
        np.testing.assert_array_equal(
            arrays[f"{subset}_images"], bunch.images[offset + rows]
        )
        np.testing.assert_array_equal(arrays[f"{subset}_labels"], labels[rows])


@pytest.mark.parametrize(
    "env, summary",
    [
        ({}, "2 skipped"),
        ({"CI": "true"}, "1 failed, 1 skipped"),
        ({"SKFMNIST_REQUIRE_REAL_DATA": "1"}, "1 failed, 1 skipped"),
        ({"CI": "true", "SKFMNIST_REQUIRE_REAL_DATA": "0"}, "2 skipped"),
    ],
)
def test_real_data_skip_is_a_failure_in_ci(tmp_path, env, summary):
    """conftest.py's rule, run by pytest on a real_data test that skips."""
    conftest = Path(__file__).with_name("conftest.py")
    (tmp_path / "conftest.py").write_text(conftest.read_text())
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.real_data\n"
        "def test_needs_data():\n"
        "    pytest.skip('no files here')\n\n"
        "def test_other():\n"
        "    pytest.skip('not about data')\n"
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "SKFMNIST_REQUIRE_REAL_DATA")
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs"],
        cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True,
        timeout=120,
    )
    assert summary in result.stdout, result.stdout + result.stderr
    if "failed" in summary:
        assert result.returncode == 1
        assert "test_needs_data needs the real Fashion-MNIST data" in result.stdout
        assert "it skipped: no files here" in result.stdout
    else:
        assert result.returncode == 0
