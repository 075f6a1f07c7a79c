"""Safe model files: skfmnist.save / skfmnist.load on skops."""

import contextlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skfmnist import (
    ConvClassifier,
    DenseClassifier,
    PixelScaler,
    load,
    load_sample,
    save,
)
from skfmnist.persistence import UntrustedTypesError


@pytest.fixture(scope="module")
def sample():
    data = load_sample(subset="train")
    return data.images[:300], data.target[:300]


def _models():
    dense = DenseClassifier(hidden_layer_sizes=(16,), epochs=2, random_state=0)
    conv = ConvClassifier(filters=(4,), dense_units=8, epochs=1, random_state=0)
    return {
        "dense": Pipeline([("scale", PixelScaler()), ("clf", dense)]),
        "conv": Pipeline([("scale", PixelScaler(flatten=False)), ("clf", conv)]),
        "standard-scaler": Pipeline([("scale", PixelScaler()),
                                     ("std", StandardScaler()),
                                     ("clf", clone(dense))]),
        "dense-alone": clone(dense),
    }


@pytest.fixture(scope="module")
def saved(sample, tmp_path_factory):
    X, y = sample
    names = np.array([f"class-{label}" for label in range(10)])
    folder = tmp_path_factory.mktemp("models")
    fitted = {}
    for name, model in _models().items():
        if name == "dense-alone":
            model.fit(X.reshape(len(X), -1) / 255.0, names[y])  # string labels
        else:
            model.fit(X, y)
        fitted[name] = (model, save(model, folder / f"{name}.skops"))
    return fitted


CHILD = """
import sys, numpy as np, skfmnist
X = np.load(sys.argv[1])
for path in sys.argv[2:]:
    model = skfmnist.load(path)
    Xin = X.reshape(len(X), -1) / 255.0 if "alone" in path else X
    np.save(path + ".proba.npy", model.predict_proba(Xin))
    print(path, [str(c) for c in model.classes_[:2]])
"""


def test_round_trip_in_a_fresh_process_is_bitwise(saved, sample, tmp_path):
    X, _ = sample
    np.save(tmp_path / "X.npy", X)
    paths = [str(path) for _, path in saved.values()]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "X.npy"), *paths],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for name, (model, path) in saved.items():
        Xin = X.reshape(len(X), -1) / 255.0 if name == "dense-alone" else X
        loaded = np.load(str(path) + ".proba.npy")
        np.testing.assert_array_equal(loaded, model.predict_proba(Xin), err_msg=name)
    assert "['class-0', 'class-1']" in result.stdout


def test_continued_training_after_loading_equals_training_on(saved, sample):
    X, y = sample
    for name in ("dense", "conv"):
        model, path = saved[name]
        loaded = load(path)
        again = pickle.loads(pickle.dumps(model))  # an independent copy
        for pipe in (loaded, again):
            pipe.set_params(clf__warm_start=True, clf__epochs=1).fit(X, y)
        np.testing.assert_array_equal(loaded.predict_proba(X), again.predict_proba(X))


def test_callbacks_are_not_saved(sample, tmp_path):
    from skfmnist._engine.runtime import import_keras

    X, y = sample
    keras = import_keras()
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1)
    clf = DenseClassifier(hidden_layer_sizes=(8,), epochs=1, callbacks=[stop],
                          random_state=0).fit(X.reshape(len(X), -1) / 255, y)
    with pytest.warns(UserWarning, match="EarlyStopping.*callbacks=None"):
        path = save(clf, tmp_path / "model.skops")
    assert load(path).callbacks is None
    assert clf.callbacks == [stop]


# -- files crafted to run code ------------------------------------------------

_ids = iter(range(10**6, 10**7))


def _node(cls, module, loader, **fields):
    return {"__class__": cls, "__module__": module, "__loader__": loader,
            "__id__": next(_ids), **fields}


def _text(value):
    return _node("str", "builtins", "JsonNode", content=json.dumps(value),
                 is_json=True)


def _call(module, name, *args):
    """A node that, once its type is trusted, calls ``module.name(*args)``."""
    args = _node("tuple", "builtins", "TupleNode", content=[_text(a) for a in args])
    return _node(name, module, "ConstructorFromReduceNode", content=args)


