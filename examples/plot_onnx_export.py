"""
=========================================
Serving without TensorFlow: ONNX export
=========================================

A fitted pipeline needs TensorFlow to predict: a large install, seconds of
import and about a gigabyte of memory, just to classify an image.
:mod:`skfmnist.onnx` writes the whole pipeline (the pixel scaling, the
network and the class labels) as one ONNX graph that ONNX Runtime runs on its
own. Here a small CNN is trained on the bundled sample, exported, run with
onnxruntime, and checked against the pipeline's own predictions.

This page trains for two epochs on the sample bundled with the package, so
that the documentation builds in minutes: the accuracy is low, which does not
matter for the export. What serving costs on the full test set, in fresh
processes, is measured by ``benchmarks/bench_serve.py`` and shown in
:ref:`serving`.
"""

# %%
# A pipeline to serve
# -------------------
# :class:`~skfmnist.ConvClassifier` at its default network (three blocks of
# convolution, batch normalisation, ReLU and max pooling) with mirror
# averaging at prediction time, behind :class:`~skfmnist.PixelScaler`: the
# pipeline takes raw uint8 pixels.
import tempfile
import time
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.pipeline import make_pipeline

from skfmnist import ConvClassifier, PixelScaler, load_sample
from skfmnist.onnx import to_onnx

X, y = load_sample(return_X_y=True)
X_test, y_test = load_sample(subset="test", return_X_y=True)
pipe = make_pipeline(
    PixelScaler(flatten=False), ConvClassifier(epochs=2, random_state=0)
).fit(X, y)
print(f"test accuracy: {pipe.score(X_test, y_test):.3f}")

# %%
# Export
# ------
# :func:`~skfmnist.onnx.to_onnx` converts the fitted pipeline through
# skl2onnx, with skfmnist's converters: the network is written from its
# weights with standard ONNX operators, the batch normalisation folded into
# the convolutions, and the mirror averaging inside the graph. The model's
# input is named ``X`` and takes uint8 pixel rows, like the pipeline; its
# outputs are ``label`` and ``probabilities``. (From the command line:
# ``skfmnist export model.skops``.)
folder = Path(tempfile.mkdtemp())
model = to_onnx(pipe, folder / "model.onnx")
size_kib = (folder / "model.onnx").stat().st_size / 1024
print(f"model.onnx: {size_kib:.0f} KiB, opset {model.opset_import[0].version}")
pd.Series(Counter(node.op_type for node in model.graph.node),
          name="nodes").to_frame().rename_axis("operator")

# %%
# Run it with ONNX Runtime
# ------------------------
# Serving needs NumPy and onnxruntime only; these few lines are the whole
# serving code (they import neither TensorFlow nor skfmnist).
session = ort.InferenceSession(str(folder / "model.onnx"))
labels, proba = session.run(None, {"X": X_test})
labels[:10]

# %%
# Same predictions
# ----------------
# The probabilities agree with ``predict_proba`` to float32 rounding (the
# graph computes in float32, in another order), and the labels are the same.
expected = pipe.predict_proba(X_test)
difference = np.abs(proba - expected)
print(f"largest difference of probabilities: {difference.max():.1e}")
print(f"same labels: {np.sum(labels == pipe.predict(X_test))} of {len(labels)}")

fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
ax.hist(np.log10(difference.ravel() + 1e-12), bins=50, color="tab:blue")
ax.set_xlabel("log10 |onnxruntime - predict_proba| (1e-12 added for zeros)")
ax.set_ylabel("probabilities")
ax.set_title("Differences over the 10,000 probabilities of the test sample")

# %%
# What it costs
# -------------
# Prediction of the 1,000 test images, and of one image at a time, in this
# process (TensorFlow is already running here; a serving process with
# onnxruntime alone also starts in a fraction of a second instead of several
# seconds, and takes a small fraction of the memory: see :ref:`serving`).
def best_of(function, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


one = X_test[:1]
pipe.predict(one)
timings = pd.DataFrame({
    "1,000 images (ms)": [1e3 * best_of(lambda: pipe.predict(X_test)),
                          1e3 * best_of(lambda: session.run(None, {"X": X_test}))],
    "one image (ms)": [1e3 * best_of(lambda: pipe.predict(one), 20),
                       1e3 * best_of(lambda: session.run(None, {"X": one}), 20)],
}, index=["skfmnist (TensorFlow)", "onnxruntime"])
timings.round(2)
