"""Shared helpers of the skfmnist benchmark scripts (not part of the package).

Data loading, TensorFlow start-up with a known thread configuration, timing,
peak-RSS measurement, child processes (so that a measurement starts from a
fresh interpreter) and table printing.
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
#: Where every benchmark writes its results (one JSON file per script); the
#: documentation's performance page is generated from these files.
RESULTS_DIR = BENCH_DIR / "results"
#: Version of the layout of the results files, read by docs/_ext.
RESULTS_FORMAT = 1

try:  # installed normally: nothing to do
    import skfmnist  # noqa: F401
except ImportError:  # run from a source checkout: use the repository's copy
    sys.path.insert(0, str(REPO_ROOT))
    import skfmnist  # noqa: F401

#: Prefix of the line a child process prints its JSON result on.
CHILD_MARKER = "@@SKFMNIST-BENCH-RESULT@@ "

THREADS_ENV = "SKFMNIST_NUM_THREADS"


# -- command line ------------------------------------------------------------


def base_parser(description):
    """An argument parser with the options every benchmark script shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats, subsets and fewer epochs: a smoke run of about 2 "
        "minutes whose targets are only indicative",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help=f"TensorFlow threads for every row (sets {THREADS_ENV}); default: "
        "skfmnist's own choice",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="override the number of repeats"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--json", metavar="PATH", default=None, help="also write the results here"
    )
    # Internal: run one measurement and print its result (see run_child).
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser


def apply_thread_option(args):
    """Set the thread count from ``--threads`` before TensorFlow starts."""
    if args.threads is not None:
        os.environ[THREADS_ENV] = str(args.threads)


# -- TensorFlow / Keras ------------------------------------------------------


def import_keras(tf_default_threads=False):
    """Import Keras quietly and start TensorFlow with this process's threads.

    The thread pools are sized here, before any row runs, so that every row
    of a process (plain Keras included) uses the same ones: the count
    ``--threads`` (``SKFMNIST_NUM_THREADS``) asks for, through
    :func:`skfmnist.set_num_threads`, else TensorFlow's defaults (one thread
    per core), which skfmnist leaves alone. ``tf_default_threads=True``
    ignores the environment and keeps TensorFlow's defaults.
    """
    from skfmnist._engine.runtime import filtered_stderr
    from skfmnist._engine.runtime import import_keras as skfmnist_import_keras

    keras = skfmnist_import_keras()
    requested = os.environ.get(THREADS_ENV, "").strip()
    if requested and not tf_default_threads:
        skfmnist.set_num_threads(int(requested))
    import tensorflow as tf

    with filtered_stderr():  # starting the runtime logs device probes
        tf.config.list_logical_devices()
    return keras


def child_env_for_threads(n_threads):
    """Environment of a child process running with ``n_threads`` TF threads.

    ``None`` means TensorFlow's defaults: the thread variables are removed,
    since skfmnist would otherwise follow ``OMP_NUM_THREADS``.
    """
    if n_threads is None:
        return {THREADS_ENV: None, "OMP_NUM_THREADS": None}
    return {THREADS_ENV: str(n_threads)}


def thread_info():
    """Thread settings of this process, as a dict of short strings."""
    info = {}
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        inter = tf.config.threading.get_inter_op_parallelism_threads()
        info["tf"] = f"intra={intra}, inter={inter}" + (
            f" (0 = TF default, {os.cpu_count()} here)" if 0 in (intra, inter) else ""
        )
    try:
        from threadpoolctl import threadpool_info

        pools = threadpool_info()
        info["blas"] = ", ".join(
            f"{p['internal_api']}={p['num_threads']}" for p in pools
        ) or "none loaded"
    except ImportError:
        info["blas"] = "unknown (pip install threadpoolctl)"
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        info[name] = os.environ.get(name, "unset")
    return info


