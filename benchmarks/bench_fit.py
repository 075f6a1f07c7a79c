"""Training benchmarks of skfmnist's DenseClassifier.

Compares, side by side on the same data, each row saying its threads:

* epoch time of a 784-100-10 ReLU MLP (Adam, batch 32, 60,000 images) in plain
  Keras ``model.fit``, tuned Keras (``steps_per_execution``),
  ``keras.wrappers.SKLearnClassifier``, scikeras' ``KerasClassifier`` (when
  installed), scikit-learn's ``MLPClassifier`` and ``DenseClassifier``
  (targets 1), plus plain Keras, tuned Keras and DenseClassifier again in
  fresh processes with the other thread setting (one thread, or TensorFlow's
  defaults);
* epoch time at DenseClassifier's default network and batch size, against
  plain and tuned Keras training the same network;
* fit time, test accuracy and peak memory of the default
  ``Pipeline([PixelScaler(), DenseClassifier()])`` against plain Keras
  training the same network, each in a fresh process (targets 3 and 4);
* ``GridSearchCV`` with ``n_jobs=1`` against ``n_jobs=2`` (target 5).

Every epoch is timed by a Keras callback passed with ``callbacks=[...]``
(MLPClassifier, which has no callbacks, by the line it prints per epoch).
Each section writes ``benchmarks/results/fit_<section>.json``
(``.quick.json`` with ``--quick``), from which the documentation's
performance page is built. Run ``python benchmarks/bench_fit.py`` or
``python benchmarks/bench_fit.py --quick`` (indicative only); see
benchmarks/README.md for how to read the tables.
"""

import contextlib
import os
import sys
import time
import warnings

import _common as C

from skfmnist._engine.loop import COSINE_FLOOR

SCRIPT = os.path.abspath(__file__)

# 784-100-10 network of target 1.
EPOCH_HIDDEN = (100,)
EPOCH_BATCH = 32
# steps_per_execution of the "tuned plain Keras" row.
KERAS_SPE = 32
# Plain Keras reference of target 3 (from the issue): 784-256-128-10.
REF_HIDDEN = (256, 128)
REF_DROPOUT = 0.2
REF_BATCH = 128
REF_EPOCHS = 20
GRID = {"clf__hidden_layer_sizes": [(64,), (128,), (256,)]}

FULL = {
    "epoch_n_train": None,  # all 60,000
    "epoch_repeats": 5,  # timed epochs after the first
    "extra_rows": True,  # the warm_start row
    "default_repeats": 3,
    "keras_same_repeats": 1,
    "default_epochs": None,  # the classifier's default
    "ref_epochs": REF_EPOCHS,
    "grid_n_train": 20000,
    "grid_epochs": 5,
    "grid_repeats": 2,
}
QUICK = {
    "epoch_n_train": 8000,
    "epoch_repeats": 2,
    "extra_rows": False,
    "default_repeats": 1,
    "keras_same_repeats": 1,
    "default_epochs": 1,
    "ref_epochs": None,  # reference row left out
    "grid_n_train": 2000,
    "grid_epochs": 1,
    "grid_repeats": 1,
}


def run_child_logged(spec, label, summary):
    """Run one measurement in a fresh process and print a line about it.

    The line is ``[label]`` followed by ``summary(result)``, or by the child's
    error; returns the child's result.
    """
    result = C.run_child(SCRIPT, spec)
    print(f"  [{label}] " + (
        result["error"] if "error" in result else summary(result)), flush=True)
    return result


# -- models --------------------------------------------------------------------


def keras_mlp(
    keras, hidden, *, dropout=0.0, activation="relu", alpha=0.0, n_features=784,
    n_classes=10, loss="sparse_categorical_crossentropy", learning_rate=1e-3,
    **compile_kwargs,
):
    """A compiled plain Keras MLP, the way its documentation writes one."""
    layers = [keras.Input((n_features,))]
    regularizer = keras.regularizers.L2(alpha) if alpha else None
    for units in hidden:
        layers.append(
            keras.layers.Dense(
                units, activation=activation, kernel_regularizer=regularizer
            )
        )
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(
        keras.layers.Dense(
            n_classes, activation="softmax", kernel_regularizer=regularizer
        )
    )
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        metrics=["accuracy"],
        **compile_kwargs,
    )
    return model


def keras_accuracy(model, X_test, y_test):
    proba = model.predict(C.scale(X_test), batch_size=1024, verbose=0)
    return float((proba.argmax(axis=1) == y_test).mean())


