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

Fitted estimators travel between processes as pickles. :func:`use_cluster`
lives in ``_cluster``, the plugins in ``_workers``, ``_replication`` and
``_activity``, the parsing of ``"local:N"`` in ``_spec``; this package is the
one to import.
"""

try:
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - CI installs the tests extra
    raise ImportError(
        "skfmnist.dask needs dask.distributed, which is not installed; install "
        "it with: pip install 'skfmnist[dask]'"
    ) from exc

from ._activity import WorkerActivity, track_workers
from ._cluster import use_cluster
from ._replication import ReplicateScattered
from ._workers import LeanWorker, TensorFlowThreads

__all__ = [
    "LeanWorker",
    "ReplicateScattered",
    "TensorFlowThreads",
    "WorkerActivity",
    "track_workers",
    "use_cluster",
]
