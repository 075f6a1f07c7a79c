"""Grid search on a Dask cluster against joblib's own backends.

The same ``GridSearchCV`` (4 ``DenseClassifier`` candidates x 3 folds, on the
full training set) runs, each in a fresh process:

* sequentially, ``n_jobs=1``;
* with joblib's default process pool, loky, ``n_jobs=2``;
* on a ``LocalCluster`` of 2 single-threaded worker processes, through
  ``skfmnist.dask.use_cluster("local:2")``;
* once more on such a cluster started without skfmnist's malloc and upkeep
  settings (Dask's defaults, as a plain ``LocalCluster``), to measure what
  they save, with the share of the workers' CPU time spent in
  the kernel in both.

Each parallel setting is timed in a fresh process (joblib's workers or the
cluster start, and each worker imports TensorFlow) and again, twice, with
the workers running; loky and the cluster alternate over two such processes
each, and the figures are medians. On the cluster,
``skfmnist.dask.track_workers`` counts what the workers received: from the
client (scattered) and from each other, against the size of the training
data. Targets (issue 11): cluster <= 0.65x sequential and no slower than
loky; training data sent per search <= 2x its size.

Needs ``distributed`` (``pip install "skfmnist[benchmarks,dask]"``). Run
``python benchmarks/bench_search.py`` (about 8 minutes on two idle cores) or
``--quick`` (a smoke run of about 2 minutes whose figures are only
indicative). Writes ``benchmarks/results/search.json``.
"""

import os
import sys
import time

import _common as C

SCRIPT = os.path.abspath(__file__)
GRID = {"clf__hidden_layer_sizes": [(64,), (128,), (256,), (256, 128)]}
CV = 3
N_WORKERS = 2

# Each parallel setting runs in `rounds` fresh processes, loky and Dask
# alternating so that a slow spell of the machine hits both; each process
# times one fresh search and `running_repeats` more with the workers up.
FULL = {"n_train": None, "epochs": 10, "rounds": 3, "running_repeats": 2}
QUICK = {"n_train": 3000, "epochs": 1, "rounds": 1, "running_repeats": 1}
MODES = ("sequential", "loky", "dask", "dask-plain")
LABELS = {
    "sequential": "GridSearchCV(n_jobs=1)",
    "loky": f"GridSearchCV(n_jobs={N_WORKERS}), loky",
    "dask": f"LocalCluster, {N_WORKERS} workers x 1 thread",
    "dask-plain": "the same cluster with Dask's default worker settings",
}


# -- one setting, in a child process ---------------------------------------------


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


def _worker_threads():
    """TensorFlow's intra-op and inter-op threads in a worker."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    threading = tf.config.threading
    return (threading.get_intra_op_parallelism_threads(),
            threading.get_inter_op_parallelism_threads())


def _scores(search):
    return [round(float(s), 6) for s in search.cv_results_["mean_test_score"]]


def child_search(spec):
    C.import_keras()
    X, y, _, _ = C.load_data(n_train=spec["n_train"], seed=spec["seed"])
    result = {"mode": spec["mode"], "n_train": len(y),
              "data_bytes": int(X.nbytes + y.nbytes),
              "X_bytes": int(X.nbytes), "y_bytes": int(y.nbytes)}
    if spec["mode"].startswith("dask"):
        return {**result, **_dask_searches(spec, X, y)}
    n_jobs = 1 if spec["mode"] == "sequential" else N_WORKERS
    times = []
    for i in range(1 if n_jobs == 1 else 1 + spec["running_repeats"]):
        if i == 1:
            snapshot = _cpu_snapshot()
        seconds, search = C.timed(_make_search(spec, n_jobs).fit, X, y)
        times.append(seconds)
    cpu = own_cpu = None
    threads = C.tf_threads_label()
    if n_jobs > 1:
        cpu, own_cpu = _cpu_since(snapshot, spec["running_repeats"])
        from joblib import Parallel, delayed

        found = Parallel(n_jobs=n_jobs)(
            delayed(_worker_threads)() for _ in range(2 * n_jobs)
        )
        threads = "workers " + ", ".join(sorted({str(t) for t in found}))
    return {**result, "fresh": times[0], "running": times[1:] or times,
            "scores": _scores(search), "threads": threads,
            "worker_cpu_s_running": cpu, "own_cpu_s_per_search": own_cpu}


def _children_cpu_seconds():
    """User and system CPU seconds of this process's live child processes
    (joblib's workers, or the cluster's worker processes) so far, by pid."""
    import psutil

    seconds = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[child.pid] = (times.user, times.system)
    return seconds


def _own_cpu_seconds():
    """User and system CPU seconds of this process: joblib's dispatching, or
    the cluster's client, scheduler and nannies, which all run here."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def _cpu_snapshot():
    return _children_cpu_seconds(), _own_cpu_seconds()


def _cpu_since(snapshot, n_searches):
    """The children's CPU seconds since ``snapshot`` (see :func:`_cpu_delta`),
    and this process's CPU seconds per search."""
    children, own = snapshot
    return (_cpu_delta(children, _children_cpu_seconds()),
            (_own_cpu_seconds() - own) / n_searches)


