"""Shared fixtures (seeded randomness, small datasets, a clean pyplot) and the
rule that makes a skipped real-data test fail in CI."""

import os

import numpy as np
import pytest

# In CI the real Fashion-MNIST files must be there (.ci/run installs or points
# at them), so a real-data test that skips has silently checked nothing.
REQUIRE_REAL_DATA = "SKFMNIST_REQUIRE_REAL_DATA"


def _real_data_required():
    """Whether a skip of a ``real_data`` test counts as a failure."""
    setting = os.environ.get(REQUIRE_REAL_DATA)
    if setting is None:
        setting = os.environ.get("CI", "")
    return setting.strip().lower() in ("1", "true", "yes")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "real_data: needs the real Fashion-MNIST files; skipping it fails when "
        f"{REQUIRE_REAL_DATA}=1 or, if that is unset, CI=true",
    )


def pytest_collection_modifyitems(config, items):
    # scikit-learn's checks on the default configurations (float32, dropout,
    # mini-batches, every epoch) are the longest part of the suite: a
    # module's SLOW_ESTIMATORS get the slow marker, so that a quick run
    # (-m "not slow", CI's floors leg) checks the fast configurations only.
    for item in items:
        slow = getattr(getattr(item, "module", None), "SLOW_ESTIMATORS", ())
        callspec = getattr(item, "callspec", None)
        if callspec and any(callspec.params.get("estimator") is est for est in slow):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if (
        report.skipped
        and item.get_closest_marker("real_data") is not None
        and _real_data_required()
    ):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else ""
        reason = str(reason).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} needs the real Fashion-MNIST data, which CI must "
            f"provide ({REQUIRE_REAL_DATA}=1 or CI=true), but it skipped: {reason}"
        )


@pytest.fixture(autouse=True)
def _seed():
    """Keep tests that draw from the global NumPy generator repeatable."""
    np.random.seed(0)


@pytest.fixture(scope="session")
def blobs():
    """A small, well separated 3-class problem with 20 features."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples=240, n_features=20, centers=3, cluster_std=2.0, random_state=0
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def images():
    """Tiny 8x8 'images' in [0, 255] with 3 classes told apart by brightness."""
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(3), 40)
    base = (y[:, None, None] * 80 + 20).astype(np.float64)
    X = np.clip(base + rng.normal(0, 15, size=(len(y), 8, 8)), 0, 255)
    return X.astype(np.uint8), y


@pytest.fixture
def pyplot():
    """Matplotlib's pyplot on the Agg backend, closing every figure afterwards."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")
