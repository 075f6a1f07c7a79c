"""Run skfmnist's searches on a Dask cluster.

joblib's ``"dask"`` backend runs the fits of a ``GridSearchCV`` (or of any
joblib work, such as ``cross_validate``) on the workers of a
``dask.distributed`` cluster. This module adds what TensorFlow-based
estimators need there, and needs the optional ``distributed`` package
(``pip install "skfmnist[dask]"``):

- :class:`TensorFlowThreads` sizes TensorFlow's thread pools on each worker
  to the worker's threads, and imports TensorFlow there without its log noise;
- :class:`LeanWorker` keeps each worker's own upkeep out of the fits' way:
  glibc malloc thresholds that let TensorFlow's per-step tensors reuse
  memory, no statistical profiler, fewer event-loop wake-ups;
- :class:`ReplicateScattered` keeps the data that joblib scatters (the
  training data, the cross-validation indices) on every worker, so that a
  worker lost in the middle of a search does not lose the search;
- :func:`use_cluster` starts or connects to a cluster, registers them and makes
  joblib use it;
- :func:`track_workers` records the tasks each worker ran and the bytes it
  received, to check that the data went to the cluster once.

Fitted estimators travel between processes through Keras' own model pickling.
"""

import contextlib
import logging
import os
import uuid

try:
    from distributed import Client, LocalCluster
    from distributed.active_memory_manager import (
        ActiveMemoryManagerPolicy,
        ReduceReplicas,
        Suggestion,
    )
    from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin
except ImportError as exc:  # pragma: no cover - CI installs the tests extra
    raise ImportError(
        "skfmnist.dask needs dask.distributed, which is not installed; install "
        "it with: pip install 'skfmnist[dask]'"
    ) from exc

import joblib

from ._malloc import settle_malloc_thresholds
from ._scheduler_spec import parse_scheduler

__all__ = [
    "LeanWorker",
    "ReplicateScattered",
    "TensorFlowThreads",
    "WorkerActivity",
    "track_workers",
    "use_cluster",
]

logger = logging.getLogger(__name__)

_SETUP_HINT = (
    "skfmnist, with the same versions of skfmnist, TensorFlow, Keras, "
    "scikit-learn and dask as here, must be installed on the scheduler and on "
    "every worker"
)


# -- threads -------------------------------------------------------------------


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
        from ._keras_env import (
            _silenced_fd2,
            get_num_threads,
            set_num_threads,
            start_runtime,
        )

        wanted = self.n_threads or worker.state.nthreads
        # Sizing the pools creates TensorFlow's context, which probes for
        # GPUs and logs the outcome from C++ (a failed cuInit on machines
        # without one); errors still arrive as Python exceptions.
        with _silenced_fd2():
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
    - measures the event loop's responsiveness once a second instead of
      every 20 ms (Dask still warns when the loop is blocked for seconds).

    Unregistering the plugin (as :func:`use_cluster` does on exit) restarts
    the profiler and restores the tick; the malloc thresholds stay.

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
    ``LocalCluster`` with and without this plugin: on two cores the workers'
    share of CPU time in the kernel fell from 13% to 6% (joblib's loky
    workers: 5%), and a search with the workers running took 13.7 s instead
    of 15.7 s (loky: 13.1 s; ``benchmarks/results/search.json``).

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

    def setup(self, worker):
        self.malloc_settled_ = settle_malloc_thresholds()
        callbacks = getattr(worker, "periodic_callbacks", {})
        self._stopped = [
            name for name in ("profile", "profile-cycle")
            if name in callbacks and callbacks[name].is_running()
        ]
        for name in self._stopped:
            callbacks[name].stop()
        self._tick_ms = None
        if "tick" in callbacks:
            # tornado reads callback_time again at each run.
            self._tick_ms = callbacks["tick"].callback_time
            callbacks["tick"].callback_time = self.tick_ms

    def teardown(self, worker):
        # Called when use_cluster unregisters the plugin: a cluster passed in
        # gets its profiler and tick back. The malloc thresholds stay: glibc
        # cannot go back to adjusting them by itself.
        callbacks = getattr(worker, "periodic_callbacks", {})
        for name in getattr(self, "_stopped", ()):
            if name in callbacks:
                callbacks[name].start()
        if getattr(self, "_tick_ms", None) is not None and "tick" in callbacks:
            callbacks["tick"].callback_time = self._tick_ms


# -- scattered data ------------------------------------------------------------


