"""Grid search on a local Dask cluster against joblib's loky, fresh (issue 21).

The same ``GridSearchCV`` runs in every setting: ``Pipeline([PixelScaler(),
DenseClassifier(epochs=5)])``, grid ``clf__hidden_layer_sizes`` in (64,),
(128,), (256,), (256, 128), ``cv=3``, ``refit=False``, on the full training
set (60,000 images). The settings:

* ``sequential``: ``GridSearchCV(n_jobs=1)``, for context (one run);
* ``loky``: ``GridSearchCV(n_jobs=2)``, joblib's default backend, the
  ceiling for two processes on one machine and the baseline of every ratio;
* ``use_cluster``: ``with skfmnist.dask.use_cluster("local:2")``, every
  tuning on;
* ``plain-documented``: what a user who follows the user guide does without
  ``use_cluster``: ``dask.config.set(worker_config(1))`` (the configuration
  the cluster page tells an operator to set) around ``LocalCluster(
  n_workers=2, threads_per_worker=1, processes=True)``, then ``Client``
  and ``joblib.parallel_config(backend="dask")``;
* ``plain-default``: the same ``LocalCluster`` with Dask's defaults; whether
  the workers showed skfmnist's ``SlowWorkerWarning`` is recorded;
* ``no-malloc``, ``no-upkeep``, ``no-threads``: ``use_cluster``'s settings
  (which are the documented ones: ``use_cluster`` registers no plugin on the
  clusters it starts), built from the same public pieces as
  ``plain-documented``, with one tuning off: the glibc malloc thresholds
  (``MALLOC_ENV``), the upkeep settings (``LEAN_CONFIG``: profiler on, Dask's
  intervals), or the thread sizing (``SKFMNIST_NUM_THREADS``; the nanny's
  ``OMP_NUM_THREADS=1`` remains).

Every run is a fresh child process that imports TensorFlow and loads the
data first; *fresh* is then the time from starting the workers (loky's pool,
or the cluster: scheduler, nannies, worker processes that import
``distributed`` and TensorFlow) to the end of the first search.
With ``--repeats N``, N more *running* searches follow with the workers up.
The settings run in rounds, each setting once per round, in an order that
changes from round to round (reversed, then rotated), so that a slow spell
of the machine hits them alike: sequential once, in the first round; loky,
``use_cluster`` and the two plain clusters in 5 rounds; the three rows with
a tuning off in the first 2 rounds only (cut from 3 so that the run fits in
about 15 minutes on two cores). The figures are medians over the rounds,
each run's figure is kept, and every ratio is against loky's median; the
tuning rows are also compared with ``use_cluster``, round by round, to tell
a tuning that helps from noise. Also recorded: that every setting finds the
sequential search's mean CV scores, the CPU seconds of the search's process
and its workers (the work done, which other load changes less than the
wall time), TensorFlow's pools in the workers, the share of the workers'
CPU time spent in the kernel, and the bytes the workers received
(``skfmnist.dask.track_workers``), on one more search after the timed one of
the first round's ``use_cluster`` run, so that the tracking weighs on no
timed search.

Targets: ``use_cluster`` fresh <= 1.1x loky; ``plain-documented`` fresh <=
1.15x loky. Reported without a threshold: ``plain-default`` / loky and each
tuning's off / on.

Needs ``distributed`` (``pip install "skfmnist[benchmarks,dask]"``). Run
``python benchmarks/bench_search.py``: 27 fresh processes (5 rounds of the
rows with a target, whose ratios are within a few percent of their
thresholds, so that one slow run moves the medians less), no running
searches, about 13 minutes on two cores where a sequential search takes
about 30 s. ``--repeats N`` adds N running
searches per process (the search again with the workers up; 5 to 10 minutes
more for N=1); ``--rounds N``: N rounds of every setting. ``--quick``:
3,000 images, one epoch, one round, one running search, about 3 minutes,
only indicative.
Writes ``benchmarks/results/search.json`` (``search.quick.json`` for
``--quick``).
"""

import os
import sys
import time

import _common as C

SCRIPT = os.path.abspath(__file__)
GRID = {"clf__hidden_layer_sizes": [(64,), (128,), (256,), (256, 128)]}
CV = 3
N_WORKERS = 2

