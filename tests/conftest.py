"""Shared fixtures: seeded randomness, small datasets, a clean pyplot."""

import numpy as np
import pytest


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