# -- target 1: epoch time --------------------------------------------------------

# The references every ratio of the epoch tables is against, by row id.
REFERENCES = {
    "keras": "plain Keras model.fit (default arguments), same threads",
    "keras_tuned": f"tuned Keras: compile(steps_per_execution={KERAS_SPE}), "
    "same threads",
}


def keras_network(keras, net, *, n_epochs, n_train, **compile_kwargs):
    """A compiled plain Keras model of the table's network ``net``."""
    learning_rate = net["learning_rate"]
    if net["schedule"] == "cosine":
        steps = -(-n_train // net["batch_size"])
        learning_rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=n_epochs * steps, alpha=COSINE_FLOOR
        )
    elif net["schedule"] != "constant":
        raise ValueError(f"update the benchmark for schedule={net['schedule']}")
    return keras_mlp(
        keras, net["hidden"], dropout=net["dropout"], learning_rate=learning_rate,
        **compile_kwargs,
    )


def epoch_plain_keras(keras, net, data, n_epochs, seed, **compile_kwargs):
    X, y, X_test, y_test = data
    log = {"t0": time.perf_counter()}
    keras.utils.set_random_seed(seed)
    model = keras_network(
        keras, net, n_epochs=n_epochs, n_train=len(y), **compile_kwargs
    )
    model.fit(
        X, y, batch_size=net["batch_size"], epochs=n_epochs, verbose=0,
        callbacks=[C.keras_epoch_timer(keras, log)],
    )
    return log["epochs"], keras_accuracy(model, X_test, y_test)


def epoch_keras_tuned(keras, net, data, n_epochs, seed):
    return epoch_plain_keras(
        keras, net, data, n_epochs, seed, steps_per_execution=KERAS_SPE
    )


def epoch_keras_wrapper(keras, net, data, n_epochs, seed):
    from keras.wrappers import SKLearnClassifier

    X, y, X_test, y_test = data

    def build(X, y):  # SKLearnClassifier one-hot encodes y
        return keras_mlp(
            keras, net["hidden"], n_features=X.shape[1], n_classes=y.shape[1],
            loss="categorical_crossentropy",
        )

    log = {"t0": time.perf_counter()}
    keras.utils.set_random_seed(seed)
    clf = SKLearnClassifier(model=build)
    clf.fit(
        X, y, batch_size=net["batch_size"], epochs=n_epochs, verbose=0,
        callbacks=[C.keras_epoch_timer(keras, log)],
    )
    with C.quiet_stdout():  # its predict shows a progress bar
        accuracy = float(clf.score(C.scale(X_test), y_test))
    return log["epochs"], accuracy


def scikeras_status():
    """``(KerasClassifier, None)``, or ``(None, why it is left out)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from scikeras.wrappers import KerasClassifier
    except ImportError as exc:
        return None, f"scikeras not installed ({exc}); `pip install scikeras`"
    except Exception as exc:  # report any breakage, don't crash
        return None, f"scikeras fails to import: {exc!r}"
    return KerasClassifier, None


def epoch_scikeras(keras, net, data, n_epochs, seed):
    KerasClassifier, why = scikeras_status()
    if KerasClassifier is None:
        raise RuntimeError(why)
    X, y, X_test, y_test = data
    log = {"t0": time.perf_counter()}
    keras.utils.set_random_seed(seed)
    clf = KerasClassifier(
        model=lambda: keras_mlp(keras, net["hidden"]),
        batch_size=net["batch_size"],
        epochs=n_epochs,
        verbose=0,
        callbacks=[C.keras_epoch_timer(keras, log)],
    )
    clf.fit(X, y)
    return log["epochs"], float(clf.score(C.scale(X_test), y_test))


def epoch_mlp(keras, net, data, n_epochs, seed):
    from sklearn.neural_network import MLPClassifier

    X, y, X_test, y_test = data
    C.suppress_convergence_warnings()
    # scikit-learn has no per-epoch hook: the time stamps of the line that
    # verbose=True prints after each epoch time the epochs.
    clf = MLPClassifier(
        hidden_layer_sizes=net["hidden"], batch_size=net["batch_size"],
        max_iter=n_epochs, n_iter_no_change=n_epochs + 1, verbose=True,
        random_state=seed,
    )
    clock = C.LineClock("Iteration ")
    start = time.perf_counter()
    with contextlib.redirect_stdout(clock):
        clf.fit(X, y)
    if len(clock.times) != n_epochs:
        raise RuntimeError(
            f"expected {n_epochs} lines holding {clock.marker!r}, got "
            f"{len(clock.times)}: MLPClassifier's verbose output changed"
        )
    times = C.epoch_times(start, clock.times)
    return times, float(clf.score(C.scale(X_test), y_test))


def dense_params(net):
    """DenseClassifier parameters of the table's network ``net``."""
    return {
        "hidden_layer_sizes": net["hidden"], "dropout": net["dropout"],
        "batch_size": net["batch_size"], "learning_rate": net["learning_rate"],
        "learning_rate_schedule": net["schedule"],
    }


