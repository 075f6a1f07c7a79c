"""Grid search on a Dask cluster: results, threads, data transfers, failures.

One ``LocalCluster`` of two single-threaded worker processes serves the whole
module; the test that kills a worker runs last.
"""

import asyncio
import contextlib
import importlib
import importlib.util
import json
import os
import pickle
import platform
import signal
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

import distributed
import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from skfmnist import DenseClassifier, PixelScaler, load_sample
from skfmnist.cli import build_parser, main
from skfmnist.dask import (
    SlowWorkerWarning,
    TensorFlowThreads,
    WorkerActivity,
    _check,
    track_workers,
    use_cluster,
)
from skfmnist.dask._cluster import _local_cluster
from skfmnist.dask._spec import SchedulerSpec, parse_scheduler
from skfmnist.dask._workers import LEAN_CONFIG, MALLOC_ENV

GRID = {"clf__hidden_layer_sizes": [(8,), (16, 8)]}
N_FITS = 2 * 3
FIT_PREFIX = "batch_of__fit_and_score"


def make_search():
    pipe = Pipeline([
        ("scale", PixelScaler()),
        ("clf", DenseClassifier(
            hidden_layer_sizes=(16,), epochs=3, batch_size=64, random_state=0
        )),
    ])
    return GridSearchCV(pipe, GRID, cv=3)


def split_scores(search):
    return np.array(
        [search.cv_results_[f"split{i}_test_score"] for i in range(3)]
    )


@pytest.fixture(scope="module")
def data():
    sample = load_sample()
    X, X_test, y, _ = train_test_split(
        sample.data, sample.target, train_size=600, test_size=200,
        stratify=sample.target, random_state=0,
    )
    return X, y, X_test


def _search_sequentially(X, y):
    with joblib.parallel_config(backend="sequential"):
        return make_search().fit(X, y)


@pytest.fixture(scope="module")
def sequential(cluster, data):
    """The search, one fit after another, run on one worker.

    There TensorFlow has the workers' one thread, as in every fit of the
    cluster's searches; this process's pools may be larger, and matrix kernels
    that split a sum between threads round otherwise. Same arithmetic, so the
    scores of the cluster's searches must match to the last bit.
    """
    client, _ = cluster
    X, y, _ = data
    return client.submit(_search_sequentially, X, y, pure=False).result()


@contextlib.contextmanager
def _fd2_to(path):
    """Point file descriptor 2 at ``path``; child processes started meanwhile
    keep it as their stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "w") as target:
        os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@pytest.fixture(scope="module")
def cluster():
    """``(client, worker_stderr_path)`` of a 2 x 1-thread process cluster."""
    with tempfile.TemporaryDirectory() as folder:
        log = os.path.join(folder, "workers.err")
        with contextlib.ExitStack() as stack:
            with _fd2_to(log):
                local = stack.enter_context(_local_cluster(2, 1))
                client = stack.enter_context(
                    distributed.Client(local, set_as_default=False)
                )
                # The workers import TensorFlow when the plugins are set up.
                with use_cluster(client, tune_workers=True):
                    pass
            yield client, log


@pytest.fixture(scope="module")
def on_cluster(cluster, data):
    """The search of ``make_search`` run on the cluster, with its activity."""
    client, _ = cluster
    X, y, _ = data
    with use_cluster(client), track_workers(client) as activity:
        search = make_search().fit(X, y)
    return search, activity


def _tf_threads():
    import tensorflow as tf

    return (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )


# -- parsing and arguments -----------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("local", SchedulerSpec("local")),
        ("local:3", SchedulerSpec("local", n_workers=3)),
        ("10.0.0.5:8786", SchedulerSpec("address", address="10.0.0.5:8786")),
        ("tcp://node-1:8786", SchedulerSpec("address", address="tcp://node-1:8786")),
        ("tls://[::1]:9000", SchedulerSpec("address", address="tls://[::1]:9000")),
    ],
)
def test_parse_scheduler(text, expected):
    assert parse_scheduler(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("local:0", "positive number of workers N, got '0'"),
        ("local:two", "positive number of workers N, got 'two'"),
        ("localhost", "expected 'local', 'local:N' or the address"),
        ("tcp://node-1", "listens on port 8786"),
        ("", "got ''"),
    ],
)
def test_parse_scheduler_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse_scheduler(text)


def test_use_cluster_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"\['memory_limit'\] only apply to a local"):
        with use_cluster("tcp://127.0.0.1:1", memory_limit="1GB"):
            pass
    with pytest.raises(TypeError, match="a distributed.Client or a cluster"):
        with use_cluster(2):
            pass


def test_import_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "skfmnist.dask")
    with pytest.raises(ImportError, match=r"pip install 'skfmnist\[dask\]'"):
        importlib.import_module("skfmnist.dask")


def test_bytes_received_checks_source():
    activity = WorkerActivity()
    activity.received = [("w1", "x", 100, "client"), ("w2", "x", 100, "worker")]
    assert activity.bytes_received() == 200
    assert activity.bytes_received("worker", keys={"x"}) == 100
    with pytest.raises(ValueError, match="'client' or 'worker', got 'scheduler'"):
        activity.bytes_received("scheduler")


# -- on the cluster ------------------------------------------------------------------


def test_workers_start_quietly(cluster):
    _, log = cluster
    with open(log) as f:
        text = f.read()
    for noise in ("cuInit", "oneDNN", "absl::", "cpu_feature_guard"):
        assert noise not in text, text


def test_threads_sized_to_workers(cluster):
    client, _ = cluster
    assert set(client.run(_tf_threads).values()) == {(1, 1)}


GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"

# Whether a 1 MiB block comes from a fresh mmap (1) or from the heap (0), told
# by glibc's count of mapped blocks; run in the process to inspect.
_MAPPED_FOR_1MIB = """
import ctypes
import numpy as np

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks "
        "keepcost").split()]

