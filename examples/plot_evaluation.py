"""
=======================
Evaluating a classifier
=======================

Accuracy is one number; the plots here show where a classifier is right and
where it is wrong. A pipeline is trained with early stopping, its training
curves are drawn with :func:`~skfmnist.plotting.plot_history`, its mistakes are
counted with :func:`~skfmnist.plotting.plot_confusion_matrix`, and test images
are shown with their predictions by
:func:`~skfmnist.plotting.plot_predictions`: green when right, red when wrong.
"""

# %%
# Training with a validation set
# ------------------------------
# With ``early_stopping=True`` the classifier holds out
# ``validation_fraction`` of the training data, records the validation loss and
# accuracy of every epoch, stops when the validation accuracy has not improved
# for more than ``n_iter_no_change`` epochs and keeps the weights of the best
# epoch, as ``MLPClassifier`` does. Without
# dropout and at a constant learning rate, this small network overfits the
# sample quickly, which makes the point visible.
# sphinx_gallery_thumbnail_number = 3
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import classification_report
from sklearn.pipeline import make_pipeline

from skfmnist import CLASS_NAMES, DenseClassifier, PixelScaler, load_sample
from skfmnist.plotting import plot_confusion_matrix, plot_history, plot_predictions

X, y = load_sample(return_X_y=True)
test = load_sample(subset="test")
X_test, y_test = test.images, test.target

clf = make_pipeline(
    PixelScaler(),
    DenseClassifier(
        hidden_layer_sizes=(128,),
        dropout=0.0,
        learning_rate=3e-3,
        learning_rate_schedule="constant",
        epochs=50,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=5,
        random_state=0,
    ),
)
clf.fit(X, y)
history = clf[-1].history_
best_epoch = history["val_loss"].idxmin()
print(f"epochs run: {clf[-1].n_iter_} of 50; weights kept from epoch {best_epoch}")
history.round(4)

# %%
# Training curves
# ---------------
# The training loss keeps falling; the validation loss flattens, then rises
# once the network starts to memorise its 1,700 training images. That turn is
# where early stopping steps in. (With the default ``dropout=0.2`` and cosine
# learning-rate schedule the curves stay much closer together.)
plot_history(clf)
plt.show()

# %%
# Per-class scores
# ----------------
# The pipeline predicts from the raw images; the scaler inside it divides the
# pixels by 255.
y_pred = clf.predict(X_test)
print(classification_report(y_test, y_pred, target_names=CLASS_NAMES, digits=3))

# %%
# The confusion matrix
# --------------------
# Each row is a true class, each column a predicted class. With
# ``normalize="true"`` the rows sum to one, so the diagonal is the recall of
# each class. The upper-body garments (T-shirt, pullover, coat, shirt) are
# confused with one another; trousers, bags and footwear are easy.
display = plot_confusion_matrix(clf, X_test, y_test, normalize="true",
                                values_format=".2f", cmap="Blues")
display.ax_.set_title("Confusion matrix, normalised over true classes")
plt.show()

# %%
# Predictions, image by image
# ---------------------------
# Each panel shows the predicted class with its probability, over the true
# class: green when the prediction is right, red when it is wrong.
# ``random_state`` picks the images at random.
plot_predictions(clf, X_test, y_test, n=15, random_state=0)
plt.show()

# %%
# The mistakes the classifier is most sure of are often ambiguous images, or
# ones whose label is debatable.
proba = clf.predict_proba(X_test)
wrong = np.flatnonzero(y_pred != y_test)
most_confident = wrong[np.argsort(proba[wrong].max(axis=1))[::-1][:10]]
plot_predictions(clf, X_test[most_confident], y_test[most_confident], n=10)
plt.show()
