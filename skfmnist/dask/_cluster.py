"""use_cluster: start or join a Dask cluster and make joblib use it.

Part of :mod:`skfmnist.dask`, which imports ``distributed`` first and says
how to install it when it is missing.
"""

import contextlib
import copy
import logging
import os
import uuid

import dask
import joblib
from distributed import Client, LocalCluster

from ._spec import parse_scheduler
from ._workers import LeanWorker, TensorFlowThreads, worker_config

__all__ = ["use_cluster"]

logger = logging.getLogger("skfmnist.dask")

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
                tune_workers=False, **cluster_kwargs):
    """Run joblib's parallel work, ``GridSearchCV`` included, on a Dask cluster.

    Inside the ``with`` block, joblib uses its ``"dask"`` backend on the
    cluster: ``GridSearchCV(...).fit`` sends each fit to a worker (its
    ``n_jobs`` is then ignored: the cluster's threads decide), and sends the
    training data to the cluster once per search (or once per block, with
    ``scatter``), not once per fit. The refit of the best candidate runs in
    this process, as without a cluster.

    A local cluster that this function starts gets, when its workers start
    (and restart), the settings that make TensorFlow fits fast
    (through Dask's documented configuration, listed in the user guide's
    page on clusters): TensorFlow's pools sized to the workers' threads, glibc
    malloc thresholds that let a training step reuse memory, no statistical
    profiler, spaced-out upkeep. A cluster or client passed in, or a
    scheduler address, is left as it is unless ``tune_workers=True``; the
    user guide's page on clusters says what its operator sets instead.

    Data that joblib scatters live on the workers that received them; Dask
    cannot compute them again. A worker that dies takes its fits with it
    (Dask reruns them elsewhere) and, if it held the only copy of the
    scattered data, the search fails with ``FutureCancelledError``: run it
    again.

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
    tune_workers : bool, default=False
        Register :class:`TensorFlowThreads` (pools sized to each worker's
        threads) and :class:`LeanWorker` (glibc malloc thresholds) on the
        cluster, also on workers that join or restart during the block: for
        a cluster passed in, whose operator could not give its workers the
        settings of the user guide's page on clusters. The malloc thresholds
        and TensorFlow's pool sizes then stay for the life of each worker
        process; the plugins themselves are unregistered on exit. A local
        cluster this function starts needs neither: its workers get the
        same settings when they start.
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
    >>> X, y = make_classification(n_samples=100, n_features=20, random_state=0)
    >>> clf = DenseClassifier(hidden_layer_sizes=(16,), epochs=2, random_state=0)
    >>> with use_cluster("local:2") as client:  # two worker processes
    ...     scores = cross_val_score(clf, X, y, cv=2)
    ...     print(len(client.scheduler_info()["workers"]), scores.shape)
    2 (2,)
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
        if tune_workers:
            _register(client, stack, (TensorFlowThreads(), LeanWorker()))
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
    """A ``LocalCluster`` of worker processes with the settings of
    :func:`~skfmnist.dask._workers.worker_config`, closed without false alarms."""
    # A free port: the scheduler serves HTTP even without a dashboard, and
    # its default port 8787 is often taken by another cluster.
    kwargs.setdefault("dashboard_address", ":0")
    # The scheduler and the nannies read the configuration when they start;
    # each nanny keeps it and hands it, with the environment, to every worker
    # process it starts or restarts.
    with _spawn_settings(worker_config(threads_per_worker)):
        # Each nanny keeps its own copy, for the workers it restarts: the
        # nanny's snapshot of the global configuration shares its nested
        # dictionaries, which dask.config.set restores on exit.
        kwargs.setdefault(
            "config", {"distributed": copy.deepcopy(dask.config.get("distributed"))}
        )
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


@contextlib.contextmanager
def _spawn_settings(config):
    """Set ``config`` while a local cluster starts; leave ``os.environ`` as it was.

    A nanny takes its workers' environment from
    ``distributed.nanny.pre-spawn-environ`` when it is created, except that
    variables already in this process's environment win, and it writes the
    result into this process's environment before each spawn. The block
    hides those variables while the nannies are created (so that the
    configuration decides), and puts this process's environment back after.
    """
    names = config["distributed.nanny.pre-spawn-environ"]
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.pop(name, None)
    try:
        with dask.config.set(config):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _register(client, stack, plugins):
    """Register ``plugins``; on exit, unregister exactly those registrations.

    Each registration gets a name of its own, so that a plugin the user
    registered (under skfmnist's names or others) stays; each removal runs
    even when another fails.
    """
    tag = uuid.uuid4().hex[:8]
    for plugin in plugins:
        name = f"{plugin.name}-{tag}"
        try:
            client.register_plugin(plugin, name=name)
        except (ImportError, ModuleNotFoundError, AttributeError) as exc:
            raise RuntimeError(
                f"the cluster could not load skfmnist's plugins ({exc}); "
                f"{_SETUP_HINT}"
            ) from exc
        stack.callback(_unregister, client, name)


def _unregister(client, name):
    if client.status != "running":
        return  # the cluster is going away: nothing to leave behind
    try:
        client.unregister_worker_plugin(name)
    except Exception as exc:  # noqa: BLE001 - the other steps still run
        logger.warning("could not unregister worker plugin %s: %r", name, exc)