class _ScatteredOnEveryWorker(ActiveMemoryManagerPolicy):
    """Active Memory Manager policy: scattered keys live on every worker.

    Scattered data have no task that could compute them again: Dask loses
    them, and cancels every task that needs them, when the last worker
    holding them goes away (dask/distributed#3149). This policy copies each
    scattered key to every running worker (from worker to worker), and stands
    in for the ``ReduceReplicas`` policies it replaces, passing on all their
    suggestions except drops of scattered keys, which would undo the copies.
    Each run looks at every task the scheduler knows, which is cheap for the
    few hundred tasks of a search.
    """

    def __init__(self, reducers):
        self.reducers = reducers

    def run(self):
        scheduler = self.manager.scheduler
        for ts in list(scheduler.tasks.values()):
            if ts.state != "memory" or ts.run_spec is not None or ts.actor:
                continue
            pending = self.manager.pending.get(ts, ((), ()))[0]
            for _ in range(len(scheduler.running - ts.who_has) - len(pending)):
                if (yield Suggestion("replicate", ts)) is None:
                    break
        for reducer in self.reducers:
            yield from _without_scattered_drops(reducer.run())


def _without_scattered_drops(suggestions):
    """Forward a policy's suggestions, except drops of scattered keys."""
    chosen = None
    while True:
        try:
            suggestion = suggestions.send(chosen)
        except StopIteration:
            return
        if suggestion.op == "drop" and suggestion.ts.run_spec is None:
            chosen = None
            continue
        chosen = yield suggestion


class ReplicateScattered(SchedulerPlugin):
    """Scheduler plugin: keep scattered data on every worker.

    joblib's dask backend scatters each large argument of a search (the
    training data, the cross-validation indices) to one worker; other workers
    fetch it from there when they need it, and Dask's Active Memory Manager
    drops copies it finds superfluous. If the only worker holding a piece of
    scattered data dies, Dask cannot compute it again and the search fails
    with ``FutureCancelledError``. While this plugin is registered, every
    running worker receives a copy of each scattered key (worker to worker,
    as soon as tasks that need it are submitted, then at every run of the
    Active Memory Manager, every 2 s by default), workers that join get one
    too, and those copies are kept until the client releases the data. A
    search's data are needed by every worker anyway; what is gained is that
    any surviving worker holds them.

    It changes the scheduler's Active Memory Manager while it is registered
    (its ``ReduceReplicas`` policy leaves scattered keys alone; the manager is
    started if it was off); :func:`use_cluster` undoes this when it exits.

    See Also
    --------
    use_cluster : Registers this plugin on the cluster it starts or joins.

    Examples
    --------
    >>> from skfmnist.dask import ReplicateScattered
    >>> ReplicateScattered.name
    'skfmnist-replicate-scattered'
    """

    name = "skfmnist-replicate-scattered"
    idempotent = True

    def __init__(self):
        self._state = None

    async def start(self, scheduler):
        amm = scheduler.extensions["amm"]
        reducers = {p for p in amm.policies if type(p) is ReduceReplicas}
        amm.policies -= reducers
        # The reducers keep their manager: the policy runs them as its own.
        policy = _ScatteredOnEveryWorker(reducers)
        amm.add_policy(policy)
        started = not amm.running
        if started:
            amm.start()
        self._state = (amm, policy, reducers, started)

    def update_graph(self, scheduler, **kwargs):
        # joblib scatters a task's data right before it submits the task: copy
        # the data now instead of at the manager's next periodic run, so that
        # the window in which it lives on one worker only stays short.
        if self._state is not None:
            scheduler.loop.add_callback(self._state[0].run_once)

    def uninstall(self):
        """Give the Active Memory Manager back its own policies."""
        if self._state is None:
            return
        amm, policy, reducers, started = self._state
        self._state = None
        amm.policies.discard(policy)
        for reducer in reducers:
            amm.add_policy(reducer)
        if started:
            amm.stop()

    async def close(self):
        self.uninstall()


def _uninstall_replication(dask_scheduler):
    plugin = dask_scheduler.plugins.get(ReplicateScattered.name)
    if plugin is not None:
        plugin.uninstall()
        dask_scheduler.remove_plugin(ReplicateScattered.name)


def _has_plugin(name, dask_scheduler):
    return name in dask_scheduler.plugins


# -- the context manager ---------------------------------------------------------


