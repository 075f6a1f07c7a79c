"""The compiled training loop shared by every classifier.

Keras' ``Model.fit`` runs one Python round trip, one ``tf.data`` element and
one callback dispatch per optimizer step. For an MLP on 28x28 images those
overheads cost more than the arithmetic, so here a whole run of steps (by
default a whole epoch) executes inside one ``tf.function`` as a graph loop that
slices mini-batches out of tensors already in memory. The optimizer steps are
exactly the ones ``fit`` would take: ``ceil(n / batch_size)`` per epoch, the
last one on the remaining samples, in a freshly shuffled order each epoch.
"""

import math
import weakref

import numpy as np

from ._keras_env import import_keras

__all__ = ["EpochRunner"]

# Compiled functions live beside the model they were traced for, not on the
# estimator, so estimators pickle and clone without special cases.
_TRAIN_FUNCTIONS = weakref.WeakKeyDictionary()
_PREDICT_FUNCTIONS = weakref.WeakKeyDictionary()


def _logits_model(model):
    keras = import_keras()
    return keras.Model(model.inputs, model.get_layer("logits").output)


def _handle(variable):
    """The resource handle of a Keras variable on the TensorFlow backend."""
    return getattr(variable, "value", variable).handle


def _fused_adam(optimizer, variables):
    """Apply gradients with TensorFlow's fused Adam kernel, if it is the same step.

    Keras' Adam builds its update from about a dozen small ops per variable;
    ``ResourceApplyAdam`` computes the same update (same bias correction and
    epsilon placement) in one kernel, on Keras' own slot variables, so the
    optimizer keeps the state Keras would hold (Keras rounds one constant
    through float32 even in float64, so the two agree to about 1e-5, not to
    the last digit). Returns None when
    the optimizer has anything the kernel does not do (AMSGrad, weight decay,
    clipping, EMA, gradient accumulation, loss scaling).
    """
    keras = import_keras()
    plain = (
        type(optimizer) is keras.optimizers.Adam
        and not optimizer.amsgrad
        and not optimizer.weight_decay
        and optimizer.clipnorm is None
        and optimizer.clipvalue is None
        and optimizer.global_clipnorm is None
        and not optimizer.use_ema
        and not optimizer.gradient_accumulation_steps
    )
    if not plain:
        return None
    import tensorflow as tf

    try:
        slots = [
            (optimizer._momentums[i], optimizer._velocities[i])
            for i in map(optimizer._get_variable_index, variables)
        ]
    except (AttributeError, KeyError, IndexError):
        # Another Keras version may keep Adam's slots elsewhere: use its apply.
        return None

    def apply(gradients):
        dtype = variables[0].dtype
        step = tf.cast(optimizer.iterations + 1, dtype)
        beta_1 = tf.constant(optimizer.beta_1, dtype)
        beta_2 = tf.constant(optimizer.beta_2, dtype)
        learning_rate = tf.cast(optimizer.learning_rate, dtype)
        for variable, gradient, (m, v) in zip(variables, gradients, slots, strict=True):
            tf.raw_ops.ResourceApplyAdam(
                var=_handle(variable), m=_handle(m), v=_handle(v),
                beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                lr=learning_rate, beta1=beta_1, beta2=beta_2,
                epsilon=tf.constant(optimizer.epsilon, dtype),
                grad=tf.cast(gradient, dtype),
            )
        optimizer.iterations.assign_add(1)

    return apply


