"""Grid search on a Dask cluster: results, threads, data transfers, failures.

One ``LocalCluster`` of two single-threaded worker processes serves the whole
module; the test that kills a worker runs last.
"""

import contextlib
import importlib
import importlib.util
import os
import pickle
import platform
import signal
import subprocess
import sys
import tempfile
import threading
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
    LeanWorker,
    ReplicateScattered,
    TensorFlowThreads,
    WorkerActivity,
    track_workers,
    use_cluster,
)
from skfmnist.dask._cluster import _local_cluster
from skfmnist.dask._spec import SchedulerSpec, parse_scheduler

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


@pytest.fixture(scope="module")
def sequential(data):
    X, y, _ = data
    with joblib.parallel_config(backend="sequential"):
        return make_search().fit(X, y)


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
                with use_cluster(client):
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


def test_thread_plugin_sizes_to_worker_threads():
    # In a fresh process, as on a new worker: the worker's 3 threads win over
    # the OMP_NUM_THREADS=1 that Dask's nanny sets.
    code = (
        "from types import SimpleNamespace\n"
        "from skfmnist.dask import TensorFlowThreads\n"
        "worker = SimpleNamespace(state=SimpleNamespace(nthreads=3), address='w')\n"
        "plugin = TensorFlowThreads()\n"
        "plugin.setup(worker)\n"
        "import tensorflow as tf\n"
        "threading = tf.config.threading\n"
        "print(plugin.n_threads_, threading.get_intra_op_parallelism_threads(),\n"
        "      threading.get_inter_op_parallelism_threads())\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("SKFMNIST_NUM_THREADS", None)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env,
        check=True,
    )
    assert result.stdout.split() == ["3", "3", "3"]
    assert result.stderr == ""


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


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_lean_worker_settles_what_the_nanny_fixed():
    # As in a worker that Dask's nanny started: with the trim threshold set,
    # every 1 MiB block is a fresh mapping until the plugin settles it.
    code = (
        _MAPPED_FOR_1MIB
        + "from types import SimpleNamespace\n"
        "from skfmnist.dask import LeanWorker\n"
        "before = mapped_for_1mib()\n"
        "plugin = LeanWorker()\n"
        "plugin.setup(SimpleNamespace(address='w', periodic_callbacks={}))\n"
        "print(before, plugin.malloc_settled_, mapped_for_1mib())\n"
    )
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env,
        check=True,
    )
    assert result.stdout.split() == ["1", "True", "0"]


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_workers_reuse_heap_memory(cluster):
    client, _ = cluster
    nanny_set = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert set(nanny_set.values()) == {"65536"}
    assert set(client.run(_mapped_for_1mib).values()) == {0}


UPKEEP = ("tick", "monitor", "memory_monitor")


def _upkeep(dask_worker):
    callbacks = dask_worker.periodic_callbacks
    return (
        sorted(name for name in ("profile", "profile-cycle")
               if callbacks[name].is_running()),
        [callbacks[name].callback_time for name in UPKEEP],
    )


def test_workers_profiler_off_and_upkeep_spaced_out_while_in_use(cluster):
    client, _ = cluster
    lean = [LeanWorker.tick_ms, LeanWorker.monitor_ms, LeanWorker.memory_monitor_ms]
    with use_cluster(client):
        assert list(client.run(_upkeep).values()) == [([], lean)] * 2
    # Dask's own settings once the block ends: profiler on, a 20 ms tick, the
    # system monitor every 0.5 s and memory checks every 0.1 s.
    restored = (["profile", "profile-cycle"], [20, 500, 100])
    assert list(client.run(_upkeep).values()) == [restored] * 2


def test_local_cluster_scheduler_and_nannies_spaced_out(cluster):
    # They share the process, and the cores, with the search.
    client, _ = cluster
    local = client.cluster
    lean = LeanWorker().intervals()
    callbacks = local.scheduler.periodic_callbacks
    assert callbacks["tick"].callback_time == lean["tick"]
    assert callbacks["monitor"].callback_time == lean["monitor"]
    nannies = list(local.workers.values())
    assert len(nannies) == 2
    for nanny in nannies:
        assert {
            name: nanny.periodic_callbacks[name].callback_time for name in UPKEEP
        } == lean