# rounds: of sequential (the first only), loky, use_cluster and the plain
# clusters; tuning_rounds: of the rows with one tuning off (the first ones).
FULL = {"n_train": None, "epochs": 5, "rounds": 5, "tuning_rounds": 2,
        "running_repeats": 0}
QUICK = {"n_train": 3000, "epochs": 1, "rounds": 1, "tuning_rounds": 1,
         "running_repeats": 1}

# The parallel settings, in their order of the first round.
PARALLEL = ("loky", "use_cluster", "plain-documented", "plain-default",
            "no-malloc", "no-upkeep", "no-threads")
SETTINGS = ("sequential", *PARALLEL)
TUNINGS = ("no-malloc", "no-upkeep", "no-threads")
LABELS = {
    "sequential": "GridSearchCV(n_jobs=1)",
    "loky": f"GridSearchCV(n_jobs={N_WORKERS}), loky (baseline)",
    "use_cluster": f'use_cluster("local:{N_WORKERS}")',
    "plain-documented": f"LocalCluster ({N_WORKERS} x 1), documented settings",
    "plain-default": f"LocalCluster ({N_WORKERS} x 1), Dask's defaults",
    "no-malloc": "use_cluster's settings, no malloc thresholds",
    "no-upkeep": "use_cluster's settings, no upkeep settings",
    "no-threads": "use_cluster's settings, no thread sizing",
}
OFF = {
    "no-malloc": "MALLOC_ENV not in pre-spawn-environ (the nanny's "
                 "MALLOC_TRIM_THRESHOLD_=65536)",
    "no-upkeep": "LEAN_CONFIG not set (profiler on, Dask's intervals)",
    "no-threads": "no SKFMNIST_NUM_THREADS (the nanny's OMP_NUM_THREADS=1 "
                  "remains)",
}
# Variables that decide the workers' settings: hidden from a cluster
# child's environment, which would otherwise win over the Dask
# configuration (as use_cluster does for the clusters it starts).
WORKER_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_",
                    "SKFMNIST_NUM_THREADS", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# -- one run, in a child process ------------------------------------------------


def _make_search(spec, n_jobs):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    from skfmnist import DenseClassifier, PixelScaler

    pipe = Pipeline([
        ("scale", PixelScaler()),
        ("clf", DenseClassifier(epochs=spec["epochs"], random_state=spec["seed"])),
    ])
    # refit=False: the refit of the best candidate runs in this process, the
    # same in every setting, and would only dilute the comparison.
    return GridSearchCV(pipe, GRID, cv=CV, n_jobs=n_jobs, refit=False)


def _scores(search):
    return [round(float(s), 6) for s in search.cv_results_["mean_test_score"]]


