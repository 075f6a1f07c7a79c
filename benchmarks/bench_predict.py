"""Prediction benchmarks of skfmnist's DenseClassifier.

Times ``predict`` on the 10,000 Fashion-MNIST test images and on one image at
a time, for plain Keras (``model.predict`` with its default arguments, a
direct ``model(x)`` call, ``predict_on_batch``), ``keras.wrappers.
SKLearnClassifier``, scikeras (when installed), scikit-learn's
``MLPClassifier`` and ``DenseClassifier`` (target 2), on two networks: the
784-100-10 MLP of the training benchmark and DenseClassifier's default one.

Run ``python benchmarks/bench_predict.py`` (a few minutes on two cores) or
``python benchmarks/bench_predict.py --quick`` (under 2 minutes, indicative
only). See benchmarks/README.md for how to read the tables.
"""

import time
import warnings

import _common as C
import numpy as np

FULL = {"n_train": None, "train_epochs": 1, "repeats": 7, "single_calls": 200}
QUICK = {"n_train": 10000, "train_epochs": 1, "repeats": 3, "single_calls": 50}
SMALL_HIDDEN = (100,)
# Batch size of the "tuned Keras" predict row.
TUNED_BATCH = 8192
# The rows every ratio is against.
REFERENCE = "plain Keras model.predict(X)"
TUNED = f"tuned Keras model.predict(X, batch_size={TUNED_BATCH})"


