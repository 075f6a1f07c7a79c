"""Worker plugins: TensorFlow's threads, and the worker's own upkeep.

Part of :mod:`skfmnist.dask`, which imports ``distributed`` first and says
how to install it when it is missing.
"""

import logging

from distributed.diagnostics.plugin import WorkerPlugin

from ._malloc import settle_malloc_thresholds

# The plugins report under the public module's name.
logger = logging.getLogger("skfmnist.dask")


class TensorFlowThreads(WorkerPlugin):
    """Worker plugin: size TensorFlow's thread pools to the worker's threads.

    Dask's nanny sets ``OMP_NUM_THREADS`` for each worker, but TensorFlow
    sizes its own pools; left alone, every worker process would use all the
    cores of its machine and the workers would oversubscribe them. On each
    worker (those running now and those that join later) the plugin imports
    TensorFlow quietly and calls :func:`skfmnist.set_num_threads` before any
    task runs TensorFlow there.

    Parameters
    ----------
    n_threads : int, default=None
        Threads of TensorFlow's intra-op and inter-op pools on every worker.
        None: the worker's own thread count (``--nthreads`` of ``dask worker``,
        ``threads_per_worker`` of ``LocalCluster``).

    Attributes
    ----------
    n_threads_ : int
        Set on the worker: the pool size in force there.

    See Also
    --------
    use_cluster : Registers this plugin on the cluster it starts or joins.

    Examples
    --------
    >>> from skfmnist.dask import TensorFlowThreads
    >>> TensorFlowThreads(n_threads=2).n_threads
    2
    """

    name = "skfmnist-tensorflow-threads"
    idempotent = False

    def __init__(self, n_threads=None):
        self.n_threads = n_threads

    def setup(self, worker):
        from .._engine.runtime import (
            filtered_stderr,
            get_num_threads,
            set_num_threads,
            start_runtime,
        )

        wanted = self.n_threads or worker.state.nthreads
        # Sizing the pools creates TensorFlow's context, which probes for
        # GPUs and logs the outcome from C++ (a failed cuInit on machines
        # without one).
        with filtered_stderr():
            try:
                self.n_threads_ = set_num_threads(wanted)
            except RuntimeError as exc:  # a task ran TensorFlow before
                self.n_threads_ = get_num_threads()
                logger.warning("worker %s: %s", worker.address, exc)
        start_runtime()


class LeanWorker(WorkerPlugin):
    """Worker plugin: keep the worker's own upkeep out of the fits' way.

    A Dask worker runs its tasks in a thread beside an event loop that wakes
    up many times a second, and its nanny starts it with
    ``MALLOC_TRIM_THRESHOLD_=65536``. Both cost a TensorFlow fit on a worker
    with one core. On each worker the plugin:

    - sets glibc's malloc thresholds to where glibc's own adjustment settles
      (mmap 32 MiB, trim 64 MiB). The nanny's setting freezes the mmap
      threshold at 128 KiB, so every tensor of a training step above that is
      a fresh mapping whose pages the kernel zeroes one by one. A worker then
      keeps up to 64 MiB of freed memory per malloc arena for reuse. Only
      where the C library is glibc;
    - stops the statistical profiler, which samples every thread's stack
      every 10 ms (the dashboard's Profile page stays empty);
    - spaces out the loop's periodic upkeep: it measures its own delay once a
      second instead of every 20 ms (Dask still warns when the loop is
      blocked for seconds), samples the process's CPU, memory and I/O for
      the dashboard every 2 s instead of every 0.5 s, and checks the
      worker's memory against its spill, pause and terminate thresholds
      every 0.5 s instead of every 0.1 s (``*_ms`` class attributes below).

    Unregistering the plugin (as :func:`use_cluster` does on exit) restarts
    the profiler and restores the intervals; the malloc thresholds stay.

    Attributes
    ----------
    malloc_settled_ : bool
        Set on the worker: whether the malloc thresholds were set.

    See Also
    --------
    use_cluster : Registers this plugin on the cluster it starts or joins.

    Notes
    -----
    ``benchmarks/bench_search.py`` runs the same search on a two-worker
    ``LocalCluster`` with and without this plugin, and reports the workers'
    share of CPU time in the kernel and the search's time beside joblib's
    own process pool (``benchmarks/results/search.json``, and the table in
    the user guide's page on clusters).

    Examples
    --------
    >>> from skfmnist.dask import LeanWorker
    >>> LeanWorker.name
    'skfmnist-lean-worker'
    """

    name = "skfmnist-lean-worker"
    idempotent = True

    #: Milliseconds between two measurements of the event loop's delay.
    tick_ms = 1000
    #: Milliseconds between two samples of the process's CPU, memory and I/O.
    monitor_ms = 2000
    #: Milliseconds between two checks of the worker's memory thresholds.
    memory_monitor_ms = 500

    def intervals(self):
        """The intervals the plugin gives a worker's periodic callbacks.

        Returns
        -------
        intervals : dict of str to int
            Milliseconds by callback name: ``"tick"`` (the loop's delay),
            ``"monitor"`` (the process's CPU, memory and I/O) and
            ``"memory_monitor"`` (spill, pause and terminate thresholds).

        Examples
        --------
        >>> from skfmnist.dask import LeanWorker
        >>> LeanWorker().intervals()
        {'tick': 1000, 'monitor': 2000, 'memory_monitor': 500}
        """
        return {"tick": self.tick_ms, "monitor": self.monitor_ms,
                "memory_monitor": self.memory_monitor_ms}

    def setup(self, worker):
        self.malloc_settled_ = settle_malloc_thresholds()
        callbacks = getattr(worker, "periodic_callbacks", {})
        self._stopped = [
            name for name in ("profile", "profile-cycle")
            if name in callbacks and callbacks[name].is_running()
        ]
        for name in self._stopped:
            callbacks[name].stop()
        self._intervals = space_out(callbacks, self.intervals())

    def teardown(self, worker):
        # Called when use_cluster unregisters the plugin: a cluster passed in
        # gets its profiler and intervals back. The malloc thresholds stay:
        # glibc cannot go back to adjusting them by itself.
        callbacks = getattr(worker, "periodic_callbacks", {})
        for name in getattr(self, "_stopped", ()):
            if name in callbacks:
                callbacks[name].start()
        space_out(callbacks, getattr(self, "_intervals", {}))


def space_out(callbacks, intervals):
    """Set the interval of each named periodic callback there is; return the
    intervals they had."""
    before = {}
    for name, ms in intervals.items():
        if name in callbacks:
            # tornado reads callback_time again at each run.
            before[name] = callbacks[name].callback_time
            callbacks[name].callback_time = ms
    return before
