"""What each worker ran and received during a block: :func:`track_workers`.

Part of :mod:`skfmnist.dask`, which imports ``distributed`` first and says
how to install it when it is missing.
"""

import contextlib
import uuid

from dask.sizeof import sizeof
from distributed.diagnostics.plugin import WorkerPlugin


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
        # The worker's data store (Worker.data, documented) holds the value.
        data = self.worker.data
        nbytes = sizeof(data[key]) if key in data else 0
        # A scattered key is new to the worker ("released"); a key fetched
        # from another worker arrives from "flight".
        source = "client" if start == "released" else "worker"
        self.received.append((str(key), nbytes, source))


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