def keras_mlp(keras, hidden, *, dropout=0.0, n_classes=10,
              loss="sparse_categorical_crossentropy"):
    layers = [keras.Input((784,))]
    for units in hidden:
        layers.append(keras.layers.Dense(units, activation="relu"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(n_classes, activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def build_models(keras, hidden, dropout, data, cfg, seed, *, all_libraries):
    """Train every compared model briefly; return ``{label: predict(X)}``.

    Prediction speed does not depend on how well a model is trained; the
    short training only gives meaningful accuracies.
    """
    from sklearn.pipeline import Pipeline

    from skfmnist import DenseClassifier, PixelScaler

    X_raw, y = data
    X = C.scale(X_raw)
    fit = {"epochs": cfg["train_epochs"], "batch_size": 128, "verbose": 0}
    keras.utils.set_random_seed(seed)
    model = keras_mlp(keras, hidden, dropout=dropout)
    model.fit(X, y, **fit)
    rows = {
        REFERENCE: lambda X: model.predict(X, verbose=0).argmax(1),
        TUNED: lambda X: model.predict(
            X, batch_size=TUNED_BATCH, verbose=0).argmax(1),
        "plain Keras model.predict_on_batch(X)": lambda X: model.predict_on_batch(
            X).argmax(1),
        "plain Keras model(X) (eager call)": lambda X: model(X).numpy().argmax(1),
    }
    if all_libraries:
        from keras.wrappers import SKLearnClassifier
        from sklearn.neural_network import MLPClassifier

        def build(X, y):
            return keras_mlp(keras, hidden, dropout=dropout, n_classes=y.shape[1],
                             loss="categorical_crossentropy")

        wrapper = SKLearnClassifier(model=build).fit(X, y, **fit)
        rows["keras.wrappers.SKLearnClassifier.predict"] = wrapper.predict
        scikeras = scikeras_classifier()
        if isinstance(scikeras, str):
            rows["scikeras KerasClassifier.predict"] = scikeras
        else:
            clf = scikeras(model=lambda: keras_mlp(keras, hidden, dropout=dropout),
                           **fit).fit(X, y)
            rows["scikeras KerasClassifier.predict"] = clf.predict
        C.suppress_convergence_warnings()
        mlp = MLPClassifier(hidden, batch_size=128, max_iter=cfg["train_epochs"],
                            random_state=seed).fit(X, y)
        rows["sklearn MLPClassifier.predict"] = mlp.predict
    dense = DenseClassifier(hidden, dropout=dropout, epochs=cfg["train_epochs"],
                            random_state=seed).fit(X, y)
    rows["skfmnist DenseClassifier.predict"] = dense.predict
    rows["skfmnist DenseClassifier.predict_proba"] = dense.predict_proba
    # The same fitted classifier behind the (stateless) scaler, fed uint8 pixels.
    pipe = Pipeline([("scale", PixelScaler().fit(X_raw)), ("clf", dense)])
    rows["Pipeline([PixelScaler(), DenseClassifier()]).predict, uint8 input"] = (
        "raw", pipe.predict)
    return rows


def scikeras_classifier():
    """scikeras' KerasClassifier, or a string saying why it is left out."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from scikeras.wrappers import KerasClassifier
    except ImportError as exc:
        return f"left out: scikeras not installed ({exc})"
    except Exception as exc:  # report any breakage, don't crash
        return f"left out: scikeras fails to import: {exc!r}"
    return KerasClassifier


def measure(predict, X, y, cfg):
    """First call and median time on ``X``; median time of one-image calls."""
    with C.quiet_stdout():  # some wrappers show progress bars
        first, labels = C.timed(predict, X)
        times = C.repeat(lambda: predict(X), cfg["repeats"])
        single = []
        for i in range(cfg["single_calls"]):
            row = X[i % len(X) : i % len(X) + 1]
            start = time.perf_counter()
            predict(row)
            single.append(time.perf_counter() - start)
    single.sort()
    labels = np.asarray(labels)
    labels = labels.argmax(1) if labels.ndim == 2 and labels.shape[1] > 1 else (
        labels.ravel())
    return {
        "first": first,
        "median": C.median(times),
        "single": C.median(single),
        "single_p90": single[int(0.9 * (len(single) - 1))],
        "accuracy": float((labels == y).mean()),
    }


def section(title, keras, hidden, dropout, train, test, cfg, seed, *, all_libraries):
    X_test_raw, y_test = test
    X_test = C.scale(X_test_raw)
    rows = build_models(keras, hidden, dropout, train, cfg, seed,
                        all_libraries=all_libraries)
    results = {}
    for label, predict in rows.items():
        if isinstance(predict, str):
            results[label] = {"error": predict}
            continue
        X = X_test
        if isinstance(predict, tuple):
            X, predict = X_test_raw, predict[1]
        results[label] = measure(predict, X, y_test, cfg)
    ref, tuned = results[REFERENCE], results[TUNED]
    threads = C.tf_threads_label()
    table = []
    for label, r in results.items():
        if "error" in r:
            table.append([label] + ["-"] * 9 + [r["error"]])
            continue
        r["ratios"] = {
            "keras": C.ratio(r["median"], ref["median"]),
            "keras_tuned": C.ratio(r["median"], tuned["median"]),
            "keras_single": C.ratio(r["single"], ref["single"]),
        }
        r["threads"] = C.blas_threads_label() if "MLPClassifier" in label else threads
        table.append([
            label, r["threads"], C.fmt(r["first"] * 1e3, ".1f"),
            C.fmt(r["median"] * 1e3, ".1f"),
            C.fmt(r["ratios"]["keras"], ".3f"),
            C.fmt(r["ratios"]["keras_tuned"], ".3f"),
            C.fmt(r["single"] * 1e3, ".2f"), C.fmt(r["single_p90"] * 1e3, ".2f"),
            C.fmt(r["ratios"]["keras_single"], ".3f"),
            C.fmt(r["accuracy"], ".4f"), "",
        ])
    printed = C.print_table(
        title,
        ["configuration", "threads", "first call ms", "10k ms (median)",
         "10k ÷ Keras predict", f"10k ÷ tuned Keras (batch {TUNED_BATCH})",
         "1 image ms (median)", "1 image ms (p90)", "1 image ÷ Keras predict",
         "test acc", "note"],
        table,
        note=[
            f"10,000 test images: first call (tracing included), then the median "
            f"of {cfg['repeats']} calls; one image: {cfg['single_calls']} calls on "
            "successive single test images (arrays of shape (1, 784)).",
            "÷ Keras predict: over plain Keras model.predict(X) with its default "
            "arguments (batch_size=32; verbose=0 to keep the output clean, which "
            "only spares Keras the progress bar); ÷ tuned Keras: over "
            f"model.predict(X, batch_size={TUNED_BATCH}), the same model. Same "
            "threads for every row but MLPClassifier (BLAS pools). Models get "
            "float32 pixels in [0, 1] except the pipeline row; trained "
            f"{cfg['train_epochs']} epoch(s) only, so accuracies are low.",
        ],
    )
    results["_table"] = printed
    return results


def main(argv=None):
    parser = C.base_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    C.apply_thread_option(args)
    cfg = QUICK if args.quick else FULL
    if args.repeats:
        cfg = {**cfg, "repeats": args.repeats}
    start = time.perf_counter()
    keras = C.import_keras()
    from skfmnist import DenseClassifier

    defaults = DenseClassifier().get_params()
    C.print_header("skfmnist benchmark: prediction", args,
                   ", ".join(f"{k}={v}" for k, v in cfg.items()))
    X_train, y_train, X_test, y_test = C.load_data(n_train=cfg["n_train"],
                                                   seed=args.seed)
    train, test = (X_train, y_train), (X_test, y_test)
    targets = C.Targets(args.quick)
    payload = {"config": cfg, "threads": C.thread_info(), "versions": C.versions()}
    small = section(
        "Target 2: predict, 784-100-10 ReLU MLP", keras, SMALL_HIDDEN, 0.0,
        train, test, cfg, args.seed, all_libraries=True)
    hidden, dropout = tuple(defaults["hidden_layer_sizes"]), defaults["dropout"]
    arch = "-".join(map(str, (784, *hidden, 10)))
    default = section(
        f"Target 2: predict, DenseClassifier's default network ({arch}, "
        f"dropout {dropout})", keras, hidden, dropout, train, test, cfg, args.seed,
        all_libraries=False)
    payload["small"], payload["default"] = small, default
    for name, results in (("784-100-10", small), (arch, default)):
        dense = results["skfmnist DenseClassifier.predict"]
        r = dense["ratios"]["keras"]
        targets.add(f"2a. DenseClassifier.predict / plain Keras model.predict(X) "
                    f"(batch 32), 10k, {name}", r,
                    "<= 0.5", r <= 0.5, "x")
    for name, results in (("784-100-10", small), (arch, default)):
        single = results["skfmnist DenseClassifier.predict"]["single"] * 1e3
        targets.add(f"2b. DenseClassifier.predict, 1 image, median, {name}",
                    single, "< 2 ms", single < 2, " ms")
    tables = [small.pop("_table"), default.pop("_table")]
    C.finish(targets, payload, start, args.json)
    C.write_results(
        "predict",
        {"references": {"keras": REFERENCE + ", default arguments",
                        "keras_tuned": TUNED},
         "tables": tables, "networks": {"mlp100": small, "default": default},
         "targets": targets.as_dicts(), "total_s": payload["total_s"]},
        args, cfg,
    )


if __name__ == "__main__":
    main()
