"""Tests of ``skfmnist predict``, run in-process on a tiny saved pipeline."""

import io
import math
import os
import pickle
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

import skfmnist
from skfmnist import DenseClassifier, PixelScaler, load_sample
from skfmnist.cli import main
from skfmnist.datasets import CLASS_NAMES, save_idx

PIL_Image = pytest.importorskip("PIL.Image")

N_IMAGES = 6
PROBA_COLUMNS = list(CLASS_NAMES)
TOP2_COLUMNS = ["source", "label", "class", "top1_class", "top1_proba",
                "top2_class", "top2_proba"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny pipeline fitted on part of the sample, and its ``.skops`` file."""
    train = load_sample(subset="train")
    pipe = Pipeline([
        ("scale", PixelScaler()),
        ("clf", DenseClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0)),
    ])
    pipe.fit(train.images[:500], train.target[:500])
    path = skfmnist.save(pipe, tmp_path_factory.mktemp("model") / "model.skops")
    return SimpleNamespace(pipe=pipe, path=path)


@pytest.fixture(scope="module")
def test_images():
    """A few test images of the sample, and their labels."""
    test = load_sample(subset="test")
    return test.images[:N_IMAGES], test.target[:N_IMAGES].astype(np.uint8)


def run(argv, capsys):
    """``main(argv)``: ``(status, stdout, stderr)``."""
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def read_csv(text):
    return pd.read_csv(io.StringIO(text))


def predict_csv(model, inputs, capsys, *options):
    """Predict ``inputs`` with the CSV on stdout; return the table."""
    status, out, err = run(
        ["predict", str(model.path), *map(str, inputs), *options], capsys
    )
    assert status == 0, err
    assert "error" not in err
    return read_csv(out)


def expected_names(labels):
    return [CLASS_NAMES[label] for label in labels]


def assert_matches_model(table, model, images):
    """The table holds the pipeline's own predictions for ``images``."""
    proba = model.pipe.predict_proba(images)
    np.testing.assert_array_equal(table["label"], model.pipe.predict(images))
    assert table["class"].tolist() == expected_names(table["label"])
    np.testing.assert_allclose(table[PROBA_COLUMNS], proba, atol=1e-6)


def assert_one_line_error(err, *names):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("skfmnist: error: ")
    for name in names:
        assert str(name) in lines[0]


def write_png(path, image):
    PIL_Image.fromarray(image).save(path)
    return path


# -- inputs -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["images-idx3-ubyte.gz", "images-idx3-ubyte"])
def test_idx_input(model, test_images, tmp_path, capsys, name):
    images, _ = test_images
    path = tmp_path / name
    save_idx(path, images)
    table = predict_csv(model, [path], capsys)
    assert table.columns.tolist() == ["source", "label", "class", *PROBA_COLUMNS]
    assert table["source"].tolist() == [f"{path}[{i}]" for i in range(N_IMAGES)]
    assert_matches_model(table, model, images)
    np.testing.assert_allclose(table[PROBA_COLUMNS].sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("shape", ["stack", "flat", "single"])
def test_npy_input(model, test_images, tmp_path, capsys, shape):
    images, _ = test_images
    array = {"stack": images, "flat": images.reshape(N_IMAGES, 784),
             "single": images[0]}[shape]
    path = tmp_path / "images.npy"
    np.save(path, array)
    table = predict_csv(model, [path], capsys)
    if shape == "single":
        assert table["source"].tolist() == [str(path)]
        assert_matches_model(table, model, images[:1])
    else:
        assert table["source"].tolist() == [f"{path}[{i}]" for i in range(N_IMAGES)]
        assert_matches_model(table, model, images)


def test_png_round_trip_gives_the_array_predictions(model, test_images, tmp_path,
                                                    capsys):
    images, _ = test_images
    pngs = [write_png(tmp_path / f"image{i}.png", image)
            for i, image in enumerate(images)]
    np.save(tmp_path / "images.npy", images)
    from_png = predict_csv(model, pngs, capsys)
    from_npy = predict_csv(model, [tmp_path / "images.npy"], capsys)
    assert from_png["source"].tolist() == [str(path) for path in pngs]
    np.testing.assert_array_equal(from_png["label"], from_npy["label"])
    np.testing.assert_allclose(from_png[PROBA_COLUMNS], from_npy[PROBA_COLUMNS])
    assert_matches_model(from_png, model, images)


def test_color_image_of_another_size_is_converted_as_documented(model, test_images,
                                                               tmp_path, capsys):
    """RGB 56 x 56 JPEG: grayscale with convert("L"), Lanczos to 28 x 28."""
    image = test_images[0][1]
    rgb = np.stack([image, image // 2, image], axis=-1).repeat(2, 0).repeat(2, 1)
    path = tmp_path / "photo.JPG"
    PIL_Image.fromarray(rgb).save(path, quality=95)
    with PIL_Image.open(path) as opened:
        expected = np.asarray(
            opened.convert("L").resize((28, 28), PIL_Image.Resampling.LANCZOS)
        )
    table = predict_csv(model, [path], capsys)
    assert table["source"].tolist() == [str(path)]
    assert_matches_model(table, model, expected[np.newaxis])


def test_exif_orientation_is_applied(model, test_images, tmp_path, capsys):
    """A photo stored sideways with an EXIF orientation is read upright."""
    image = test_images[0][0]
    exif = PIL_Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "sideways.png"
    PIL_Image.fromarray(image).transpose(PIL_Image.Transpose.ROTATE_90).save(
        path, exif=exif
    )
    table = predict_csv(model, [path], capsys)
    assert_matches_model(table, model, image[np.newaxis])


def test_folder_input(model, test_images, tmp_path, capsys):
    images, _ = test_images
    folder = tmp_path / "inputs"
    folder.mkdir()
    write_png(folder / "b.png", images[1])
    write_png(folder / "a.png", images[0])
    np.save(folder / "c.npy", images[2:4])
    save_idx(folder / "d-images-idx3-ubyte.gz", images[4:])
    save_idx(folder / "d-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    write_png(folder / "sub" / "deeper.png", images[0])  # not recursive
    (folder / ".hidden.png").write_bytes(b"")
    status, out, err = run(["predict", str(model.path), str(folder)], capsys)
    assert status == 0, err
    table = read_csv(out)
    assert table["source"].tolist() == [
        f"{folder / 'a.png'}", f"{folder / 'b.png'}", f"{folder / 'c.npy'}[0]",
        f"{folder / 'c.npy'}[1]", f"{folder / 'd-images-idx3-ubyte.gz'}[0]",
        f"{folder / 'd-images-idx3-ubyte.gz'}[1]",
    ]
    assert_matches_model(table, model, images)
    # What was left out is said, once, on stderr (stdout holds the CSV).
    ignored = [line for line in err.splitlines() if line.startswith("Ignored")]
    assert len(ignored) == 1, err
    for name in ("d-labels-idx1-ubyte.gz", "notes.txt", "sub/"):
        assert name in ignored[0]
    assert ".hidden" not in err


def test_several_inputs_in_order(model, test_images, tmp_path, capsys):
    images, _ = test_images
    np.save(tmp_path / "first.npy", images[:2])
    png = write_png(tmp_path / "second.png", images[2])
    table = predict_csv(model, [tmp_path / "first.npy", png], capsys)
    assert table["source"].tolist() == [
        f"{tmp_path / 'first.npy'}[0]", f"{tmp_path / 'first.npy'}[1]", str(png)
    ]
    assert_matches_model(table, model, images[:3])


def test_invert(model, test_images, tmp_path, capsys):
    """A dark garment on white, inverted, predicts as the original image."""
    images, _ = test_images
    pngs = [write_png(tmp_path / f"dark{i}.png", 255 - image)
            for i, image in enumerate(images)]
    table = predict_csv(model, pngs, capsys, "--invert")
    assert_matches_model(table, model, images)
    plain = predict_csv(model, pngs, capsys)
    assert_matches_model(plain, model, 255 - images)


def test_float_pixels_in_0_1_warn(model, test_images, tmp_path, capsys):
    path = tmp_path / "scaled.npy"
    np.save(path, test_images[0] / 255.0)
    status, out, err = run(["predict", str(model.path), str(path)], capsys)
    assert status == 0, err
    assert re.search(rf"skfmnist: warning: {re.escape(str(path))}: .*0\.\.255", err)
    assert len(read_csv(out)) == N_IMAGES


# -- output -------------------------------------------------------------------


def test_top_2(model, test_images, tmp_path, capsys):
    images, _ = test_images
    np.save(tmp_path / "images.npy", images)
    table = predict_csv(model, [tmp_path / "images.npy"], capsys, "--top", "2")
    assert table.columns.tolist() == TOP2_COLUMNS
    proba = model.pipe.predict_proba(images)
    order = np.argsort(-proba, axis=1)
    assert table["top1_class"].tolist() == table["class"].tolist()
    assert table["top2_class"].tolist() == expected_names(order[:, 1])
    np.testing.assert_allclose(table["top1_proba"], proba.max(axis=1), atol=1e-6)
    np.testing.assert_allclose(
        table["top2_proba"], np.sort(proba, axis=1)[:, -2], atol=1e-6
    )
    # K above the number of classes keeps them all.
    table = predict_csv(model, [tmp_path / "images.npy"], capsys, "--top", "50")
    assert table.columns[-2:].tolist() == ["top10_class", "top10_proba"]


def test_output_file(model, test_images, tmp_path, capsys):
    images, _ = test_images
    path = tmp_path / "images-idx3-ubyte"
    save_idx(path, images)
    out = tmp_path / "predictions.csv"
    status, stdout, err = run(
        ["predict", str(model.path), str(path), "-o", str(out)], capsys
    )
    assert status == 0, err
    assert err == ""
    table = pd.read_csv(out)
    assert_matches_model(table, model, images)
    # The same CSV as on stdout without -o.
    assert out.read_text() == run(
        ["predict", str(model.path), str(path)], capsys
    )[1]
    # A readable table of the first rows, then where the CSV is.
    lines = stdout.splitlines()
    assert lines[0] == f"Images: {N_IMAGES} from 1 input"
    assert lines[1] == (
        f"Model: {model.path}, Pipeline(PixelScaler, DenseClassifier), 10 classes"
    )
    assert lines[2].split() == ["source", "label", "class", "proba"]
    first = lines[3].split()
    assert first[0] == f"{path}[0]" and int(first[1]) == table["label"][0]
    assert lines[-1] == (
        f"Wrote the predictions of {N_IMAGES} images to {out.resolve()}"
    )
    # Nothing else in the folder: no temporary file left.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "images-idx3-ubyte", "predictions.csv"
    ]


def test_preview_has_at_most_10_rows(model, tmp_path, capsys):
    images = load_sample(subset="test").images[:25]
    np.save(tmp_path / "images.npy", images)
    out = tmp_path / "predictions.csv"
    status, stdout, err = run(
        ["predict", str(model.path), str(tmp_path / "images.npy"), "-o", str(out),
         "--top", "2", "--quiet"], capsys
    )
    assert status == 0, err
    lines = stdout.splitlines()
    assert lines[0].split() == TOP2_COLUMNS  # --quiet: no Images/Model lines
    assert len([line for line in lines if "images.npy[" in line]) == 10
    assert f"... and 15 more rows in {out}" in stdout
    assert len(pd.read_csv(out)) == 25


def test_labels_print_accuracy_and_report(model, test_images, tmp_path, capsys):
    images, labels = test_images
    save_idx(tmp_path / "images-idx3-ubyte.gz", images)
    save_idx(tmp_path / "labels-idx1-ubyte.gz", labels)
    out = tmp_path / "predictions.csv"
    status, stdout, err = run(
        ["predict", str(model.path), str(tmp_path / "images-idx3-ubyte.gz"),
         "--labels", str(tmp_path / "labels-idx1-ubyte.gz"), "-o", str(out)],
        capsys,
    )
    assert status == 0, err
    predicted = model.pipe.predict(images)
    correct = int((predicted == labels).sum())
    match = re.search(
        r"^Accuracy: (\d\.\d{4}) \((\d+) of 6 images, labels from (\S+)\)$",
        stdout, re.MULTILINE,
    )
    assert match, stdout
    assert float(match.group(1)) == pytest.approx(correct / N_IMAGES, abs=5e-5)
    assert int(match.group(2)) == correct
    assert match.group(3) == str(tmp_path / "labels-idx1-ubyte.gz")
    for column in ("precision", "recall", "f1-score", "support", "macro avg"):
        assert column in stdout
    # A row per class among the labels and predictions, by name.
    for label in set(labels.tolist()) | set(predicted.tolist()):
        assert re.search(rf"^ *{re.escape(CLASS_NAMES[label])} +\d", stdout,
                         re.MULTILINE)
    assert "UndefinedMetricWarning" not in err
    # Without -o the CSV alone is on stdout, the accuracy on stderr.
    status, stdout, err = run(
        ["predict", str(model.path), str(tmp_path / "images-idx3-ubyte.gz"),
         "--labels", str(tmp_path / "labels-idx1-ubyte.gz")], capsys,
    )
    assert status == 0, err
    assert stdout == out.read_text()
    assert "Accuracy: " in err and "Accuracy" not in stdout


# -- errors -------------------------------------------------------------------


def _error_case(case, tmp, model, images):
    """Arguments of a run that must fail, and the file its message names."""
    good = tmp / "good.npy"
    np.save(good, images)
    if case == "missing input":
        return [str(tmp / "missing.png")], tmp / "missing.png"
    if case == "unreadable image":
        (tmp / "broken.png").write_bytes(b"not a png at all")
        return [str(good), str(tmp / "broken.png")], tmp / "broken.png"
    if case == "truncated image":
        write_png(tmp / "cut.png", images[0])
        data = (tmp / "cut.png").read_bytes()
        (tmp / "cut.png").write_bytes(data[: len(data) // 2])
        return [str(tmp / "cut.png")], tmp / "cut.png"
    if case == "npy of the wrong size":
        np.save(tmp / "big.npy", np.zeros((2, 32, 32), np.uint8))
        return [str(tmp / "big.npy")], tmp / "big.npy"
    if case == "npy out of range":
        np.save(tmp / "range.npy", np.full((2, 28, 28), 300, np.int16))
        return [str(tmp / "range.npy")], tmp / "range.npy"
    if case == "npy of objects":
        np.save(tmp / "objects.npy", np.array([{}], dtype=object))
        return [str(tmp / "objects.npy")], tmp / "objects.npy"
    if case == "idx of the wrong size":
        save_idx(tmp / "small-idx3-ubyte", np.zeros((2, 14, 14), np.uint8))
        return [str(tmp / "small-idx3-ubyte")], tmp / "small-idx3-ubyte"
    if case == "truncated idx":
        save_idx(tmp / "cut-idx3-ubyte", images)
        data = (tmp / "cut-idx3-ubyte").read_bytes()
        (tmp / "cut-idx3-ubyte").write_bytes(data[:-100])
        return [str(tmp / "cut-idx3-ubyte")], tmp / "cut-idx3-ubyte"
    if case == "labels file as input":
        save_idx(tmp / "labels-idx1-ubyte", np.zeros(3, np.uint8))
        return [str(tmp / "labels-idx1-ubyte")], tmp / "labels-idx1-ubyte"
    if case == "empty folder":
        (tmp / "empty").mkdir()
        (tmp / "empty" / "readme.txt").write_text("no images here")
        return [str(tmp / "empty")], tmp / "empty"
    if case == "label count":
        save_idx(tmp / "labels-idx1-ubyte", np.zeros(len(images) + 1, np.uint8))
        return ([str(good), "--labels", str(tmp / "labels-idx1-ubyte")],
                tmp / "labels-idx1-ubyte")
    if case == "labels not classes":
        save_idx(tmp / "labels-idx1-ubyte", np.full(len(images), 12, np.uint8))
        return ([str(good), "--labels", str(tmp / "labels-idx1-ubyte")],
                tmp / "labels-idx1-ubyte")
    if case == "labels of images":
        save_idx(tmp / "labels-idx3-ubyte", images)
        return ([str(good), "--labels", str(tmp / "labels-idx3-ubyte")],
                tmp / "labels-idx3-ubyte")
    raise AssertionError(case)


INPUT_ERRORS = [
    "missing input", "unreadable image", "truncated image", "npy of the wrong size",
    "npy out of range", "npy of objects", "idx of the wrong size", "truncated idx",
    "labels file as input", "empty folder", "label count", "labels not classes",
    "labels of images",
]


@pytest.mark.parametrize("case", INPUT_ERRORS)
def test_bad_input_exits_2_and_writes_nothing(case, model, test_images, tmp_path,
                                             capsys):
    tmp = tmp_path / "in"
    tmp.mkdir()
    inputs, named = _error_case(case, tmp, model, test_images[0])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "predictions.csv"
    status, stdout, err = run(
        ["predict", str(model.path), *inputs, "-o", str(out)], capsys
    )
    assert status == 2
    assert_one_line_error(err, named)
    assert list(out_dir.iterdir()) == []


def _bad_model(case, tmp, model):
    path = tmp / "model.skops"
    data = model.path.read_bytes()
    if case == "missing model":
        return path
    if case == "truncated model":
        path.write_bytes(data[: len(data) // 2])
    elif case == "garbage model":
        path.write_bytes(os.urandom(3000))
    elif case == "pickle model":
        path.write_bytes(pickle.dumps(model.pipe))
    elif case == "untrusted types":
        from sklearn.preprocessing import FunctionTransformer

        skfmnist.save(FunctionTransformer(math.floor), path)
    elif case == "not a classifier":
        skfmnist.save(PixelScaler(), path)
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing model", "no such file"),
        ("truncated model", "cannot load the model"),
        ("garbage model", "cannot load the model"),
        ("pickle model", "pickle"),
        ("untrusted types", "math.floor"),
        ("not a classifier", "not a fitted classifier"),
    ],
)
def test_bad_model_exits_2_and_writes_nothing(case, message, model, test_images,
                                             tmp_path, capsys):
    tmp = tmp_path / "model"
    tmp.mkdir()
    path = _bad_model(case, tmp, model)
    np.save(tmp_path / "images.npy", test_images[0])
    out = tmp_path / "out.csv"
    status, stdout, err = run(
        ["predict", str(path), str(tmp_path / "images.npy"), "-o", str(out)],
        capsys,
    )
    assert status == 2
    assert_one_line_error(err, path, message)
    assert not out.exists()


def test_error_keeps_an_existing_output_file(model, tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    out.write_text("previous run\n")
    status, _, err = run(
        ["predict", str(model.path), str(tmp_path / "missing.npy"), "-o", str(out)],
        capsys,
    )
    assert status == 2
    assert out.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv"]


def test_failed_write_leaves_no_file(model, test_images, tmp_path, capsys,
                                     monkeypatch):
    np.save(tmp_path / "images.npy", test_images[0])
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def refuse(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    status, _, err = run(
        ["predict", str(model.path), str(tmp_path / "images.npy"), "-o",
         str(out_dir / "predictions.csv")], capsys,
    )
    assert status == 1
    assert_one_line_error(err, out_dir / "predictions.csv", "Permission denied")
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "model.joblib", "x.npy"], ".skops"),
        (["predict", "model", "x.npy"], "unsupported model file"),
        (["predict", "model.skops"], "required: INPUT"),
        (["predict", "model.skops", "x.npy", "--top", "0"], "--top"),
        (["predict", "model.skops", "x.npy", "-o", "/nowhere/p.csv"],
         "no such folder"),
        (["predict", "model.skops", "x.npy", "-q", "-v"], "not allowed with"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc_info:
        main(argv)
    assert exc_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("skfmnist predict: error: ")
    assert message in last


def test_output_folder_as_file_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc_info:
        main(["predict", "model.skops", "x.npy", "-o", str(tmp_path)])
    assert exc_info.value.code == 2
    assert "is a folder, not a file" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit) as exc_info:
        main(["predict", "--help"])
    assert exc_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: skfmnist predict ")
    for text in ("examples:", "--invert", "--top K", "--labels LABELS_IDX",
                 "Lanczos", "exit status 2"):
        assert text in out
