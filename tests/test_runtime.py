"""TensorFlow start-up: quiet, and thread pools sized only when asked."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from skfmnist._engine.runtime import requested_threads

THREAD_VARS = ("SKFMNIST_NUM_THREADS", "OMP_NUM_THREADS")


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, None),
        ({"OMP_NUM_THREADS": "2"}, 2),
        ({"SKFMNIST_NUM_THREADS": "3", "OMP_NUM_THREADS": "2"}, 3),
        ({"SKFMNIST_NUM_THREADS": "zero", "OMP_NUM_THREADS": "4"}, 4),
        ({"SKFMNIST_NUM_THREADS": "0"}, None),
    ],
)
def test_thread_count_from_environment(monkeypatch, env, expected):
    for name in THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert requested_threads() == expected


def _run(code, **env):
    """Run ``code`` in a fresh interpreter without the thread variables."""
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=180, env={**clean, **env},
    )
    assert result.returncode == 0, result.stderr
    return result


FIT_AND_PICKLE = """
import pickle
import numpy as np
from skfmnist import DenseClassifier
rng = np.random.RandomState(0)
X, y = rng.rand(40, 6).astype(np.float32), np.arange(40) % 2
clf = DenseClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(X, y)
blob = pickle.dumps(clf)
"""


def test_importing_skfmnist_leaves_tensorflow_unstarted():
    # The user's own code can still size TensorFlow's pools after importing
    # every public name (which would raise once the runtime had started).
    result = _run("""
        import skfmnist
        from skfmnist import DenseClassifier, find_learning_rate
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(3)
        print(tf.config.threading.get_intra_op_parallelism_threads())
    """)
    assert result.stdout.split() == ["3"]


def test_environment_variable_sizes_the_pools_quietly():
    result = _run(FIT_AND_PICKLE + """
import tensorflow as tf
print(tf.config.threading.get_intra_op_parallelism_threads(),
      tf.config.threading.get_inter_op_parallelism_threads())
""", SKFMNIST_NUM_THREADS="2")
    assert result.stdout.split() == ["2", "2"]
    assert result.stderr == ""


def test_set_num_threads_before_and_after_start():
    result = _run("""
import skfmnist
print(skfmnist.get_num_threads())
print(skfmnist.set_num_threads(1))
""" + FIT_AND_PICKLE + """
print(skfmnist.get_num_threads(), skfmnist.set_num_threads(1))
try:
    skfmnist.set_num_threads(2)
except RuntimeError as exc:
    print("refused:", exc)
""")
    lines = result.stdout.strip().splitlines()
    assert lines[:3] == ["None", "1", "1 1"]
    assert lines[3].startswith("refused: TensorFlow has already started")
    assert "SKFMNIST_NUM_THREADS=2" in lines[3]


def test_explicit_call_wins_over_environment():
    result = _run("""
import skfmnist
skfmnist.set_num_threads(1)
""" + FIT_AND_PICKLE + """
print(skfmnist.get_num_threads())
""", OMP_NUM_THREADS="2")
    assert result.stdout.split() == ["1"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_non_positive_integers(bad):
    import skfmnist

    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        skfmnist.set_num_threads(bad)


def test_many_fits_do_not_warn_about_retracing(blobs, caplog):
    from skfmnist import DenseClassifier

    X, y = blobs
    for seed in range(7):
        clf = DenseClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=seed)
        clf.fit(X, y, X_val=X[:20], y_val=y[:20]).predict(X)
    assert "retracing" not in caplog.text


def test_keras_major_version_is_the_one_the_fused_adam_step_was_tested_with():
    # A new Keras major version must be checked against the fused Adam step
    # (slot layout, update formula) before it is trusted; fail loudly here.
    from skfmnist._engine.runtime import import_keras
    from skfmnist._engine.training import _FUSED_ADAM_KERAS_MAJOR

    keras = import_keras()
    assert int(keras.__version__.split(".")[0]) == _FUSED_ADAM_KERAS_MAJOR


def test_installed_keras_takes_the_fused_adam_path():
    # If a Keras release moves Adam's slots, the fused step silently falls
    # back to Keras' update; this makes that fall-back visible.
    from skfmnist._engine.runtime import import_keras
    from skfmnist._engine.training import _fused_adam

    keras = import_keras()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    assert _fused_adam(optimizer, model.trainable_variables) is not None
    amsgrad = keras.optimizers.Adam(amsgrad=True)
    amsgrad.build(model.trainable_variables)
    assert _fused_adam(amsgrad, model.trainable_variables) is None


# A stand-in for TensorFlow whose import does what a fatal error does in
# TensorFlow's C++ side: write to file descriptor 2 and abort the process.
STAND_IN_TENSORFLOW = """
import json
import os
os.write(2, b"I0000 00:00:0.0 1 port.cc:153] an INFO line, dropped\\n")
os.write(2, b"F0000 00:00:0.0 1 cpu_feature_guard.cc:1] The TensorFlow "
            b"library was compiled to use AVX512F instructions, but these "
            b"aren't available on your machine.\\n")