def epoch_dense(keras, net, data, n_epochs, seed):
    from skfmnist import DenseClassifier

    X, y, X_test, y_test = data
    log = {"t0": time.perf_counter()}
    # Timed by the same Keras callback as the Keras rows.
    clf = DenseClassifier(
        **dense_params(net), epochs=n_epochs, random_state=seed,
        callbacks=[C.keras_epoch_timer(keras, log)],
    )
    clf.fit(X, y)
    return log["epochs"], float(clf.score(C.scale(X_test), y_test))


def epoch_dense_per_call(keras, net, data, n_epochs, seed):
    from skfmnist import DenseClassifier

    X, y, X_test, y_test = data
    # epochs=1 with warm_start: each fit call runs exactly one epoch, so the
    # times include fit's own per-call work (input checks, tensor copies).
    clf = DenseClassifier(
        **{**dense_params(net), "learning_rate_schedule": "constant"},
        epochs=1, warm_start=True, random_state=seed,
    )
    times = C.repeat(lambda: clf.fit(X, y), n_epochs)
    return times, float(clf.score(C.scale(X_test), y_test))


EPOCH_LIBS = {
    "keras": ("plain Keras model.fit", epoch_plain_keras),
    "keras_tuned": (f"tuned Keras model.fit, compile(steps_per_execution="
                    f"{KERAS_SPE})", epoch_keras_tuned),
    "wrapper": ("keras.wrappers.SKLearnClassifier", epoch_keras_wrapper),
    "scikeras": ("scikeras KerasClassifier", epoch_scikeras),
    "mlp": ("sklearn MLPClassifier", epoch_mlp),
    "dense": ("skfmnist DenseClassifier", epoch_dense),
    "dense_per_call": ("skfmnist DenseClassifier, one warm_start fit call per "
                       "epoch", epoch_dense_per_call),
}


def networks(cfg):
    """The two networks of the epoch tables, as dicts."""
    p = dense_defaults()
    if p["optimizer"] != "adam":
        raise ValueError(f"update the benchmark for optimizer={p['optimizer']}")
    small = {
        "id": "mlp100", "hidden": EPOCH_HIDDEN, "dropout": 0.0,
        "batch_size": EPOCH_BATCH, "learning_rate": 1e-3, "schedule": "constant",
        "libs": ("keras", "keras_tuned", "wrapper", "scikeras", "mlp", "dense")
        + (("dense_per_call",) if cfg["extra_rows"] else ()),
    }
    default = {
        "id": "default", "hidden": tuple(p["hidden_layer_sizes"]),
        "dropout": p["dropout"], "batch_size": p["batch_size"],
        "learning_rate": p["learning_rate"], "schedule": p["learning_rate_schedule"],
        "libs": ("keras", "keras_tuned", "dense"),
    }
    for net in (small, default):
        net["arch"] = "-".join(map(str, (784, *net["hidden"], 10)))
    return small, default


def run_epoch_lib(lib, keras, net, data, n_epochs, seed):
    """One row: first-epoch time, median and fastest later epoch, accuracy."""
    label, fn = EPOCH_LIBS[lib]
    threads = C.blas_threads_label() if lib == "mlp" else C.tf_threads_label()
    row = {"id": lib, "label": label, "network": net["arch"], "threads": threads}
    if lib == "scikeras" and scikeras_status()[0] is None:
        return {**row, "error": scikeras_status()[1]}
    try:
        times, accuracy = fn(keras, net, data, n_epochs, seed)
    except Exception as exc:  # a broken row must not end the run
        return {**row, "error": repr(exc)}
    if lib == "mlp":  # the BLAS pools are only loaded by now
        row["threads"] = C.blas_threads_label()
    return {
        **row,
        "first_s": times[0],
        "epochs_s": times[1:],
        "epoch_s": C.median(times[1:]),
        "epoch_min_s": min(times[1:]),
        "test_accuracy": accuracy,
    }


