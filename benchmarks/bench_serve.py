"""Serving benchmarks: skfmnist with TensorFlow against its ONNX export on ONNX Runtime.

What serving a fitted pipeline costs, side by side in one run, each setting
in a fresh interpreter that imports only what it needs:

* **first prediction**: from the moment the process is started to the end of
  its first prediction (one image): the interpreter, the imports, loading the
  model and the prediction itself; and the peak resident memory by then
  (the kernel's high-water mark, ``VmHWM``). Medians over fresh processes;
* **10,000 images**: predicting the official test set, after one warm-up
  call (best and median of the repeats);
* **one image**: the latency of predicting one image at a time (median and
  90th percentile);
* **peak RSS** of the whole process, 10,000-image predictions included.

Settings, for ``DenseClassifier``'s and ``ConvClassifier``'s default networks
(the CNN with one view and with mirror averaging), each trained for one epoch
on a stratified subset of the training images (prediction costs do not
depend on the weights):

* **Keras model.predict**, the reference: ``keras.saving.load_model`` of the
  classifier's ``model_`` saved as a ``.keras`` file, ``model.predict(X)``
  with its defaults on float32 pixels in [0, 1] (for mirror averaging, two
  ``model.predict`` calls, of the images and of their mirror images);
* **skfmnist (TensorFlow)**: ``skfmnist.load("model.skops")`` and the
  pipeline's ``predict`` on raw uint8 pixels;
* **onnxruntime**: the pipeline exported with ``skfmnist.onnx.to_onnx``, run
  with ``onnxruntime.InferenceSession(path).run(None, {"X": X})`` on raw uint8
  pixels, at ONNX Runtime's default session options (one intra-op thread per
  core); the process imports NumPy and onnxruntime only. The 10,000 images
  go in batches of ``ORT_BATCH`` (512) images per call, as
  ``skfmnist.onnx.OnnxModel`` runs them: one call on all of them holds every
  activation of the CNN at once, gigabytes.
* **onnxruntime, threads not spinning**: the same with the session option
  ``session.intra_op.allow_spinning = "0"``: ONNX Runtime's threads otherwise
  spin while they wait for work, which costs when other processes compete for
  the cores.

Run ``python benchmarks/bench_serve.py`` (about 6 minutes on two cores) or
``--quick`` (about 2 minutes, indicative only). Results go to
``benchmarks/results/serve.json``.
"""

import json
import os
import sys
import time

SCRIPT = os.path.abspath(__file__)
# The marker of _common.run_child, repeated here: a serving child must not
# import _common, which imports skfmnist (and scikit-learn).
CHILD_MARKER = "@@SKFMNIST-BENCH-RESULT@@ "
#: Images per ``session.run`` call when onnxruntime predicts 10,000 images
#: (skfmnist.onnx.OnnxModel's default): one call on all of them would hold
#: every activation of the network at once (gigabytes for the CNN).
ORT_BATCH = 512

FULL = {"n_train": 6000, "epochs": 1, "repeats": 5, "startups": 3,
        "calls_keras": 30, "calls_skfmnist": 100, "calls_onnxruntime": 500}
QUICK = {"n_train": 1000, "epochs": 1, "repeats": 2, "startups": 1,
         "calls_keras": 10, "calls_skfmnist": 20, "calls_onnxruntime": 100}
RUNTIMES = ("keras", "skfmnist", "onnxruntime", "onnxruntime-nospin")
LABELS = {
    "keras": "Keras model.predict",
    "skfmnist": "skfmnist (TensorFlow)",
    "onnxruntime": f"onnxruntime (batches of {ORT_BATCH})",
    "onnxruntime-nospin": "onnxruntime, threads not spinning",
}


# -- the serving processes (no _common, no skfmnist unless needed) --------------


