"""Import TensorFlow and Keras quietly, and size TensorFlow's threads only when asked.

Log policy: TensorFlow's C++ side writes straight to file descriptor 2. Since
TensorFlow 2.16 some INFO lines come before its logging is set up, so no
environment variable silences all of them. While TensorFlow is imported and
its runtime starts, fd 2 therefore goes through :func:`filtered_stderr`: a
small child process that drops TensorFlow's INFO and WARNING lines and passes
everything else on to the real stderr as it arrives, line by line. Errors,
fatal messages and anything printed by other threads still reach the user,
even when TensorFlow aborts the process (the child outlives it). The one
ERROR line it drops is the failed ``cuInit`` that follows TensorFlow's own
INFO line "Could not find cuda drivers on your machine". For the rest of the
process, ``TF_CPP_MIN_LOG_LEVEL=2`` (set only when the environment has no
value for it) keeps ERROR and FATAL and drops INFO and WARNING; it is the one
environment variable skfmnist sets.

Thread policy: TensorFlow's thread pools are process-wide and can only be sized
before its runtime starts, so skfmnist never sizes them on its own. Importing
skfmnist leaves them as TensorFlow would have them (one intra-op thread per
core), so the user's own Keras code in the same process gets what it would get
without skfmnist. They are sized when the user says so:
:func:`set_num_threads`, or the environment variables ``SKFMNIST_NUM_THREADS``
or ``OMP_NUM_THREADS`` (which joblib sets in its worker processes to
``cpu_count // n_jobs``, and Dask's nanny to 1), read when skfmnist first
starts the runtime, whether for a fit or to unpickle a fitted classifier;
``skfmnist.dask`` sizes each Dask worker's pools to its threads.
"""

import contextlib
import logging
import os
import subprocess
import sys

__all__ = [
    "filtered_stderr",
    "get_num_threads",
    "import_keras",
    "set_num_threads",
    "start_runtime",
]

_THREADS_ENV = "SKFMNIST_NUM_THREADS"
# skfmnist traces one training and one forward function per fitted model, by
# design. TensorFlow counts traces per code object, not per function, so after
# a few fits (grid search, cross-validation) it would warn about "retracing".
_OWN_FUNCTIONS = ("_train_function.<locals>.run", "_compile_forward.<locals>.forward",
                  "_compile_evaluate.<locals>.evaluate")
_started = False
_keras = None


class _OwnRetracingFilter(logging.Filter):
    """Drop TensorFlow's retracing warnings about skfmnist's own functions."""

    def filter(self, record):
        message = record.getMessage()
        return "retracing" not in message or not any(
            name in message for name in _OWN_FUNCTIONS
        )


# Run by the child of filtered_stderr: copy stdin to the file descriptor in
# argv[1], line by line, without TensorFlow's INFO and WARNING lines (absl's
# "I0123 ..." / "W0123 ..." prefixes, the "2024-01-23 12:34:56.789: I ..."
# of TensorFlow 2.16, and absl's note that such lines go to stderr). Exit
# status 3 says TensorFlow reported that no CUDA driver exists.
_FILTER = r"""
import os, re, sys
out = int(sys.argv[1])
no_driver = sys.argv[2] == "1"
quiet = re.compile(
    rb"^(?:[IW]\d{4} |\d{4}-\d\d-\d\d [\d:.]+: [IW] "
    rb"|WARNING: All log messages before absl::)"
)
for line in sys.stdin.buffer:
    if b"Could not find cuda drivers on your machine" in line or (
        # CUDA_ERROR_SHARED_OBJECT_INIT_FAILED: a libcuda without a driver.
        b"failed call to cuInit" in line and b"UNKNOWN ERROR (303)" in line
    ):
        no_driver = True
    if quiet.match(line) or (no_driver and b"failed call to cuInit" in line):
        continue
    os.write(out, line)
sys.exit(3 if no_driver else 0)
"""
_no_cuda_driver = False


@contextlib.contextmanager
def filtered_stderr():
    """Send file descriptor 2 through TensorFlow's log filter while the block runs.

    The filter is a child process that forwards each line to the real stderr
    as soon as it is written, except TensorFlow's INFO and WARNING lines.
    Where no child can be started (or there is no real fd 2, as in some
    notebook kernels), the block runs with stderr untouched.
    """
    global _no_cuda_driver
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        child = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER, str(saved),
             "1" if _no_cuda_driver else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=saved,
            pass_fds=(saved,),
        )
    except OSError:
        os.close(saved)
        yield
        return
    try:
        os.dup2(child.stdin.fileno(), 2)
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        child.stdin.close()
        # Everything written in the block is out before the caller goes on.
        with contextlib.suppress(subprocess.TimeoutExpired):
            _no_cuda_driver |= child.wait(timeout=10) == 3


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
    global _keras
    if _keras is not None:
        return _keras
    if "keras" not in sys.modules or "tensorflow" not in sys.modules:
        # The one environment variable skfmnist sets (see the log policy).
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with filtered_stderr():
            import keras
            import tensorflow  # noqa: F401
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "skfmnist needs Keras on the TensorFlow backend, but Keras runs on "
            f"{keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow before "
            "importing Keras (or in ~/.keras/keras.json)."
        )
    # Also when the user imported TensorFlow first: the warnings are ours.
    logging.getLogger("tensorflow").addFilter(_OwnRetracingFilter())
    _keras = keras
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
    if "distributed" in sys.modules:  # a fit in a Dask worker set up slowly?
        from ..dask._check import warn_if_slow_worker

        warn_if_slow_worker()
    if _started:
        return keras
    import tensorflow as tf

    n_threads = requested_threads()
    with filtered_stderr():
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
        with filtered_stderr():  # the runtime may log driver probes as it starts
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