def _default_n_workers():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def use_cluster(scheduler="local", *, threads_per_worker=1, scatter=None,
                **cluster_kwargs):
    """Run joblib's parallel work, ``GridSearchCV`` included, on a Dask cluster.

    Inside the ``with`` block, joblib uses its ``"dask"`` backend on the
    cluster: ``GridSearchCV(...).fit`` sends each fit to a worker (its
    ``n_jobs`` is then ignored: the cluster's threads decide), and sends the
    training data to the cluster once per search (or once per block, with
    ``scatter``), not once per fit. Each worker sizes TensorFlow's threads to
    its own (:class:`TensorFlowThreads`), leaves its cores to the fits
    (:class:`LeanWorker`: malloc thresholds, profiler, wake-ups) and
    keeps a copy of the scattered data (:class:`ReplicateScattered`), so that
    a worker that dies does not lose the search: Dask reruns its fits
    elsewhere. The refit of the best candidate runs in this process, as
    without a cluster.

    Parameters
    ----------
    scheduler : str, distributed.Client or cluster object, default="local"
        ``"local"``: start a ``LocalCluster`` with one worker process per CPU
        core; ``"local:N"``: with N worker processes; ``"host:port"`` or
        ``"tcp://host:port"``: connect to a running ``dask scheduler``; a
        ``Client``: use it as it is; a cluster object (``LocalCluster``,
        dask-jobqueue's ``SLURMCluster``, dask-kubernetes' ``KubeCluster``,
        ...): connect to it. What this function starts or connects to, it
        closes on exit; a cluster or client passed in stays open.
    threads_per_worker : int, default=1
        Threads of each worker of a local cluster. One thread per worker
        process is fastest for the small matrix products of an MLP.
    scatter : list of array-like, default=None
        Data to send to every worker when the block starts, such as
        ``[X, y]``; searches in the block that are given these very objects
        use the copies already there. None: joblib sends each search's large
        arguments when the search starts.
    **cluster_kwargs : dict
        More arguments for ``LocalCluster`` (``memory_limit``,
        ``dashboard_address``...), for ``"local"`` and ``"local:N"`` only. The
        dashboard (with ``bokeh`` installed) listens on a free port, given by
        ``client.dashboard_link``, unless ``dashboard_address`` says otherwise.

    Yields
    ------
    client : distributed.Client
        The client of the cluster, for its dashboard link or diagnostics.

    Raises
    ------
    ValueError
        If ``scheduler`` is a string that is not ``"local"``, ``"local:N"`` or
        a scheduler address, or if ``cluster_kwargs`` are given with an
        existing cluster.
    TypeError
        If ``scheduler`` is neither a string, a client nor a cluster.
    RuntimeError
        If the scheduler or the workers cannot load skfmnist.

    See Also
    --------
    track_workers : Count each worker's tasks and received bytes.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.model_selection import cross_val_score
    >>> from skfmnist import DenseClassifier
    >>> from skfmnist.dask import use_cluster
    >>> X, y = make_classification(n_samples=200, n_features=20, random_state=0)
    >>> clf = DenseClassifier(hidden_layer_sizes=(16,), epochs=2, random_state=0)
    >>> with use_cluster("local:2") as client:
    ...     scores = cross_val_score(clf, X, y, cv=4)
    ...     print(len(client.scheduler_info()["workers"]), scores.shape)
    2 (4,)
    """
    spec = parse_scheduler(scheduler) if isinstance(scheduler, str) else None
    if spec is None and not (
        isinstance(scheduler, Client) or hasattr(scheduler, "scheduler_address")
    ):
        raise TypeError(
            "scheduler must be 'local', 'local:N', a scheduler address, a "
            f"distributed.Client or a cluster object, got {scheduler!r}"
        )
    if cluster_kwargs and (spec is None or spec.kind != "local"):
        raise ValueError(
            f"cluster arguments {sorted(cluster_kwargs)} only apply to a local "
            f"cluster that use_cluster starts, not to {scheduler!r}"
        )
    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif spec is None:  # a cluster object
            client = stack.enter_context(Client(scheduler, set_as_default=False))
        elif spec.kind == "local":
            cluster = stack.enter_context(_local_cluster(
                spec.n_workers or _default_n_workers(),
                threads_per_worker,
                **cluster_kwargs,
            ))
            client = stack.enter_context(Client(cluster, set_as_default=False))
        else:
            client = stack.enter_context(Client(spec.address, set_as_default=False))
        _register(client, stack)
        parallel_kwargs = {} if scatter is None else {"scatter": list(scatter)}
        stack.enter_context(
            joblib.parallel_config(backend="dask", client=client, **parallel_kwargs)
        )
        yield client


class _ExpectedKillWarning(logging.Filter):
    """Drop the nanny's warning that it killed a worker process on close."""

    def filter(self, record):
        return not record.getMessage().startswith("Worker process still alive")


@contextlib.contextmanager
def _local_cluster(n_workers, threads_per_worker, **kwargs):
    """A ``LocalCluster`` of worker processes, closed without false alarms."""
    # A free port: the scheduler serves HTTP even without a dashboard, and
    # its default port 8787 is often taken by another cluster.
    kwargs.setdefault("dashboard_address", ":0")
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        **kwargs,
    )
    try:
        yield cluster
    finally:
        # A worker process that imported TensorFlow needs a few seconds to
        # tear the interpreter down after the worker has closed; on a busy
        # machine the nanny's 4 s wait runs out and it kills the process and
        # warns, though nothing is lost by then.
        nanny_log = logging.getLogger("distributed.nanny")
        quiet = _ExpectedKillWarning()
        nanny_log.addFilter(quiet)
        try:
            cluster.close()
        finally:
            nanny_log.removeFilter(quiet)


