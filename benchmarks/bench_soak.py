"""Soak test: many fits in one process, the way a grid search uses an estimator.

Fits a small ``DenseClassifier`` ``--fits`` times (default 40) on a subset of
Fashion-MNIST, deleting each fitted estimator and collecting garbage before the
next, and prints:

* the resident set size after the warm-up fits and at the end, and its growth;
* the number of ``keras.Model`` objects still alive after ``gc.collect()``;
* the ratio of the median time of the last fits to that of the early ones.

Targets (issue 9): RSS growth <= 50 MiB over 40 fits, <= 2 live models, last
fits <= 1.3x the early ones. ``--defaults`` runs the package defaults
(float32, dropout, mini-batches, cosine schedule) with ``epochs=1``; the default
configuration is the small network of the issue, ``hidden_layer_sizes=(64,)``.

Run ``python benchmarks/bench_soak.py`` (about a minute) or with ``--quick``.
"""

import gc
import time

import _common as C

FULL = {"fits": 40, "n_train": 6000, "warmup": 5, "window": 10}
QUICK = {"fits": 15, "n_train": 2000, "warmup": 3, "window": 5}
TARGETS = {"rss_growth_mib": 50.0, "live_models": 2, "time_ratio": 1.3}


def live_keras_models(keras):
    gc.collect()
    return sum(isinstance(obj, keras.Model) for obj in gc.get_objects())


def main():
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=None, help="number of fits")
    args = parser.parse_args()
    C.apply_thread_option(args)
    cfg = dict(QUICK if args.quick else FULL)
    if args.fits:
        cfg["fits"] = args.fits
    keras = C.import_keras()
    from skfmnist import DenseClassifier

    X, y, _, _ = C.load_data(n_train=cfg["n_train"], seed=args.seed)
    X = C.scale(X)
    params = {"hidden_layer_sizes": (64,), "epochs": 1}
    C.print_header("Soak: repeated fits in one process", args,
                   f"{cfg['fits']} fits of DenseClassifier({params}) "
                   f"on {len(y)} images")

    start_all = time.perf_counter()
    times, rss = [], []
    for i in range(cfg["fits"]):
        start = time.perf_counter()
        clf = DenseClassifier(**params, random_state=i).fit(X, y)
        clf.predict(X[:100])
        times.append(time.perf_counter() - start)
        del clf
        gc.collect()
        rss.append(C.current_rss_mb())
        if i + 1 == cfg["warmup"]:
            print(f"after {i + 1} warm-up fits: RSS {rss[-1]:.0f} MiB")
    live = live_keras_models(keras)
    window = cfg["window"]
    early = C.median(times[cfg["warmup"] : cfg["warmup"] + window])
    late = C.median(times[-window:])
    figures = {
        "rss_after_warmup_mib": rss[cfg["warmup"] - 1],
        "rss_end_mib": rss[-1],
        "rss_growth_mib": rss[-1] - rss[cfg["warmup"] - 1],
        "live_models": live,
        "early_fit_s": early,
        "late_fit_s": late,
        "time_ratio": late / early,
    }
    print(f"end: RSS {figures['rss_end_mib']:.0f} MiB; fit {early:.2f} s early, "
          f"{late:.2f} s late (medians of {window})")
    print()
    table = C.print_table(
        f"{cfg['fits']} fits of DenseClassifier(hidden_layer_sizes=(64,), epochs=1) "
        f"on {len(y)} images, each deleted before the next",
        ["figure", "value"],
        [["RSS after the warm-up fits (MiB)", f"{figures['rss_after_warmup_mib']:.0f}"],
         ["RSS at the end (MiB)", f"{figures['rss_end_mib']:.0f}"],
         ["RSS growth (MiB)", f"{figures['rss_growth_mib']:.1f}"],
         ["live keras.Model objects after gc.collect()", str(live)],
         [f"fit + predict, median of fits {cfg['warmup'] + 1} to "
          f"{cfg['warmup'] + window} (s)", f"{early:.3f}"],
         [f"fit + predict, median of the last {window} fits (s)", f"{late:.3f}"],
         ["last / early", f"{figures['time_ratio']:.2f}"]],
    )
    targets = C.Targets(args.quick)
    targets.add("RSS growth after warm-up", figures["rss_growth_mib"],
                f"<= {TARGETS['rss_growth_mib']:.0f} MiB",
                figures["rss_growth_mib"] <= TARGETS["rss_growth_mib"], " MiB")
    targets.add("live keras.Model objects after gc.collect()", live,
                f"<= {TARGETS['live_models']}", live <= TARGETS["live_models"])
    targets.add("last / early fit time", figures["time_ratio"],
                f"<= {TARGETS['time_ratio']}",
                figures["time_ratio"] <= TARGETS["time_ratio"], "x")
    payload = {"config": cfg, "params": params, "figures": figures,
               "tables": [table],
               "fit_times_s": times, "rss_mib": rss, "threads": C.thread_info(),
               "versions": C.versions()}
    C.finish(targets, payload, start_all, args.json)
    C.write_results("soak", {**payload, "targets": targets.as_dicts()}, args, cfg)

if __name__ == "__main__":
    main()
