"""Import TensorFlow and Keras quietly, and size TensorFlow's threads only when asked.

TensorFlow prints start-up log lines from C++ straight to file descriptor 2 when
it is imported and when its runtime starts; environment variables no longer
silence all of them, so both happen with that descriptor pointed at
``os.devnull``.

Thread policy: TensorFlow's thread pools are process-wide and can only be sized
before its runtime starts, so skfmnist never sizes them on its own. Importing
skfmnist, or unpickling a fitted classifier, leaves them as TensorFlow would
have them (one intra-op thread per core), so the user's own Keras code in the
same process gets what it would get without skfmnist. They are sized when the
user says so: :func:`set_num_threads`, or the environment variables
``SKFMNIST_NUM_THREADS`` or ``OMP_NUM_THREADS`` (which joblib sets in its worker
processes to ``cpu_count // n_jobs``, and Dask's nanny to 1), read when
skfmnist first starts the runtime; ``skfmnist.dask`` sizes each Dask worker's
pools to its threads.
"""

import contextlib
import logging
import os
import sys

__all__ = ["get_num_threads", "import_keras", "set_num_threads", "start_runtime"]

_THREADS_ENV = "SKFMNIST_NUM_THREADS"
# skfmnist traces one training and one forward function per fitted model, by
# design. TensorFlow counts traces per code object, not per function, so after
# a few fits (grid search, cross-validation) it would warn about "retracing".
_OWN_FUNCTIONS = ("_train_function.<locals>.run", "_compile_forward.<locals>.forward",
                  "_compile_evaluate.<locals>.evaluate")
_started = False


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


def requested_threads():
    """Thread count asked for through the environment, or None.

    ``SKFMNIST_NUM_THREADS`` wins over ``OMP_NUM_THREADS``; values that are
    not positive integers are ignored.

    Returns
    -------
    n_threads : int or None
        The count asked for, or None to keep TensorFlow's defaults.
    """
    for name in (_THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.strip().isdigit() and int(value) > 0:
            return int(value)
    return None


def import_keras():
    """Return the ``keras`` module, importing TensorFlow quietly on first use.

    Importing starts nothing: TensorFlow's runtime and thread pools are left
    alone (see :func:`start_runtime`).

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
        import tensorflow  # noqa: F401
    logging.getLogger("tensorflow").addFilter(_OwnRetracingFilter())
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "skfmnist needs Keras on the TensorFlow backend, but Keras runs on "
            f"{keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow before "
            "importing Keras."
        )
    return keras


def start_runtime():
    """Import Keras and start TensorFlow's runtime quietly; return ``keras``.

    The first call sizes the thread pools when the environment asks for it
    (``SKFMNIST_NUM_THREADS``, else ``OMP_NUM_THREADS``) and TensorFlow has
    not started yet; TensorFlow's own defaults stand otherwise.

    Returns
    -------
    keras : module
        The Keras 3 package, running on the TensorFlow backend.
    """
    global _started
    keras = import_keras()
    if _started:
        return keras
    import tensorflow as tf

    n_threads = requested_threads()
    with _silenced_fd2():
        # An explicit set_num_threads() call wins over the environment.
        if n_threads is not None and get_num_threads() is None:
            # Fails once TensorFlow has run an op: the user (or another
            # library) chose the pools already and their choice stands.
            with contextlib.suppress(RuntimeError):
                _size_pools(tf, n_threads)
        # Device discovery logs driver probes (e.g. a failed cuInit on
        # machines without a GPU) when the runtime starts; do it while muted.
        tf.config.list_logical_devices()
    _started = True
    return keras


def _size_pools(tf, n_threads):
    tf.config.threading.set_intra_op_parallelism_threads(n_threads)
    tf.config.threading.set_inter_op_parallelism_threads(n_threads)


def set_num_threads(n_threads):
    """Size TensorFlow's thread pools for this process.

    TensorFlow's intra-op pool (threads inside one operation, such as a matrix
    product) and inter-op pool (operations run side by side) are shared by
    the whole process and can only be sized before TensorFlow runs its first
    operation. Call this first thing, or set the environment variable
    ``SKFMNIST_NUM_THREADS`` before starting Python. One thread is fastest
    for the small matrix products of an MLP on Fashion-MNIST; convolutional
    networks want every core. Without either, skfmnist keeps TensorFlow's
    defaults (see the user guide's section on threads).

    Parameters
    ----------
    n_threads : int
        Number of threads of each pool, at least 1.

    Returns
    -------
    n_threads : int
        The number of threads now in force.

    Raises
    ------
    RuntimeError
        If TensorFlow has already started with other pool sizes.

    Examples
    --------
    First thing in a script or notebook, before any model is built (skipped
    here: the test process has long started TensorFlow):

    >>> import skfmnist
    >>> skfmnist.set_num_threads(1)  # doctest: +SKIP
    1

    Once TensorFlow runs, asking for the count already in force still works:

    >>> n = skfmnist.get_num_threads()
    >>> n is None or skfmnist.set_num_threads(n) == n
    True
    """
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise ValueError(
            f"n_threads must be a positive integer, got {n_threads!r}."
        )
    import_keras()
    import tensorflow as tf

    if get_num_threads() == n_threads:
        return n_threads
    try:
        with _silenced_fd2():  # the runtime may log driver probes as it starts
            _size_pools(tf, n_threads)
    except RuntimeError as exc:
        current = get_num_threads()
        raise RuntimeError(
            f"TensorFlow has already started in this process with "
            f"{current or 'its default number of'} threads, so they cannot be "
            f"changed to {n_threads}. Call skfmnist.set_num_threads before "
            f"anything runs TensorFlow, or set {_THREADS_ENV}={n_threads} in the "
            "environment before starting Python."
        ) from exc
    return n_threads


def get_num_threads():
    """Return the size of TensorFlow's intra-op thread pool, if it was set.

    Returns
    -------
    n_threads : int or None
        The number of intra-op threads, or None when TensorFlow's default (one
        per core) is in force.

    Examples
    --------
    >>> import skfmnist
    >>> n = skfmnist.get_num_threads()
    >>> n is None or n >= 1
    True
    """
    import_keras()
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or None
