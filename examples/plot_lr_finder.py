"""
============================
Finding a good learning rate
============================

The learning rate is the most important setting of gradient descent: too small
and training crawls, too large and the loss explodes. The *learning-rate range
test* (Smith, 2017) finds a good value in one short run: train a fresh copy of
the model while raising the learning rate exponentially at every mini-batch,
and watch the loss. :func:`~skfmnist.find_learning_rate` runs it on any
:class:`~skfmnist.DenseClassifier` or pipeline ending in one, and suggests the
rate where the loss falls fastest.
"""

# %%
# The model and the data
# ----------------------
# A pipeline with one hidden layer of 128 units, on the bundled sample. The
# sweep clones the pipeline, so the object passed in stays unfitted.
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skfmnist import DenseClassifier, PixelScaler, find_learning_rate, load_sample
from skfmnist.plotting import plot_lr_finder

X, y = load_sample(return_X_y=True)
X_test, y_test = load_sample(subset="test", return_X_y=True)

pipe = make_pipeline(
    PixelScaler(),
    DenseClassifier(
        hidden_layer_sizes=(128,),
        batch_size=32,
        epochs=8,
        learning_rate_schedule="constant",
        random_state=0,
    ),
)

# %%
# The sweep
# ---------
# ``schedule="batch"`` (the default) raises the rate at every mini-batch, from
# ``min_lr`` to ``max_lr``, and stops early if the smoothed loss exceeds four
# times its minimum (``divergence_threshold``). Here 200 mini-batches of 32
# images, about three passes over the sample, take a few seconds.
result = find_learning_rate(pipe, X, y, min_lr=1e-5, max_lr=1.0, num_steps=200)
print(f"suggested learning rate:          {result.suggestion:.2g}")
print(f"learning rate at the lowest loss: {result.min_loss_learning_rate:.2g}")
print(f"steps run: {len(result.history)} of 200")

# %%
# The result holds one row per step: the learning rate, the loss of that
# mini-batch and an exponentially smoothed loss (the raw loss of single
# mini-batches is noisy).
result.history.iloc[::20]

# %%
# Reading the curve
# -----------------
# :func:`~skfmnist.plotting.plot_lr_finder` (or ``result.plot()``) draws the
# loss against the learning rate on a log scale and marks the suggestion: the
# rate where the smoothed loss falls fastest, before its minimum. A tenth of the
# rate at the minimum is another common choice; the next section tries both.
ax = plot_lr_finder(result)
ax.axvline(result.min_loss_learning_rate / 10, color="C2", linestyle=":",
           label="minimum / 10")
ax.legend()
plt.show()

# %%
# Checking the suggestion
# -----------------------
# Train the same pipeline at a rate far too small, at the suggestion, at a
# tenth of the rate of the lowest loss, and at a rate far too large, for the
# same 8 epochs, and compare their training loss and test accuracy.
rates = {
    "too small (1e-5)": 1e-5,
    f"suggested ({result.suggestion:.2g})": result.suggestion,
    f"minimum / 10 ({result.min_loss_learning_rate / 10:.2g})": (
        result.min_loss_learning_rate / 10
    ),
    "too large (0.5)": 0.5,
}
curves, scores = {}, {}
for label, rate in rates.items():
    model = clone(pipe).set_params(denseclassifier__learning_rate=rate).fit(X, y)
    curves[label] = model[-1].loss_curve_
    scores[label] = model.score(X_test, y_test)

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for label, losses in curves.items():
    ax.plot(range(1, len(losses) + 1), losses, marker="o", label=label)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_yscale("log")
ax.set_title("Training loss at four learning rates")
ax.legend()
plt.show()

pd.Series(scores, name="test accuracy").map("{:.1%}".format).to_frame()

# %%
# Both choices read off the curve train well; the suggestion errs on the
# cautious side, and a tenth of the rate at the minimum often learns a little
# faster. Far below them training crawls, and far above them the first steps
# throw the network into a state it does not recover from.
#
# The sweep per epoch
# -------------------
# ``schedule="epoch"`` raises the rate once per epoch instead, as the original
# notebook did with a Keras callback (40 epochs from :math:`10^{-3}`, tenfold
# every 20 epochs). It costs a full training run rather than a fraction of an
# epoch; see :ref:`sphx_glr_auto_examples_plot_notebook_experiments.py`.
#
# On the full data
# ----------------
# The same call works on the 60,000 training images, where one pass is about
# 1,900 mini-batches of 32; the default ``num_steps=None`` runs one pass::
#
#     from skfmnist import fetch_fashion_mnist
#
#     X, y = fetch_fashion_mnist(return_X_y=True)
#     result = find_learning_rate(pipe, X, y)
#     result.plot()
