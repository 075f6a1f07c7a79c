"""skfmnist.onnx: ONNX export of the estimators, parity with ONNX Runtime.

Every exported model is run by ONNX Runtime on the bundled sample and must
give probabilities within 1e-5 of ``predict_proba`` and the same labels as
``predict``. The networks are tiny and trained for one epoch: parity does not
depend on the weights being good.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

import onnxruntime as ort  # noqa: E402
import skl2onnx  # noqa: E402

import skfmnist  # noqa: E402
import skfmnist.onnx as sonnx  # noqa: E402
from skfmnist import (  # noqa: E402
    CLASS_NAMES,
    ConvClassifier,
    DenseClassifier,
    PixelScaler,
    load_sample,
)
from skfmnist.cli import main  # noqa: E402

#: Largest difference of probabilities the export may make.
ATOL = 1e-5
N_TRAIN = 300


@pytest.fixture(scope="module")
def sample():
    """``X_train, y_train, X`` (the test sample, 1,000 uint8 rows)."""
    X, y = load_sample(return_X_y=True)
    X_test, _ = load_sample(subset="test", return_X_y=True)
    return X[:N_TRAIN], y[:N_TRAIN], X_test


def session(model):
    return ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def assert_parity(estimator, model, X):
    """ONNX Runtime's label and probabilities against ``estimator``'s."""
    label, proba = session(model).run(["label", "probabilities"], {"X": X})
    expected = estimator.predict_proba(X)
    assert proba.dtype == np.float32
    assert proba.shape == expected.shape
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(label, estimator.predict(X))
    return float(np.abs(proba - expected).max())


def fit_pipeline(classifier, sample, scaler=None):
    X, y, _ = sample
    return make_pipeline(scaler or PixelScaler(), classifier).fit(X, y)


# -- DenseClassifier -------------------------------------------------------------

# Each Keras activation the parameter names (aliases give the same function),
# with depths from 0 to 3 hidden layers.
DENSE_CASES = {
    "relu": (16, 8, 8),
    "tanh": (),
    "sigmoid": (16,),
    "linear": (16, 8),
    "elu": (16,),
    "selu": (16, 8),
    "gelu": (16,),
    "silu": (16, 8, 8),
    "softplus": (16,),
    "leaky_relu": (16, 8),
}


def test_dense_cases_cover_every_activation():
    from skfmnist._dense import ACTIVATIONS

    assert set(DENSE_CASES) == set(ACTIVATIONS.values())
    assert set(DENSE_CASES) == set(sonnx._graph.ACTIVATIONS)


@pytest.mark.parametrize("activation", DENSE_CASES)
def test_dense_parity(sample, activation):
    pipe = fit_pipeline(
        DenseClassifier(hidden_layer_sizes=DENSE_CASES[activation],
                        activation=activation, epochs=1, random_state=0),
        sample,
    )
    model = sonnx.to_onnx(pipe)
    assert_parity(pipe, model, sample[2])
    ops = {node.op_type for node in model.graph.node}
    assert "Gemm" in ops and "Softmax" in ops
    assert model.opset_import[0].version == sonnx.DEFAULT_OPSET


@pytest.fixture(scope="module")
def dense_pipe(sample):
    return fit_pipeline(
        DenseClassifier(hidden_layer_sizes=(16,), epochs=1, random_state=0), sample
    )


def test_activation_that_cannot_be_written(dense_pipe, monkeypatch):
    import keras

    layer = dense_pipe[-1].model_.get_layer("dense_1")
    monkeypatch.setattr(layer, "activation", keras.activations.hard_silu)
    with pytest.raises(ValueError, match="Cannot express the activation 'hard_silu'"):
        sonnx.to_onnx(dense_pipe)


def test_opset_too_old(dense_pipe):
    with pytest.raises(ValueError, match="opset 13 or later"):
        sonnx.to_onnx(dense_pipe, target_opset=12)


@pytest.mark.parametrize("opset", [13, 22])
def test_other_opsets(dense_pipe, sample, opset):
    model = sonnx.to_onnx(dense_pipe, target_opset=opset)
    assert model.opset_import[0].version == opset
    assert_parity(dense_pipe, model, sample[2])


# -- ConvClassifier ----------------------------------------------------------------

CONV_CASES = {
    # 5x5 kernels, average pooling (7 -> 4 pads one pixel, left out of the
    # average), batch normalisation, no hidden dense layer.
    "k5-average-bn": dict(filters=(4, 4, 8), kernel_size=5, pooling="average",
                          batch_normalization=True, dense_units=()),
    # 3x3 kernels, max pooling, convolutions with their own bias.
    "k3-max-no-bn": dict(filters=(4, 8, 8), kernel_size=3, pooling="max",
                         batch_normalization=False, dense_units=(8,)),
}


@pytest.fixture(scope="module")
def conv_pipes(sample):
    return {
        name: fit_pipeline(ConvClassifier(epochs=1, random_state=0, **params),
                           sample, scaler=PixelScaler(flatten=False))
        for name, params in CONV_CASES.items()
    }


@pytest.mark.parametrize("mirror", [True, False], ids=["mirror", "one-view"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_parity(conv_pipes, sample, case, mirror):
    pipe = conv_pipes[case]
    pipe[-1].set_params(test_time_augmentation=mirror)
    model = sonnx.to_onnx(pipe)
    assert_parity(pipe, model, sample[2])
    ops = [node.op_type for node in model.graph.node]
    n_blocks = len(pipe[-1].filters)
    assert ops.count("Conv") == n_blocks
    assert "BatchNormalization" not in ops  # folded into the convolutions
    pool = "AveragePool" if pipe[-1].pooling == "average" else "MaxPool"
    assert ops.count(pool) == n_blocks
    assert ("ReduceMean" in ops) == mirror


def test_conv_alone_on_images(sample):
    X, y, X_test = sample
    clf = ConvClassifier(filters=(4,), dense_units=(), epochs=1, random_state=0)
    clf.fit(X.reshape(-1, 28, 28) / 255.0, y)
    images = (X_test[:200] / 255.0).reshape(-1, 28, 28).astype(np.float32)
    model = skl2onnx.to_onnx(clf, images[:1], options={"zipmap": False})
    assert_parity(clf, model, images)


# -- pipelines, labels, options ------------------------------------------------------


def test_pipeline_with_standard_scaler(sample):
    pipe = make_pipeline(
        PixelScaler(), StandardScaler(),
        DenseClassifier(hidden_layer_sizes=(16,), epochs=1, random_state=0),
    ).fit(*sample[:2])
    model = sonnx.to_onnx(pipe)
    assert_parity(pipe, model, sample[2])
    ops = {node.op_type for node in model.graph.node}
    assert "Scaler" in ops or "Sub" in ops  # skl2onnx's StandardScaler


@pytest.fixture(scope="module")
def string_pipe(sample):
    X, y, _ = sample
    names = np.asarray(CLASS_NAMES, dtype=object)[y]
    return make_pipeline(
        PixelScaler(),
        DenseClassifier(hidden_layer_sizes=(16,), epochs=1, random_state=0),
    ).fit(X, names)


def test_string_labels(string_pipe, sample):
    model = sonnx.to_onnx(string_pipe)
    assert_parity(string_pipe, model, sample[2])
    label, _ = session(model).run(None, {"X": sample[2][:3]})
    assert set(label) <= set(CLASS_NAMES)


def test_zipmap_as_skl2onnx_does(string_pipe, sample):
    """skl2onnx.to_onnx with its defaults: labels and one dict per sample."""
    X = sample[2][:20]
    model = skl2onnx.to_onnx(string_pipe, X[:1])
    label, dicts = session(model).run(None, {"X": X})
    np.testing.assert_array_equal(label, string_pipe.predict(X))
    expected = string_pipe.predict_proba(X)
    assert list(dicts[0]) == list(string_pipe.classes_)
    got = np.array([[row[c] for c in string_pipe.classes_] for row in dicts])
    np.testing.assert_allclose(got, expected, atol=ATOL)
    columns = sonnx.to_onnx(string_pipe, zipmap="columns")
    outputs = [output.name for output in columns.graph.output]
    assert len(outputs) == 1 + len(CLASS_NAMES)


def test_float_inputs_and_flat_shapes(dense_pipe, sample):
    X = sample[2].astype(np.float64)
    model = sonnx.to_onnx(dense_pipe, X=X[:1])
    assert model.graph.input[0].type.tensor_type.elem_type == 11  # double
    assert_parity(dense_pipe, model, X)
    images = sample[2].reshape(-1, 28, 28)
    assert_parity(dense_pipe, sonnx.to_onnx(dense_pipe, X=images), images)


def test_to_onnx_writes_a_file_with_metadata(dense_pipe, tmp_path):
    path = tmp_path / "model.onnx"
    model = sonnx.to_onnx(dense_pipe, path)
    assert path.read_bytes() == model.SerializeToString()
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["estimator"] == "PixelScaler > DenseClassifier"
    assert json.loads(meta["classes"]) == list(range(10))
    assert meta["skfmnist_version"] == skfmnist.__version__


# -- OnnxModel ----------------------------------------------------------------------


def test_onnx_model(string_pipe, sample, tmp_path):
    path = tmp_path / "model.onnx"
    sonnx.to_onnx(string_pipe, path)
    images = sample[2].reshape(-1, 28, 28)
    for served in (sonnx.OnnxModel(path), sonnx.OnnxModel(path, batch_size=64)):
        np.testing.assert_array_equal(served.classes_, string_pipe.classes_)
        assert served.input_dtype == np.uint8 and served.input_shape == (784,)
        np.testing.assert_allclose(
            served.predict_proba(images), string_pipe.predict_proba(images),
            atol=ATOL,
        )
        np.testing.assert_array_equal(
            served.predict(images), string_pipe.predict(images)
        )
    # Whole floats are raw pixels; anything else is refused.
    np.testing.assert_array_equal(
        served.predict(images[:5].astype(float)), string_pipe.predict(images[:5])
    )
    with pytest.raises(ValueError, match="takes uint8 values"):
        served.predict(images[:5] / 255)
    with pytest.raises(ValueError, match="samples of 784 values"):
        served.predict(images[:5, :20])


def test_onnx_model_classes_from_the_graph(dense_pipe):
    """A model converted by skl2onnx itself has no metadata: read the graph."""
    model = skl2onnx.to_onnx(
        dense_pipe, np.zeros((1, 784), np.uint8), options={"zipmap": False},
        target_opset=sonnx.DEFAULT_OPSET,
    )
    served = sonnx.OnnxModel(model)
    np.testing.assert_array_equal(served.classes_, dense_pipe.classes_)


def test_onnx_model_refuses_zipmap(dense_pipe):
    with pytest.raises(ValueError, match="zipmap=False"):
        sonnx.OnnxModel(sonnx.to_onnx(dense_pipe, zipmap=True))


# -- command line -----------------------------------------------------------------


def test_export_command(dense_pipe, tmp_path, capsys):
    saved = skfmnist.save(dense_pipe, tmp_path / "model.skops")
    assert main(["export", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "Checked on 1000 sample images" in out.replace(",", "")
    written = tmp_path / "model.onnx"
    served = sonnx.OnnxModel(written)
    X = load_sample(subset="test").images[:50]
    np.testing.assert_array_equal(served.predict(X), dense_pipe.predict(X))
    other = tmp_path / "other.onnx"
    assert main(["export", str(saved), "-o", str(other), "--opset", "15",
                 "--no-check", "-q"]) == 0
    out = capsys.readouterr().out
    assert "Checked" not in out and "Wrote" in out
    assert other.is_file()


def test_export_command_errors(tmp_path, capsys):
    from skfmnist.cli import _export

    assert (_export.DEFAULT_OPSET, _export.MIN_OPSET) == (
        sonnx.DEFAULT_OPSET, sonnx._graph.MIN_OPSET
    )
    assert main(["export", str(tmp_path / "missing.skops")]) == 2
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.skops"
    broken.write_bytes(b"not a zip file")
    assert main(["export", str(broken)]) == 2
    assert "cannot load the model" in capsys.readouterr().err
    assert not (tmp_path / "broken.onnx").exists()
    for argv in (["export", "model.pkl"], ["export", "m.skops", "--opset", "12"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2


# -- skfmnist predict on an ONNX model -------------------------------------------------


@pytest.fixture(scope="module")
def dense_onnx(dense_pipe, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    sonnx.to_onnx(dense_pipe, path)
    return path


def test_predict_command_on_onnx(dense_pipe, dense_onnx, sample, tmp_path, capsys):
    import io

    import pandas as pd

    from skfmnist.datasets import save_idx

    images = sample[2][:40].reshape(-1, 28, 28)
    labels = dense_pipe.predict(images)
    save_idx(tmp_path / "images-idx3-ubyte", images)
    save_idx(tmp_path / "labels-idx1-ubyte", labels.astype(np.uint8))
    np.save(tmp_path / "images.npy", images)
    status = main(["predict", str(dense_onnx), str(tmp_path / "images.npy")])
    out = capsys.readouterr().out
    assert status == 0
    table = pd.read_csv(io.StringIO(out))
    np.testing.assert_array_equal(table["label"], labels)
    expected = dense_pipe.predict_proba(images)
    np.testing.assert_allclose(table[list(CLASS_NAMES)].to_numpy(), expected,
                               atol=1e-5)
    status = main(["predict", str(dense_onnx), str(tmp_path / "images-idx3-ubyte"),
                   "--labels", str(tmp_path / "labels-idx1-ubyte"),
                   "-o", str(tmp_path / "out.csv")])
    out = capsys.readouterr().out
    assert status == 0
    assert "Accuracy: 1.0000 (40 of 40 images" in out
    assert "OnnxModel" in out


FRESH = textwrap.dedent("""
    import sys
    import numpy as np
    import onnxruntime as ort

    conv, dense, images, out = sys.argv[1:]
    session = ort.InferenceSession(conv, providers=["CPUExecutionProvider"])
    X = np.load(images)
    label, proba = session.run(None, {"X": X})
    np.save(out, proba)
    from skfmnist.cli import main
    from skfmnist.onnx import OnnxModel

    assert (OnnxModel(conv).predict(X) == label).all()
    status = main(["predict", dense, images, "-q"])
    assert "tensorflow" not in sys.modules, "TensorFlow was imported"
    assert "keras" not in sys.modules, "Keras was imported"
    sys.exit(status)