def mapped_for_1mib():
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = Mallinfo2
    before = mallinfo2().hblks
    block = np.ones(1 << 20, np.uint8)
    after = mallinfo2().hblks
    del block
    return after - before
"""


def _mapped_for_1mib():
    namespace = {}
    exec(_MAPPED_FOR_1MIB, namespace)
    return namespace["mapped_for_1mib"]()


@pytest.fixture(scope="module")
def new_worker():
    """What the plugins settle in a new process set up as on a new worker.

    Dask's nanny starts a worker with OMP_NUM_THREADS=1 and the malloc trim
    threshold set; use_cluster's plugins then run their setup, LeanWorker's
    first, before anything imports TensorFlow. One process checks both.
    Returns ``(results, stderr)``.
    """
    code = (
        (_MAPPED_FOR_1MIB if GLIBC else "")
        + "import json\n"
        "from types import SimpleNamespace\n"
        "from skfmnist.dask import LeanWorker, TensorFlowThreads\n"
        "out = {}\n"
        + (
            # Every 1 MiB block is a fresh mapping until LeanWorker settles it.
            "before = mapped_for_1mib()\n"
            "plugin = LeanWorker()\n"
            "plugin.setup(SimpleNamespace(address='w'))\n"
            "out['malloc'] = [before, plugin.malloc_settled_, mapped_for_1mib()]\n"
            if GLIBC else ""
        )
        # The worker's 3 threads win over the nanny's OMP_NUM_THREADS=1.
        + "import asyncio\n"
        "worker = SimpleNamespace(nthreads=3, address='w')\n"
        "plugin = TensorFlowThreads()\n"
        "asyncio.run(plugin.setup(worker))\n"
        "import tensorflow as tf\n"
        "threading = tf.config.threading\n"
        "out['threads'] = [plugin.n_threads_,\n"
        "                  threading.get_intra_op_parallelism_threads(),\n"
        "                  threading.get_inter_op_parallelism_threads()]\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": "65536"}
    env.pop("SKFMNIST_NUM_THREADS", None)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env,
        check=True,
    )
    return json.loads(result.stdout), result.stderr


def test_thread_plugin_sizes_to_worker_threads(new_worker):
    results, stderr = new_worker
    assert results["threads"] == [3, 3, 3]
    assert stderr == ""


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_lean_worker_settles_what_the_nanny_fixed(new_worker):
    results, _ = new_worker
    assert results["malloc"] == [1, True, 0]


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_workers_reuse_heap_memory(cluster):
    client, _ = cluster
    # The spawn-time environment of the clusters skfmnist starts.
    nanny_set = client.run(
        lambda: {name: os.environ.get(name) for name in MALLOC_ENV}
    )
    assert list(nanny_set.values()) == [MALLOC_ENV] * 2
    assert set(client.run(_mapped_for_1mib).values()) == {0}


UPKEEP = ("tick", "monitor", "memory_monitor")
LEAN_MS = [1000, 2000, 500]


def _upkeep(dask_worker):
    # Reads Dask's internals, to check what its documented settings did.
    callbacks = dask_worker.periodic_callbacks
    return (
        sorted(name for name in ("profile", "profile-cycle")
               if name in callbacks and callbacks[name].is_running()),
        [callbacks[name].callback_time for name in UPKEEP],
    )


def test_lean_config_values():
    assert LEAN_CONFIG["distributed.worker.profile.enabled"] is False
    assert [
        dask_config_ms(LEAN_CONFIG[key]) for key in (
            "distributed.admin.tick.interval",
            "distributed.admin.system-monitor.interval",
            "distributed.worker.memory.monitor-interval",
        )
    ] == LEAN_MS


def dask_config_ms(value):
    from dask.utils import parse_timedelta

    return round(parse_timedelta(value, "ms") * 1000)


def test_workers_started_lean(cluster):
    # Set at spawn time, through Dask's configuration: no profiler, upkeep
    # spaced out, also while no use_cluster block runs.
    client, _ = cluster
    assert list(client.run(_upkeep).values()) == [([], LEAN_MS)] * 2


def test_local_cluster_scheduler_and_nannies_spaced_out(cluster):
    # They share the process, and the cores, with the search.
    client, _ = cluster
    local = client.cluster
    callbacks = local.scheduler.periodic_callbacks
    assert callbacks["tick"].callback_time == LEAN_MS[0]
    assert callbacks["monitor"].callback_time == LEAN_MS[1]
    nannies = list(local.workers.values())
    assert len(nannies) == 2
    for nanny in nannies:
        assert [
            nanny.periodic_callbacks[name].callback_time for name in UPKEEP
        ] == LEAN_MS


def test_thread_plugin_warns_when_too_late(caplog):
    import tensorflow as tf

    from skfmnist import get_num_threads

    tf.constant(0.0).numpy()  # TensorFlow's runtime runs in this process now
    current = get_num_threads()
    worker = SimpleNamespace(nthreads=(current or 1) + 2, address="tcp://w:1")
    plugin = TensorFlowThreads()
    try:
        with caplog.at_level("WARNING", logger="skfmnist.dask"):
            asyncio.run(plugin.setup(worker))
    finally:
        plugin.teardown(worker)
    assert plugin.n_threads_ == current
    assert "worker tcp://w:1: TensorFlow has already started" in caplog.text


def test_same_scores_as_sequential(on_cluster, sequential):
    search, _ = on_cluster
    np.testing.assert_array_equal(split_scores(search), split_scores(sequential))
    assert search.best_params_ == sequential.best_params_


def test_both_workers_ran_fits(on_cluster, cluster):
    client, _ = cluster
    _, activity = on_cluster
    assert sorted(activity.tasks) == sorted(client.scheduler_info()["workers"])
    assert all(n_tasks > 0 for n_tasks in activity.tasks.values())
    assert sum(activity.tasks.values()) == N_FITS


def test_data_sent_once(on_cluster, data):
    X, y, _ = data
    _, activity = on_cluster
    size = X.nbytes + y.nbytes
    from_client = [key for _, key, _, source in activity.received if source == "client"]
    assert len(from_client) == len(set(from_client)), "a key was sent twice"
    # X leaves this process once; the cross-validation indices and y add a
    # few percent. Workers fetch it from one another: Dask's Active Memory
    # Manager may drop a worker's copy between two of its fits, and the
    # worker then fetches it again.
    assert activity.bytes_received("client") < 1.2 * size
    X_copies = [key for _, key, nbytes, _ in activity.received if nbytes == X.nbytes]
    assert len(X_copies) >= 2
    assert len(set(X_copies)) == 1


def test_best_estimator_pickles(on_cluster, cluster, data):
    client, _ = cluster
    _, _, X_test = data
    best = on_cluster[0].best_estimator_
    expected = best.predict(X_test)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(best)).predict(X_test),
                                  expected)
    # The same model, unpickled and run on a worker.
    on_worker = client.submit(best.predict, X_test, pure=False).result()
    np.testing.assert_array_equal(on_worker, expected)


class _UserPlugin(distributed.WorkerPlugin):
    """A plugin of the user's own."""

    name = "user-plugin"


