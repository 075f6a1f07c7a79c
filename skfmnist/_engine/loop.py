"""The epoch loop: schedule, Keras callbacks, stopping rules, divergence, Ctrl-C.

Callbacks are driven by Keras' own contract, as ``Model.fit`` drives them:
``on_train_begin``, ``on_epoch_begin(epoch)``, ``on_train_batch_begin/end``
once per compiled call (like ``fit`` with ``steps_per_execution``),
``on_epoch_end(epoch, logs)`` and ``on_train_end``; ``model.stop_training``
stops after the current call. The progress bar is Keras' own
``ProgbarLogger``, added as ``fit`` adds it.
"""

import math
import warnings
from dataclasses import dataclass, field

from .training import DivergedError

__all__ = ["Schedule", "Stopping", "run_epochs"]

# Learning rate reached at the end of a cosine schedule, as a fraction.
COSINE_FLOOR = 0.01
PLATEAU_FACTOR = 0.5
PLATEAU_PATIENCE = 3


@dataclass
class Schedule:
    """Learning rate per epoch, from ``rate`` at position 0 of ``length`` epochs.

    "cosine" decays along a half cosine to ``COSINE_FLOOR * rate`` at position
    ``length``; "plateau" multiplies by ``PLATEAU_FACTOR`` whenever the
    monitored loss has not improved by ``tol`` for ``PLATEAU_PATIENCE`` epochs;
    "constant" keeps ``rate``. ``plateau`` carries the plateau state (best
    loss, epochs waited, current factor) between calls to ``partial_fit``.
    """

    kind: str
    rate: float
    length: int
    tol: float
    plateau: dict = field(
        default_factory=lambda: {"best": math.inf, "wait": 0, "factor": 1.0}
    )

    def rate_at(self, position):
        if self.kind == "cosine":
            progress = min(position / self.length, 1.0)
            cosine = 0.5 * (1 + math.cos(math.pi * progress))
            return self.rate * (COSINE_FLOOR + (1 - COSINE_FLOOR) * cosine)
        if self.kind == "plateau":
            return self.rate * self.plateau["factor"]
        return self.rate

    def update(self, loss):
        if self.kind != "plateau":
            return
        state = self.plateau
        if loss < state["best"] - self.tol:
            state["best"], state["wait"] = loss, 0
            return
        state["wait"] += 1
        if state["wait"] >= PLATEAU_PATIENCE:
            state["factor"] *= PLATEAU_FACTOR
            state["wait"] = 0


@dataclass
class Stopping:
    """MLPClassifier's stopping rule, with its state.

    After each epoch the monitored value is compared with the best so far:
    the training ``"loss"`` must fall below ``best - tol``, the
    ``"val_accuracy"`` rise to ``best + tol`` or above, or the epoch counts
    as one without improvement. Training stops once more than ``patience``
    epochs in a row did not improve (``count > patience``, as
    ``MLPClassifier`` compares ``_no_improvement_count > n_iter_no_change``).
    ``best`` is the best value seen, improved by any amount. For
    ``"val_accuracy"`` the weights of the best epoch come back at the end.
    ``best``, ``count`` and ``monitor`` are plain data that a warm fit
    carries over, as ``MLPClassifier`` carries ``best_loss_``,
    ``best_validation_score_`` and its count.
    """

    monitor: str
    tol: float
    patience: int
    best: float | None = None
    count: int = 0

    def __post_init__(self):
        if self.best is None:
            self.best = math.inf if self.monitor == "loss" else -math.inf

    @property
    def restores(self):
        """Whether the weights of the best epoch come back at the end."""
        return self.monitor == "val_accuracy"

    def update(self, row):
        """Note an epoch's metrics; return True when its value is a new best."""
        value = row[self.monitor]
        if self.monitor == "loss":
            worse = value > self.best - self.tol
            improved = value < self.best
        else:
            worse = value < self.best + self.tol
            improved = value > self.best
        self.count = self.count + 1 if worse else 0
        if improved:
            self.best = value
        return improved

    @property
    def exhausted(self):
        return self.count > self.patience

    def message(self):
        what = ("Training loss" if self.monitor == "loss"
                else "Validation score (accuracy)")
        return (
            f"{what} did not improve more than tol={self.tol:g} for "
            f"{self.patience} consecutive epochs. Stopping."
        )


def _check_finite(value, epoch, hint):
    if not math.isfinite(value):
        raise DivergedError(
            f"Training diverged: the training loss became {value} in epoch "
            f"{epoch + 1}. {hint}"
        )