def _peak_rss_mib():
    """The process's peak resident memory so far (``VmHWM``), in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _keras_server(spec):
    import keras
    import numpy as np

    model = keras.saving.load_model(spec["model"])
    shape = model.input_shape[1:]

    def scaled(X):
        return np.divide(X, 255, dtype=np.float32).reshape(-1, *shape)

    def predict(X):
        images = scaled(X)
        proba = model.predict(images, verbose=0)
        if spec["views"] == 2:
            proba = (proba + model.predict(images[:, :, ::-1], verbose=0)) / 2
        return proba.argmax(axis=1)

    def predict_scaled(images, mirrored):
        proba = model.predict(images, verbose=0)
        if mirrored is not None:
            proba = (proba + model.predict(mirrored, verbose=0)) / 2
        return proba.argmax(axis=1)

    def bulk(X):
        # The reference gets its input ready-made: scaled (and mirrored).
        images = scaled(X)
        mirrored = (np.ascontiguousarray(images[:, :, ::-1])
                    if spec["views"] == 2 else None)
        return lambda: predict_scaled(images, mirrored)

    return predict, bulk


def _skfmnist_server(spec):
    import skfmnist

    pipe = skfmnist.load(spec["model"])
    if spec["views"]:
        pipe[-1].set_params(test_time_augmentation=spec["views"] == 2)
    return pipe.predict, lambda X: lambda: pipe.predict(X)


def _onnxruntime_server(spec):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if spec["runtime"].endswith("-nospin"):
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(spec["model"], sess_options=options,
                                   providers=["CPUExecutionProvider"])

    def predict(X):
        return session.run(["label"], {"X": X})[0]

    def bulk(X):
        size = spec["batch"]

        def batches():
            for start in range(0, len(X), size):
                predict(X[start:start + size])

        return batches

    return predict, bulk


SERVERS = {"keras": _keras_server, "skfmnist": _skfmnist_server,
           "onnxruntime": _onnxruntime_server,
           "onnxruntime-nospin": _onnxruntime_server}


def child_serve(spec):
    """One serving process: first prediction, then (unless startup only) the rest."""
    import numpy as np

    predict, bulk = SERVERS[spec["runtime"]](spec)
    predict(np.load(spec["one"]))
    result = {"first_prediction_s": time.time() - spec["spawned"],
              "rss_first_mib": _peak_rss_mib()}
    if spec["startup_only"]:
        return result
    import statistics

    X = np.load(spec["data"])
    for i in range(5):  # warm up the one-image path
        predict(X[i:i + 1])
    single = []
    for i in range(spec["calls"]):
        start = time.perf_counter()
        predict(X[i:i + 1])
        single.append(time.perf_counter() - start)
    single.sort()
    result["one_image_ms"] = 1e3 * statistics.median(single)
    result["one_image_p90_ms"] = 1e3 * single[int(0.9 * (len(single) - 1))]
    run = bulk(X)
    run()  # warm-up: tracing, memory arenas
    times, cpu = [], []
    for _ in range(spec["repeats"]):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    result["bulk_s"] = times
    result["bulk_cpu_s"] = cpu
    result["labels_sample"] = np.asarray(predict(X[:200])).tolist()
    result["rss_peak_mib"] = _peak_rss_mib()
    if spec["runtime"].startswith("onnxruntime"):
        result["tensorflow_imported"] = "tensorflow" in sys.modules
        result["skfmnist_imported"] = "skfmnist" in sys.modules
    return result


def spawn(spec, env=None):
    """Run ``child_serve(spec)`` in a fresh interpreter, timed from its start."""
    import subprocess

    child_env = dict(os.environ)
    child_env.update(env or {})
    spec = {**spec, "spawned": time.time()}
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--child", json.dumps(spec)],
        capture_output=True, text=True, env=child_env, timeout=900, check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(CHILD_MARKER):
            return json.loads(line[len(CHILD_MARKER):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}


# -- the benchmark (imports _common) -------------------------------------------


def prepare(cfg, seed, folder):
    """Fit the two default pipelines; write their files and the test images.

    Returns ``{setting: {runtime: model path, "views": n}}``, the fit times
    and the test accuracies.
    """
    import _common as C
    import numpy as np
    from sklearn.pipeline import Pipeline

    import skfmnist
    from skfmnist import ConvClassifier, DenseClassifier, PixelScaler
    from skfmnist.onnx import to_onnx

    X, y, X_test, y_test = C.load_data(n_train=cfg["n_train"], seed=seed)
    np.save(os.path.join(folder, "test.npy"), X_test)
    np.save(os.path.join(folder, "one.npy"), X_test[:1])
    fit = {"epochs": cfg["epochs"], "random_state": seed}
    pipes = {
        "dense": Pipeline([("scale", PixelScaler()),
                           ("clf", DenseClassifier(**fit))]),
        "conv": Pipeline([("scale", PixelScaler(flatten=False)),
                          ("clf", ConvClassifier(**fit))]),
    }
    paths, fit_s, accuracy = {}, {}, {}
    for name, pipe in pipes.items():
        fit_s[name], _ = C.timed(pipe.fit, X, y)
        skops = os.path.join(folder, f"{name}.skops")
        skfmnist.save(pipe, skops)
        keras_file = os.path.join(folder, f"{name}.keras")
        pipe[-1].model_.save(keras_file)
        views = (1, 2) if name == "conv" else (0,)
        for n_views in views:
            setting = name if not n_views else f"{name}-{n_views}"
            if n_views:
                pipe[-1].set_params(test_time_augmentation=n_views == 2)
            onnx_file = os.path.join(folder, f"{setting}.onnx")
            to_onnx(pipe, onnx_file)
            paths[setting] = {"keras": keras_file, "skfmnist": skops,
                              "onnxruntime": onnx_file, "views": n_views}
            accuracy[setting] = float(np.mean(pipe.predict(X_test) == y_test))
    return paths, fit_s, accuracy


SETTINGS = {
    "dense": "DenseClassifier (784-256-128-10)",
    "conv-1": "ConvClassifier, one view",
    "conv-2": "ConvClassifier, mirror averaging (the default)",
}


def run_settings(cfg, paths, folder):
    """Every (setting, runtime) in fresh processes; startups round-robin."""
    common = {"one": os.path.join(folder, "one.npy"),
              "data": os.path.join(folder, "test.npy"),
              "repeats": cfg["repeats"], "batch": ORT_BATCH}
    results = {}
    for setting in SETTINGS:
        for runtime in RUNTIMES:
            spec = {**common, "job": "serve", "runtime": runtime,
                    "model": paths[setting][runtime.removesuffix("-nospin")],
                    "views": paths[setting]["views"],
                    "calls": cfg[f"calls_{runtime.removesuffix('-nospin')}"],
                    "startup_only": False}
            print(f"{setting}, {runtime} ...", flush=True)
            results[setting, runtime] = [spawn(spec)]
    # More fresh processes to the first prediction only, alternating runtimes
    # so that a slow spell of the machine hits them alike.
    for _ in range(cfg["startups"] - 1):
        for setting in SETTINGS:
            for runtime in ("skfmnist", "onnxruntime"):
                first = results[setting, runtime][0]
                if "error" in first:
                    continue
                spec = {**common, "job": "serve", "runtime": runtime,
                        "model": paths[setting][runtime],
                        "views": paths[setting]["views"], "calls": 0,
                        "startup_only": True}
                results[setting, runtime].append(spawn(spec))
    return results


def summarise(results):
    """Per (setting, runtime): medians of the startups, the full run's figures."""
    import statistics

    summary = {}
    for (setting, runtime), runs in results.items():
        ok = [run for run in runs if "error" not in run]
        if not ok:
            summary[setting, runtime] = {"error": runs[0]["error"]}
            continue
        full = ok[0]
        row = {
            "first_prediction_s": statistics.median(
                run["first_prediction_s"] for run in ok),
            "first_prediction_all_s": [run["first_prediction_s"] for run in ok],
            "rss_first_mib": statistics.median(run["rss_first_mib"] for run in ok),
            "one_image_ms": full.get("one_image_ms"),
            "one_image_p90_ms": full.get("one_image_p90_ms"),
            "rss_peak_mib": full.get("rss_peak_mib"),
            "bulk_best_s": min(full["bulk_s"]),
            "bulk_median_s": statistics.median(full["bulk_s"]),
            "bulk_s": full["bulk_s"],
            "bulk_cpu_best_s": min(full["bulk_cpu_s"]),
        }
        reference = results.get((setting, "skfmnist"), [{}])[0].get("labels_sample")
        if reference is not None and full.get("labels_sample") is not None:
            row["same_labels_as_skfmnist_first_200"] = int(sum(
                a == b for a, b in zip(full["labels_sample"], reference,
                                       strict=True)))
        for key in ("tensorflow_imported", "skfmnist_imported"):
            if key in full:
                row[key] = full[key]
        summary[setting, runtime] = row
    return summary


