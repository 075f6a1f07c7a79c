"""Root pytest configuration: doctests in the package draw off-screen."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