def test_thread_plugin_warns_when_too_late(caplog):
    import tensorflow as tf

    from skfmnist import get_num_threads

    tf.constant(0.0).numpy()  # TensorFlow's runtime runs in this process now
    current = get_num_threads()
    worker = SimpleNamespace(
        state=SimpleNamespace(nthreads=(current or 1) + 2), address="tcp://w:1"
    )
    plugin = TensorFlowThreads()
    with caplog.at_level("WARNING", logger="skfmnist.dask"):
        plugin.setup(worker)
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
    receipts = [(worker, key) for worker, key, _, _ in activity.received]
    assert len(receipts) == len(set(receipts)), "a worker received a key twice"
    from_client = [key for _, key, _, source in activity.received if source == "client"]
    assert len(from_client) == len(set(from_client)), "a key was sent twice"
    # X reaches each of the two workers once; the cross-validation indices
    # and y add a few percent.
    X_copies = [key for _, key, nbytes, _ in activity.received if nbytes == X.nbytes]
    assert len(X_copies) == 2
    assert activity.bytes_received("client") < 1.2 * size
    assert activity.bytes_received() < 2.4 * size


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


def test_amm_policies_restored(cluster):
    client, _ = cluster

    def policies(dask_scheduler):
        return sorted(
            type(p).__name__ for p in dask_scheduler.extensions["amm"].policies
        )

    with use_cluster(client):
        during = client.run_on_scheduler(policies)
    assert during == ["_ScatteredOnEveryWorker"]
    assert client.run_on_scheduler(policies) == ["ReduceReplicas"]
    assert not client.run_on_scheduler(
        lambda dask_scheduler: ReplicateScattered.name in dask_scheduler.plugins
    )


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


def _fits_now(dask_scheduler):
    """Fits finished so far, and ``{worker: fit keys}`` of those running."""
    finished = sum(
        1
        for key, _, finish, *_ in dask_scheduler.transition_log
        if finish == "memory" and str(key).startswith(FIT_PREFIX)
    )
    running = {}
    for ws in dask_scheduler.workers.values():
        keys = [
            str(ts.key) for ts in ws.processing if str(ts.key).startswith(FIT_PREFIX)
        ]
        if keys:
            running[ws.address] = keys
    return finished, running


def _kill_when_busy(client, pids, done, record):
    """Kill the worker that runs a fit once another fit has finished."""
    baseline = client.run_on_scheduler(_fits_now)[0]
    while not done.is_set():
        finished, running = client.run_on_scheduler(_fits_now)
        if finished > baseline and running:
            victim, keys = next(iter(running.items()))
            os.kill(pids[victim], signal.SIGKILL)
            record.update(victim=victim, key=keys[0], finished=finished - baseline)
            return
        time.sleep(0.05)


def test_search_survives_a_killed_worker(cluster, data, sequential):
    client, _ = cluster
    X, y, _ = data
    pids = client.run(os.getpid)
    record, done = {}, threading.Event()
    killer = threading.Thread(target=_kill_when_busy, args=(client, pids, done, record))
    with use_cluster(client), distributed.get_task_stream(client) as stream:
        killer.start()
        try:
            search = make_search().fit(X, y)
        finally:
            done.set()
            killer.join()
    assert record, "no fit was running when it was time to kill a worker"
    np.testing.assert_array_equal(split_scores(search), split_scores(sequential))
    # The fit that was running on the killed worker ran again, elsewhere.
    reruns = [t["worker"] for t in stream.data if str(t["key"]) == record["key"]]
    assert any(worker != record["victim"] for worker in reruns), reruns
    print(
        f"killed {record['victim']} (pid {pids[record['victim']]}) during "
        f"{record['key']}, after {record['finished']} fit(s) had finished; that "
        f"fit then ran on {reruns}; the search finished with the sequential "
        "search's scores"
    )