def tables(C, summary):
    out = []
    for setting, title in SETTINGS.items():
        keras_best = summary.get((setting, "keras"), {}).get("bulk_best_s")
        rows = []
        for runtime in RUNTIMES:
            row = summary[setting, runtime]
            label = LABELS[runtime]
            if setting == "conv-2" and runtime == "keras":
                label += " (2 calls: images and mirror images)"
            if "error" in row:
                rows.append([label] + ["-"] * 9 + [row["error"][:80]])
                continue
            rows.append([
                label,
                C.fmt(row["first_prediction_s"], ".2f"),
                C.fmt(row["rss_first_mib"], ".0f"),
                C.fmt(row["bulk_best_s"], ".3f"),
                C.fmt(row["bulk_median_s"], ".3f"),
                C.fmt(C.ratio(row["bulk_best_s"], keras_best), ".2f"),
                C.fmt(row["bulk_cpu_best_s"], ".2f"),
                C.fmt(row["one_image_ms"], ".3f"),
                C.fmt(row["one_image_p90_ms"], ".3f"),
                C.fmt(row["rss_peak_mib"], ".0f"),
                "",
            ])
        out.append(C.print_table(
            f"Serving {title}",
            ["", "first prediction (s)", "RSS at first prediction (MiB)",
             "10k best (s)", "10k median (s)", "10k best vs Keras",
             "10k CPU time, least (s)", "1 image median (ms)", "1 image p90 (ms)",
             "peak RSS (MiB)", "note"],
            rows,
            note=["Each runtime in its own fresh process. First prediction: from "
                  "starting the interpreter to the end of the first predict of "
                  "one image (imports and loading the model included), median of "
                  "the fresh processes; RSS: the kernel's high-water mark "
                  "(VmHWM) at that moment, and at the end of the run (peak RSS).",
                  "10k: the 10,000 test images after one warm-up call; Keras gets "
                  "float32 images in [0, 1] ready-made (and mirrored), skfmnist "
                  "and onnxruntime raw uint8 pixels. CPU time: of the whole "
                  "process over one 10k prediction, every thread counted (time "
                  "threads spend spinning while they wait included): the work "
                  "done, which other load on the machine changes less than the "
                  "wall time. One image: one predict call per image."],
        ))
    return out