def _reference(node):
    """``node`` as a mere reference to its type, which no skops version calls."""
    return _node(node["__class__"], node["__module__"], "ObjectNode",
                 content=_node("dict", "builtins", "DictNode", content={},
                               key_types=_node("list", "builtins", "ListNode",
                                               content=[])))


def _craft(path, source, payload):
    """``source`` with the PixelScaler's ``max_value`` replaced by ``payload``."""
    with zipfile.ZipFile(source) as original:
        files = {name: original.read(name) for name in original.namelist()}
    schema = json.loads(files["schema.json"])
    scaler = schema["content"]["content"]["steps"]["content"][0]["content"][1]
    scaler["content"]["content"]["max_value"] = payload
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as crafted:
        for name, data in files.items():
            crafted.writestr(name, data)
    return path


def _attacks(marker):
    function = _call("builtins", "open", str(marker), "w")
    key_types = _node("list", "builtins", "ListNode",
                      content=[_node("str", "builtins", "TypeNode")])
    lambda_layer = _node(
        "Lambda", "keras.src.layers.core.lambda_layer", "ObjectNode",
        content=_node("dict", "builtins", "DictNode", content={"function": function},
                      key_types=key_types),
    )
    return {
        "os.system": _call("os", "system", f": > '{marker}'"),
        "keras Lambda": lambda_layer,
    }


@pytest.mark.parametrize("attack", ["os.system", "keras Lambda"])
def test_file_that_would_run_code_is_refused(saved, tmp_path, attack):
    marker = tmp_path / "ran"
    payload = _attacks(marker)[attack]
    path = _craft(tmp_path / "model.skops", saved["dense"][1], payload)
    try:
        sio.get_untrusted_types(file=path)
        callable_node = True
    except TypeError:  # skops older than its node that calls a constructor
        callable_node = False
        path = _craft(path, saved["dense"][1], _reference(payload))
    with pytest.raises(UntrustedTypesError, match="types that are not trusted") as err:
        load(path)
    expected = {"os.system": "os.system",
                "keras Lambda": "keras.src.layers.core.lambda_layer.Lambda"}[attack]
    assert expected in err.value.types
    assert not marker.exists()
    if callable_node:
        # The file is a real attack: trusting its types runs its code.
        with contextlib.suppress(Exception):  # whatever happens after the call
            sio.load(path, trusted=sio.get_untrusted_types(file=path))
        assert marker.exists()


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_is_refused_without_being_opened(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="is a pickle, which load never opens"):
        load(path)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # what loading it as a pickle would do
    assert marker.exists()


def test_pickled_array_inside_a_skops_file_is_refused(saved, tmp_path):
    source = saved["dense"][1]
    with zipfile.ZipFile(source) as original:
        files = {name: original.read(name) for name in original.namelist()}
    array = next(name for name in files if name.endswith(".npy"))
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload(tmp_path / "ran")], dtype=object),
            allow_pickle=True)
    files[array] = buffer.getvalue()
    path = tmp_path / "model.skops"
    with zipfile.ZipFile(path, "w") as crafted:
        for name, data in files.items():
            crafted.writestr(name, data)
    with pytest.raises(ValueError, match="not a skops file, or a truncated or corrupt"):
        load(path)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_file_gives_a_clear_error(saved, tmp_path, damage):
    data = saved["dense"][1].read_bytes()
    data = {"truncated": data[: len(data) // 2], "garbage": os.urandom(2000),
            "empty": b""}[damage]
    path = tmp_path / "model.skops"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=str(path)):
        load(path)


def test_trusted_argument_admits_the_users_own_types(tmp_path):
    import math

    from sklearn.preprocessing import FunctionTransformer

    path = save(FunctionTransformer(math.floor), tmp_path / "own.skops")
    with pytest.raises(UntrustedTypesError, match="math.floor") as err:
        load(path)
    assert load(path, trusted=err.value.types).func is math.floor


def test_save_leaves_no_partial_file(tmp_path):
    class Unsaveable:
        def __getstate__(self):
            raise RuntimeError("no")

    with pytest.raises(Exception):  # noqa: B017
        save(Unsaveable(), tmp_path / "model.skops")
    assert list(tmp_path.iterdir()) == []


def test_saved_file_follows_the_umask_like_any_file(saved, tmp_path):
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    mode = saved["dense"][1].stat().st_mode & 0o777
    assert mode == reference.stat().st_mode & 0o777
