"""The epoch loop: schedule, Keras callbacks, early stopping, divergence, Ctrl-C.

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

__all__ = ["Schedule", "run_epochs"]

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


def _check_finite(value, epoch, hint):
    if not math.isfinite(value):
        raise DivergedError(
            f"Training diverged: the training loss became {value} in epoch "
            f"{epoch + 1}. {hint}"
        )


def run_epochs(
    keras, engine, runner, *, epochs, first_epoch, schedule, first_position,
    callbacks, verbose, validation, early_stopping, divergence_hint,
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
    early_stopping : dict or None
        ``tol`` and ``patience``: stop when the validation loss has not
        improved by ``tol`` for ``patience`` epochs, and restore the weights
        of the best epoch.
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
    best = {"loss": math.inf, "weights": None, "wait": 0}
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
            monitored = row.get("val_loss", row["loss"])
            schedule.update(monitored)
            if early_stopping is not None and _stop_early(
                best, model, monitored, early_stopping, verbose
            ):
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
    if best["weights"] is not None:
        model.set_weights(best["weights"])
    callback_list.on_train_end(dict(rows[-1]) if rows else None)
    return rows


def _all_finite(array):
    import numpy as np

    return not np.issubdtype(array.dtype, np.floating) or bool(
        np.isfinite(array).all()
    )


def _stop_early(best, model, monitored, early_stopping, verbose):
    """Track the best validation loss; return True when patience ran out."""
    if monitored < best["loss"] - early_stopping["tol"]:
        best.update(loss=monitored, wait=0, weights=model.get_weights())
        return False
    best["wait"] += 1
    if best["wait"] < early_stopping["patience"]:
        return False
    if verbose:
        print(
            f"Validation loss did not improve by more than "
            f"tol={early_stopping['tol']} for {early_stopping['patience']} "
            "epochs: stopping."
        )
    return True
