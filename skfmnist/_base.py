"""The scikit-learn side of every skfmnist classifier.

Everything a classifier needs to behave like a scikit-learn estimator lives
here once: parameter validation, input checks, label encoding, seeding, the
optimizer and learning-rate schedule, the training loop with early stopping,
``history_``, prediction and tags. A concrete classifier only says how to
build the layers between the input and the logits (``_build_logits``).
"""

import math
import numbers
from abc import abstractmethod

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._keras_env import import_keras
from ._training import EpochRunner, predict_function

__all__ = ["BaseKerasClassifier"]

# Import TensorFlow (quietly) with this module: unpickling a fitted classifier
# imports it before the Keras model in its state, so the model never triggers
# TensorFlow's noisy start-up on its own.
import_keras()

OPTIMIZERS = {
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "Nadam",
    "adamax": "Adamax",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}
# Rows are padded to a multiple of this before inference: very small float32
# batches take other matrix kernels, whose last-bit rounding would make a
# sample's probabilities depend on the batch it came in.
_ROW_ALIGNMENT = 8
# Learning rate reached at the end of a cosine schedule, as a fraction.
_COSINE_FLOOR = 0.01
_PLATEAU_FACTOR = 0.5
_PLATEAU_PATIENCE = 3


def _flatten_images(X):
    """Reshape an image stack ``(n, h, w[, c])`` to ``(n, h * w * c)``."""
    if hasattr(X, "iloc") or hasattr(X, "tocsr"):
        return X
    if not hasattr(X, "ndim"):
        X = np.asarray(X)
    return X.reshape(X.shape[0], -1) if X.ndim >= 3 else X


