import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skfmnist import (
    DenseClassifier,
    LearningRateFinderResult,
    PixelScaler,
    find_learning_rate,
    load_sample,
)
from skfmnist.lr_finder import _auto_smoothing, _noisy_start, _smooth, _suggest


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


def test_default_sweep_covers_at_least_a_hundred_steps(blobs):
    X, y = blobs
    result = find_learning_rate(small(), X, y, divergence_threshold=None)
    assert len(result.history) == 100  # 240 samples / 16 = 15 steps, cycled
    # The default smoothing spans a quarter of a decade: 100 points over
    # six decades are 16.5 a decade, a time constant of about 4 points.
    raw = result.history["loss"].to_numpy()
    smoothing = _auto_smoothing(100, 1e-6, 1.0)
    assert smoothing == pytest.approx(1 - 1 / (0.25 * 99 / 6))
    np.testing.assert_allclose(result.history["smoothed_loss"],
                               _smooth(raw, smoothing))


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
    # MLPClassifier's stopping rule does not cut the sweep short.
    impatient = find_learning_rate(
        small(n_iter_no_change=1, tol=10.0), X, y, schedule="epoch", epochs=5,
        divergence_threshold=None,
    )
    assert len(impatient.history) == 5
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
    # The noisy start: twice the time constant, a twentieth to a quarter.
    assert _noisy_start(100, 0.75) == 8
    assert _noisy_start(400, 0.95) == 40
    assert _noisy_start(20, 0.98) == 5


def synthetic_sweep(seed, n_points=100):
    """A range test's loss: flat, falling from 3e-4 to 3e-2, then diverging;
    noise of 0.08, and a dip of noise in the first points."""
    rng = np.random.RandomState(seed)
    rates = np.logspace(-6, 0, n_points)
    position = np.log10(rates)
    fall = 1.9 / (1 + np.exp(-(position + 2.5) * 4))
    loss = 2.4 - fall + np.where(rates > 0.05, 40 * (rates - 0.05), 0.0)
    loss = loss + rng.normal(0, 0.08, n_points)
    loss[1:4] -= 0.5
    return rates, loss


@pytest.mark.parametrize("seed", range(5))
def test_suggestion_ignores_the_noisy_start_and_lies_on_the_fall(seed):
    rates, loss = synthetic_sweep(seed)
    smoothing = _auto_smoothing(len(rates), rates[0], rates[-1])
    smoothed = _smooth(loss, smoothing)
    suggestion, at_minimum = _suggest(rates, smoothed,
                                      skip=_noisy_start(len(rates), smoothing))
    assert 3e-4 <= suggestion <= 3e-2 and suggestion < at_minimum
    # The old rule, the steepest point of the whole curve before the
    # minimum, took the dip at the start.
    best = int(np.argmin(smoothed))
    slopes = np.gradient(smoothed[: best + 1], np.log(rates[: best + 1]))
    assert rates[int(np.argmin(slopes))] < 1e-5


@pytest.mark.parametrize("hidden_layer_sizes", [(256, 128), (32,)])
def test_default_sweep_on_the_sample_suggests_a_usable_rate(hidden_layer_sizes):
    X, y = load_sample(return_X_y=True)
    pipe = make_pipeline(
        PixelScaler(),
        DenseClassifier(hidden_layer_sizes=hidden_layer_sizes, random_state=0),
    )
    result = find_learning_rate(pipe, X, y)
    assert len(result.history) > 50  # 16 batches of 128, cycled to 100 steps
    assert 1e-4 <= result.suggestion <= 1e-1
    assert result.suggestion < result.min_loss_learning_rate
