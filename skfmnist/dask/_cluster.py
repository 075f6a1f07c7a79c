"""use_cluster: start or join a Dask cluster and make joblib use it.

Part of :mod:`skfmnist.dask`, which imports ``distributed`` first and says
how to install it when it is missing.
"""

import contextlib
import logging
import os

import joblib
from distributed import Client, LocalCluster

from ._replication import (
    ReplicateScattered,
    _has_plugin,
    _uninstall_replication,
)
from ._spec import parse_scheduler
from ._workers import LeanWorker, TensorFlowThreads, space_out

__all__ = ["use_cluster"]

_SETUP_HINT = (
    "skfmnist, with the same versions of skfmnist, TensorFlow, Keras, "
    "scikit-learn and dask as here, must be installed on the scheduler and on "
    "every worker"
)


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
    _space_out_upkeep(cluster)
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


def _space_out_upkeep(cluster):
    """Give the scheduler and the nannies the workers' lean upkeep intervals.

    They run in this process, on the cores the fits use, and their periodic
    upkeep (loop delay every 20 ms, system monitor every 0.5 s, the nannies'
    memory checks every 0.1 s) took most of this process's CPU time while
    the cluster idled, and about a third of it during a search
    (``benchmarks/bench_search.py`` reports the latter). The cluster closes
    with the block, so nothing is restored.
    """
    intervals = LeanWorker().intervals()
    for server in (cluster.scheduler, *cluster.workers.values()):
        space_out(getattr(server, "periodic_callbacks", {}), intervals)


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