os.abort()
"""


def test_fatal_message_from_tensorflow_reaches_stderr(tmp_path):
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(STAND_IN_TENSORFLOW)
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text("import tensorflow\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c",
         "from skfmnist._engine.runtime import import_keras; import_keras()"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert result.returncode < 0  # killed by SIGABRT
    assert "compiled to use AVX512F instructions" in result.stderr
    assert "an INFO line" not in result.stderr


def test_lines_of_other_threads_pass_through_the_filter(capfd):
    from skfmnist._engine.runtime import filtered_stderr

    with filtered_stderr():
        os.write(2, b"W0000 00:00:0.0 1 x.cc:1] a TensorFlow warning\n")
        os.write(2, b"2024-01-02 03:04:05.678901: I tensorflow/x.cc:1] 2.16's INFO\n")
        os.write(2, b"E0000 00:00:0.0 1 x.cc:1] a TensorFlow error\n")
        os.write(2, b"a line of another thread\n")
    err = capfd.readouterr().err
    assert err.splitlines() == [
        "E0000 00:00:0.0 1 x.cc:1] a TensorFlow error",
        "a line of another thread",
    ]


# A default fit (float32, dropout, mini-batches) and a pickle round trip, in
# this process and, with "--child", in a child process that only unpickles;
# prints TensorFlow's pool sizes and what changed in os.environ.
DEFAULTS_AFTER_FIT = """
import json, os, pickle, subprocess, sys
before = dict(os.environ)
import numpy as np
from sklearn.pipeline import make_pipeline
from skfmnist import DenseClassifier, PixelScaler
rng = np.random.RandomState(0)
X, y = rng.randint(0, 256, (300, 64)), np.arange(300) % 3
pipe = make_pipeline(PixelScaler(), DenseClassifier(epochs=2, random_state=0))
blob = pickle.dumps(pipe.fit(X, y))
pickle.loads(blob).predict(X)
child = None
if "--child" in sys.argv:
    code = '''
import pickle, sys
import numpy as np
pipe = pickle.loads(sys.stdin.buffer.read())
import tensorflow as tf
print(tf.config.threading.get_intra_op_parallelism_threads(),
      tf.config.threading.get_inter_op_parallelism_threads(),
      pipe.predict(np.zeros((2, 64), np.uint8)).shape)
'''
    out = subprocess.run([sys.executable, "-c", code], input=blob,
                         capture_output=True, check=True)
    child = [out.stdout.decode().strip(), out.stderr.decode()]
import tensorflow as tf
after = dict(os.environ)
print(json.dumps({
    "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
    "child": child,
    "changed": {k: after.get(k) for k in set(before) | set(after)
                if before.get(k) != after.get(k)},
}))
"""


@pytest.mark.parametrize("log_level", [None, "0"])
def test_defaults_leave_thread_pools_and_environment_alone(log_level):
    extra = {} if log_level is None else {"TF_CPP_MIN_LOG_LEVEL": log_level}
    clean = {k: v for k, v in os.environ.items()
             if k not in THREAD_VARS and k != "TF_CPP_MIN_LOG_LEVEL"}
    argv = ["--child"] if log_level is None else []
    result = subprocess.run(
        [sys.executable, "-c", DEFAULTS_AFTER_FIT, *argv], capture_output=True,
        text=True, timeout=180, env={**clean, **extra},
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    # Only the documented log level, and only when the user had not set one.
    assert found["changed"] == (
        {"TF_CPP_MIN_LOG_LEVEL": "2"} if log_level is None else {}
    )
    # 0 is TensorFlow's "one thread per core" default.
    assert found["intra_op"] == 0
    if log_level is None:
        # Unpickling in a fresh process keeps the defaults too, quietly.
        assert found["child"] == ["0 0 (2,)", ""]
        assert result.stderr == ""
