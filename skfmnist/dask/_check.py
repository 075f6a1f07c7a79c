"""Notice a fit that runs in a Dask worker set up the slow way.

Called by :func:`skfmnist._engine.runtime.start_runtime` (the first step of
every fit) when ``distributed`` is imported. Uses public information only:
``distributed.get_worker`` and the worker process's environment.
"""

import os
import platform
import warnings

from . import _malloc

__all__ = ["SlowWorkerWarning", "warn_if_slow_worker"]

#: Whether this process, a Dask worker, has been checked already.
_checked = False


class SlowWorkerWarning(RuntimeWarning):
    """A fit runs in a Dask worker whose settings slow TensorFlow down.

    Raised once per worker process, from the first fit there, when the
    nanny's ``MALLOC_TRIM_THRESHOLD_`` is set without a
    ``MALLOC_MMAP_THRESHOLD_`` (see the user guide's cluster page). The
    message names the settings to put in ``distributed.nanny.pre-spawn-environ``.

    Examples
    --------
    >>> import warnings
    >>> from skfmnist.dask import SlowWorkerWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", SlowWorkerWarning)
    ...     warnings.warn("slow worker", SlowWorkerWarning)
    >>> issubclass(SlowWorkerWarning, RuntimeWarning)
    True
    """


def slow_worker_reason(environ=None):
    """Why this process's malloc settings slow TensorFlow down, or None.

    The nanny's ``MALLOC_TRIM_THRESHOLD_`` without a
    ``MALLOC_MMAP_THRESHOLD_`` beside it freezes glibc's mmap threshold at
    128 KiB, unless :class:`~skfmnist.dask.LeanWorker` reset it here.
    """
    environ = os.environ if environ is None else environ
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    trim = environ.get("MALLOC_TRIM_THRESHOLD_")
    if trim is None or "MALLOC_MMAP_THRESHOLD_" in environ or _malloc.settled:
        return None
    return (
        f"this Dask worker runs with MALLOC_TRIM_THRESHOLD_={trim} and no "
        "MALLOC_MMAP_THRESHOLD_, which keeps glibc's mmap threshold at "
        "128 KiB: TensorFlow's per-step tensors become fresh mappings and the "
        "fit spends much of its time in the kernel. Set "
        "MALLOC_MMAP_THRESHOLD_=33554432 and MALLOC_TRIM_THRESHOLD_=67108864 "
        "in the workers' distributed.nanny.pre-spawn-environ configuration "
        "(see skfmnist's user guide, 'Running on a cluster'), or use "
        "skfmnist.dask.use_cluster, which does it for the clusters it starts"
    )


def warn_if_slow_worker():
    """Warn once per process when it is a Dask worker set up the slow way."""
    global _checked
    if _checked:
        return
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return  # not in a Dask task
    _checked = True
    reason = slow_worker_reason()
    if reason is not None:
        warnings.warn(reason, SlowWorkerWarning, stacklevel=3)