class BaseKerasClassifier(ClassifierMixin, BaseEstimator):
    """Base class for Keras classifiers; not meant to be used directly.

    Subclasses define ``__init__`` (storing every parameter listed in
    ``_parameter_constraints``) and ``_build_logits``.
    """

    _parameter_constraints: dict = {
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions({"constant", "cosine", "plateau"})],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "label_smoothing": [Interval(numbers.Real, 0, 1, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": [Interval(numbers.Integral, 0, 2, closed="both"), "boolean"],
        "dtype": [StrOptions({"float32", "float64"})],
        "steps_per_execution": [
            Interval(numbers.Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "predict_batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    @abstractmethod
    def _build_logits(self, inputs, n_classes, seeds):
        """Return the logits tensor of a functional model on ``inputs``.

        The last layer must be named ``"logits"``. ``seeds`` yields integer
        seeds for initializers and dropout layers.
        """

    # -- fitting -----------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, h, w)
            Training data. Image stacks are flattened.
        y : array-like of shape (n_samples,)
            Target labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights for the samples; integer weights are equivalent to
            repeating samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, classes=None, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on a batch of data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, h, w)
            Training data.
        y : array-like of shape (n_samples,)
            Target labels.
        classes : array-like of shape (n_classes,), default=None
            Every class that can appear in any call. Required in the first
            call unless ``y`` already holds them all; ignored afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights for the samples.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, classes=classes, incremental=True)

    def _fit(self, X, y, sample_weight, *, classes, incremental):
        runner, validation = self._prepare(
            X, y, sample_weight, classes=classes, incremental=incremental
        )
        epochs = 1 if incremental else self.epochs
        self._train(import_keras(), runner, epochs, validation)
        return self

    def _prepare(self, X, y, sample_weight, *, classes, incremental):
        """Validate data, build or reuse the model; return the epoch runner.

        Returns
        -------
        runner : EpochRunner
            Ready to train on the (training part of the) data.
        validation : tuple
            ``(X_val, y_val, w_val)``, all None without early stopping.
        """
        keras = import_keras()
        fitted = hasattr(self, "model_")
        continue_training = fitted and (incremental or self.warm_start)
        X, y = validate_data(
            self,
            _flatten_images(X),
            y,
            reset=not continue_training,
            dtype=(np.float32, np.float64),
        )
        y_encoded = self._encode_labels(y, classes, continue_training)
        sample_weight = self._sample_weight(sample_weight, X, y, y_encoded)

        dtype = np.dtype(self.dtype)
        X = X.astype(dtype, copy=False)
        if not continue_training:
            self._random_state = check_random_state(self.random_state)
            self.model_ = self._new_model(keras, X.shape[1], dtype)
            self.history_ = pd.DataFrame()
            self.loss_curve_ = []
            self.n_iter_ = 0
            self.t_ = 0
        rng = self._random_state

        X_val = y_val = w_val = None
        if self.early_stopping and not incremental:
            stratify = y_encoded if np.bincount(y_encoded).min() > 1 else None
            X, X_val, y_encoded, y_val, sample_weight, w_val = train_test_split(
                X, y_encoded, sample_weight,
                test_size=self.validation_fraction,
                random_state=rng.randint(np.iinfo(np.int32).max),
                stratify=stratify,
            )
        runner = EpochRunner(
            self.model_, X, y_encoded, sample_weight,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            rng=rng,
            label_smoothing=self.label_smoothing,
            steps_per_execution=self._steps_per_execution(X.shape[0]),
        )
        if not continue_training:
            self._plateau = {"best": np.inf, "wait": 0}
        return runner, (X_val, y_val, w_val)

    def _encode_labels(self, y, classes, continue_training):
        check_classification_targets(y)
        if continue_training:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"y contains labels {unseen.tolist()} that were not seen in "
                    f"the first call to fit; expected labels among "
                    f"{self.classes_.tolist()}."
                )
            return np.searchsorted(self.classes_, y).astype(np.int32)
        if classes is not None:
            self.classes_ = np.unique(np.asarray(classes))
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"y contains labels {unseen.tolist()} that are not in "
                    f"classes={self.classes_.tolist()}."
                )
            encoded = np.searchsorted(self.classes_, y)
        else:
            self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data, but the data contains only one class: "
                f"{self.classes_[0]!r}."
            )
        return encoded.astype(np.int32)

    def _sample_weight(self, sample_weight, X, y, y_encoded):
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True
        )
        if self.class_weight is not None:
            sample_weight *= compute_sample_weight(self.class_weight, y)
        positive = np.unique(y_encoded[sample_weight > 0])
        if positive.size < 2:
            raise ValueError(
                "Only one class has a positive sample_weight; the classifier "
                "needs samples of at least 2 classes with positive weight."
            )
        return sample_weight

    def _steps_per_execution(self, n_samples):
        if self.steps_per_execution != "auto":
            return self.steps_per_execution
        steps = math.ceil(n_samples / min(self.batch_size, n_samples))
        # A progress bar wants about 30 refreshes an epoch; without one a
        # whole epoch runs as a single compiled call.
        return max(1, steps // 30) if self.verbose == 1 else steps

    def _new_model(self, keras, n_features, dtype):
        seed_source = check_random_state(self._random_state.randint(2**31 - 1))

        def seeds():
            while True:
                yield int(seed_source.randint(2**31 - 1))

        inputs = keras.Input((n_features,), dtype=dtype.name, name="pixels")
        with keras.name_scope(type(self).__name__):
            logits = self._build_logits(inputs, len(self.classes_), seeds())
        proba = keras.layers.Softmax(name="proba", dtype=dtype.name)(logits)
        model = keras.Model(inputs, proba, name=type(self).__name__)
        optimizer = getattr(keras.optimizers, OPTIMIZERS[self.optimizer])(
            learning_rate=self.learning_rate
        )
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
        optimizer.build(model.trainable_variables)
        return model

    def _learning_rate(self):
        """Learning rate for the next epoch under the chosen schedule."""
        if self.learning_rate_schedule == "cosine":
            progress = min(self.n_iter_ / self.epochs, 1.0)
            cosine = 0.5 * (1 + math.cos(math.pi * progress))
            return self.learning_rate * (_COSINE_FLOOR + (1 - _COSINE_FLOOR) * cosine)
        return float(self.model_.optimizer.learning_rate.numpy())

    def _update_plateau(self, loss):
        state = self._plateau
        if loss < state["best"] - self.tol:
            state["best"], state["wait"] = loss, 0
            return
        state["wait"] += 1
        if state["wait"] >= _PLATEAU_PATIENCE:
            optimizer = self.model_.optimizer
            optimizer.learning_rate.assign(
                optimizer.learning_rate.numpy() * _PLATEAU_FACTOR
            )
            state["wait"] = 0

    def _train(self, keras, runner, epochs, validation):
        optimizer = self.model_.optimizer
        X_val, y_val, w_val = validation
        best = {"loss": np.inf, "weights": None, "wait": 0}
        rows = []
        for epoch in range(epochs):
            learning_rate = self._learning_rate()
            optimizer.learning_rate.assign(learning_rate)
            progbar = None
            if self.verbose == 1:
                print(f"Epoch {self.n_iter_ + 1}/{self.n_iter_ + epochs - epoch}")
                progbar = keras.utils.Progbar(runner.steps, verbose=1)
            loss, accuracy = runner.run_epoch(progbar)
            self.n_iter_ += 1
            self.t_ += runner.n_samples
            row = {"loss": loss, "accuracy": accuracy}
            if X_val is not None:
                row["val_loss"], row["val_accuracy"] = self._evaluate(
                    X_val, y_val, w_val
                )
            row["learning_rate"] = learning_rate
            rows.append(row)
            self.loss_curve_.append(loss)
            if progbar is not None:
                progbar.update(
                    runner.steps,
                    [(k, v) for k, v in row.items() if k != "learning_rate"],
                    finalize=True,
                )
            elif self.verbose == 2:
                metrics = " - ".join(f"{k}: {v:.4f}" for k, v in row.items())
                print(f"Epoch {self.n_iter_}: {metrics}")
            monitored = row.get("val_loss", loss)
            if self.learning_rate_schedule == "plateau":
                self._update_plateau(monitored)
            if X_val is not None:
                if monitored < best["loss"] - self.tol:
                    best.update(
                        loss=monitored, wait=0, weights=self.model_.get_weights()
                    )
                else:
                    best["wait"] += 1
                    if best["wait"] >= self.n_iter_no_change:
                        if self.verbose:
                            print(
                                f"Validation loss did not improve by more than "
                                f"tol={self.tol} for {self.n_iter_no_change} "
                                "epochs: stopping."
                            )
                        break
        if best["weights"] is not None:
            self.model_.set_weights(best["weights"])
        history = pd.DataFrame(
            rows,
            index=pd.RangeIndex(
                self.n_iter_ - len(rows) + 1, self.n_iter_ + 1, name="epoch"
            ),
        )
        self.history_ = pd.concat([self.history_, history]) if len(
            self.history_
        ) else history

    def _evaluate(self, X, y, sample_weight):
        proba = self._forward(X)
        picked = np.clip(proba[np.arange(len(y)), y], 1e-12, None)
        weight = sample_weight.sum()
        loss = float(-(sample_weight * np.log(picked)).sum() / weight)
        accuracy = float(
            (sample_weight * (proba.argmax(axis=1) == y)).sum() / weight
        )
        return loss, accuracy

    # -- prediction --------------------------------------------------------

    def _forward(self, X):
        """Probabilities for already validated ``X``, in chunks, as float64."""
        forward = predict_function(self.model_)
        X = X.astype(np.dtype(self.model_.inputs[0].dtype), copy=False)
        n_samples = X.shape[0]
        chunks = []
        for start in range(0, n_samples, self.predict_batch_size):
            chunk = X[start : start + self.predict_batch_size]
            pad = -len(chunk) % _ROW_ALIGNMENT
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, X.shape[1]), X.dtype)])
            chunks.append(forward(chunk).numpy()[: len(chunk) - pad])
        proba = np.concatenate(chunks).astype(np.float64, copy=False)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict_proba(self, X):
        """Predict class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, h, w)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(
            self, _flatten_images(X), reset=False, dtype=(np.float32, np.float64)
        )
        return self._forward(X)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, h, w)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, in the label space seen during fit.
        """
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def __sklearn_is_fitted__(self):
        # A fit that failed on bad labels may have set classes_ already; only
        # a built model makes the estimator usable.
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.classifier_tags.multi_class = True
        return tags
