"""scikit-learn's own estimator checks, over fast instances of every estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skfmnist import DenseClassifier, PixelScaler

# float64 makes the checks that compare outputs to 1e-7 (sample-weight
# equivalence, invariance to batch composition) meaningful; batch_size covers
# the checks' small datasets in one step, so each epoch is one exact gradient
# step.
FAST_CLASSIFIER = DenseClassifier(
    hidden_layer_sizes=(32,),
    dropout=0.0,
    learning_rate=0.05,
    learning_rate_schedule="constant",
    epochs=30,
    batch_size=512,
    dtype="float64",
    random_state=0,
)

ESTIMATORS = [PixelScaler(), FAST_CLASSIFIER]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