def _worker_threads():
    """TensorFlow's intra-op and inter-op threads in a worker."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    threading = tf.config.threading
    return (threading.get_intra_op_parallelism_threads(),
            threading.get_inter_op_parallelism_threads())


def _log_warnings():
    """In a worker: note every warning shown from now on (SlowWorkerWarning
    goes to the worker's stderr, never to the process running the search)."""
    import warnings

    shown = warnings.__dict__.setdefault("_skfmnist_bench_shown", [])
    original = warnings.showwarning

    def showwarning(message, category, *args, **kwargs):
        shown.append(category.__name__)
        return original(message, category, *args, **kwargs)

    warnings.showwarning = showwarning


def _shown_warnings():
    import warnings

    return list(warnings.__dict__.get("_skfmnist_bench_shown", []))


def _children_cpu_seconds():
    """User and system CPU seconds of this process's live child processes
    (joblib's workers, or the cluster's worker processes), by pid."""
    import psutil

    seconds = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[child.pid] = (times.user, times.system)
    return seconds


def _cpu_snapshot():
    """Children's CPU seconds by pid, and this process's CPU seconds (joblib's
    dispatching, or a local cluster's client, scheduler and nannies)."""
    import psutil

    times = psutil.Process().cpu_times()
    return _children_cpu_seconds(), times.user + times.system


def _cpu_since(before):
    """The children's user and system CPU seconds since ``before`` (children
    born since count from zero) and this process's CPU seconds."""
    children, own = before
    now_children, now_own = _cpu_snapshot()
    zero = (0.0, 0.0)
    return {
        "user": sum(t[0] - children.get(p, zero)[0] for p, t in now_children.items()),
        "system": sum(t[1] - children.get(p, zero)[1]
                      for p, t in now_children.items()),
        "own": now_own - own,
    }


def _cluster_settings(mode):
    """Dask configuration of a cluster setting, from the public pieces
    (use_cluster: ``worker_config(1)``)."""
    from skfmnist.dask._workers import LEAN_CONFIG, worker_config

    if mode == "plain-documented":
        return worker_config(1)
    if mode == "plain-default":
        return {}
    if mode == "no-malloc":  # the nanny's environment, Dask's trim threshold
        return {**worker_config(1, lean=False), **LEAN_CONFIG}
    if mode == "no-upkeep":
        environ = worker_config(1)["distributed.nanny.pre-spawn-environ"]
        return {"distributed.nanny.pre-spawn-environ": environ}
    if mode == "no-threads":
        return worker_config(None)
    raise ValueError(mode)


def _start_cluster(mode):
    """Start the cluster of ``mode``; return ``(exit stack, client)``."""
    import contextlib

    import dask
    import joblib
    from distributed import Client, LocalCluster

    stack = contextlib.ExitStack()
    if mode == "use_cluster":
        from skfmnist.dask import use_cluster

        client = stack.enter_context(use_cluster(f"local:{N_WORKERS}"))
        return stack, client
    config = _cluster_settings(mode)
    # As the user guide says: the configuration set while the cluster starts.
    with dask.config.set(config):
        cluster = LocalCluster(n_workers=N_WORKERS, threads_per_worker=1,
                               processes=True, dashboard_address=":0")
    stack.enter_context(cluster)
    client = stack.enter_context(Client(cluster))
    stack.enter_context(joblib.parallel_config(backend="dask"))
    return stack, client


def child_search(spec):
    C.import_keras()
    X, y, _, _ = C.load_data(n_train=spec["n_train"], seed=spec["seed"])
    mode = spec["mode"]
    result = {"mode": mode, "round": spec["round"], "n_train": len(y),
              "data_bytes": int(X.nbytes + y.nbytes)}
    if mode in ("sequential", "loky"):
        return {**result, **_joblib_searches(spec, X, y)}
    for name in WORKER_VARIABLES:
        os.environ.pop(name, None)
    return {**result, **_cluster_searches(spec, X, y)}


def _joblib_searches(spec, X, y):
    n_jobs = 1 if spec["mode"] == "sequential" else N_WORKERS
    before = _cpu_snapshot()
    fresh, search = C.timed(_make_search(spec, n_jobs).fit, X, y)
    cpu_fresh = _cpu_since(before)
    before = _cpu_snapshot()
    running = [C.timed(_make_search(spec, n_jobs).fit, X, y)[0]
               for _ in range(spec["running_repeats"])]
    cpu_running = _cpu_since(before) if running else None
    threads = C.tf_threads_label()
    if n_jobs > 1:
        from joblib import Parallel, delayed

        found = Parallel(n_jobs=n_jobs)(
            delayed(_worker_threads)() for _ in range(2 * n_jobs))
        threads = "workers " + ", ".join(sorted({str(t) for t in found}))
    return {"fresh": fresh, "running": running, "scores": _scores(search),
            "threads": threads, "cpu_fresh": cpu_fresh,
            "cpu_running": cpu_running}


def _cluster_searches(spec, X, y):
    from skfmnist.dask import track_workers

    mode = spec["mode"]
    before = _cpu_snapshot()
    start = time.perf_counter()
    stack, client = _start_cluster(mode)
    with stack:
        client.run(_log_warnings)
        startup = time.perf_counter() - start
        search = _make_search(spec, None).fit(X, y)
        fresh = time.perf_counter() - start
        cpu_fresh = _cpu_since(before)
        before = _cpu_snapshot()
        running = [C.timed(_make_search(spec, None).fit, X, y)[0]
                   for _ in range(spec["running_repeats"])]
        cpu_running = _cpu_since(before) if running else None
        activity = None
        if mode == "use_cluster" and spec["round"] == 0:
            # Counted on one more search, after the timed ones: the tracking
            # plugin would otherwise weigh on this row's times alone.
            with track_workers(client) as activity:
                _make_search(spec, None).fit(X, y)
        threads = sorted({str(t) for t in client.run(_worker_threads).values()})
        shown = client.run(_shown_warnings)
    result = {
        "fresh": fresh, "startup": startup, "first_search": fresh - startup,
        "running": running, "scores": _scores(search),
        "threads": "workers " + ", ".join(threads),
        "cpu_fresh": cpu_fresh, "cpu_running": cpu_running,
        "slow_worker_warning": sum("SlowWorkerWarning" in w for w in shown.values()),
        "workers": len(shown),
    }
    if activity is not None:
        result.update(_data_moved(activity, X, y))
    return result


def _data_moved(activity, X, y):
    # Keys are told apart by size: X, y and the cross-validation indices all
    # differ in size here (checked: sizes_unique).
    by_size = {}
    for _, key, nbytes, _ in activity.received:
        by_size.setdefault(nbytes, set()).add(key)
    data_keys = by_size.get(X.nbytes, set()) | by_size.get(y.nbytes, set())
    return {
        "tasks": activity.tasks,
        "bytes_from_client": activity.bytes_received("client"),
        "bytes_between_workers": activity.bytes_received("worker"),
        "bytes_all": activity.bytes_received(),
        "bytes_training_data": activity.bytes_received(keys=data_keys),
        "training_data_keys": len(data_keys),
        "sizes_unique": X.nbytes != y.nbytes,
    }


# -- the parent: run, print, write ------------------------------------------------


def round_orders(rounds, tuning_rounds):
    """The settings of each round: the first in PARALLEL's order (after the
    sequential run), then reversed, then rotated by half, and so on; the
    rows with a tuning off in the first ``tuning_rounds`` rounds only."""
    orders = []
    for i in range(max(rounds, tuning_rounds)):
        shift = (i // 2) * len(PARALLEL) // 2
        order = [mode for mode in PARALLEL[shift:] + PARALLEL[:shift]
                 if (i < tuning_rounds if mode in TUNINGS else i < rounds)]
        orders.append(order[::-1] if i % 2 else order)
    orders[0].insert(0, "sequential")
    return orders


def run_rounds(args, cfg):
    """Every run's result, by setting, in the order of the rounds."""
    runs = {mode: [] for mode in SETTINGS}
    for i, order in enumerate(round_orders(cfg["rounds"], cfg["tuning_rounds"])):
        for mode in order:
            spec = {"job": "search", "mode": mode, "round": i, "seed": args.seed,
                    **cfg}
            child_s, result = C.timed(C.run_child, SCRIPT, spec, timeout=1200)
            result["child_s"] = child_s
            result.setdefault("round", i)
            runs[mode].append(result)
            if "error" in result:
                print(f"  round {i + 1}, {mode}: failed: {result['error']}",
                      flush=True)
                continue
            running = "".join(f", running {t:.1f} s" for t in result["running"])
            print(f"  round {i + 1}, {mode}: fresh {result['fresh']:.1f} s"
                  f"{running} (process {child_s:.0f} s)", flush=True)
    print()
    return runs


def _kernel_share(cpu):
    if not cpu or not cpu["user"] + cpu["system"]:
        return None
    return cpu["system"] / (cpu["user"] + cpu["system"])


def _cpu_total(cpu):
    return cpu["user"] + cpu["system"] + cpu["own"] if cpu else None


def summarise(runs):
    """Medians over the rounds, and each run's figures, by setting."""
    summary = {}
    for mode, results in runs.items():
        done = [r for r in results if "error" not in r]
        if not done:
            summary[mode] = {"error": results[0]["error"] if results else "not run"}
            continue
        fresh = [r["fresh"] for r in done]
        running = [t for r in done for t in r["running"]]
        cpu = [r["cpu_fresh"] for r in done if r.get("cpu_fresh")]
        cpu_running = [r["cpu_running"] for r in done if r.get("cpu_running")]
        summary[mode] = {
            "runs": len(done),
            "n_train": done[0]["n_train"],
            "failed_runs": len(results) - len(done),
            "fresh": C.median(fresh),
            "fresh_each": fresh,
            "fresh_by_round": {r["round"]: r["fresh"] for r in done},
            "spread": (max(fresh) - min(fresh)) / C.median(fresh),
            "running": C.median(running),
            "running_each": running,
            "startup": C.median([r.get("startup") for r in done]),
            "scores": done[0]["scores"],
            "same_scores_each_run": all(r["scores"] == done[0]["scores"]
                                        for r in done),
            "threads": ", ".join(sorted({r["threads"] for r in done})),
            "kernel_share_fresh": C.median([_kernel_share(c) for c in cpu]),
            "kernel_share_running": C.median(
                [_kernel_share(c) for c in cpu_running]),
            "own_cpu_s_fresh": C.median([c["own"] for c in cpu]),
            "cpu_s_fresh": C.median([_cpu_total(c) for c in cpu]),
            "cpu_s_fresh_each": [_cpu_total(c) for c in cpu],
            "cpu_s_fresh_by_round": {r["round"]: _cpu_total(r.get("cpu_fresh"))
                                     for r in done},
            "slow_worker_warning": [r.get("slow_worker_warning") for r in done],
            "workers": [r.get("workers") for r in done],
            "process_s_each": [r["child_s"] for r in done],
        }
        if mode == "use_cluster":
            summary[mode]["data_moved"] = next(
                ({k: r[k] for k in ("data_bytes", "tasks", "bytes_from_client",
                                    "bytes_between_workers", "bytes_all",
                                    "bytes_training_data", "training_data_keys",
                                    "sizes_unique")}
                 for r in done if "bytes_all" in r), None)
    for mode in TUNINGS:
        off, on = summary[mode], summary["use_cluster"]
        if "error" in off or "error" in on:
            continue
        # Paired by round: the tuning rows may run in fewer rounds.
        rounds = [i for i in off["fresh_by_round"] if i in on["fresh_by_round"]]
        paired = [off["fresh_by_round"][i] / on["fresh_by_round"][i]
                  for i in rounds]
        off["ratio_to_use_cluster"] = C.median(paired)
        off["ratio_to_use_cluster_by_round"] = paired
        off["cpu_ratio_to_use_cluster"] = C.median(
            [C.ratio(off["cpu_s_fresh_by_round"][i], on["cpu_s_fresh_by_round"][i])
             for i in rounds])
        off["verdict"] = _verdict(paired)
    return summary


def _verdict(paired):
    if len(paired) < 2:
        return "one round: no verdict"
    if all(r > 1 for r in paired):
        return "slower off, every round: helps"
    if all(r < 1 for r in paired):
        return "faster off, every round: costs"
    return "within noise"


def _warning_cell(row):
    counts = [n for n in row["slow_worker_warning"] if n is not None]
    if not counts:
        return ""
    return "no" if not any(counts) else "yes, " + "/".join(
        f"{n} of {w}" for n, w in zip(counts, row["workers"], strict=False)
    ) + " workers"


def time_table(summary, cfg, running):
    loky = summary["loky"]
    base = summary["sequential"].get("scores") or loky.get("scores")
    rows = []
    for mode in SETTINGS:
        r = summary[mode]
        if "error" in r:
            rows.append([LABELS[mode]] + ["-"] * (13 if running else 11)
                        + ["failed: " + r["error"][:120]])
            continue
        same = ("yes" if r["scores"] == base and r["same_scores_each_run"]
                else "no")
        row = [
            LABELS[mode], str(r["runs"]), C.fmt(r["fresh"], ".1f"),
            ", ".join(f"{t:.1f}" for t in r["fresh_each"]),
            C.fmt(r["spread"], ".0%") if r["runs"] > 1 else "-",
            C.fmt(C.ratio(r["fresh"], loky.get("fresh")), ".2f"),
            C.fmt(r["cpu_s_fresh"], ".1f"),
        ]
        if running:
            row += [C.fmt(r["running"], ".1f"),
                    C.fmt(C.ratio(r["running"], loky.get("running")), ".2f")]
        row += [
            same, r["threads"],
            C.fmt(r["kernel_share_running"] if running
                  else r["kernel_share_fresh"], ".0%"),
            C.fmt(r["own_cpu_s_fresh"], ".1f"), _warning_cell(r), "",
        ]
        rows.append(row)
    n_train = next((r["n_train"] for r in summary.values() if "n_train" in r),
                   None)
    columns = ["setting", "runs", "fresh s", "each run s", "spread", "÷ loky",
               "CPU s, fresh"]
    if running:
        columns += ["running s", "÷ loky (running)"]
    columns += ["same scores", "TF threads (intra, inter)",
                "workers' CPU in the kernel", "this process's CPU s, fresh",
                "SlowWorkerWarning", "note"]
    n_fits = len(GRID["clf__hidden_layer_sizes"]) * CV
    return C.print_table(
        f"GridSearchCV, {C.fmt(n_train, ',')} images, cv={CV}, {n_fits} "
        f"fits of {cfg['epochs']} epoch{'s' if cfg['epochs'] > 1 else ''}, fresh "
        "processes",
        columns, rows,
        note=[
            "Pipeline([PixelScaler(), DenseClassifier(epochs="
            f"{cfg['epochs']})]), grid clf__hidden_layer_sizes = "
            f"{GRID['clf__hidden_layer_sizes']}, refit=False. Each run is a "
            "fresh process that has imported TensorFlow and loaded the data; "
            "fresh: from starting the workers (loky's pool, or the cluster, "
            "whose worker processes import distributed and TensorFlow) to the "
            "end of the first search. "
            + (f"running: {cfg['running_repeats']} more search(es) per run with "
               "the workers up. " if running else "")
            + f"{cfg['rounds']} round(s)"
            + (f" ({cfg['tuning_rounds']} for the rows with a tuning off)"
               if cfg["tuning_rounds"] != cfg["rounds"] else "")
            + ", each setting once per round in an order that changes every "
            "round (sequential: once); fresh s is the median, spread "
            "(slowest - fastest) / median; ÷ loky: against loky's median. "
            "Same scores: every candidate's mean CV accuracy, in every run, "
            "equals the sequential search's. CPU s: user and system CPU "
            "seconds of the search's process and its workers over the fresh "
            "search (median): the work done, which other load on the machine "
            "changes less than the wall time. Workers' CPU in the kernel: "
            "system / (user + system) CPU seconds of the worker processes "
            + ("during the running searches" if running
               else "from their start to the end of the first search")
            + "; this process's CPU s: the search's process over the fresh "
            "search (on a cluster also the client, the scheduler and the "
            "nannies, which run there). SlowWorkerWarning: shown by the "
            "workers (in their log) during the run.",
            "use_cluster(\"local:2\"): all of skfmnist's settings; documented "
            "settings: dask.config.set(worker_config(1)), the configuration of "
            "'Settings for TensorFlow workers', around LocalCluster(n_workers="
            "2, threads_per_worker=1, processes=True), then Client(cluster) and "
            "joblib.parallel_config(backend=\"dask\"); Dask's defaults: the "
            "same with nothing set. The last three rows: use_cluster's "
            "configuration with one tuning off (next table).",
        ],
    )


def tuning_table(summary):
    on = summary["use_cluster"]
    rows = []
    for mode in TUNINGS:
        r = summary[mode]
        if "error" in r or "error" in on:
            rows.append([LABELS[mode], OFF[mode]] + ["-"] * 6
                        + ["failed: " + (r.get("error") or on["error"])[:120]])
            continue
        rows.append([
            LABELS[mode], OFF[mode], str(r["runs"]), C.fmt(r["fresh"], ".1f"),
            C.fmt(r["ratio_to_use_cluster"], ".2f"),
            ", ".join(f"{x:.2f}" for x in r["ratio_to_use_cluster_by_round"]),
            C.fmt(r["cpu_ratio_to_use_cluster"], ".2f"), r["verdict"], "",
        ])
    spread = on.get("spread") if on.get("runs", 0) > 1 else None
    return C.print_table(
        "Each tuning of use_cluster, switched off",
        ["setting", "what is off", "runs", "fresh s", "÷ use_cluster",
         "÷ use_cluster, each round", "CPU s ÷ use_cluster", "verdict", "note"],
        rows,
        note=[
            "The rest of use_cluster's settings stay on: worker_config(1) "
            "(malloc thresholds and SKFMNIST_NUM_THREADS in "
            "distributed.nanny.pre-spawn-environ, LEAN_CONFIG). Each round: "
            "the fresh "
            "search against use_cluster's of the same round; ÷ use_cluster: "
            "the median of those ratios; CPU s: the same for the CPU seconds "
            "of the fresh searches (previous table). Verdict: a tuning helps "
            "when its row is slower than use_cluster in every round; otherwise "
            "the difference is within noise"
            + (f" (use_cluster's own spread: {spread:.0%})" if spread else "")
            + ".",
        ],
    )


def data_table(summary):
    moved = summary["use_cluster"].get("data_moved")
    if not moved:
        return None
    size = moved["data_bytes"]
    rows = [
        ["training data (X, y)", C.fmt(size / 1e6, ".2f"), "1.00"],
        ["sent by the client (X, y, CV indices)",
         C.fmt(moved["bytes_from_client"] / 1e6, ".2f"),
         C.fmt(moved["bytes_from_client"] / size, ".2f")],
        ["copied from worker to worker",
         C.fmt(moved["bytes_between_workers"] / 1e6, ".2f"),
         C.fmt(moved["bytes_between_workers"] / size, ".2f")],
        ["received by workers, training data (X, y)",
         C.fmt(moved["bytes_training_data"] / 1e6, ".2f"),
         C.fmt(moved["bytes_training_data"] / size, ".2f")],
        ["received by workers, everything",
         C.fmt(moved["bytes_all"] / 1e6, ".2f"),
         C.fmt(moved["bytes_all"] / size, ".2f")],
    ]
    tasks = ", ".join(str(n) for n in sorted(moved["tasks"].values()))
    return C.print_table(
        'Data moved during a search on use_cluster("local:2")',
        ["what", "MB", "x data size"],
        rows,
        note=[
            "Counted on the workers by skfmnist.dask.track_workers, during "
            "one more search after the timed one of the first round (so that "
            "the tracking does not weigh on the times): every piece of data "
            "a worker received, from the "
            "client (joblib's dask backend scatters each large argument once "
            "per search) or from another worker (each worker fetches the data "
            "it needs). 'everything' adds the cross-validation indices. Fits "
            f"run per worker: {tasks}.",
        ],
    )


def add_targets(targets, summary):
    loky = summary["loky"].get("fresh")

    def fresh(mode):
        return summary[mode].get("fresh")

    r = C.ratio(fresh("use_cluster"), loky)
    targets.at_most('T1. use_cluster("local:2") / loky n_jobs=2, fresh', r, 1.1)
    r = C.ratio(fresh("plain-documented"), loky)
    targets.at_most("T2. LocalCluster (2 x 1) with the documented settings / loky, "
                    "fresh", r, 1.15)
    targets.add("LocalCluster (2 x 1) with Dask's defaults / loky, fresh",
                C.ratio(fresh("plain-default"), loky), "reported", None, "x")
    for mode in TUNINGS:
        targets.add(f"{LABELS[mode]} / use_cluster, fresh",
                    summary[mode].get("ratio_to_use_cluster"), "reported", None,
                    "x")


def main(argv=None):
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of every setting, the rows with a tuning "
                        "off included")
    args = parser.parse_args(argv)
    C.apply_thread_option(args)
    if args.child:
        C.child_main(args.child, {"search": child_search})
        return
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeats is not None:
        cfg["running_repeats"] = args.repeats
    if args.rounds is not None:
        cfg["rounds"] = cfg["tuning_rounds"] = args.rounds
    start = time.perf_counter()
    C.import_keras()
    C.print_header("skfmnist benchmark: grid search, loky and local Dask "
                   "clusters, fresh", args,
                   ", ".join(f"{k}={v}" for k, v in cfg.items()))
    runs = run_rounds(args, cfg)
    summary = summarise(runs)
    running = cfg["running_repeats"] > 0
    tables = [time_table(summary, cfg, running), tuning_table(summary)]
    data = data_table(summary)
    if data:
        tables.append(data)
    targets = C.Targets(args.quick)
    add_targets(targets, summary)
    orders = round_orders(cfg["rounds"], cfg["tuning_rounds"])
    payload = {"config": cfg, "grid": str(GRID), "summary": summary,
               "runs": runs, "round_orders": orders}
    C.finish(targets, payload, start, args.json)
    C.write_results("search", {**payload, "tables": tables,
                               "targets": targets.as_dicts(),
                               "total_s": payload["total_s"]}, args, cfg)


if __name__ == "__main__":
    main()
