"""Scheduler plugin: scattered data kept on every worker.

Part of :mod:`skfmnist.dask`, which imports ``distributed`` first and says
how to install it when it is missing.
"""

from distributed.active_memory_manager import (
    ActiveMemoryManagerPolicy,
    ReduceReplicas,
    Suggestion,
)
from distributed.diagnostics.plugin import SchedulerPlugin


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