def num_threads_now():
    """TensorFlow's intra-op thread setting in this process (0: TF default)."""
    tf = sys.modules.get("tensorflow")
    return tf.config.threading.get_intra_op_parallelism_threads() if tf else None


def tf_threads_label():
    """Short label of TensorFlow's thread pools, for a table column."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return "-"
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    if intra == inter:
        return f"TF default ({os.cpu_count()})" if intra == 0 else f"TF {intra}"
    return f"TF {intra}/{inter}"


def blas_threads_label():
    """Short label of the BLAS pools (used by scikit-learn's MLPClassifier)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS ?"
    counts = sorted(
        {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
    )
    return "BLAS " + "/".join(map(str, counts)) if counts else "BLAS ?"


def keras_epoch_timer(keras, log):
    """A Keras callback that appends the wall time of each epoch to ``log``.

    ``log["t0"]`` must hold the ``perf_counter`` of the moment the measurement
    starts (before the model is built); the first entry then covers building,
    tracing and the first epoch, the later ones one epoch each. The list lives
    outside the callback, so wrappers that copy their callbacks still fill it.
    """

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            log.setdefault("epochs", []).append(now - log.get("last", log["t0"]))
            log["last"] = now

    return EpochTimer()


class LineClock:
    """A stdout stand-in that notes when a line holding ``marker`` is printed.

    Estimators that print one line per epoch (``DenseClassifier(verbose=2)``,
    ``MLPClassifier(verbose=True)``) can so be timed per epoch within a single
    ``fit`` call, like Keras with a callback. The lines themselves are dropped.
    """

    def __init__(self, marker):
        self.marker = marker
        self.times = []

    def write(self, text):
        now = time.perf_counter()
        self.times.extend([now] * text.count(self.marker))
        return len(text)

    def flush(self):
        pass


def epoch_times(start, stamps):
    """Durations between ``start`` and successive time stamps."""
    edges = [start, *stamps]
    return [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]


# -- data ---------------------------------------------------------------------


def load_data(n_train=None, n_test=None, seed=0):
    """Return ``X_train, y_train, X_test, y_test`` (uint8 pixels, int labels).

    ``n_train`` / ``n_test`` take a stratified random subset.
    """
    from skfmnist.datasets import fetch_fashion_mnist

    X_train, y_train = fetch_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = fetch_fashion_mnist(subset="test", return_X_y=True)
    X_train, y_train = _subset(X_train, y_train, n_train, seed)
    X_test, y_test = _subset(X_test, y_test, n_test, seed)
    return X_train, y_train, X_test, y_test


def _subset(X, y, n, seed):
    if n is None or n >= len(y):
        return X, y
    from sklearn.model_selection import train_test_split

    X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    return X, y


def scale(X):
    """Pixels to float32 in [0, 1], the way a plain Keras user would."""
    import numpy as np

    return np.divide(X, 255, dtype=np.float32)


# -- timing ---------------------------------------------------------------------


def timed(fn, *args, **kwargs):
    """Return ``(seconds, result)`` of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def repeat(fn, repeats):
    """Wall times of ``repeats`` calls of ``fn()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


@contextlib.contextmanager
def quiet_stdout():
    """Swallow what Python code prints to stdout (Keras progress bars)."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


def suppress_convergence_warnings():
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)


# -- memory ---------------------------------------------------------------------


def current_rss_mb():
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _read_hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmHWM")


class PeakRSS:
    """Peak resident set size of this process while the block runs, in MiB.

    On Linux the kernel's high-water mark is reset on entry (``clear_refs``)
    and read on exit, which catches every short spike. Elsewhere psutil is
    polled every 2 ms from a thread (spikes shorter than that can be missed).
    """

    def __enter__(self):
        self.before = current_rss_mb()
        self.method = "VmHWM"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            _read_hwm_mb()
        except OSError:
            self.method = "psutil polling"
            self._peak = self.before
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.002):
            self._peak = max(self._peak, current_rss_mb())

    def __exit__(self, *exc):
        if self.method == "VmHWM":
            self.peak = _read_hwm_mb()
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self._peak, current_rss_mb())
        self.delta = self.peak - self.before
        return False


# -- child processes ------------------------------------------------------------


def run_child(script, spec, env=None, timeout=1800):
    """Run ``script --child JSON`` in a fresh interpreter; return its result dict.

    The child inherits this process's environment (thread variables included)
    updated with ``env``, where a value of None removes the variable. A
    failure is returned as ``{"error": message}``.
    """
    child_env = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            child_env.pop(name, None)
        else:
            child_env[name] = value
    command = [sys.executable, str(script), "--child", json.dumps(spec)]
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=child_env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(CHILD_MARKER):
            return json.loads(line[len(CHILD_MARKER) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}


def child_main(spec_json, handlers):
    """Entry point of a child process: run ``handlers[spec['job']](spec)``."""
    spec = json.loads(spec_json)
    result = handlers[spec["job"]](spec)
    print(CHILD_MARKER + json.dumps(result), flush=True)


# -- reporting ------------------------------------------------------------------


def versions():
    """Versions of the libraries that matter, as ``name: version`` pairs."""
    import numpy
    import sklearn

    import skfmnist

    found = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "skfmnist": skfmnist.__version__,
    }
    for name in ("tensorflow", "keras"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = module.__version__
    return found


_LOAD_AT_START = []


def print_header(title, args, settings):
    """Print what ran where: mode, library versions, CPU, threads, load."""
    print(f"# {title}")
    print()
    mode = "QUICK (indicative only)" if args.quick else "full"
    print(f"mode: {mode}; {settings}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load:
        _LOAD_AT_START[:] = [round(x, 2) for x in load]
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load average "
        + (" ".join(f"{x:.2f}" for x in load) if load else "unknown")
        + " at start"
    )
    threads = thread_info()
    print("threads: " + "; ".join(f"{k}: {v}" for k, v in threads.items()))
    print()


def fmt(value, spec=".3f", suffix=""):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:{spec}}{suffix}"


def print_table(title, columns, rows, note=None):
    """Print a Markdown table; ``rows`` are lists of already formatted cells.

    Returns the table as a dict (``title``, ``columns``, ``rows``, ``notes``)
    for the results file, from which the documentation draws the same table.
    """
    print(f"## {title}")
    print()
    cells = [list(map(str, columns))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]

    def line(row):
        return "| " + " | ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ) + " |"

    print(line(cells[0]))
    print(
        "|"
        + "|".join(
            "-" * (w + 2) if i == 0 else "-" * (w + 1) + ":"
            for i, w in enumerate(widths)
        )
        + "|"
    )
    for row in cells[1:]:
        print(line(row))
    notes = [] if not note else list(note) if isinstance(note, list | tuple) else [
        note
    ]
    if notes:
        print()
        for text in notes:
            print(text)
    print()
    sys.stdout.flush()
    return {"title": title, "columns": cells[0], "rows": cells[1:], "notes": notes}


class Targets:
    """Collects target checks and prints them as a PASS/FAIL block."""

    def __init__(self, quick):
        self.quick = quick
        self.rows = []

    def add(self, name, measured, threshold, passed, unit=""):
        if measured is None or passed is None:
            verdict = "N/A"
        elif self.quick:
            verdict = "pass?" if passed else "fail?"
        else:
            verdict = "PASS" if passed else "FAIL"
        self.rows.append([name, fmt(measured, ".3g", unit), threshold, verdict])

    def at_most(self, name, measured, limit, unit="x"):
        """Add the target ``measured <= limit`` (N/A when nothing was measured)."""
        threshold = f"<= {limit}" + ("" if unit == "x" else unit)
        self.add(name, measured, threshold,
                 None if measured is None else measured <= limit, unit)

    def print(self):
        note = (
            "QUICK mode: subsets, fewer epochs and repeats; these verdicts are "
            "indicative only. Run without --quick to judge the targets."
            if self.quick
            else "Timings on a shared or busy machine are noisy; rerun before "
            "acting on a narrow FAIL."
        )
        return print_table(
            "Targets", ["target", "measured", "threshold", "verdict"], self.rows, note
        )

    def as_dicts(self):
        return [
            dict(zip(["target", "measured", "threshold", "verdict"], r, strict=True))
            for r in self.rows
        ]


def ratio(value, reference):
    if value is None or not reference:
        return None
    return value / reference


def run_sections(prefix, names, runners, args, cfg, targets, payload):
    """Run each named section; each writes its own ``<prefix>_<name>.json``.

    ``runners[name](section_targets)`` returns the section's results dict;
    its targets are added to ``targets`` and the results to ``payload``, so
    ``--only`` refreshes one results file alone.
    """
    for name in names:
        section_start = time.perf_counter()
        section_targets = Targets(args.quick)
        results = runners[name](section_targets)
        results["targets"] = section_targets.as_dicts()
        results["total_s"] = time.perf_counter() - section_start
        targets.rows += section_targets.rows
        payload[name] = results
        write_results(f"{prefix}_{name}", results, args, cfg)


def finish(targets, payload, start, json_path):
    """Print the targets block and the total time; save the JSON if asked."""
    targets.print()
    payload["targets"] = targets.as_dicts()
    payload["total_s"] = time.perf_counter() - start
    print(f"total wall time: {payload['total_s']:.0f} s")
    write_json(json_path, payload)


def write_json(path, payload):
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2, default=str)
        print(f"results written to {path}")


def cpu_model():
    """The CPU's model name as the kernel reports it (``"unknown"`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info():
    """CPU model, core counts and load average: what the figures depend on."""
    usable = (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count()
    )
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "load_average_at_start": list(_LOAD_AT_START) or None,
        "load_average_at_end": [round(x, 2) for x in load] if load else None,
    }


def results_path(name, quick):
    """``benchmarks/results/<name>.json``, or ``<name>.quick.json`` for --quick.

    Quick runs get their own file so that a smoke run never replaces the
    figures of a full run, which are the ones the documentation shows.
    """
    return RESULTS_DIR / (f"{name}.quick.json" if quick else f"{name}.json")


def write_results(name, results, args, settings, *, directory=None):
    """Write one benchmark run to ``benchmarks/results/<name>.json``; return the path.

    Parameters
    ----------
    name : str
        Short name of the benchmark, e.g. ``"bench_fit"``; the file name.
    results : dict
        The figures, JSON-serialisable (anything else is written with
        ``str``). Keep each figure next to the parameters it was measured
        with, and the threads its row used.
    args : argparse.Namespace
        The parsed command line; every option is recorded (``--quick`` also
        picks ``<name>.quick.json``).
    settings : str or dict
        What the run held fixed (network, epochs, subset sizes, ...), in words
        or as a dict.
    directory : path-like, default=None
        Where to write instead of ``benchmarks/results/`` (tests, ``--json``).

    The file also records the date (UTC), the command line, the library
    versions, the CPU model, core counts, load average and the thread
    settings of this process (TensorFlow pools, BLAS pools, thread variables).
    """
    quick = bool(getattr(args, "quick", False))
    path = results_path(name, quick)
    if directory is not None:
        path = Path(directory) / path.name
    options = {k: v for k, v in vars(args).items() if k != "child"}
    now = datetime.datetime.now(datetime.timezone.utc)
    payload = {
        "format": RESULTS_FORMAT,
        "benchmark": name,
        "mode": "quick" if quick else "full",
        "date": now.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "parameters": options,
        "settings": settings,
        "versions": versions(),
        "machine": machine_info(),
        "threads": thread_info(),
        "results": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Written aside and renamed, so a run killed half-way keeps the old file.
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, default=str)
        f.write("\n")
    os.replace(tmp, path)
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    print(f"results written to {shown}")
    return path