def _train_function(model, label_smoothing):
    """Return a compiled ``run(X, y, w, order, start, stop, batch_size)``."""
    key = ("train", float(label_smoothing))
    cache = _TRAIN_FUNCTIONS.setdefault(model, {})
    if key in cache:
        return cache[key]
    import tensorflow as tf

    logits_model = _logits_model(model)
    optimizer = model.optimizer
    variables = model.trainable_variables
    apply = _fused_adam(optimizer, variables) or (
        lambda gradients: optimizer.apply(gradients, variables)
    )
    dtype = model.inputs[0].dtype
    n_features = model.inputs[0].shape[1]
    smoothing = float(label_smoothing)

    def step(X, y, w):
        with tf.GradientTape() as tape:
            logits = logits_model(X, training=True)
            log_proba = tf.nn.log_softmax(logits)
            nll = -tf.gather(log_proba, y, axis=1, batch_dims=1)
            if smoothing:
                nll = (1.0 - smoothing) * nll - smoothing * tf.reduce_mean(
                    log_proba, axis=1
                )
            # Weights are normalised by their sum, so integer weights are
            # exactly equivalent to repeated samples, as in scikit-learn.
            loss = tf.math.divide_no_nan(tf.reduce_sum(w * nll), tf.reduce_sum(w))
            penalty = tf.add_n(logits_model.losses) if logits_model.losses else 0.0
            objective = loss + tf.cast(penalty, loss.dtype)
        apply(tape.gradient(objective, variables))
        correct = tf.cast(tf.argmax(logits, axis=1, output_type=tf.int32) == y, w.dtype)
        return tf.reduce_sum(w * nll), tf.reduce_sum(w * correct), tf.reduce_sum(w)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, n_features], dtype),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], dtype),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def run(X, y, w, order, start, stop, batch_size):
        n_samples = tf.shape(order)[0]
        zero = tf.zeros([], dtype)
        totals = (zero, zero, zero)
        for i in tf.range(start, stop):
            index = order[i * batch_size : tf.minimum((i + 1) * batch_size, n_samples)]
            sums = step(
                tf.gather(X, index), tf.gather(y, index), tf.gather(w, index)
            )
            totals = tuple(t + s for t, s in zip(totals, sums, strict=True))
        return totals

    cache[key] = run
    return run


def predict_function(model):
    """Return a compiled forward pass ``f(X) -> probabilities`` for ``model``."""
    if model in _PREDICT_FUNCTIONS:
        return _PREDICT_FUNCTIONS[model]
    import tensorflow as tf

    spec = tf.TensorSpec([None, model.inputs[0].shape[1]], model.inputs[0].dtype)

    @tf.function(input_signature=[spec])
    def forward(X):
        return model(X, training=False)

    _PREDICT_FUNCTIONS[model] = forward
    return forward


class EpochRunner:
    """Run epochs of mini-batch training on in-memory tensors.

    Parameters
    ----------
    model : keras.Model
        A compiled model whose second to last layer is named ``"logits"``.
    X, y, sample_weight : ndarray
        Training data in the model's dtype, encoded labels, weights.
    batch_size : int
        Mini-batch size.
    shuffle : bool
        Whether each epoch visits the samples in a new random order.
    rng : numpy.random.RandomState
        Source of the shuffling orders.
    label_smoothing : float
        Label smoothing of the cross-entropy.
    steps_per_execution : int
        Optimizer steps per compiled call; a progress bar updates between calls.
    """

    def __init__(
        self, model, X, y, sample_weight, *, batch_size, shuffle, rng,
        label_smoothing, steps_per_execution,
    ):
        import tensorflow as tf

        self.n_samples = X.shape[0]
        self.batch_size = min(batch_size, self.n_samples)
        self.steps = math.ceil(self.n_samples / self.batch_size)
        self.steps_per_execution = max(1, min(steps_per_execution, self.steps))
        self.shuffle = shuffle
        self.rng = rng
        self._run = _train_function(model, label_smoothing)
        self._X = tf.convert_to_tensor(X)
        self._y = tf.convert_to_tensor(y.astype(np.int32, copy=False))
        self._w = tf.convert_to_tensor(sample_weight.astype(X.dtype, copy=False))
        self._tf = tf

    def new_order(self):
        """Draw the order in which the next epoch visits the samples."""
        if self.shuffle:
            order = self.rng.permutation(self.n_samples)
        else:
            order = np.arange(self.n_samples)
        self._order = self._tf.convert_to_tensor(order.astype(np.int32))

    def run_steps(self, start, stop):
        """Run optimizer steps ``start`` to ``stop`` of the current epoch.

        Returns
        -------
        sums : tuple of float
            Weighted sums of the loss and of correct predictions, and the sum
            of the weights, over the samples of these steps.
        """
        tf = self._tf
        sums = self._run(
            self._X, self._y, self._w, self._order,
            tf.constant(start, tf.int32), tf.constant(stop, tf.int32),
            tf.constant(self.batch_size, tf.int32),
        )
        return tuple(float(value) for value in sums)

    def run_epoch(self, progbar=None):
        """Train one epoch; return the weighted mean loss and accuracy."""
        self.new_order()
        loss = correct = weight = 0.0
        for start in range(0, self.steps, self.steps_per_execution):
            stop = min(start + self.steps_per_execution, self.steps)
            sums = self.run_steps(start, stop)
            loss, correct, weight = (
                a + b for a, b in zip((loss, correct, weight), sums, strict=True)
            )
            if progbar is not None:
                progbar.update(
                    stop, [("loss", loss / weight if weight else 0.0)], finalize=False
                )
        if not weight:
            return 0.0, 0.0
        return loss / weight, correct / weight