def _worker_state(dask_worker):
    import dask

    callbacks = dask_worker.periodic_callbacks
    return {
        "plugins": sorted(dask_worker.plugins),
        "config": dask.config.get("distributed"),
        "intervals": {n: pc.callback_time for n, pc in callbacks.items()},
        "running": sorted(n for n, pc in callbacks.items() if pc.is_running()),
        "environ": {
            name: os.environ.get(name)
            for name in (*MALLOC_ENV, "SKFMNIST_NUM_THREADS", "OMP_NUM_THREADS")
        },
    }


def _scheduler_state(dask_scheduler):
    import dask

    callbacks = dask_scheduler.periodic_callbacks
    return {
        "plugins": sorted(dask_scheduler.plugins),
        "worker_plugins": sorted(dask_scheduler.worker_plugins),
        "config": dask.config.get("distributed"),
        "intervals": {n: pc.callback_time for n, pc in callbacks.items()},
    }


def _cluster_state(client):
    return {
        "workers": client.run(_worker_state),
        "scheduler": client.run_on_scheduler(_scheduler_state),
        "amm": client.amm.running(),
    }


def test_cluster_passed_in_left_as_found(cluster):
    client, _ = cluster
    # The user's own plugins, one of them under skfmnist's own name.
    client.register_plugin(_UserPlugin())
    client.register_plugin(TensorFlowThreads(), name=TensorFlowThreads.name)
    try:
        before = _cluster_state(client)
        assert {"user-plugin", TensorFlowThreads.name} <= set(
            before["scheduler"]["worker_plugins"])
        with use_cluster(client):
            # Nothing registered, nothing changed, unless asked.
            assert _cluster_state(client) == before
        with use_cluster(client, tune_workers=True):
            during = client.run_on_scheduler(_scheduler_state)["worker_plugins"]
            assert len(during) == len(before["scheduler"]["worker_plugins"]) + 2
        after = _cluster_state(client)
        print("before:", {k: before["scheduler"][k] for k in ("plugins",
              "worker_plugins")}, "amm", before["amm"])
        print("after: ", {k: after["scheduler"][k] for k in ("plugins",
              "worker_plugins")}, "amm", after["amm"])
        assert after == before
    finally:
        client.unregister_worker_plugin(TensorFlowThreads.name)
        client.unregister_worker_plugin("user-plugin")


