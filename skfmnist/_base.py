"""The scikit-learn side of every skfmnist classifier.

Everything a classifier needs to behave like a scikit-learn estimator lives
here once: parameter validation, input checks and reshaping to the network's
input shape, label encoding, seeding, the optimizer, atomic fits, ``history_``,
prediction, pickling and tags. A concrete classifier only says how to build the
layers between the input and the logits (``_build_logits``), which parameters
define its network (``_network_params``) and, optionally, the input shape its
network consumes (``_input_shape``), a training-time augmentation
(``_augmentation``), test-time views (``_test_time_views``) and a faster
prediction-time form of the network (``_inference_network``).
"""

import copy
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

from ._engine.loop import Schedule, Stopping, run_epochs
from ._engine.runtime import start_runtime
from ._engine.training import Engine, EpochRunner, logits_model_of
from ._state import (
    SavedStateError,
    detached_callbacks,
    history_from_data,
    history_to_data,
    network_from_data,
    network_to_data,
)

__all__ = ["BaseKerasClassifier"]

# The optimizer options: the Keras optimizer classes' names in lower case.
OPTIMIZERS = {
    name.lower(): name
    for name in ("Adam", "AdamW", "Nadam", "Adamax", "SGD", "RMSprop", "Adagrad")
}
# Parameters of the base that define the network a warm fit continues.
_BASE_NETWORK_PARAMS = ("dtype", "optimizer")


def _flatten_images(X):
    """Reshape an image stack ``(n, h, w[, c])`` to ``(n, h * w * c)``."""
    if hasattr(X, "iloc") or hasattr(X, "tocsr"):
        return X
    if not hasattr(X, "ndim"):
        X = np.asarray(X)
    return X.reshape(X.shape[0], -1) if X.ndim >= 3 else X


def positive_sizes(value, name):
    """``value`` (an int or a sequence of ints) as a list of positive ints.

    Raises a ValueError that names the parameter otherwise.
    """
    sizes = [value] if isinstance(value, numbers.Integral) else list(value)
    for size in sizes:
        if not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"{name} must hold positive integers, got {value!r}.")
    return [int(size) for size in sizes]


def _read_only(variable):
    """A numpy copy of a Keras variable that cannot be written to."""
    array = np.array(variable.numpy(), copy=True)
    array.flags.writeable = False
    return array


def _add_stopping_attributes(state):
    """Fill in, in a pickled state from before they existed, ``loss_``,
    ``best_loss_``, ``validation_scores_`` and ``best_validation_score_``."""
    curve = list(state.get("loss_curve_") or [])
    state["loss_"] = curve[-1] if curve else None
    scores = state["history_"].get("val_accuracy")
    if state.get("early_stopping") and scores is not None:
        scores = [float(value) for value in scores]
        state.update(best_loss_=None, validation_scores_=scores,
                     best_validation_score_=max(scores) if scores else None)
    else:
        state.update(best_loss_=min(curve) if curve else None,
                     validation_scores_=None, best_validation_score_=None)
    state["_stopping"] = None


def _canonical(value):
    """A comparable form of a parameter value (lists and tuples alike)."""
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


