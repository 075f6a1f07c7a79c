"""
=============================
A first look at Fashion-MNIST
=============================

What the images look like, how the ten classes are balanced and what the pixel
values hold, before training anything. This example uses the sample of
Fashion-MNIST bundled with skfmnist, so it needs no download; the full data set
has exactly the same layout (see :ref:`data`).
"""

# %%
# Loading the data
# ----------------
# :func:`~skfmnist.load_sample` returns a scikit-learn
# :class:`~sklearn.utils.Bunch`, like :func:`~skfmnist.fetch_fashion_mnist`:
# ``images`` holds the 28 x 28 pictures, ``data`` the same pixels as rows of
# 784 features, ``target`` the labels 0 to 9 and ``target_names`` their names.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from skfmnist import CLASS_NAMES, load_sample
from skfmnist.plotting import plot_images

train = load_sample(subset="train")
test = load_sample(subset="test")
print("images:", train.images.shape, train.images.dtype)
print("data:  ", train.data.shape, train.data.dtype)
print("target:", train.target.shape, train.target[:10])
print("names: ", train.target_names[train.target[:3]].tolist())

# %%
# The images
# ----------
# :func:`~skfmnist.plotting.plot_images` shows the first images of a data set
# in a grid, titled with their class names. The data set keeps the order of the
# official files, in which the classes are mixed.
plot_images(train.images, train.target, n=15, ncols=5)
plt.show()

# %%
# One image of each class, in label order: the names in
# :data:`~skfmnist.CLASS_NAMES` are indexed by label.
first_of_each = [np.flatnonzero(train.target == label)[0] for label in range(10)]
plot_images(train.images[first_of_each], train.target[first_of_each], ncols=5)
plt.show()

# %%
# Class balance
# -------------
# Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
# The bundled sample was drawn class by class (200 training and 100 test
# images each), so it is balanced too.
counts = pd.DataFrame(
    {
        "train": np.bincount(train.target, minlength=10),
        "test": np.bincount(test.target, minlength=10),
    },
    index=pd.Index(CLASS_NAMES, name="class"),
)
counts.assign(total=counts.sum(axis=1))

# %%
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
counts.plot.barh(ax=ax, color=["C0", "C1"])
ax.invert_yaxis()
ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
ax.set_xlabel("number of images")
ax.set_title("Images per class in the bundled sample")
plt.show()

# %%
# The pixels
# ----------
# Pixels are integers from 0 (background) to 255 (brightest). Most of an image
# is background, so the distribution has a tall peak at zero; this range is why
# the pixels are scaled to [0, 1] before training (see
# :class:`~skfmnist.PixelScaler`).
print(f"range: {train.data.min()} to {train.data.max()}")
print(f"share of background pixels (0): {np.mean(train.data == 0):.0%}")

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(train.data.ravel(), bins=64, color="C0", log=True)
ax.set_xlabel("pixel value")
ax.set_ylabel("number of pixels (log scale)")
ax.set_title("Pixel values of the 2,000 training images")
plt.show()

# %%
# The average image of each class shows where the classes differ: trousers
# have a gap between the legs, sandals are sparse, bags are wide. The classes
# that share a silhouette (T-shirt, pullover, coat and shirt) are the ones
# classifiers confuse most (see :ref:`sphx_glr_auto_examples_plot_evaluation.py`).
means = np.stack([train.images[train.target == label].mean(axis=0)
                  for label in range(10)])
plot_images(means, np.arange(10), ncols=5)
plt.show()

# %%
# The full data set
# -----------------
# The same code works on the full data, loaded (and verified against pinned
# SHA256 hashes) by :func:`~skfmnist.fetch_fashion_mnist`::
#
#     from skfmnist import fetch_fashion_mnist
#
#     train = fetch_fashion_mnist(subset="train")  # 60,000 images
#     test = fetch_fashion_mnist(subset="test")    # 10,000 images
#
# It looks for the files in the data home and in Debian's
# ``dataset-fashion-mnist`` package before downloading them; see
# :ref:`install-data`.
