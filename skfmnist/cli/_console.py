"""What the ``skfmnist`` commands print, and how.

Progress and results go to stdout, warnings and errors to stderr, each as
plain lines. Keras' progress bar, which redraws itself with carriage returns
and colour codes, is used only where it reads well: on a terminal, or when
asked for with ``--verbose``; a log file gets one plain line per epoch.
"""

import sys

from ._args import NORMAL, VERBOSE

PROG = "skfmnist"


class CommandError(Exception):
    """An expected failure, reported as one line and exit status 1."""


def first_line(exc):
    """The first line of an exception's message (its type if it has none)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def plural(count, noun):
    """``"1 epoch"``, ``"3 epochs"``, ``"10,000 images"``."""
    return f"{count:,} {noun}{'s' * (count != 1)}"


def stdout_is_terminal():
    """Whether stdout is an interactive terminal (not a file, pipe or buffer)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class Console:
    """Print according to the verbosity level; warnings and errors to stderr.

    Parameters
    ----------
    verbosity : {0, 1, 2}
        ``QUIET``, ``NORMAL`` or ``VERBOSE``.
    """

    def __init__(self, verbosity):
        self.verbosity = verbosity

    def info(self, message):
        """Progress and context, hidden by --quiet."""
        if self.verbosity >= NORMAL:
            print(message, flush=True)

    def detail(self, message):
        """Details shown with --verbose only."""
        if self.verbosity >= VERBOSE:
            print(message, flush=True)

    def result(self, message=""):
        """The final summary, always shown."""
        print(message, flush=True)

    def warn(self, message):
        sys.stdout.flush()
        print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)

    @property
    def progress_bars(self):
        """Whether training shows Keras' progress bar.

        With --verbose always; at normal verbosity only on a terminal, where
        the bar redraws in place instead of filling a log with frames.
        """
        if self.verbosity >= VERBOSE:
            return True
        return self.verbosity == NORMAL and stdout_is_terminal()

    @property
    def epoch_lines(self):
        """Whether training prints one plain line per epoch instead of a bar."""
        return self.verbosity == NORMAL and not self.progress_bars


def error(message):
    """Print ``skfmnist: error: message`` to stderr, after any pending output."""
    sys.stdout.flush()
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def text_table(frame, *, left=()):
    """``frame`` as aligned text: columns in ``left`` to the left, others right."""
    columns = [str(column) for column in frame.columns]
    rows = [columns] + [
        [str(value) for value in row] for row in frame.itertuples(index=False)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column in left else cell.rjust(width)
            for cell, width, column in zip(row, widths, columns, strict=True)
        ).rstrip()
        for row in rows
    )