class BaseKerasClassifier(ClassifierMixin, BaseEstimator):
    """Base class for Keras classifiers; not meant to be used directly.

    Subclasses define ``__init__`` (an explicit signature holding every
    parameter listed in ``_parameter_constraints``, each stored unchanged
    under its own name), ``_build_logits`` and ``_network_params``.
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
        "callbacks": [list, None],
        "random_state": ["random_state"],
        "verbose": [Interval(numbers.Integral, 0, 2, closed="both"), "boolean"],
        "dtype": [StrOptions({"float32", "float64"})],
        "steps_per_execution": [
            Interval(numbers.Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "predict_batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    #: Names of the subclass's parameters that define its network.
    _network_params: tuple = ()

    @abstractmethod
    def _build_logits(self, inputs, n_classes, seeds):
        """Return the logits tensor of a functional model on ``inputs``.

        The last layer must be named ``"logits"``. ``seeds`` yields integer
        seeds for initializers and dropout layers.
        """

    def _input_shape(self, n_features):
        """Shape of one sample as the network consumes it; flat by default."""
        return (n_features,)

    def _augmentation(self):
        """``augment(X, seed) -> X`` run on training batches, or None."""
        return None

    def _test_time_views(self):
        """Functions ``X -> X`` whose predictions are averaged with ``X``'s."""
        return ()

    def _inference_network(self, model):
        """A cheaper ``X -> probabilities`` equal to ``model``, or None."""
        return None

    def _new_engine(self, model):
        network = self._inference_network(model)
        if network is None:
            return Engine(model, self._augmentation())
        logits_model = logits_model_of(model)
        return Engine(
            model, self._augmentation(), network,
            logits_network=self._inference_network(logits_model),
            logits_model=logits_model,
        )

    # -- fitting -----------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None,
            sample_weight_val=None):
        """Fit the model to data.

        Any error leaves the estimator as it was before the call (or, for a
        first fit, unfitted). Ctrl-C after at least one complete epoch stops
        training with a warning and keeps the complete epochs, like
        :class:`~sklearn.neural_network.MLPClassifier`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, h, w[, 1])
            Training data. Image stacks are flattened to ``n_features`` pixels
            for validation and given to the network in its own input shape.
        y : array-like of shape (n_samples,)
            Target labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights for the samples; integer weights are equivalent to
            repeating samples.
        X_val : array-like of shape (n_val_samples, n_features), default=None
            Held-out data evaluated after every epoch (``val_loss`` and
            ``val_accuracy`` in ``history_`` and in the callbacks' logs).
            With ``early_stopping=True`` it replaces the split of
            ``validation_fraction`` off the training data.
        y_val : array-like of shape (n_val_samples,), default=None
            Labels of ``X_val``, among the classes of ``y``.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the held-out samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together.")
        if sample_weight_val is not None and X_val is None:
            raise ValueError("sample_weight_val needs X_val and y_val.")
        validation = None if X_val is None else (X_val, y_val, sample_weight_val)
        return self._atomic_fit(
            X, y, sample_weight, classes=None, incremental=False,
            validation=validation,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on a batch of data.

        The learning rate follows the schedule by epoch count: the k-th call
        trains at the rate of the k-th epoch of a ``fit`` of ``epochs``
        epochs (the "cosine" schedule stays at its floor after that). A
        failed call leaves the estimator as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, h, w[, 1])
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
        return self._atomic_fit(
            X, y, sample_weight, classes=classes, incremental=True, validation=None
        )

    def _atomic_fit(self, X, y, sample_weight, **kwargs):
        # Fitted attributes are computed into a dict and assigned together;
        # a continued fit trains the model in place, so its variables and the
        # random state are copied first and put back on any error.
        keras = start_runtime()
        before = dict(self.__dict__)
        continuing = hasattr(self, "model_") and (
            kwargs["incremental"] or self.warm_start
        )
        saved = None
        if continuing:
            self._check_network_unchanged()
            saved = (self._engine.state(), self._random_state.get_state())
        try:
            fitted = self._fit(keras, X, y, sample_weight, continuing=continuing,
                               **kwargs)
        except BaseException:
            if saved is not None:
                before["_engine"].restore(saved[0])
                before["_random_state"].set_state(saved[1])
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        self.__dict__.update(fitted)
        return self

    def _fit(self, keras, X, y, sample_weight, *, classes, incremental, validation,
             continuing):
        X, y = validate_data(
            self, _flatten_images(X), y, reset=not continuing,
            dtype=(np.float32, np.float64),
        )
        if continuing:
            classes_ = self.classes_
            y_encoded = self._encode_known(
                y, classes_, "that were not seen in the first call to fit"
            )
        else:
            classes_, y_encoded = self._encode_new(y, classes)
        sample_weight = self._sample_weight(sample_weight, X, y, y_encoded)
        X = X.astype(np.dtype(self.dtype), copy=False)

        if continuing:
            rng, engine = self._random_state, self._engine
            state = {
                "history_": self.history_, "loss_curve_": self.loss_curve_,
                "n_iter_": self.n_iter_, "t_": self.t_,
                "plateau": dict(self._plateau),
                "stopping": self._stopping,
                "validation_scores_": self.validation_scores_,
            }
        else:
            rng = check_random_state(self.random_state)
            model = self._new_model(keras, X.shape[1], len(classes_), rng)
            engine = self._new_engine(model)
            state = {"history_": pd.DataFrame(), "loss_curve_": [], "n_iter_": 0,
                     "t_": 0, "plateau": None, "stopping": None,
                     "validation_scores_": None}

        validation = self._validation_data(
            X, y_encoded, sample_weight, classes_, validation, rng, incremental
        )
        if validation is not None and validation.get("split"):
            X, y_encoded, sample_weight = validation.pop("split")
        runner = EpochRunner(
            engine, X, y_encoded, sample_weight,
            batch_size=self.batch_size, shuffle=self.shuffle, rng=rng,
            label_smoothing=self.label_smoothing,
            steps_per_execution=self._steps_per_execution(X.shape[0]),
        )
        if validation is not None:
            # val_loss carries the penalty in the share the training loss
            # does: one penalty per mini-batch, per unit of training weight.
            validation["penalty_share"] = runner.steps / float(np.sum(sample_weight))
        schedule = Schedule(
            self.learning_rate_schedule, self.learning_rate, self.epochs, self.tol
        )
        if incremental:
            epochs, position = 1, state["n_iter_"]
            if state["plateau"] is not None:
                schedule.plateau = state["plateau"]
        else:
            epochs, position = self.epochs, 0
        stopping = self._stopping_rule(state["stopping"], incremental)
        rows = run_epochs(
            keras, engine, runner,
            epochs=epochs, first_epoch=state["n_iter_"], schedule=schedule,
            first_position=position, callbacks=self.callbacks,
            verbose=int(self.verbose), validation=validation, stopping=stopping,
            divergence_hint=self._divergence_hint(),
        )
        n_iter = state["n_iter_"] + len(rows)
        history = pd.DataFrame(
            rows,
            index=pd.RangeIndex(state["n_iter_"] + 1, n_iter + 1, name="epoch"),
        )
        if len(state["history_"]):
            history = pd.concat([state["history_"], history])
        loss_curve = [*state["loss_curve_"], *(r["loss"] for r in rows)]
        return {
            "classes_": classes_,
            "model_": engine.model,
            "history_": history,
            "loss_curve_": loss_curve,
            "loss_": loss_curve[-1],
            "n_iter_": n_iter,
            "t_": state["t_"] + runner.n_samples * len(rows),
            **self._stopping_attributes(stopping, state, rows),
            "_engine": engine,
            "_random_state": rng,
            "_plateau": schedule.plateau,
            "_network": self._network_signature(),
        }

    def _stopping_rule(self, carried, incremental):
        """MLPClassifier's stopping rule for this fit, or None.

        Without early stopping: the training loss (also counted, never
        stopping, by ``partial_fit``); with it: the validation accuracy. A
        warm fit or ``partial_fit`` carries the best value and the count of
        the fits before, as ``MLPClassifier`` does; a new fit, or a change of
        ``early_stopping``, starts afresh. ``partial_fit`` holds no data out,
        so with ``early_stopping=True`` it has no rule.
        """
        if self.early_stopping and incremental:
            return None
        monitor = "val_accuracy" if self.early_stopping else "loss"
        carried = carried if carried and carried["monitor"] == monitor else {}
        return Stopping(
            monitor, self.tol, self.n_iter_no_change,
            best=carried.get("best"), count=carried.get("count", 0),
        )

    def _stopping_attributes(self, stopping, state, rows):
        """``best_loss_``, ``validation_scores_``, ``best_validation_score_``
        and the rule's state, following MLPClassifier's definitions."""
        if stopping is None:
            # partial_fit with early_stopping=True validates nothing; the
            # weights moved on from the best epoch, so the next fit's rule
            # starts afresh.
            scores = list(state["validation_scores_"] or [])
            return {"best_loss_": None, "validation_scores_": scores,
                    "best_validation_score_": max(scores) if scores else None,
                    "_stopping": None}
        stopping_state = {"monitor": stopping.monitor, "best": float(stopping.best),
                          "count": int(stopping.count)}
        if stopping.monitor == "loss":
            return {"best_loss_": stopping_state["best"], "validation_scores_": None,
                    "best_validation_score_": None, "_stopping": stopping_state}
        previous = state["stopping"]
        scores = (
            list(state["validation_scores_"] or [])
            if previous and previous["monitor"] == "val_accuracy" else []
        )
        scores += [float(row["val_accuracy"]) for row in rows]
        return {"best_loss_": None, "validation_scores_": scores,
                "best_validation_score_": stopping_state["best"] if scores else None,
                "_stopping": stopping_state}

    def _divergence_hint(self):
        return (
            "Scale the pixels to [0, 1] first (PixelScaler), or lower "
            f"learning_rate (now {self.learning_rate:g})."
        )

    def _network_signature(self):
        names = (*self._network_params, *_BASE_NETWORK_PARAMS)
        return {name: _canonical(getattr(self, name)) for name in names}

    def _check_network_unchanged(self):
        changed = {
            name: (old, new)
            for name, old in self._network.items()
            if (new := _canonical(getattr(self, name))) != old
        }
        if changed:
            detail = "; ".join(
                f"{name} from {old!r} to {new!r}"
                for name, (old, new) in changed.items()
            )
            raise ValueError(
                f"Cannot continue training: {detail} since the network was built. "
                "warm_start=True and partial_fit continue the fitted network; set "
                "warm_start=False (or fit a new estimator) to build a new one, or "
                "restore the parameter."
            )

    def _encode_new(self, y, classes):
        check_classification_targets(y)
        if classes is not None:
            classes_ = np.unique(np.asarray(classes))
            encoded = self._encode_known(
                y, classes_, f"that are not in classes={classes_.tolist()}"
            )
        else:
            classes_, encoded = np.unique(y, return_inverse=True)
        if len(classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data, but the data contains only one class: "
                f"{classes_[0]!r}."
            )
        return classes_, encoded.astype(np.int32)

    @staticmethod
    def _encode_known(y, classes_, unseen_where):
        check_classification_targets(y)
        unseen = np.setdiff1d(np.unique(y), classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} {unseen_where}; expected "
                f"labels among {classes_.tolist()}."
            )
        return np.searchsorted(classes_, y).astype(np.int32)

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

    def _validation_data(self, X, y_encoded, sample_weight, classes_, given, rng,
                         incremental):
        """Keyword arguments of ``Engine.evaluate`` for held-out data, or None.

        Held-out data given to ``fit`` is used as it is; otherwise, with early
        stopping, ``validation_fraction`` of the training data is split off
        (stratified when every class has two samples) under the key "split"
        that holds the remaining training part.
        """
        common = {"label_smoothing": self.label_smoothing,
                  "batch_size": self.predict_batch_size}
        if given is not None:
            X_val, y_val, w_val = given
            X_val = validate_data(
                self, _flatten_images(X_val), reset=False,
                dtype=(np.float32, np.float64),
            )
            y_val = np.asarray(y_val)
            if len(y_val) != X_val.shape[0]:
                raise ValueError(
                    f"X_val has {X_val.shape[0]} samples but y_val has {len(y_val)}."
                )
            y_val = self._encode_known(y_val, classes_, "that are not in y")
            w_val = _check_sample_weight(w_val, X_val, dtype=np.float64,
                                         ensure_non_negative=True)
            return {"X": X_val, "y": y_val, "sample_weight": w_val, **common}
        if not self.early_stopping or incremental:
            return None
        stratify = y_encoded if np.bincount(y_encoded).min() > 1 else None
        X, X_val, y_encoded, y_val, sample_weight, w_val = train_test_split(
            X, y_encoded, sample_weight,
            test_size=self.validation_fraction,
            random_state=rng.randint(np.iinfo(np.int32).max),
            stratify=stratify,
        )
        return {"X": X_val, "y": y_val, "sample_weight": w_val, **common,
                "split": (X, y_encoded, sample_weight)}

    def _steps_per_execution(self, n_samples):
        if self.steps_per_execution != "auto":
            return self.steps_per_execution
        steps = math.ceil(n_samples / min(self.batch_size, n_samples))
        # A progress bar wants about 30 refreshes an epoch; without one a
        # whole epoch runs as a single compiled call.
        return max(1, steps // 30) if self.verbose == 1 else steps

    def _new_model(self, keras, n_features, n_classes, rng):
        seed_source = check_random_state(rng.randint(2**31 - 1))

        def seeds():
            while True:
                yield int(seed_source.randint(2**31 - 1))

        dtype = self.dtype
        inputs = keras.Input(self._input_shape(n_features), dtype=dtype, name="pixels")
        with keras.name_scope(type(self).__name__):
            logits = self._build_logits(inputs, n_classes, seeds())
        proba = keras.layers.Softmax(name="proba", dtype=dtype)(logits)
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

    # -- prediction --------------------------------------------------------

    def predict_proba(self, X):
        """Predict class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, h, w[, 1])
            Samples: pixel rows, or image stacks, which are flattened to
            ``n_features_in_`` pixels as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, columns in the order of ``classes_``.
        """
        return self._checked_prediction(X, "predict_proba", "probabilities")

    def predict_log_proba(self, X):
        """Predict the logarithm of the class probabilities.

        Computed from the network's logits (``log_softmax``; with test-time
        views, a log-sum-exp of the views' log-probabilities), not as
        ``np.log(predict_proba(X))``: a probability that underflows to 0
        still has a finite logarithm here, where ``MLPClassifier`` returns
        ``-inf``. ``np.exp`` of the result equals :meth:`predict_proba` to
        floating-point rounding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, h, w[, 1])
            Pixel rows or image stacks, as :meth:`predict_proba` takes them.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Natural logarithm of the probability of each class, columns in
            the order of ``classes_``.
        """
        return self._checked_prediction(X, "predict_log_proba", "log-probabilities")

    def _checked_prediction(self, X, method, what):
        """``Engine.<method>`` on validated ``X``, refusing non-finite values."""
        check_is_fitted(self)
        X = validate_data(
            self, _flatten_images(X), reset=False, dtype=(np.float32, np.float64)
        )
        values = getattr(self._engine, method)(
            X, self.predict_batch_size, self._test_time_views()
        )
        if not np.isfinite(values).all():
            raise ValueError(
                f"The network computed non-finite {what} for some samples: its "
                "weights or these inputs are out of the range it can handle "
                "(scale pixels to [0, 1] with PixelScaler)."
            )
        return values

    def predict(self, X):
        """Predict class labels: the most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, h, w[, 1])
            Samples, as for :meth:`predict_proba`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, in the label space seen during fit.
        """
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # -- MLPClassifier's fitted attributes read from the network -----------
    # Properties, not stored arrays: a pickle holds the weights once, in the
    # network's state.

    def _dense_layers(self):
        keras = start_runtime()
        return [
            layer for layer in self.model_.layers
            if isinstance(layer, keras.layers.Dense)
        ]

    @property
    def coefs_(self):
        """Weight matrices of the fully connected layers, read-only copies."""
        check_is_fitted(self)
        return [_read_only(layer.kernel) for layer in self._dense_layers()]

    @property
    def intercepts_(self):
        """Bias vectors of the fully connected layers, read-only copies."""
        check_is_fitted(self)
        return [_read_only(layer.bias) for layer in self._dense_layers()]

    @property
    def n_outputs_(self):
        """Number of output units: one per class."""
        check_is_fitted(self)
        return len(self.classes_)

    @property
    def out_activation_(self):
        """Name of the output activation function: "softmax"."""
        check_is_fitted(self)
        return "softmax"

    # -- pickling, tags ----------------------------------------------------

    def __getstate__(self):
        # Plain data only (see skfmnist._state): no Keras object is pickled.
        state = dict(super().__getstate__())
        state.pop("_engine", None)
        state["callbacks"] = detached_callbacks(state.get("callbacks"))
        if "model_" in state:
            state["model_"] = network_to_data(self._engine)
            state["history_"] = history_to_data(state["history_"])
        return state

    def __setstate__(self, state):
        state = dict(state)
        network = state.pop("model_", None)
        if network is not None:
            variables = network_from_data(network, type(self).__name__)
            state["history_"] = history_from_data(state["history_"])
        if network is not None and "loss_" not in state:
            _add_stopping_attributes(state)
        super().__setstate__(state)
        if network is not None:
            # A file may have been edited: check the parameters before they
            # size any layer.
            self._validate_params()
            self._engine = self._rebuilt_engine(variables)
            self.model_ = self._engine.model

    def _rebuilt_engine(self, variables):
        """The fitted network, rebuilt with this class's code from its variables.

        The layers come from the parameters the network was built with
        (``_network``), which may differ from the current ones after
        ``set_params``.
        """
        keras = start_runtime()
        builder = copy.copy(self)
        builder.__dict__.update(self._network)
        model = builder._new_model(
            keras, self.n_features_in_, len(self.classes_), np.random.RandomState(0)
        )
        engine = self._new_engine(model)
        try:
            engine.restore(variables)
        except ValueError as exc:
            raise SavedStateError(
                f"The saved {type(self).__name__} does not match the network its "
                f"parameters build ({exc}); the file is corrupt or was edited."
            ) from None
        return engine

    def __sklearn_clone__(self):
        # Clone copies parameters; callbacks go without their model and
        # their open files, which cannot be copied (see detached_callbacks).
        portable = copy.copy(self)
        portable.callbacks = detached_callbacks(self.callbacks)
        return super(BaseKerasClassifier, portable).__sklearn_clone__()

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.classifier_tags.multi_class = True
        return tags