""")


def test_fresh_process_without_tensorflow(conv_pipes, dense_pipe, dense_onnx,
                                          sample, tmp_path):
    """onnxruntime, OnnxModel and skfmnist predict, never importing TensorFlow."""
    conv_pipe = conv_pipes["k3-max-no-bn"]
    conv_pipe[-1].set_params(test_time_augmentation=True)
    conv = tmp_path / "conv.onnx"
    sonnx.to_onnx(conv_pipe, conv)
    X = sample[2][:100]
    np.save(tmp_path / "X.npy", X)
    done = subprocess.run(
        [sys.executable, "-c", FRESH, str(conv), str(dense_onnx),
         str(tmp_path / "X.npy"), str(tmp_path / "proba.npy")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(
        np.load(tmp_path / "proba.npy"), conv_pipe.predict_proba(X), atol=ATOL
    )
    rows = done.stdout.strip().splitlines()  # the CSV of skfmnist predict
    assert len(rows) == 1 + len(X)
    predicted = [int(row.split(",")[1]) for row in rows[1:]]
    assert predicted == dense_pipe.predict(X).tolist()


def test_predict_command_bad_onnx_files(dense_pipe, sample, tmp_path, capsys):
    np.save(tmp_path / "images.npy", sample[2][:5])
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    zipmapped = tmp_path / "zipmap.onnx"
    sonnx.to_onnx(dense_pipe, zipmapped, zipmap=True)
    for path, message in ((broken, "cannot load the model"),
                          (zipmapped, "zipmap=False")):
        status = main(["predict", str(path), str(tmp_path / "images.npy")])
        err = capsys.readouterr().err
        assert status == 2
        assert str(path) in err and message in err