def _cpu_delta(before, after):
    """CPU seconds spent between two snapshots by processes alive in both."""
    both = [pid for pid in after if pid in before]
    return {
        "user": sum(after[p][0] - before[p][0] for p in both),
        "system": sum(after[p][1] - before[p][1] for p in both),
    }


def _dask_searches(spec, X, y):
    from skfmnist.dask import track_workers, use_cluster

    # dask-plain: Dask's own worker settings (the nanny's malloc trim
    # threshold, profiler, intervals); TensorFlow's pools still sized.
    lean = spec["mode"] != "dask-plain"
    start = time.perf_counter()
    with use_cluster(f"local:{N_WORKERS}", tune_workers=lean, lean=lean) as client:
        startup = time.perf_counter() - start
        with track_workers(client) as activity:
            first, search = C.timed(_make_search(spec, None).fit, X, y)
        snapshot = _cpu_snapshot()
        running = [C.timed(_make_search(spec, None).fit, X, y)[0]
                   for _ in range(spec["running_repeats"])]
        cpu, own_cpu = _cpu_since(snapshot, spec["running_repeats"])
        threads = sorted({str(t) for t in client.run(_worker_threads).values()})
    # Keys are told apart by size: X, y and the cross-validation indices all
    # differ in size here (checked below).
    by_size = {}
    for _, key, nbytes, _ in activity.received:
        by_size.setdefault(nbytes, set()).add(key)
    data_keys = by_size.get(X.nbytes, set()) | by_size.get(y.nbytes, set())
    return {
        "fresh": startup + first, "startup": startup, "first_search": first,
        "running": running, "scores": _scores(search),
        "worker_cpu_s_running": cpu, "own_cpu_s_per_search": own_cpu,
        "threads": "workers " + ", ".join(threads),
        "tasks": activity.tasks,
        "bytes_from_client": activity.bytes_received("client"),
        "bytes_between_workers": activity.bytes_received("worker"),
        "bytes_all": activity.bytes_received(),
        "bytes_training_data": activity.bytes_received(keys=data_keys),
        "training_data_keys": len(data_keys),
        "sizes_unique": X.nbytes != y.nbytes,
    }


# -- the parent: run, print, write -------------------------------------------------


def _run_modes(args, cfg):
    """One result per mode: fresh and running times are medians over rounds."""
    rounds = {mode: [] for mode in MODES}
    order = ["sequential"] + ["loky", "dask"] * cfg["rounds"] + ["dask-plain"]
    for mode in order:
        spec = {"job": "search", "mode": mode, "seed": args.seed, **cfg}
        result = C.run_child(SCRIPT, spec, timeout=3600)
        rounds[mode].append(result)
        if "error" in result:
            print(f"  [{mode}] failed: {result['error']}", flush=True)
        else:
            running = ", ".join(f"{t:.1f}" for t in result["running"])
            print(f"  [{mode}] fresh {result['fresh']:.1f} s, running "
                  f"{running} s", flush=True)
    print()
    results = {}
    for mode, runs in rounds.items():
        done = [r for r in runs if "error" not in r]
        if not done:
            results[mode] = runs[0]
            continue
        results[mode] = {
            **done[0],
            "fresh": C.median([r["fresh"] for r in done]),
            "running": C.median([t for r in done for t in r["running"]]),
            "fresh_each": [r["fresh"] for r in done],
            "running_each": [t for r in done for t in r["running"]],
            "startup": C.median([r.get("startup") for r in done]),
            "own_cpu_s_per_search": C.median(
                [r.get("own_cpu_s_per_search") for r in done]),
            "same_scores_each_round": all(
                r["scores"] == done[0]["scores"] for r in done),
        }
    return results


