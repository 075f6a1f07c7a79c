"""``skfmnist search``: cross-validate candidate layer sizes of a classifier."""

import time

from ..report import check_output_folder
from ._args import (
    VERBOSE,
    add_data_options,
    add_model_options,
    add_verbosity_options,
    cv_folds,
    layer_sizes,
    model_params,
    n_jobs,
)
from ._cluster import on_cluster, scheduler
from ._console import Console, text_table
from ._data import load_data
from ._models import MODELS, describe, make_pipeline

#: Default candidates of ``skfmnist search --hidden-grid``.
DEFAULT_HIDDEN_GRID = MODELS["dense"].default_grid
#: Default candidates of ``skfmnist search --model conv --filters-grid``.
DEFAULT_FILTERS_GRID = MODELS["conv"].default_grid

NAME = "search"
HELP = "grid-search layer sizes with cross-validation"
DESCRIPTION = """\
Cross-validate Pipeline([PixelScaler(), DenseClassifier()]) for each candidate
hidden_layer_sizes (ConvClassifier and its filters with --model conv) with
GridSearchCV, print the ranked results and the best model's test accuracy,
and write search.csv to --out."""
EPILOG = """\
examples:
  skfmnist search
  skfmnist search --hidden-grid 128 256,128 20,20,20 --cv 3 --n-jobs 2
  skfmnist search --sample --epochs 2 --hidden-grid 32 64,32 --cv 2
  skfmnist search --model conv --filters-grid 16,32 32,64
  skfmnist search --scheduler local:2      # on a Dask cluster"""


def ranked_table(cv_results):
    """``cv_results_`` as a DataFrame sorted by rank (all columns)."""
    import pandas as pd

    frame = pd.DataFrame(cv_results)
    frame["params"] = [
        ", ".join(
            f"{name.split('__')[-1]}={value!r}" for name, value in params.items()
        )
        for params in frame["params"]
    ]
    first = ["rank_test_score", "params", "mean_test_score", "std_test_score"]
    frame = frame[first + [column for column in frame if column not in first]]
    return frame.sort_values(["rank_test_score", "mean_fit_time"]).reset_index(
        drop=True
    )


def run(args):
    console = Console(args.verbosity)
    out = check_output_folder(args.out)
    data = load_data(args, console)
    console.info(f"Data: {data.describe()}")
    params = model_params(args)
    pipe = make_pipeline(
        {**params, "verbose": 1 if args.verbosity >= VERBOSE else 0}, args.model
    )
    name = MODELS[args.model].grid_param
    grid = args.hidden_grid if args.model == "dense" else args.filters_grid

    import pandas as pd
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        pipe,
        {f"clf__{name}": list(dict.fromkeys(grid))},
        cv=args.cv,
        n_jobs=args.n_jobs,
        verbose=args.verbosity,
        error_score="raise",
    )
    console.info(f"Searching {name} of {describe(params, args.model)}")
    with on_cluster(args.scheduler, console):
        start = time.perf_counter()
        search.fit(data.X, data.y)
        wall_time = time.perf_counter() - start
    ranked = ranked_table(search.cv_results_)
    table = pd.DataFrame(
        {
            "rank": ranked["rank_test_score"],
            "params": ranked["params"],
            "mean_accuracy": ranked["mean_test_score"].map("{:.4f}".format),
            "std_accuracy": ranked["std_test_score"].map("{:.4f}".format),
            "mean_fit_time_s": ranked["mean_fit_time"].map("{:.1f}".format),
        }
    )
    test_accuracy = float(search.score(data.X_test, data.y_test))
    console.result(
        f"{args.cv}-fold cross-validated accuracy ({data.label}, "
        f"{len(ranked)} candidates, {wall_time:.1f} s):"
    )
    console.result(text_table(table, left=("params",)))
    best = search.best_params_[f"clf__{name}"]
    console.result(
        f"Best: {name}={best!r}, test accuracy {test_accuracy:.4f} "
        "(refitted on the whole training set)"
    )
    ranked.to_csv(out / "search.csv", index=False)
    console.result(f"Wrote search.csv to {out.resolve()}")
    return 0


def add_arguments(parser):
    """The options of ``skfmnist search``."""
    parser.add_argument(
        "--hidden-grid", metavar="SIZES", nargs="+", type=layer_sizes,
        default=[layer_sizes(text) for text in DEFAULT_HIDDEN_GRID],
        help="candidate hidden layer sizes of --model dense, each a "
        f"comma-separated list (default: {' '.join(DEFAULT_HIDDEN_GRID)})",
    )
    parser.add_argument(
        "--filters-grid", metavar="SIZES", nargs="+", type=layer_sizes,
        default=[layer_sizes(text) for text in DEFAULT_FILTERS_GRID],
        help="candidate filters of --model conv, one count per convolutional "
        f"block (default: {' '.join(DEFAULT_FILTERS_GRID)})",
    )
    parser.add_argument(
        "--cv", metavar="K", type=cv_folds, default=3,
        help="number of cross-validation folds (default: 3)",
    )
    parser.add_argument(
        "--n-jobs", metavar="N", type=n_jobs, default=None,
        help="parallel fits, -1 for all cores (default: 1)",
    )
    parser.add_argument(
        "--scheduler", metavar="WHERE", type=scheduler, default=None,
        help="run the fits on a Dask cluster (needs skfmnist[dask]; --n-jobs "
        "is then ignored): local (one worker per core), local:N (N workers) "
        "or the address of a running scheduler, e.g. tcp://host:8786",
    )
    add_model_options(parser, hidden=False)
    add_data_options(parser)
    add_verbosity_options(parser)
