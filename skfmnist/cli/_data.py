"""The data of the ``skfmnist`` commands: full data, sample or fallback."""

import sys

from ..datasets import fetch_fashion_mnist, load_sample
from ._args import VERBOSE
from ._console import CommandError, first_line


class Data:
    """Training and test split of the data, and where they came from."""

    def __init__(self, train, test, source):
        self.X, self.y = train.data, train.target
        self.X_test, self.y_test = test.data, test.target
        self.source = source

    @property
    def label(self):
        return "full Fashion-MNIST" if self.source == "full" else "bundled sample"

    def describe(self):
        return (
            f"{self.label}, {len(self.y):,} training and {len(self.y_test):,} "
            "test images"
        )


def load_data(args, console):
    """The full data, or the bundled sample (asked for, or as a fallback).

    The loader's own messages (download progress, failed attempts) show with
    --verbose only, so that a failure reads as one line otherwise.
    """
    if not args.sample:
        verbose = console.verbosity >= VERBOSE
        try:
            train, test = (
                fetch_fashion_mnist(
                    subset=subset, data_home=args.data_home, verbose=verbose
                )
                for subset in ("train", "test")
            )
            return Data(train, test, "full")
        except OSError as exc:
            if verbose:
                print(str(exc), file=sys.stderr, flush=True)
                hint = ""
            else:
                hint = "; run with --verbose for why and how to get it"
            if args.no_fallback:
                raise CommandError(
                    f"cannot load the full Fashion-MNIST data "
                    f"({first_line(exc)}){hint}"
                ) from None
            console.warn(
                f"cannot find or download the full Fashion-MNIST data "
                f"({first_line(exc)}); falling back to the bundled sample{hint}"
            )
    return Data(load_sample(subset="train"), load_sample(subset="test"), "sample")


def hold_out(X, y, fraction, seed):
    """Split off a stratified, seeded ``fraction`` of ``(X, y)`` as held-out data.

    Returns ``X_fit, X_val, y_fit, y_val``; with ``fraction == 0`` the held-out
    part is None.
    """
    if not fraction:
        return X, None, y, None
    from sklearn.model_selection import train_test_split

    return train_test_split(
        X, y, test_size=fraction, stratify=y, random_state=seed
    )