def _time_table(results, cfg):
    base = results["sequential"]
    rows = []
    for mode in MODES:
        r = results[mode]
        if "error" in r:
            rows.append([LABELS[mode], "-", "-", "-", "-", "-", "-", "-", "-",
                         "failed: " + r["error"]])
            continue
        cpu = r.get("worker_cpu_s_running")
        kernel = (C.fmt(cpu["system"] / (cpu["user"] + cpu["system"]), ".0%")
                  if cpu else "")
        same = ("yes" if r["scores"] == base.get("scores")
                and r.get("same_scores_each_round", True) else "no")
        rows.append([
            LABELS[mode], C.fmt(r["fresh"], ".1f"),
            C.fmt(C.ratio(r["fresh"], base.get("fresh")), ".2f"),
            C.fmt(r["running"], ".1f"),
            C.fmt(C.ratio(r["running"], base.get("running")), ".2f"),
            same, r["threads"], kernel,
            C.fmt(r.get("own_cpu_s_per_search"), ".2f"), "",
        ])
    n_train = next((r["n_train"] for r in results.values() if "n_train" in r), "?")
    n_fits = len(GRID["clf__hidden_layer_sizes"]) * CV
    startup = results["dask"].get("startup")
    return C.print_table(
        f"GridSearchCV, {n_train:,} images, cv={CV}, {n_fits} fits of "
        f"{cfg['epochs']} epochs",
        ["setting", "fresh s", "ratio", "running s", "ratio",
         "same scores", "TF threads (intra, inter)",
         "workers' CPU time in the kernel", "this process's CPU s per search",
         "note"],
        rows,
        note=[
            "Pipeline([PixelScaler(), DenseClassifier(epochs="
            f"{cfg['epochs']})]), grid clf__hidden_layer_sizes = "
            f"{GRID['clf__hidden_layer_sizes']}, refit=False. fresh: in a new "
            "process, starting joblib's workers or the cluster (each worker "
            "imports TensorFlow)"
            + (f"; the cluster's start took {startup:.1f} s of it" if startup
               else "")
            + ". running: the same search again with the workers up. Loky and "
            f"the cluster alternate over {cfg['rounds']} fresh processes each, "
            f"with {cfg['running_repeats']} running searches per process; "
            "their figures are medians; the cluster with Dask's defaults runs "
            "once, last. Workers' CPU time in the kernel: system / (user + "
            "system) CPU seconds of the worker processes (joblib's or the "
            "cluster's) during the running searches. This process's CPU s per "
            "search: the parent's CPU time per running search (joblib's "
            "dispatching; on the cluster also the client, the scheduler and "
            "the nannies, which run here). Ratios against the "
            "sequential search; same scores: every candidate's mean CV "
            "accuracy equals the sequential search's.",
        ],
    )


def _data_table(dask):
    if "error" in dask:
        return None
    size = dask["data_bytes"]
    rows = [
        ["training data (X, y)", C.fmt(size / 1e6, ".2f"), "1.00"],
        ["sent by the client (X, y, CV indices)",
         C.fmt(dask["bytes_from_client"] / 1e6, ".2f"),
         C.fmt(dask["bytes_from_client"] / size, ".2f")],
        ["copied from worker to worker",
         C.fmt(dask["bytes_between_workers"] / 1e6, ".2f"),
         C.fmt(dask["bytes_between_workers"] / size, ".2f")],
        ["received by workers, training data (X, y)",
         C.fmt(dask["bytes_training_data"] / 1e6, ".2f"),
         C.fmt(dask["bytes_training_data"] / size, ".2f")],
        ["received by workers, everything",
         C.fmt(dask["bytes_all"] / 1e6, ".2f"), C.fmt(dask["bytes_all"] / size, ".2f")],
    ]
    tasks = ", ".join(str(n) for n in sorted(dask["tasks"].values()))
    return C.print_table(
        "Data moved during the first search on the cluster",
        ["what", "MB", "x data size"],
        rows,
        note=[
            "Counted on the workers by skfmnist.dask.track_workers: every "
            "piece of data a worker received, from the client (joblib's "
            "dask backend scatters each large argument once per search) or "
            "from another worker (each worker fetches the data it needs, "
            "again after Dask's memory manager dropped an idle copy). "
            "'everything' adds the cross-validation "
            f"indices. Fits run per worker: {tasks}.",
        ],
    )


def _add_targets(targets, results):
    seq, loky, dask = (results[m] for m in ("sequential", "loky", "dask"))
    for when, tag in (("fresh", ""), ("running", "'")):
        r = C.ratio(dask.get(when), seq.get(when))
        targets.add(f"1{tag}. cluster / sequential, {when}", r, "<= 0.65",
                    None if r is None else r <= 0.65, "x")
        r = C.ratio(dask.get(when), loky.get(when))
        targets.add(f"2{tag}. cluster / loky n_jobs=2, {when}", r, "<= 1",
                    None if r is None else r <= 1.0, "x")
    sent = C.ratio(dask.get("bytes_training_data"), dask.get("data_bytes"))
    valid = dask.get("sizes_unique") and dask.get("training_data_keys") == 2
    targets.add("3. training data received by workers per search / its size",
                sent if valid else None, "<= 2",
                None if sent is None or not valid else sent <= 2.0, "x")


def main(argv=None):
    parser = C.base_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    C.apply_thread_option(args)
    if args.child:
        C.child_main(args.child, {"search": child_search})
        return
    cfg = QUICK if args.quick else FULL
    start = time.perf_counter()
    C.import_keras()
    settings = ", ".join(f"{k}={v}" for k, v in cfg.items())
    C.print_header("skfmnist benchmark: grid search on a Dask cluster", args,
                   settings)
    targets = C.Targets(args.quick)
    results = _run_modes(args, cfg)
    tables = [_time_table(results, cfg)]
    data = _data_table(results["dask"])
    if data:
        tables.append(data)
    _add_targets(targets, results)
    payload = {"config": cfg, "grid": str(GRID), "runs": results}
    C.finish(targets, payload, start, args.json)
    C.write_results("search", {**payload, "tables": tables,
                               "targets": targets.as_dicts(),
                               "total_s": payload["total_s"]}, args, cfg)


if __name__ == "__main__":
    main()
