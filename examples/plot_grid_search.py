"""
===========================================
Choosing the layer sizes with a grid search
===========================================

:class:`~skfmnist.DenseClassifier` is a scikit-learn estimator, so the usual
model-selection tools work on it unchanged. This example cross-validates a
pipeline for several hidden-layer architectures, with and without dropout,
using :class:`~sklearn.model_selection.GridSearchCV`, reads the results as a
pandas table, plots them, and scores the best model on held-out test images.
"""

# %%
# The pipeline and the grid
# -------------------------
# Parameters of a pipeline step are addressed as ``<step>__<parameter>``. Each
# candidate of ``hidden_layer_sizes`` is a tuple with the units of each hidden
# layer: one layer of 32 or 128 units, two layers of 256 and 128 units, and
# the notebook's three layers of 20 units. Each is tried with and without
# dropout.
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skfmnist import DenseClassifier, PixelScaler, load_sample

X, y = load_sample(return_X_y=True)
X_test, y_test = load_sample(subset="test", return_X_y=True)

pipe = Pipeline(
    [
        ("scale", PixelScaler()),
        ("clf", DenseClassifier(epochs=5, batch_size=32, random_state=0)),
    ]
)
param_grid = {
    "clf__hidden_layer_sizes": [(32,), (128,), (256, 128), (20, 20, 20)],
    "clf__dropout": [0.0, 0.2],
}

# %%
# The search
# ----------
# Three-fold cross-validation fits each of the 8 candidates three times on two
# thirds of the 2,000 training images and scores it on the remaining third,
# then refits the best candidate on all of them: 25 fits of a few seconds. On a
# machine with several cores, pass ``n_jobs=2`` (or more) to run fits in
# parallel; each worker process gets its share of the cores (see
# :ref:`model_selection`).
search = GridSearchCV(pipe, param_grid, cv=3)
search.fit(X, y)
print("best:", search.best_params_)
print(f"cross-validated accuracy of the best: {search.best_score_:.3f}")

# %%
# The results as a table
# ----------------------
# ``cv_results_`` is a dict of arrays with one entry per candidate: the
# parameters (``param_*``), the score on each fold, their mean, standard
# deviation and rank, and fit and score times. As a DataFrame it is easy to
# sort and read.
results = pd.DataFrame(search.cv_results_)
results["layers"] = results["param_clf__hidden_layer_sizes"].map(
    lambda sizes: "-".join(map(str, sizes))
)
results["dropout"] = results["param_clf__dropout"]
columns = ["layers", "dropout", "mean_test_score", "std_test_score", "rank_test_score"]
results[columns].sort_values("rank_test_score").round(3)

# %%
# A pivot table puts the two parameters on the two axes.
accuracy = results.pivot(index="layers", columns="dropout", values="mean_test_score")
spread = results.pivot(index="layers", columns="dropout", values="std_test_score")
accuracy = accuracy.loc[["32", "128", "256-128", "20-20-20"]]
spread = spread.loc[accuracy.index]
accuracy.round(3)

# %%
# The results as a plot
# ---------------------
# Mean accuracy over the three folds, with one standard deviation.
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
accuracy.plot.barh(ax=ax, xerr=spread, capsize=3, color=["C0", "C1"], width=0.75)
ax.invert_yaxis()
ax.set_xlim(0, 1)
ax.set_xlabel("cross-validated accuracy")
ax.set_ylabel("hidden_layer_sizes")
ax.legend(title="dropout", loc="lower right")
ax.set_title("Grid search on the bundled sample (5 epochs)")
plt.show()

# %%
# Width matters most: a layer of 128 units beats one of 32, and two wide
# layers do a little better still. The three narrow layers of 20 units trail,
# and dropout hurts them most: dropping a fifth of 20 units is a large share of
# the little capacity they have. With only 2,000 images and 5 epochs, none of
# these models needs dropout; on the full data and with more epochs, the
# default ``dropout=0.2`` pays off.
#
# The best model on test data
# ---------------------------
# With the default ``refit=True`` the search is itself a fitted classifier: the
# best pipeline, trained on all the training images.
print(f"test accuracy of the best pipeline: {search.score(X_test, y_test):.3f}")
print(search.best_estimator_[-1])

# %%
# Searching more
# --------------
# The number of fits is the product of the list lengths times the number of
# folds, so grow grids with care, or sample them with
# :class:`~sklearn.model_selection.RandomizedSearchCV`, which works the same
# way. On the full data, the command ``skfmnist search`` runs a search over
# ``hidden_layer_sizes`` and writes its table to ``search.csv`` (see
# :ref:`cli`)::
#
#     skfmnist search --hidden-grid 128 256,128 20,20,20 --cv 3 --n-jobs 2
