"""Import TensorFlow and Keras once, quietly, with threads sized for this process.

TensorFlow prints start-up log lines from C++ straight to file descriptor 2 when
it is imported; environment variables no longer silence all of them, so the
import runs with that descriptor pointed at ``os.devnull``. Thread pools can
only be sized before TensorFlow runs its first operation, so that happens here
too, at the single place where the package imports it.
"""

import contextlib
import logging
import os
import sys

__all__ = ["import_keras", "num_threads"]

_THREADS_ENV = "SKFMNIST_NUM_THREADS"
# skfmnist traces one training and one forward function per fitted model, by
# design. TensorFlow counts traces per code object, not per function, so after
# a few fits (grid search, cross-validation) it would warn about "retracing".
_OWN_FUNCTIONS = ("_train_function.<locals>.run", "predict_function.<locals>.forward")


class _OwnRetracingFilter(logging.Filter):
    """Drop TensorFlow's retracing warnings about skfmnist's own functions."""

    def filter(self, record):
        message = record.getMessage()
        return "retracing" not in message or not any(
            name in message for name in _OWN_FUNCTIONS
        )


@contextlib.contextmanager
def _silenced_fd2():
    """Point file descriptor 2 at ``os.devnull`` while the block runs."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. some notebook kernels)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def num_threads():
    """Number of intra-op threads skfmnist asks TensorFlow for.

    ``SKFMNIST_NUM_THREADS`` wins; otherwise ``OMP_NUM_THREADS``, which joblib
    sets in each worker to ``cpu_count // n_jobs`` so that parallel grid-search
    workers share the cores instead of oversubscribing them; otherwise one
    thread, which is the fastest setting for the small matrix products of an
    MLP on Fashion-MNIST (thread hand-offs cost more than they save).

    Returns
    -------
    n_threads : int
        A positive thread count.
    """
    for name in (_THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.strip().isdigit() and int(value) > 0:
            return int(value)
    return 1


def import_keras():
    """Return the ``keras`` module, importing TensorFlow quietly on first use.

    Returns
    -------
    keras : module
        The Keras 3 package, running on the TensorFlow backend.
    """
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _silenced_fd2():
        import keras
        import tensorflow as tf

        _configure_threads(tf)
        # Device discovery logs driver probes (e.g. a failed cuInit on machines
        # without a GPU) on first use; do it now, while the noise is muted.
        tf.config.list_logical_devices()
    logging.getLogger("tensorflow").addFilter(_OwnRetracingFilter())
    return keras


def _configure_threads(tf):
    # Sizing fails once TensorFlow has run an op; the user (or another library)
    # then chose the pools already and their choice stands.
    n_threads = num_threads()
    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(n_threads)