def test_every_cleanup_step_runs(cluster, monkeypatch, caplog):
    client, _ = cluster
    before = set(client.run_on_scheduler(_scheduler_state)["worker_plugins"])
    unregister = client.unregister_worker_plugin
    calls = []

    def failing_once(name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 1:
            raise OSError("connection lost")
        return unregister(name, *args, **kwargs)

    monkeypatch.setattr(client, "unregister_worker_plugin", failing_once)
    with caplog.at_level("WARNING", logger="skfmnist.dask"):
        with use_cluster(client, tune_workers=True):
            pass
    monkeypatch.undo()
    assert len(calls) == 2
    left = set(client.run_on_scheduler(_scheduler_state)["worker_plugins"]) - before
    assert left == {calls[0]}
    assert "connection lost" in caplog.text
    client.unregister_worker_plugin(calls[0])


def test_fit_in_slow_worker_warns_once(cluster, monkeypatch):
    if GLIBC:
        slow = {"MALLOC_TRIM_THRESHOLD_": "65536"}  # Dask's default
        monkeypatch.setattr(_check._malloc, "settled", False)
        assert "distributed.nanny.pre-spawn-environ" in _check.slow_worker_reason(
            slow)
        assert _check.slow_worker_reason({**slow, **MALLOC_ENV}) is None
    assert _check.slow_worker_reason({}) is None
    client, _ = cluster
    # Outside a worker: no check at all.
    monkeypatch.setattr(_check, "_checked", False)
    _check.warn_if_slow_worker()
    assert not _check._checked
    # In a worker of the shared cluster: fast, then made slow for the test.
    assert client.submit(_warnings_in_fits, pure=False).result() == (
        [], [SlowWorkerWarning.__name__] if GLIBC else [])


def _warnings_in_fits():
    import warnings

    from skfmnist._engine.runtime import start_runtime

    def fit_twice():
        _check._checked = False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start_runtime()
            start_runtime()
        return [type(w.message).__name__ for w in caught]

    fast = fit_twice()
    saved = {name: os.environ.get(name) for name in MALLOC_ENV}
    settled = _check._malloc.settled
    os.environ.pop("MALLOC_MMAP_THRESHOLD_")
    os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"
    _check._malloc.settled = False
    try:
        slow = fit_twice()
    finally:
        os.environ.update(saved)
        _check._malloc.settled = settled
    return fast, slow


# -- the command line ------------------------------------------------------------


def test_cli_rejects_bad_scheduler(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["search", "--scheduler", "local:0"])
    assert exit_info.value.code == 2
    assert (
        "argument --scheduler: 'local:N' needs a positive number of workers"
        in capsys.readouterr().err
    )


def test_cli_scheduler_needs_distributed(monkeypatch, capsys):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *args: None if name == "distributed" else find_spec(name, *args),
    )
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["search", "--scheduler", "local"])
    assert exit_info.value.code == 2
    assert "pip install 'skfmnist[dask]'" in capsys.readouterr().err


