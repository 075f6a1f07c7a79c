"""``skfmnist search --scheduler``: run the search's fits on a Dask cluster.

The option is checked while the arguments are parsed (that ``distributed``
is installed, then its form), so a mistake exits at once with status 2,
before any data are loaded; the cluster itself is started, or joined, only
around the search.
"""

import argparse
import contextlib
import importlib.util

from ._console import CommandError

__all__ = ["on_cluster", "scheduler"]


def scheduler(text):
    """A ``--scheduler`` value: ``local``, ``local:N`` or a scheduler address."""
    if importlib.util.find_spec("distributed") is None:
        raise argparse.ArgumentTypeError(
            "needs dask.distributed, which is not installed; install it with: "
            "pip install 'skfmnist[dask]'"
        )
    from ..dask._spec import parse_scheduler

    try:
        parse_scheduler(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


@contextlib.contextmanager
def on_cluster(where, console):
    """Run the block's joblib work on the cluster ``where``; None: locally."""
    if where is None:
        yield None
        return
    from ..dask import use_cluster

    with contextlib.ExitStack() as stack:
        try:
            client = stack.enter_context(use_cluster(where))
        except RuntimeError as exc:  # the cluster cannot load skfmnist
            raise CommandError(str(exc)) from None
        workers = client.scheduler_info()["workers"].values()
        threads = sum(worker["nthreads"] for worker in workers)
        console.info(
            f"Cluster: {where} ({len(workers)} workers, {threads} threads, "
            f"scheduler {client.scheduler.address})"
        )
        yield client