def child_epoch(spec):
    keras = C.import_keras(tf_default_threads=spec["threads"] is None)
    data = epoch_data(spec["n_train"], spec["seed"])
    net = spec["net"]
    net["hidden"] = tuple(net["hidden"])
    row = run_epoch_lib(spec["lib"], keras, net, data, spec["n_epochs"], spec["seed"])
    row["child"] = True
    return row


def epoch_data(n_train, seed):
    X, y, X_test, y_test = C.load_data(n_train=n_train, seed=seed)
    return C.scale(X), y, X_test, y_test


def _add_ratios(rows):
    """Each row's epoch over the Keras references run with the same threads."""
    refs = {}
    for row in rows:
        if row["id"] in REFERENCES and "error" not in row:
            refs[(row["id"], row["threads"])] = row
    for row in rows:
        row["ratios"] = {}
        row["ratios_min"] = {}
        for ref_id in REFERENCES:
            ref = refs.get((ref_id, row["threads"]))
            if "error" in row or ref is None or row["id"] == "mlp":
                continue
            row["ratios"][ref_id] = C.ratio(row["epoch_s"], ref["epoch_s"])
            row["ratios_min"][ref_id] = C.ratio(row["epoch_min_s"], ref["epoch_min_s"])
    # MLPClassifier runs on BLAS threads: compare it with the Keras rows of
    # the main process.
    main = next((r for r in rows if r["id"] == "keras" and not r.get("child")), None)
    for row in rows:
        if row["id"] == "mlp" and "error" not in row and main and "error" not in main:
            row["ratios"]["keras"] = C.ratio(row["epoch_s"], main["epoch_s"])


def epoch_table(net, rows, n_train, n_epochs):
    table = []
    for row in rows:
        if "error" in row:
            table.append([row["label"], row.get("threads", "-"), "-", "-", "-", "-",
                          "-", "-", f"left out: {row['error']}"])
            continue
        table.append([
            row["label"], row["threads"], C.fmt(row["first_s"], ".2f"),
            C.fmt(row["epoch_s"], ".2f"), C.fmt(row["epoch_min_s"], ".2f"),
            C.fmt(row["ratios"].get("keras"), ".2f"),
            C.fmt(row["ratios"].get("keras_tuned"), ".2f"),
            C.fmt(row["test_accuracy"], ".4f"), "",
        ])
    what = (f"{net['arch']} ReLU MLP, dropout {net['dropout']}, Adam "
            f"({net['schedule']} learning rate), batch {net['batch_size']}")
    title = (
        f"Target 1: epoch time, {what}, {n_train:,} training images"
        if net["id"] == "mlp100"
        else f"Epoch time at DenseClassifier's defaults: {what}, "
        f"{n_train:,} training images"
    )
    return C.print_table(
        title,
        ["configuration", "threads", "first epoch s", "epoch s (median)",
         "epoch s (min)", "÷ Keras fit", f"÷ tuned Keras (spe={KERAS_SPE})",
         f"test acc ({n_epochs} ep)", "note"],
        table,
        note=[
            "first epoch: from the start of the fit call (model not built yet) "
            "to the end of epoch 1, tracing included; epoch: median (and "
            f"minimum) of the {n_epochs - 1} epochs after it, all within one fit "
            "call, timed by a Keras callback (callbacks=[...]) for every Keras "
            "and skfmnist row; MLPClassifier, which has no callbacks, by the "
            "line it prints after each epoch (verbose=True). The 'one "
            "warm_start fit call per epoch' row times whole fit(epochs=1) calls "
            "instead, so it also holds fit's per-call work.",
            "÷ Keras fit: the row's median epoch over plain Keras "
            f"model.fit(X, y, batch_size={net['batch_size']}, verbose=0) with "
            "the same threads (MLPClassifier: over the first plain Keras row); "
            f"÷ tuned Keras: over the same model compiled with "
            f"steps_per_execution={KERAS_SPE}, same threads. Every model gets "
            "float32 pixels in [0, 1] and the same network and learning-rate "
            "schedule; threads: TensorFlow's intra/inter-op pools (TF default = "
            "one per core) or the BLAS pools of MLPClassifier.",
        ],
    )