def test_cli_search_on_a_running_scheduler(cluster, tmp_path, capsys):
    client, _ = cluster
    address = client.scheduler.address
    argv = ["search", "--sample", "--scheduler", address, "--epochs", "1",
            "--hidden-grid", "8", "16", "--cv", "2", "--seed", "0",
            "--out", str(tmp_path)]
    with track_workers(client) as activity:
        status = main(argv)
    out = capsys.readouterr().out
    assert status == 0
    assert f"Cluster: {address} (2 workers, 2 threads, scheduler {address})" in out
    assert (tmp_path / "search.csv").is_file()
    assert sum(activity.tasks.values()) == 2 * 2


# -- a worker dies -------------------------------------------------------------------


def _settings(dask_worker):
    # Only TensorFlowThreads imports TensorFlow in a worker that ran no task.
    imported = "tensorflow" in sys.modules
    return (imported, *_tf_threads(), _check._malloc.settled,
            os.environ.get("MALLOC_MMAP_THRESHOLD_"), _upkeep(dask_worker))


def test_restarted_worker_tuned_and_scattered_data_lost(cluster):
    """A worker killed and restarted by its nanny gets the plugins and the
    spawn-time settings; data scattered only to it are lost, not recomputed."""
    client, _ = cluster
    workers = sorted(client.scheduler_info()["workers"])
    victim, survivor = workers
    pids = client.run(os.getpid)
    data = client.scatter(np.arange(1000), workers=[victim], hash=False)
    assert client.who_has(data)[data.key] == (victim,)
    with use_cluster(client, tune_workers=True):
        os.kill(pids[victim], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = set(client.scheduler_info()["workers"])
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, now
            time.sleep(0.1)
        (newcomer,) = now - {survivor}
        settings = client.run(_settings)
    # The plugins use_cluster registered ran on the new worker process (it
    # imported TensorFlow, sized its pools, set malloc), and its nanny gave
    # it the spawn-time settings again.
    expected = (True, 1, 1, GLIBC, MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"],
                ([], LEAN_MS))
    assert settings == {newcomer: expected, survivor: expected}
    # Scattered data have no task to compute them again.
    # FutureCancelledError from distributed 2024.x, CancelledError before.
    cancelled = getattr(distributed.client, "FutureCancelledError", None)
    with pytest.raises(cancelled or distributed.client.CancelledError):
        client.submit(len, data).result(timeout=30)
    print(f"killed {victim}; its nanny started {newcomer}: {settings[newcomer]}; "
          f"the data scattered to {victim} only: {data.status}")


def _worker_environ(dask_worker):
    return {name: os.environ.get(name)
            for name in (*MALLOC_ENV, "SKFMNIST_NUM_THREADS")}


def test_own_cluster_tuned_at_spawn_without_plugins():
    # A cluster use_cluster starts gets its settings when each worker process
    # starts (the nanny's pre-spawn-environ and the configuration); no plugin
    # is registered, and none is needed.
    with use_cluster("local:1") as client:
        plugins = client.run_on_scheduler(_scheduler_state)["worker_plugins"]
        environ = list(client.run(_worker_environ).values())
        upkeep = list(client.run(_upkeep).values())
    assert not [name for name in plugins if name.startswith("skfmnist")]
    assert environ == [{**MALLOC_ENV, "SKFMNIST_NUM_THREADS": "1"}]
    assert upkeep == [([], LEAN_MS)]