#: The worker plugins use_cluster registers (a benchmark leaves one out to
#: measure what it saves).
_WORKER_PLUGINS = (LeanWorker, TensorFlowThreads)


def _register(client, stack):
    """Register the plugins; unregister on exit what this call registered."""
    installed = not client.run_on_scheduler(_has_plugin, ReplicateScattered.name)
    plugins = _WORKER_PLUGINS
    try:
        client.register_plugin(ReplicateScattered())
        for plugin in plugins:
            client.register_plugin(plugin())
    except (ImportError, ModuleNotFoundError, AttributeError) as exc:
        raise RuntimeError(
            f"the cluster could not load skfmnist's plugins ({exc}); "
            f"{_SETUP_HINT}"
        ) from exc
    stack.callback(_unregister, client, installed, plugins)


def _unregister(client, installed, plugins):
    if client.status != "running":
        return
    with contextlib.suppress(Exception):  # the cluster may be going away too
        for plugin in plugins:
            client.unregister_worker_plugin(plugin.name)
        if installed:
            client.run_on_scheduler(_uninstall_replication)


# -- activity ------------------------------------------------------------------


class _ActivityLog(WorkerPlugin):
    """Worker plugin: note each task the worker runs and each key it receives."""

    def __init__(self, name):
        self.name = name

    def setup(self, worker):
        self.worker = worker
        self.tasks = 0
        self.received = []

    def transition(self, key, start, finish, **kwargs):
        if finish != "memory":
            return
        if start in ("executing", "long-running"):
            self.tasks += 1
            return
        ts = self.worker.state.tasks.get(key)
        # A scattered key is new to the worker ("released"); a key fetched
        # from another worker arrives from "flight".
        source = "client" if start == "released" else "worker"
        self.received.append((str(key), ts.nbytes if ts else 0, source))


def _read_activity(name, dask_worker):
    plugin = dask_worker.plugins.get(name)
    return None if plugin is None else (plugin.tasks, plugin.received)


class WorkerActivity:
    """What the workers of a cluster did while :func:`track_workers` ran.

    Filled in when the ``with`` block exits. Workers that left the cluster
    before then are missing: their records left with them.

    Attributes
    ----------
    tasks : dict of str to int
        Number of tasks each worker (by address) ran.
    received : list of tuple
        ``(worker, key, nbytes, source)`` for each piece of data a worker
        received: ``source`` is ``"client"`` for data a client scattered to it
        and ``"worker"`` for data fetched from another worker.

    Examples
    --------
    >>> from skfmnist.dask import WorkerActivity
    >>> activity = WorkerActivity()
    >>> activity.tasks, activity.bytes_received()
    ({}, 0)
    """

    def __init__(self):
        self.tasks = {}
        self.received = []

    def bytes_received(self, source=None, keys=None):
        """Bytes the workers received, in total.

        Parameters
        ----------
        source : {"client", "worker"}, default=None
            Count only data scattered by a client, or only data fetched from
            another worker; None counts both.
        keys : collection of str, default=None
            Count only these keys.

        Returns
        -------
        n_bytes : int
            Sum of the sizes of the data received.
        """
        if source not in (None, "client", "worker"):
            raise ValueError(
                f"source must be None, 'client' or 'worker', got {source!r}"
            )
        return sum(
            nbytes
            for _, key, nbytes, origin in self.received
            if (source is None or origin == source) and (keys is None or key in keys)
        )


@contextlib.contextmanager
def track_workers(client):
    """Record the tasks each worker runs and the data it receives.

    Parameters
    ----------
    client : distributed.Client
        Client of the cluster to watch.

    Yields
    ------
    activity : WorkerActivity
        Filled in when the block exits.

    See Also
    --------
    use_cluster : Run joblib's parallel work on a Dask cluster.

    Examples
    --------
    >>> import numpy as np
    >>> from skfmnist.dask import track_workers
    >>> from distributed import Client, LocalCluster
    >>> with LocalCluster(n_workers=1, processes=False,
    ...                   dashboard_address=None) as cluster:
    ...     with Client(cluster) as client, track_workers(client) as activity:
    ...         future = client.scatter(np.zeros(1000))
    ...         total = client.submit(np.sum, future).result()
    >>> sum(activity.tasks.values()), activity.bytes_received("client")
    (1, 8000)
    """
    name = f"skfmnist-activity-{uuid.uuid4().hex[:8]}"
    activity = WorkerActivity()
    client.register_plugin(_ActivityLog(name), name=name)
    try:
        yield activity
    finally:
        for worker, record in client.run(_read_activity, name).items():
            if record is None:
                continue
            n_tasks, received = record
            activity.tasks[worker] = n_tasks
            activity.received += [(worker, *entry) for entry in received]
        client.unregister_worker_plugin(name)