def section_epoch(args, cfg, keras, targets):
    n_epochs = 1 + cfg["epoch_repeats"]
    data = epoch_data(cfg["epoch_n_train"], args.seed)
    n_train = len(data[1])
    main_threads = C.num_threads_now() or None  # None: TensorFlow's defaults
    # Rows with the other thread setting run in fresh processes: one thread
    # when this process runs TensorFlow's defaults, the defaults otherwise.
    other = 1 if main_threads is None else None
    results = {"references": REFERENCES, "tables": [], "networks": {}}
    for net in networks(cfg):
        rows = [run_epoch_lib(lib, keras, net, data, n_epochs, args.seed)
                for lib in net["libs"]]
        if net["id"] == "mlp100":
            for lib in ("keras", "keras_tuned", "dense"):
                spec = {"job": "epoch", "n_train": cfg["epoch_n_train"],
                        "seed": args.seed, "n_epochs": n_epochs, "lib": lib,
                        "net": net, "threads": other}
                rows.append(C.run_child(SCRIPT, spec,
                                        env=C.child_env_for_threads(other)))
                rows[-1].setdefault("id", lib)
                rows[-1].setdefault("label", EPOCH_LIBS[lib][0])
        _add_ratios(rows)
        results["tables"].append(epoch_table(net, rows, n_train, n_epochs))
        results["networks"][net["id"]] = {
            key: net[key] for key in ("arch", "hidden", "dropout", "batch_size",
                                      "learning_rate", "schedule")
        } | {"rows": rows}

    by_id = {r["id"]: r for r in results["networks"]["mlp100"]["rows"]
             if not r.get("child") and "error" not in r}
    dense = by_id.get("dense", {})
    ratio = dense.get("ratios", {}).get("keras")
    targets.add("1a. DenseClassifier epoch / plain Keras model.fit epoch, same "
                "threads (medians)", ratio,
                "<= 0.35", None if ratio is None else ratio <= 0.35, "x")
    # Medians absorb a minority of slow epochs only; on a busy machine the
    # fastest epochs compare the libraries with the least interference.
    ratio = dense.get("ratios_min", {}).get("keras")
    targets.add("1a'. same, fastest epochs (min / min)", ratio,
                "<= 0.35", None if ratio is None else ratio <= 0.35, "x")
    ratio = C.ratio(dense.get("epoch_s"), by_id.get("mlp", {}).get("epoch_s"))
    targets.add("1b. DenseClassifier epoch / MLPClassifier epoch (medians)", ratio,
                "< 1", None if ratio is None else ratio < 1, "x")
    return results


# -- targets 3 and 4: default pipeline, time, accuracy, memory -------------------


def dense_defaults():
    from skfmnist import DenseClassifier

    return DenseClassifier().get_params()