def add_targets(C, targets, summary):
    def get(setting, runtime, *keys):
        value = summary.get((setting, runtime), {})
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    ort_one = get("conv-1", "onnxruntime", "bulk_best_s")
    keras_one = get("conv-1", "keras", "bulk_best_s")
    r = C.ratio(ort_one, keras_one)
    targets.at_most("S1a. predict 10k, ConvClassifier one view: onnxruntime / Keras "
                    "model.predict (best times)", r, 0.5)
    targets.at_most("S1a'. the same, stretch", r, 0.35)
    ort_two = get("conv-2", "onnxruntime", "bulk_best_s")
    keras_two = get("conv-2", "keras", "bulk_best_s")
    r = C.ratio(ort_two, keras_two)
    targets.at_most("S1b. predict 10k, ConvClassifier mirror averaging: onnxruntime / "
                    "Keras doing the same 2 passes", r, 0.5)
    for key, name, threshold, number in (
            ("first_prediction_s", "time to first prediction", 0.05, "S2a"),
            ("rss_first_mib", "peak RSS at first prediction", 0.15, "S2b")):
        ratios = [
            C.ratio(get(s, "onnxruntime", key), get(s, "skfmnist", key))
            for s in SETTINGS
        ]
        worst = None if None in ratios else max(ratios)
        targets.at_most(f"{number}. fresh process, {name}: onnxruntime / skfmnist with "
                        "TensorFlow (largest of the 3 settings)", worst, threshold)
    cnn = [get(s, "onnxruntime", "one_image_ms") for s in ("conv-1", "conv-2")]
    worst = None if None in cnn else max(cnn)
    targets.at_most("S3a. one image on onnxruntime, ConvClassifier (median, the slower "
                    "of one view and mirror averaging)", worst, 1, " ms")
    dense = get("dense", "onnxruntime", "one_image_ms")
    targets.at_most("S3b. one image on onnxruntime, DenseClassifier (median)",
                    dense, 0.2, " ms")


def main():
    import tempfile

    import _common as C

    parser = C.base_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    C.apply_thread_option(args)
    assert CHILD_MARKER == C.CHILD_MARKER
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeats:
        cfg["repeats"] = args.repeats
    start = time.perf_counter()
    C.import_keras()
    import onnx
    import onnxruntime
    import skl2onnx

    C.print_header("skfmnist benchmark: serving", args,
                   ", ".join(f"{k}={v}" for k, v in cfg.items()))
    with tempfile.TemporaryDirectory(prefix="skfmnist-serve-") as folder:
        paths, fit_s, accuracy = prepare(cfg, args.seed, folder)
        sizes = {os.path.basename(p): os.path.getsize(p)
                 for setting in paths.values() for key, p in setting.items()
                 if key != "views"}
        results = run_settings(cfg, paths, folder)
    summary = summarise(results)
    targets = C.Targets(args.quick)
    out = {
        "tables": tables(C, summary),
        "settings": SETTINGS,
        "summary": {f"{s}/{r}": row for (s, r), row in summary.items()},
        "runs": {f"{s}/{r}": runs for (s, r), runs in results.items()},
        "fit_s": fit_s, "test_accuracy": accuracy, "file_bytes": sizes,
        "ort_batch": ORT_BATCH,
        "serving_versions": {"onnxruntime": onnxruntime.__version__,
                             "onnx": onnx.__version__,
                             "skl2onnx": skl2onnx.__version__},
    }
    add_targets(C, targets, summary)
    out["targets"] = targets.as_dicts()
    out["total_s"] = time.perf_counter() - start
    C.write_results("serve", out, args, cfg)
    C.finish(targets, {"config": cfg, **out}, start, args.json)


if __name__ == "__main__":
    if "--child" in sys.argv:
        spec = json.loads(sys.argv[sys.argv.index("--child") + 1])
        print(CHILD_MARKER + json.dumps(child_serve(spec)), flush=True)
    else:
        main()
