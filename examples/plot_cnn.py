"""
==================================
Beyond the notebook: a small CNN
==================================

The notebook ends by suggesting convolutional networks. Here the same pipeline
is trained twice, once with :class:`~skfmnist.DenseClassifier` (the notebook's
multi-layer perceptron) and once with :class:`~skfmnist.ConvClassifier` in its
place, and the two are compared: accuracy, training time, both confusion
matrices, and the classes that gain most from convolutions.

This page runs on the sample bundled with the package (2,000 training and
1,000 test images) with few epochs, so that the documentation builds in
minutes; the full-data figures (60,000 training images, the default epochs)
come from ``benchmarks/bench_conv.py`` and are on the performance page.
"""

# %%
# Two pipelines, one swap
# -----------------------
# Only the last step differs. The CNN sees the flat pixel rows of
# :class:`~skfmnist.PixelScaler` as 28x28 images, shifts and mirrors them at
# random while it trains, and averages each test image with its mirror image
# when it predicts. On 2,000 images it needs more optimizer steps than its
# defaults give (they are chosen for 60,000): smaller batches and more epochs.
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import recall_score
from sklearn.pipeline import make_pipeline

from skfmnist import (
    CLASS_NAMES,
    ConvClassifier,
    DenseClassifier,
    PixelScaler,
    load_sample,
)
from skfmnist.plotting import plot_confusion_matrix

X, y = load_sample(return_X_y=True)
X_test, y_test = load_sample(subset="test", return_X_y=True)

models = {
    "DenseClassifier": DenseClassifier(epochs=15, random_state=0),
    "ConvClassifier": ConvClassifier(epochs=20, batch_size=32, random_state=0),
}
pipelines, rows = {}, []
for name, classifier in models.items():
    pipe = make_pipeline(PixelScaler(), classifier)
    start = time.perf_counter()
    pipe.fit(X, y)
    seconds = time.perf_counter() - start
    pipelines[name] = pipe
    rows.append({"model": name, "epochs": classifier.epochs,
                 "test accuracy": pipe.score(X_test, y_test),
                 "fit time (s)": seconds})
pd.DataFrame(rows).set_index("model").round(3)

# %%
# Where the mistakes are
# ----------------------
# Both confusion matrices, rows normalised: the diagonal is each class's
# recall. For both models, most errors fall among the upper-body garments
# (T-shirt/top, pullover, coat, shirt), which differ by texture and by local
# shapes (collars, buttons, sleeves).
fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), layout="constrained")
for ax, (name, pipe) in zip(axes, pipelines.items(), strict=True):
    plot_confusion_matrix(pipe, X_test, y_test, normalize="true",
                          values_format=".2f", colorbar=False, ax=ax)
    ax.set_title(name)

# %%
# The classes that gain most
# --------------------------
# Recall per class, and the difference the CNN makes, largest gain first.
# With 100 test images a class, a difference of a few points is within the
# noise of this small sample.
recall = pd.DataFrame(
    {name: recall_score(y_test, pipe.predict(X_test), average=None)
     for name, pipe in pipelines.items()},
    index=CLASS_NAMES,
)
recall["gain"] = recall["ConvClassifier"] - recall["DenseClassifier"]
recall = recall.sort_values("gain", ascending=False)

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
colors = np.where(recall["gain"] >= 0, "tab:green", "tab:red")
ax.barh(recall.index[::-1], recall["gain"][::-1], color=colors[::-1])
ax.axvline(0, color="black", linewidth=0.8)
ax.set_xlabel("recall of ConvClassifier minus recall of DenseClassifier")
ax.set_title("Per-class gain of the CNN (bundled sample)")
recall.round(3)