def child_default_fit(spec):
    """Fit one configuration on the full training set; time, accuracy, RSS."""
    import gc

    keras = C.import_keras()
    # Both kinds import the same modules, so their baselines match.
    from sklearn.pipeline import Pipeline

    from skfmnist import DenseClassifier, PixelScaler
    from skfmnist._dense import ACTIVATIONS

    X, y, X_test, y_test = C.load_data()
    seed = spec["seed"]
    kind = spec["kind"]
    epochs = spec.get("epochs")
    gc.collect()
    if kind == "dense":
        params = {"random_state": seed}
        if epochs:
            params["epochs"] = epochs
        clf = Pipeline([("scale", PixelScaler()), ("clf", DenseClassifier(**params))])
        with C.PeakRSS() as mem:
            start = time.perf_counter()
            clf.fit(X, y)
            fit_s = time.perf_counter() - start
        accuracy = float(clf.score(X_test, y_test))
    else:
        if kind == "keras_same":
            p = dense_defaults()
            if p["optimizer"] != "adam":
                raise ValueError(f"update the benchmark for optimizer={p['optimizer']}")
            hidden, dropout, batch = p["hidden_layer_sizes"], p["dropout"], p[
                "batch_size"]
            n_epochs, lr, alpha = epochs or p["epochs"], p["learning_rate"], p["alpha"]
            if alpha:
                # Keras' L2 joins the mean batch loss whole; skfmnist's alpha
                # is MLPClassifier's, divided by each batch's sample count.
                raise ValueError(f"update the benchmark for alpha={alpha}")
            activation, schedule = p["activation"], p["learning_rate_schedule"]
        else:
            hidden, dropout, batch, n_epochs = REF_HIDDEN, REF_DROPOUT, REF_BATCH, (
                epochs or REF_EPOCHS)
            lr, alpha, activation, schedule = 1e-3, 0.0, "relu", "cosine"
        activation = ACTIVATIONS[activation]
        keras.utils.set_random_seed(seed)
        with C.PeakRSS() as mem:
            start = time.perf_counter()
            X_scaled = C.scale(X)  # the user's scaling is part of the work
            steps = -(-len(y) // batch)
            if schedule == "cosine":
                lr = keras.optimizers.schedules.CosineDecay(
                    lr, decay_steps=n_epochs * steps, alpha=COSINE_FLOOR)
            elif schedule != "constant":
                raise ValueError(f"update the benchmark for schedule={schedule}")
            model = keras_mlp(keras, hidden, dropout=dropout, activation=activation,
                              alpha=alpha, learning_rate=lr)
            model.fit(X_scaled, y, batch_size=batch, epochs=n_epochs, verbose=0)
            fit_s = time.perf_counter() - start
        accuracy = keras_accuracy(model, X_test, y_test)
    return {
        "kind": kind, "fit_s": fit_s, "accuracy": accuracy, "rss_before": mem.before,
        "peak": mem.peak, "delta": mem.delta, "method": mem.method,
        "threads": C.tf_threads_label(),
    }


def section_default(args, cfg, targets):
    p = dense_defaults()
    epochs = cfg["default_epochs"]
    n_epochs = epochs or p["epochs"]
    arch = "-".join(map(str, (784, *p["hidden_layer_sizes"], 10)))
    ref_arch = "-".join(map(str, (784, *REF_HIDDEN, 10)))
    configs = {
        "dense": "Pipeline([PixelScaler(), DenseClassifier()])"
        + (f" with epochs={epochs}" if epochs else ""),
        "keras_same": f"plain Keras, same network and training ({arch}, "
        f"dropout {p['dropout']}, batch {p['batch_size']}, {n_epochs} ep, "
        f"{p['learning_rate_schedule']})",
    }
    if cfg["ref_epochs"]:
        configs["keras_ref"] = (
            f"plain Keras reference ({ref_arch}, dropout {REF_DROPOUT}, "
            f"batch {REF_BATCH}, {cfg['ref_epochs']} ep, cosine)")
    n_dense = args.repeats or cfg["default_repeats"]
    plan = []
    for i in range(max(n_dense, cfg["keras_same_repeats"])):
        if i < n_dense:
            plan.append(("dense", i))
        if i < cfg["keras_same_repeats"]:
            plan.append(("keras_same", i))
    if cfg["ref_epochs"]:
        plan.append(("keras_ref", 0))
    results = {kind: [] for kind in configs}
    for kind, i in plan:
        spec = {"job": "default_fit", "kind": kind, "seed": args.seed + i,
                "epochs": cfg["ref_epochs"] if kind == "keras_ref" else epochs}
        results[kind].append(run_child_logged(spec, f"{kind} #{i + 1}", lambda r: (
            f"fit {r['fit_s']:.1f} s, accuracy {r['accuracy']:.4f}, "
            f"peak RSS {r['peak']:.0f} MiB")))
    print()

    def summary(kind):
        ok = [r for r in results[kind] if "error" not in r]
        if not ok:
            return None
        return {key: C.median([r[key] for r in ok])
                for key in ("fit_s", "accuracy", "rss_before", "peak", "delta")} | {
            "n": len(ok), "min_acc": min(r["accuracy"] for r in ok),
            "threads": ok[0]["threads"], "method": ok[0]["method"]}

    stats = {kind: summary(kind) for kind in configs}
    ref = stats["keras_same"] or {}
    time_rows, mem_rows = [], []
    for kind, label in configs.items():
        s = stats[kind]
        if s is None:
            error = results[kind][0].get("error") if results[kind] else "not run"
            time_rows.append([label, "-", "-", "-", "-", "-", f"failed: {error}"])
            mem_rows.append([label, "-", "-", "-", "-", "-"])
            continue
        time_rows.append([
            label, s["threads"], C.fmt(s["fit_s"], ".1f"),
            C.fmt(C.ratio(s["fit_s"], ref.get("fit_s")), ".2f"),
            C.fmt(s["accuracy"], ".4f"), C.fmt(s["min_acc"], ".4f"), str(s["n"]),
        ])
        mem_rows.append([
            label, C.fmt(s["rss_before"], ".0f"), C.fmt(s["peak"], ".0f"),
            C.fmt(C.ratio(s["peak"], ref.get("peak")), ".2f"),
            C.fmt(s["delta"], ".0f"),
            C.fmt(C.ratio(s["delta"], ref.get("delta")), ".2f"),
        ])
    tables = [C.print_table(
        "Target 3: default pipeline, fit wall time and test accuracy "
        "(60,000 train / 10,000 test images, each fit in a fresh process)",
        ["configuration", "threads", "fit s (median)", "ratio to Keras same",
         "test acc (median)", "test acc (min)", "runs"],
        time_rows,
        note="fit s: wall time of fit() on uint8 pixels (Keras rows: scaling to "
        "float32, building, compiling and model.fit(verbose=0)); accuracy on the "
        "official test set. Seeds: random_state / keras.utils.set_random_seed = "
        f"{args.seed} + run index; everything else at its default.",
    )]
    method = (stats["dense"] or ref or {}).get("method", "?")
    tables.append(C.print_table(
        "Target 4: peak resident memory (RSS, MiB) of the same fits",
        ["configuration", "RSS before fit", "peak RSS in fit",
         "ratio to Keras same", "fit increase", "increase ratio"],
        mem_rows,
        note=f"peak RSS in fit: the process's high-water mark during fit ({method}"
        "), from a fresh process that has imported the same modules (TensorFlow, "
        "Keras, scikit-learn, skfmnist) and loaded the uint8 data; fit increase: "
        "peak minus RSS before fit. Medians over the runs.",
    ))
    dense = stats["dense"] or {}
    acc = dense.get("accuracy")
    targets.add("3a. default pipeline test accuracy", acc, ">= 0.900",
                None if acc is None else acc >= 0.900)
    fit_s = dense.get("fit_s")
    targets.add("3b. default pipeline fit wall time", fit_s, "<= 60 s",
                None if fit_s is None else fit_s <= 60, " s")
    peak_ratio = C.ratio(dense.get("peak"), ref.get("peak"))
    targets.add("4. peak RSS, default pipeline / plain Keras same", peak_ratio,
                "<= 1.25", None if peak_ratio is None else peak_ratio <= 1.25, "x")
    return {"tables": tables, "configurations": configs, "runs": results,
            "stats": stats}


# -- target 5: GridSearchCV n_jobs ------------------------------------------------


def _worker_threads():
    """TensorFlow intra-op threads and OMP_NUM_THREADS of a joblib worker."""
    tf = sys.modules.get("tensorflow")
    intra = tf.config.threading.get_intra_op_parallelism_threads() if tf else None
    return intra, os.environ.get("OMP_NUM_THREADS")


def child_grid(spec):
    C.import_keras()
    from joblib import Parallel, delayed
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    from skfmnist import DenseClassifier, PixelScaler

    X, y, _, _ = C.load_data(n_train=spec["n_train"], seed=spec["seed"])
    pipe = Pipeline([
        ("scale", PixelScaler()),
        ("clf", DenseClassifier(epochs=spec["epochs"], random_state=spec["seed"])),
    ])
    times = []
    for _ in range(2):  # fresh joblib workers, then the same workers again
        search = GridSearchCV(pipe, GRID, cv=3, n_jobs=spec["n_jobs"])
        seconds, _ = C.timed(search.fit, X, y)
        times.append(seconds)
    workers = None
    if spec["n_jobs"] > 1:
        workers = sorted(set(Parallel(n_jobs=spec["n_jobs"])(
            delayed(_worker_threads)() for _ in range(2 * spec["n_jobs"]))))
    return {"n_jobs": spec["n_jobs"], "cold": times[0], "warm": times[1],
            "best": str(search.best_params_), "score": float(search.best_score_),
            "main_threads": C.tf_threads_label(), "workers": str(workers)}


def section_grid(args, cfg, targets):
    n_repeats = args.repeats or cfg["grid_repeats"]
    results = {1: [], 2: []}
    for i in range(n_repeats):
        for n_jobs in ((1, 2) if i % 2 == 0 else (2, 1)):
            spec = {"job": "grid", "n_jobs": n_jobs, "n_train": cfg["grid_n_train"],
                    "epochs": cfg["grid_epochs"], "seed": args.seed}
            label = f"n_jobs={n_jobs} #{i + 1}"
            results[n_jobs].append(run_child_logged(spec, label, lambda r: (
                f"fresh workers {r['cold']:.1f} s, running workers "
                f"{r['warm']:.1f} s")))
    print()
    stats = {}
    for n_jobs, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        stats[n_jobs] = ok and {"cold": C.median([r["cold"] for r in ok]),
                                "warm": C.median([r["warm"] for r in ok]),
                                "score": ok[0]["score"], "best": ok[0]["best"],
                                "workers": ok[0]["workers"],
                                "threads": ok[0]["main_threads"]}
    base = stats[1] or {}
    rows = []
    for n_jobs, s in stats.items():
        if not s:
            rows.append([f"n_jobs={n_jobs}", "-", "-", "-", "-", "-", "failed: "
                         + results[n_jobs][0].get("error", "?")])
            continue
        threads = s["threads"] if n_jobs == 1 else (
            f"workers (TF intra, OMP_NUM_THREADS): {s['workers']}")
        rows.append([
            f"GridSearchCV(n_jobs={n_jobs})", C.fmt(s["cold"], ".1f"),
            C.fmt(C.ratio(s["cold"], base.get("cold")), ".2f"),
            C.fmt(s["warm"], ".1f"), C.fmt(C.ratio(s["warm"], base.get("warm")), ".2f"),
            C.fmt(s["score"], ".4f"), threads,
        ])
    n_fits = len(GRID["clf__hidden_layer_sizes"]) * 3
    table = C.print_table(
        f"Target 5: GridSearchCV, {cfg['grid_n_train']:,} images, cv=3, "
        f"{n_fits} fits + refit, {cfg['grid_epochs']} epochs each",
        ["configuration", "fresh process s", "ratio", "workers running s", "ratio",
         "best CV acc", "threads"],
        rows,
        note=[
            "Pipeline([PixelScaler(), DenseClassifier(epochs="
            f"{cfg['grid_epochs']})]), grid clf__hidden_layer_sizes = "
            f"{GRID['clf__hidden_layer_sizes']}. fresh process: the first "
            "GridSearchCV.fit in a new process (joblib starts its workers, each "
            "imports TensorFlow); workers running: a second identical search "
            "right after it, reusing joblib's workers. Medians over "
            f"{n_repeats} process(es) per setting.",
        ],
    )
    cold = C.ratio((stats[2] or {}).get("cold"), base.get("cold"))
    targets.add("5. GridSearchCV n_jobs=2 / n_jobs=1, fresh process", cold, "<= 1",
                None if cold is None else cold <= 1.0, "x")
    warm = C.ratio((stats[2] or {}).get("warm"), base.get("warm"))
    targets.add("5'. same, joblib workers already running", warm, "<= 1",
                None if warm is None else warm <= 1.0, "x")
    return {"tables": [table], "runs": results, "stats": stats}


# -- main ------------------------------------------------------------------------


SECTIONS = ("epoch", "default", "grid")


def main(argv=None):
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=SECTIONS, action="append",
        help="run only this section (repeatable): epoch = target 1, default = "
        "targets 3 and 4, grid = target 5",
    )
    args = parser.parse_args(argv)
    C.apply_thread_option(args)
    if args.child:
        C.child_main(args.child, {"epoch": child_epoch,
                                  "default_fit": child_default_fit,
                                  "grid": child_grid})
        return
    cfg = QUICK if args.quick else FULL
    if args.repeats:
        cfg = {**cfg, "epoch_repeats": args.repeats}
    sections = args.only or SECTIONS
    start = time.perf_counter()
    keras = C.import_keras()
    C.print_header("skfmnist benchmark: training", args,
                   ", ".join(f"{k}={v}" for k, v in cfg.items()))
    why = scikeras_status()[1]
    if why:
        print(f"note: scikeras row left out: {why}\n")
    targets = C.Targets(args.quick)
    payload = {"config": cfg, "threads": C.thread_info(), "versions": C.versions()}
    runners = {
        "epoch": lambda t: section_epoch(args, cfg, keras, t),
        "default": lambda t: section_default(args, cfg, t),
        "grid": lambda t: section_grid(args, cfg, t),
    }
    names = [name for name in SECTIONS if name in sections]
    C.run_sections("fit", names, runners, args, cfg, targets, payload)
    C.finish(targets, payload, start, args.json)


if __name__ == "__main__":
    main()
