"""Worker settings and plugins: TensorFlow's threads, malloc, upkeep.

Part of :mod:`skfmnist.dask`, which imports ``distributed`` first and says
how to install it when it is missing. Everything here goes through
``distributed``'s documented configuration and plugin APIs.
"""

import asyncio
import logging
import os

from distributed.diagnostics.plugin import WorkerPlugin

from ._malloc import MMAP_THRESHOLD, settle_malloc_thresholds

# The plugins report under the public module's name.
logger = logging.getLogger("skfmnist.dask")

_THREADS_ENV = "SKFMNIST_NUM_THREADS"

#: glibc environment variables that fix malloc's thresholds where its own
#: adjustment settles (mmap 32 MiB, trim 64 MiB), instead of the nanny's
#: ``MALLOC_TRIM_THRESHOLD_=65536``, which freezes the mmap threshold at
#: 128 KiB.
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
    "MALLOC_TRIM_THRESHOLD_": str(2 * MMAP_THRESHOLD),
}

#: Dask configuration for workers that run TensorFlow fits (see
#: :func:`worker_config`): no statistical profiler, and the periodic upkeep
#: spaced out (loop delay every 1 s instead of 20 ms, system monitor every
#: 2 s instead of 0.5 s, memory thresholds every 0.5 s instead of 0.1 s).
LEAN_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1000ms",
    "distributed.admin.system-monitor.interval": "2000ms",
    "distributed.worker.memory.monitor-interval": "500ms",
}


def worker_config(threads_per_worker=None, *, lean=True):
    """The Dask configuration skfmnist gives the clusters it starts.

    Set it (``dask.config.set``) around the creation of a cluster, or put it
    in the configuration of ``dask worker`` (``~/.config/dask/*.yaml``, or
    ``DASK_*`` environment variables): the nanny passes
    ``distributed.nanny.pre-spawn-environ`` to each worker process it starts
    or restarts, before the process starts Python.

    Parameters
    ----------
    threads_per_worker : int, default=None
        Threads of each worker: TensorFlow's pools get as many
        (``SKFMNIST_NUM_THREADS``). None: leave the pools to
        ``OMP_NUM_THREADS``, which the nanny sets to 1.
    lean : bool, default=True
        Also the malloc thresholds (:data:`MALLOC_ENV`) and the upkeep
        settings (:data:`LEAN_CONFIG`).

    Returns
    -------
    config : dict
        Dotted configuration keys and their values.

    Examples
    --------
    >>> from skfmnist.dask._workers import worker_config
    >>> env = worker_config(2)["distributed.nanny.pre-spawn-environ"]
    >>> env["SKFMNIST_NUM_THREADS"], env["MALLOC_MMAP_THRESHOLD_"]
    ('2', '33554432')
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    if lean:
        environ.update(MALLOC_ENV)
    if threads_per_worker:
        environ[_THREADS_ENV] = str(threads_per_worker)
    config = {"distributed.nanny.pre-spawn-environ": environ}
    if lean:
        config.update(LEAN_CONFIG)
    return config


def _worker_threads(worker):
    # Worker.nthreads is the public count (``--nthreads``).
    return getattr(worker, "nthreads", None)


class TensorFlowThreads(WorkerPlugin):
    """Worker plugin: size TensorFlow's thread pools to the worker's threads.

    Dask's nanny sets ``OMP_NUM_THREADS=1`` for each worker, but a worker may
    have more threads, and TensorFlow sizes its own pools. On each worker
    (those running now, and those that join or restart later) the plugin sets
    ``SKFMNIST_NUM_THREADS``, which the first fit reads, and then imports
    TensorFlow quietly and starts its runtime in a separate thread, so that
    the worker's event loop (its heartbeats) never waits on the import.

    Unregistering the plugin restores ``SKFMNIST_NUM_THREADS``; pools that
    TensorFlow sized meanwhile keep their size for the life of the worker.

    Parameters
    ----------
    n_threads : int, default=None
        Threads of TensorFlow's intra-op and inter-op pools on every worker.
        None: the worker's own thread count (``--nthreads`` of ``dask worker``,
        ``threads_per_worker`` of ``LocalCluster``).

    Attributes
    ----------
    n_threads_ : int
        Set on the worker: the pool size in force there. That is the size
        asked for, unless a task ran TensorFlow on the worker before the
        plugin did: the pools then keep their size, and the worker logs a
        warning.

    See Also
    --------
    use_cluster : Registers this plugin when asked to tune a cluster.
    LeanWorker : The plugin that sets glibc's malloc thresholds on each worker.

    Examples
    --------
    >>> from skfmnist.dask import TensorFlowThreads
    >>> plugin = TensorFlowThreads(n_threads=2)
    >>> plugin.name
    'skfmnist-tensorflow-threads'
    >>> client.register_plugin(plugin)  # doctest: +SKIP
    """

    name = "skfmnist-tensorflow-threads"
    idempotent = False

    def __init__(self, n_threads=None):
        self.n_threads = n_threads

    async def setup(self, worker):
        wanted = self.n_threads or _worker_threads(worker) or 1
        self._previous = os.environ.get(_THREADS_ENV)
        os.environ[_THREADS_ENV] = str(wanted)
        address = getattr(worker, "address", "?")
        await asyncio.get_running_loop().run_in_executor(
            None, self._start, wanted, address
        )

    def _start(self, wanted, address):
        from .._engine.runtime import (
            filtered_stderr,
            get_num_threads,
            set_num_threads,
            start_runtime,
        )

        # Sizing the pools creates TensorFlow's context, which probes for
        # GPUs and logs the outcome from C++ (a failed cuInit on machines
        # without one).
        with filtered_stderr():
            try:
                self.n_threads_ = set_num_threads(wanted)
            except RuntimeError as exc:  # a task ran TensorFlow before
                self.n_threads_ = get_num_threads()
                logger.warning("worker %s: %s", address, exc)
        start_runtime()

    def teardown(self, worker):
        previous = getattr(self, "_previous", None)
        if previous is None:
            os.environ.pop(_THREADS_ENV, None)
        else:
            os.environ[_THREADS_ENV] = previous


class LeanWorker(WorkerPlugin):
    """Worker plugin: glibc malloc thresholds for TensorFlow's allocations.

    Dask's nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536``,
    which freezes glibc's mmap threshold at 128 KiB: every tensor of a
    training step above that is a fresh mapping whose pages the kernel
    zeroes one by one. On each worker (and each that joins or restarts) the
    plugin sets the thresholds where glibc's own adjustment settles (mmap
    32 MiB, trim 64 MiB), as ``MALLOC_ENV`` does for a worker started
    with it. Only where the C library is glibc.

    The change lasts for the life of each worker process, also after the
    plugin is unregistered, so :func:`use_cluster` registers it only when
    asked (``tune_workers=True``). The other settings of a lean worker (no
    profiler, spaced-out upkeep) exist only as Dask configuration, read when
    a worker starts: see the user guide's page on clusters.

    Attributes
    ----------
    malloc_settled_ : bool
        Set on the worker: whether the malloc thresholds were set.

    See Also
    --------
    use_cluster : Registers this plugin when asked to tune a cluster.
    TensorFlowThreads : The other plugin, for TensorFlow's thread pools.

    Examples
    --------
    >>> from skfmnist.dask import LeanWorker
    >>> LeanWorker.name
    'skfmnist-lean-worker'
    """

    name = "skfmnist-lean-worker"
    idempotent = True

    def setup(self, worker):
        self.malloc_settled_ = settle_malloc_thresholds()