def run_epochs(
    keras, engine, runner, *, epochs, first_epoch, schedule, first_position,
    callbacks, verbose, validation, stopping, divergence_hint,
):
    """Train ``epochs`` epochs; return one dict of metrics per epoch run.

    Parameters
    ----------
    keras : module
        Keras.
    engine : Engine
        The engine of the model to train.
    runner : EpochRunner
        The training data, ready to run.
    epochs : int
        Number of epochs to run (fewer if stopped).
    first_epoch : int
        Epoch number (0-based) of the first one, for callbacks and the
        progress bar, as Keras' ``initial_epoch``.
    schedule : Schedule
        The learning rate of each epoch.
    first_position : int
        Position in the schedule of the first epoch.
    callbacks : list of keras.callbacks.Callback or None
        User callbacks.
    verbose : int
        0 silent, 1 progress bar, 2 one line per epoch.
    validation : dict or None
        ``X``, ``y``, ``sample_weight``, ``label_smoothing``, ``batch_size``
        of held-out data, evaluated after each epoch.
    stopping : Stopping or None
        The stopping rule, updated in place after each epoch; with
        ``monitor="val_accuracy"`` the weights of the best epoch are restored
        at the end (those the model starts with, when a carried-over ``best``
        is not beaten). None never stops before ``epochs``.
    divergence_hint : str
        What to try, appended to the error when the loss is not finite.

    Raises
    ------
    DivergedError
        When the training loss or the weights become non-finite.
    KeyboardInterrupt
        When interrupted before the first epoch of this call completed.
    """
    model = engine.model
    optimizer = model.optimizer
    callback_list = keras.callbacks.CallbackList(
        list(callbacks or []), add_progbar=bool(verbose), model=model,
        verbose=int(verbose), epochs=first_epoch + epochs, steps=runner.steps,
    )
    model.stop_training = False
    rows = []
    best_weights = None
    if stopping is not None and stopping.restores and math.isfinite(stopping.best):
        # A warm fit starts from the best weights of the fit before.
        best_weights = model.get_weights()
    last_complete = None
    callback_list.on_train_begin()
    try:
        for i in range(epochs):
            epoch = first_epoch + i
            optimizer.learning_rate.assign(schedule.rate_at(first_position + i))
            callback_list.on_epoch_begin(epoch)
            runner.new_order()
            loss = correct = weight = 0.0
            for start, stop in runner.chunks():
                callback_list.on_train_batch_begin(start)
                sums = runner.run_steps(start, stop)
                _check_finite(sums[0], epoch, divergence_hint)
                loss, correct, weight = (
                    a + b for a, b in zip((loss, correct, weight), sums, strict=True)
                )
                callback_list.on_train_batch_end(
                    stop - 1, {"loss": loss / weight, "accuracy": correct / weight}
                )
                if model.stop_training:
                    break
            row = {"loss": loss / weight, "accuracy": correct / weight}
            if validation is not None:
                row["val_loss"], row["val_accuracy"] = engine.evaluate(**validation)
            row["learning_rate"] = float(optimizer.learning_rate.numpy())
            last_complete = engine.state()
            if not all(map(_all_finite, last_complete)):
                _check_finite(math.nan, epoch, divergence_hint)
            rows.append(row)
            callback_list.on_epoch_end(epoch, dict(row))
            schedule.update(row.get("val_loss", row["loss"]))
            if stopping is not None:
                if stopping.update(row) and stopping.restores:
                    best_weights = model.get_weights()
                if stopping.exhausted and i + 1 < epochs:
                    if verbose:
                        print(stopping.message())
                    break
            if model.stop_training:
                break
    except KeyboardInterrupt:
        if last_complete is None:
            raise
        # The interrupted epoch is dropped: the model goes back to the end of
        # the last complete one, so weights, history and n_iter_ agree.
        engine.restore(last_complete)
        warnings.warn(
            f"Training interrupted by user after {len(rows)} complete "
            "epochs; the model keeps their weights.",
            UserWarning,
            stacklevel=4,
        )
    if best_weights is not None:
        model.set_weights(best_weights)
    callback_list.on_train_end(dict(rows[-1]) if rows else None)
    return rows


def _all_finite(array):
    import numpy as np

    return not np.issubdtype(array.dtype, np.floating) or bool(
        np.isfinite(array).all()
    )
