"""The Keras callback that prints one plain line per epoch.

Kept apart from the rest of the command line because defining it imports
Keras, which ``skfmnist --help`` must not wait for.
"""

import time

from .._engine.runtime import import_keras

keras = import_keras()

# Columns first in every line, in this order; any other logged value follows.
_FIRST = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def format_logs(logs):
    """``"loss: 0.4123 - accuracy: 0.8512 - ..."`` from a Keras ``logs`` dict."""
    keys = [key for key in _FIRST if key in logs]
    keys += sorted(key for key in logs if key not in _FIRST)
    parts = []
    for key in keys:
        value = float(logs[key])
        text = f"{value:.3g}" if key == "learning_rate" else f"{value:.4f}"
        parts.append(f"{key}: {text}")
    return " - ".join(parts)


class EpochLines(keras.callbacks.Callback):
    """Print ``Epoch 3/40 - 0.7 s - loss: ... - val_loss: ...`` after each epoch.

    The plain counterpart of Keras' progress bar, for logs: one line per
    epoch, no carriage return, no colour code. It follows Keras' callback
    contract, so it works with any skfmnist classifier's ``callbacks``.

    Parameters
    ----------
    epochs : int, default=None
        Epochs of the fit, shown as ``/N``; read from Keras' ``params`` when
        the training loop provides them.
    write : callable, default=print
        Called with each line.
    """

    def __init__(self, epochs=None, write=print):
        super().__init__()
        self.epochs = epochs
        self.write = write

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - getattr(self, "_start", time.perf_counter())
        total = (self.params or {}).get("epochs") or self.epochs
        counter = f"Epoch {epoch + 1}/{total}" if total else f"Epoch {epoch + 1}"
        line = f"{counter} - {seconds:.1f} s"
        if logs:
            line += " - " + format_logs(logs)
        self.write(line)
