"""Keras callbacks, called by Keras' own contract."""

import csv

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skfmnist import DenseClassifier
from skfmnist._engine.runtime import import_keras

keras = import_keras()


def small(**params):
    return DenseClassifier(
        **{"hidden_layer_sizes": (8,), "epochs": 3, "batch_size": 64,
           "random_state": 0, **params}
    )


class Recorder(keras.callbacks.Callback):
    """Note every hook called, with its arguments."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.models = set()

    def _note(self, name, *args):
        self.calls.append((name, *args))
        self.models.add(id(self.model))

    def on_train_begin(self, logs=None):
        self._note("train_begin")

    def on_train_end(self, logs=None):
        self._note("train_end", sorted(logs or {}))

    def on_epoch_begin(self, epoch, logs=None):
        self._note("epoch_begin", epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._note("epoch_end", epoch, dict(logs))

    def on_train_batch_begin(self, batch, logs=None):
        self._note("batch_begin", batch)

    def on_train_batch_end(self, batch, logs=None):
        self._note("batch_end", batch, sorted(logs))


def test_hooks_are_called_in_keras_order_with_keras_logs(blobs):
    X, y = blobs  # 240 samples: 4 steps of 64 per epoch
    recorder = Recorder()
    clf = small(callbacks=[recorder], steps_per_execution=2)
    clf.fit(X, y, X_val=X[:40], y_val=y[:40])
    names = [call[0] for call in recorder.calls]
    epoch = ["epoch_begin", "batch_begin", "batch_end", "batch_begin", "batch_end",
             "epoch_end"]
    assert names == ["train_begin", *epoch * 3, "train_end"]
    batches = [call[1] for call in recorder.calls if call[0].startswith("batch")]
    assert batches[:4] == [0, 1, 2, 3]  # begin at the first step, end at the last
    ends = [call for call in recorder.calls if call[0] == "epoch_end"]
    assert [call[1] for call in ends] == [0, 1, 2]
    for (_, epoch_index, logs), (index, row) in zip(ends, clf.history_.iterrows(),
                                                  strict=True):
        assert index == epoch_index + 1
        assert sorted(logs) == ["accuracy", "learning_rate", "loss", "val_accuracy",
                                "val_loss"]
        assert logs == pytest.approx(row.to_dict())
    assert recorder.models == {id(clf.model_)}
    batch_logs = [call[2] for call in recorder.calls if call[0] == "batch_end"]
    assert all(keys == ["accuracy", "loss"] for keys in batch_logs)


def test_warm_fits_number_epochs_like_initial_epoch(blobs):
    X, y = blobs
    recorder = Recorder()
    clf = small(callbacks=[recorder], warm_start=True, epochs=2).fit(X, y)
    clf.fit(X, y)
    epochs = [call[1] for call in recorder.calls if call[0] == "epoch_end"]
    assert epochs == [0, 1, 2, 3]


class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True


def test_stop_training_stops_after_that_epoch(blobs):
    X, y = blobs
    clf = small(epochs=10, callbacks=[StopAt(2)]).fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.history_) == 3


def test_stop_training_from_a_batch_ends_the_epoch_there(blobs):
    X, y = blobs

    class StopInBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    clf = small(epochs=10, steps_per_execution=1, callbacks=[StopInBatch()])
    clf.fit(X, y)
    assert clf.n_iter_ == 1
    assert int(clf.model_.optimizer.iterations.numpy()) == 2


def test_learning_rate_scheduler_overrides_the_schedule(blobs):
    X, y = blobs
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    clf = small(callbacks=[scheduler]).fit(X, y)
    np.testing.assert_allclose(clf.history_["learning_rate"], [0.1, 0.05, 0.1 / 3],
                               rtol=1e-6)


def test_csv_logger_writes_one_row_per_epoch(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "log.csv"
    clf = small(callbacks=[keras.callbacks.CSVLogger(str(path))])
    clf.fit(X, y, X_val=X[:40], y_val=y[:40])
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows],
                               clf.history_["val_loss"], rtol=1e-6)


def test_keras_early_stopping_on_val_loss(blobs):
    X, y = blobs
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=100.0,
                                         patience=2, restore_best_weights=True)
    clf = small(epochs=20, callbacks=[stop]).fit(X, y, X_val=X[:40], y_val=y[:40])
    # min_delta=100 means no epoch counts as an improvement.
    assert clf.n_iter_ == 3 and stop.stopped_epoch == 2


def test_model_checkpoint_saves_the_trained_model(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "model.keras"
    clf = small(callbacks=[keras.callbacks.ModelCheckpoint(str(path))]).fit(X, y)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(X, verbose=0), clf.predict_proba(X),
                               atol=1e-6)


def test_tensorboard_writes_event_files(blobs, tmp_path):
    X, y = blobs
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path), write_graph=False)
    small(callbacks=[board]).fit(X, y, X_val=X[:40], y_val=y[:40])
    events = list(tmp_path.rglob("events.out.tfevents.*"))
    assert {p.parent.name for p in events} >= {"train"}


def test_callbacks_survive_clone_and_grid_search(blobs):
    X, y = blobs
    clf = small(callbacks=[StopAt(0)], epochs=5)
    copy = clone(clf)
    assert isinstance(copy.callbacks[0], StopAt)
    assert copy.callbacks[0] is not clf.callbacks[0]
    search = GridSearchCV(clf, {"hidden_layer_sizes": [(4,), (8,)]}, cv=2).fit(X, y)
    assert search.best_estimator_.n_iter_ == 1


def test_verbose_levels_use_keras_progress_output(blobs, capsys):
    X, y = blobs
    small(verbose=0).fit(X, y)
    assert capsys.readouterr().out == ""
    small(verbose=2, epochs=2).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert "\r" not in "".join(lines) and "\x1b" not in "".join(lines)
    assert lines[1].startswith("4/4 - ") and "loss: " in lines[1]
    small(verbose=1, epochs=2).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("Epoch 1/2") == 1 and "accuracy: " in out


def test_callbacks_parameter_is_validated(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="'callbacks' parameter"):
        small(callbacks=StopAt(0)).fit(X, y)
