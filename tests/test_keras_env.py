import subprocess
import sys

import pytest

from skfmnist._keras_env import num_threads


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, 1),
        ({"OMP_NUM_THREADS": "2"}, 2),
        ({"SKFMNIST_NUM_THREADS": "3", "OMP_NUM_THREADS": "2"}, 3),
        ({"SKFMNIST_NUM_THREADS": "zero", "OMP_NUM_THREADS": "4"}, 4),
        ({"SKFMNIST_NUM_THREADS": "0"}, 1),
    ],
)
def test_thread_count_from_environment(monkeypatch, env, expected):
    for name in ("SKFMNIST_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert num_threads() == expected


def test_import_is_quiet_and_sizes_thread_pools():
    code = (
        "import skfmnist._keras_env as e\n"
        "e.import_keras()\n"
        "import tensorflow as tf\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_clean_env(), "SKFMNIST_NUM_THREADS": "2"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert result.stderr == ""


def test_importing_the_package_does_not_start_tensorflow():
    code = (
        "import sys, skfmnist, skfmnist.plotting, skfmnist.cli\n"
        "print('tensorflow' in sys.modules, 'matplotlib' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["False", "False"], result.stderr


def _clean_env():
    import os

    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("SKFMNIST_NUM_THREADS", "OMP_NUM_THREADS")
    }


def test_many_fits_do_not_warn_about_retracing(blobs, caplog):
    from skfmnist import DenseClassifier

    X, y = blobs
    for seed in range(7):
        clf = DenseClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=seed)
        clf.fit(X, y).predict(X)
    assert "retracing" not in caplog.text
