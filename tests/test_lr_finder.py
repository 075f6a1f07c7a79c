import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skfmnist import (
    DenseClassifier,
    LearningRateFinderResult,
    PixelScaler,
    find_learning_rate,
)
from skfmnist.lr_finder import _smooth, _suggest


def small(**params):
    return DenseClassifier(
        hidden_layer_sizes=(16,), batch_size=16, random_state=0, **params
    )


def test_batch_sweep_is_one_pass_with_geometric_rates(blobs):
    X, y = blobs
    result = find_learning_rate(
        small(), X, y, min_lr=1e-4, max_lr=1e-1, divergence_threshold=None,
        num_steps=15,
    )
    assert isinstance(result, LearningRateFinderResult)
    rates = result.history["learning_rate"].to_numpy()
    assert len(rates) == 15 == len(X) // 16
    assert rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1e-1)
    assert np.allclose(np.diff(np.log(rates)), np.log(1e3) / 14)
    assert result.schedule == "batch"
    assert 1e-4 <= result.suggestion <= result.min_loss_learning_rate <= 1e-1


def test_default_sweep_covers_at_least_fifty_steps(blobs):
    X, y = blobs
    result = find_learning_rate(small(), X, y, divergence_threshold=None)
    assert len(result.history) == 50  # 240 samples / 16 = 15 steps, cycled


def test_divergence_stops_the_sweep(blobs):
    X, y = blobs
    result = find_learning_rate(small(), X, y, min_lr=1e-3, max_lr=1e4, num_steps=200)
    assert len(result.history) < 200
    assert result.suggestion < 1e4


def test_epoch_schedule_reproduces_the_notebook_sweep(blobs):
    X, y = blobs
    result = find_learning_rate(
        small(), X, y, schedule="epoch", epochs=5, min_lr=1e-3,
        max_lr=1e-3 * 10 ** (4 / 20), divergence_threshold=None,
    )
    expected = 1e-3 * 10 ** (np.arange(5) / 20)
    assert np.allclose(result.history["learning_rate"], expected)
    # No smoothing by default for an epoch sweep.
    assert np.allclose(result.history["loss"], result.history["smoothed_loss"])


def test_pipeline_and_input_estimator_untouched(images):
    X, y = images
    pipe = make_pipeline(PixelScaler(), small(learning_rate=0.5))
    result = find_learning_rate(pipe, X, y, num_steps=20)
    assert not hasattr(pipe[-1], "model_")
    assert pipe[-1].get_params()["learning_rate"] == 0.5
    assert len(result.history) <= 20


def test_plot_marks_the_suggestion(blobs, pyplot):
    X, y = blobs
    result = find_learning_rate(small(), X, y, num_steps=20)
    rates = result.history["learning_rate"].to_numpy()
    smoothed = result.history["smoothed_loss"].to_numpy()
    # The suggestion is one of the swept rates, not the minimum's: a marker
    # drawn at the wrong one of the two lands elsewhere.
    row = int(np.argmin(np.abs(np.log(rates / result.suggestion))))
    assert rates[row] == pytest.approx(result.suggestion)
    assert result.suggestion != pytest.approx(result.min_loss_learning_rate)
    ax = result.plot()
    assert ax.get_xscale() == "log"
    raw, smooth, vline, dot = ax.get_lines()
    np.testing.assert_allclose(smooth.get_xdata(), rates)
    np.testing.assert_allclose(smooth.get_ydata(), smoothed)
    np.testing.assert_allclose(vline.get_xdata(), [result.suggestion] * 2)
    np.testing.assert_allclose(dot.get_xdata(), [result.suggestion])
    np.testing.assert_allclose(dot.get_ydata(), [smoothed[row]], rtol=1e-9)
    label = ax.get_legend().get_texts()[-1].get_text()
    assert label == f"suggested {result.suggestion:.2g}"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(min_lr=1.0, max_lr=0.1), ValueError, "min_lr=1.0 must be smaller"),
        (dict(schedule="cycle"), ValueError, "'schedule' parameter"),
        (dict(min_lr=0), ValueError, "'min_lr' parameter"),
    ],
)
def test_bad_arguments(blobs, kwargs, error, match):
    X, y = blobs
    with pytest.raises(error, match=match):
        find_learning_rate(small(), X, y, **kwargs)


def test_rejects_other_estimators(blobs):
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    with pytest.raises(ValueError, match="'estimator' parameter"):
        find_learning_rate(LogisticRegression(), X, y)
    with pytest.raises(TypeError, match="last step of the pipeline"):
        find_learning_rate(make_pipeline(LogisticRegression()), X, y)


def test_smoothing_and_suggestion_helpers():
    assert np.allclose(_smooth([1.0, 1.0, 1.0], 0.9), 1.0)  # bias corrected
    rates = np.logspace(-5, 0, 6)
    smoothed = np.array([2.0, 1.9, 1.0, 0.8, 0.7, 5.0])
    suggestion, at_minimum = _suggest(rates, smoothed)
    assert at_minimum == pytest.approx(1e-1)
    assert suggestion == pytest.approx(1e-3)
