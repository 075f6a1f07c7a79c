"""Run skfmnist's searches on a Dask cluster.

joblib's ``"dask"`` backend runs the fits of a ``GridSearchCV`` (or of any
joblib work, such as ``cross_validate``) on the workers of a
``dask.distributed`` cluster. This module adds what TensorFlow-based
estimators need there, and needs the optional ``distributed`` package
(``pip install "skfmnist[dask]"``):

- :func:`use_cluster` starts or connects to a cluster and makes joblib use
  it. The local clusters it starts get, through Dask's documented
  configuration, the settings that keep the workers' upkeep out of the fits'
  way (glibc malloc thresholds, no statistical profiler, fewer event-loop
  wake-ups); a cluster passed in is left as it is unless asked;
- :class:`TensorFlowThreads` sizes TensorFlow's thread pools on each worker
  of a running cluster to the worker's threads, and imports TensorFlow
  there, off the worker's event loop, without its log noise;
- :class:`LeanWorker` sets glibc's malloc thresholds on running workers
  (both plugins: ``use_cluster(..., tune_workers=True)``);
- :func:`track_workers` records the tasks each worker ran and the bytes it
  received, to check that the data went to the cluster once.

A fit that runs in a Dask worker whose nanny froze glibc's mmap threshold
(Dask's default) warns once, with :class:`SlowWorkerWarning`, and names the
setting to change.

Fitted estimators travel between processes as pickles. :func:`use_cluster`
lives in ``_cluster``, the plugins and settings in ``_workers`` and
``_activity``, the check for slow workers in ``_check``, the parsing of
``"local:N"`` in ``_spec``; this package is the one to import.
"""

try:
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - CI installs the tests extra
    raise ImportError(
        "skfmnist.dask needs dask.distributed, which is not installed; install "
        "it with: pip install 'skfmnist[dask]'"
    ) from exc

from ._activity import WorkerActivity, track_workers
from ._check import SlowWorkerWarning
from ._cluster import use_cluster
from ._workers import LeanWorker, TensorFlowThreads

__all__ = [
    "LeanWorker",
    "SlowWorkerWarning",
    "TensorFlowThreads",
    "WorkerActivity",
    "track_workers",
    "use_cluster",
]
