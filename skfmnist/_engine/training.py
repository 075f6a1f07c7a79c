"""The compiled training and inference engine shared by every classifier.

Keras' ``Model.fit`` runs one Python round trip, one ``tf.data`` element and
one callback dispatch per optimizer step. For small networks on 28x28 images
those overheads cost more than the arithmetic, so here a whole run of steps (by
default a whole epoch) executes inside one ``tf.function`` as a graph loop that
slices mini-batches out of tensors already in memory. The optimizer steps are
exactly the ones ``fit`` would take: ``ceil(n / batch_size)`` per epoch, the
last one on the remaining samples, in a freshly shuffled order each epoch.

The weight penalty follows scikit-learn's ``MLPClassifier``: the layers'
regularization losses (``model.losses``, the numerator ``0.5 * alpha *
||W||^2``) are divided by the sum of the sample weights of each mini-batch
(its number of samples, without weights) before they join that batch's
weighted mean loss, so the last, smaller batch of an epoch carries a larger
share, exactly as in ``MLPClassifier._backprop``.

An :class:`Engine` belongs to one fitted model and is owned by the estimator
that owns the model; nothing global refers to either, so a deleted estimator
takes its model, its compiled graphs and its training tensors with it.
"""

import math

import numpy as np

from .runtime import import_keras

__all__ = ["DivergedError", "Engine", "EpochRunner", "logits_model_of"]

# Rows are padded to a multiple of this before inference: very small float32
# batches take other matrix kernels. This keeps the usual batch sizes on the
# same kernels; other sizes can still round the last bits differently on some
# processors (AVX2), hence predict_batch_size's documented tolerance.
_ROW_ALIGNMENT = 8
# Keras major versions whose Adam keeps its slots where the fused step looks
# for them (tested with Keras 3.15); another major version uses Keras' update.
_FUSED_ADAM_KERAS_MAJOR = 3


class DivergedError(ValueError):
    """Training produced a non-finite loss or non-finite weights."""


def _handle(variable):
    """The resource handle of a Keras variable on the TensorFlow backend."""
    return getattr(variable, "value", variable).handle


def _use_fused_adam(optimizer):
    """Whether ``optimizer`` is plain Adam on a Keras version the fused step knows.

    Returns False for anything the fused kernel does not do (AMSGrad, weight
    decay, clipping, EMA, gradient accumulation, loss scaling) and on Keras
    major versions other than the one it was tested with.
    """
    keras = import_keras()
    major = int(keras.__version__.split(".")[0])
    return (
        major == _FUSED_ADAM_KERAS_MAJOR
        and type(optimizer) is keras.optimizers.Adam
        and not optimizer.amsgrad
        and not optimizer.weight_decay
        and optimizer.clipnorm is None
        and optimizer.clipvalue is None
        and optimizer.global_clipnorm is None
        and not optimizer.use_ema
        and not optimizer.gradient_accumulation_steps
    )


def _fused_adam(optimizer, variables):
    """Apply gradients with TensorFlow's fused Adam kernel, if it is the same step.

    Keras' Adam builds its update from about a dozen small ops per variable;
    ``ResourceApplyAdam`` computes the same update (same bias correction and
    epsilon placement) in one kernel, on Keras' own slot variables, so the
    optimizer keeps the state Keras would hold (Keras rounds one constant
    through float32 even in float64, so the two agree to about 1e-5, not to
    the last digit). Returns None when :func:`_use_fused_adam` says no, or
    when the slots are not where this Keras version was known to keep them.
    """
    if not _use_fused_adam(optimizer):
        return None
    import tensorflow as tf

    try:
        slots = [
            (optimizer._momentums[i], optimizer._velocities[i])
            for i in map(optimizer._get_variable_index, variables)
        ]
    except (AttributeError, KeyError, IndexError):
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


def _smoothed_nll(tf, logits, y, smoothing):
    """Per-sample cross-entropy of integer labels, with label smoothing."""
    log_proba = tf.nn.log_softmax(logits)
    nll = -tf.gather(log_proba, y, axis=1, batch_dims=1)
    if smoothing:
        nll = (1.0 - smoothing) * nll - smoothing * tf.reduce_mean(log_proba, axis=1)
    return nll


def _penalty(tf, logits_model, dtype):
    """The sum of the model's regularization losses at its current weights.

    This is the numerator of the penalty: a training step divides it by the
    batch's sum of sample weights (see the module's docstring).
    """
    losses = logits_model.losses
    return tf.cast(tf.add_n(losses), dtype) if losses else tf.zeros([], dtype)


def logits_model_of(model):
    """The Keras model from ``model``'s input to its layer named "logits"."""
    keras = import_keras()
    return keras.Model(model.inputs, model.get_layer("logits").output)


def _train_function(logits_model, optimizer, label_smoothing, augment):
    """Return a compiled ``run(X, y, w, order, start, stop, batch_size, seed)``."""
    import tensorflow as tf

    variables = logits_model.trainable_variables
    apply = _fused_adam(optimizer, variables) or (
        lambda gradients: optimizer.apply(gradients, variables)
    )
    spec = logits_model.inputs[0]
    dtype = spec.dtype
    smoothing = float(label_smoothing)

    def step(X, y, w, seed):
        if augment is not None:
            X = augment(X, seed)
        weight = tf.reduce_sum(w)
        with tf.GradientTape() as tape:
            logits = logits_model(X, training=True)
            nll = _smoothed_nll(tf, logits, y, smoothing)
            # As MLPClassifier: the weighted mean loss plus the penalty
            # 0.5 * alpha * ||W||^2, both divided by the batch's sum of
            # weights, so integer weights are exactly equivalent to repeated
            # samples. A batch of zero weight contributes nothing.
            penalty = _penalty(tf, logits_model, weight.dtype)
            penalty = tf.where(weight > 0, penalty, tf.zeros_like(penalty))
            total = tf.reduce_sum(w * nll) + penalty
            objective = tf.math.divide_no_nan(total, weight)
        apply(tape.gradient(objective, variables))
        correct = tf.cast(tf.argmax(logits, axis=1, output_type=tf.int32) == y, w.dtype)
        return total, tf.reduce_sum(w * correct), weight

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *spec.shape[1:]], dtype),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], dtype),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
        ],
        autograph=False,
    )
    def run(X, y, w, order, start, stop, batch_size, seed):
        # An explicit while_loop and autograph=False (here and below): each
        # fit traces new functions, and autograph's conversion of everything
        # a step calls, Keras' layers included, added 5-15% to the whole
        # cost of a small fit.
        n_samples = tf.shape(order)[0]

        def body(i, *totals):
            index = order[i * batch_size : tf.minimum((i + 1) * batch_size, n_samples)]
            sums = step(
                tf.gather(X, index), tf.gather(y, index), tf.gather(w, index),
                tf.stack([seed, i]),
            )
            return (i + 1, *(t + s for t, s in zip(totals, sums, strict=True)))

        zero = tf.zeros([], dtype)
        _, *totals = tf.while_loop(
            lambda i, *_: i < stop, body, (start, zero, zero, zero)
        )
        return tuple(totals)

    return run


def _compile_forward(network, spec, views):
    import tensorflow as tf

    @tf.function(
        input_signature=[tf.TensorSpec([None, *spec.shape[1:]], spec.dtype)],
        autograph=False,
    )
    def forward(X):
        proba = network(X)
        for view in views:
            proba += network(view(X))
        return proba / (1 + len(views))

    return forward


def _compile_log_forward(network, spec, views):
    """``X -> log-probabilities`` from logits, averaged over ``views`` as
    :func:`_compile_forward` averages probabilities (a log-sum-exp), so that
    no probability that underflows becomes ``-inf``."""
    import tensorflow as tf

    @tf.function(
        input_signature=[tf.TensorSpec([None, *spec.shape[1:]], spec.dtype)],
        autograph=False,
    )
    def log_forward(X):
        logs = [tf.nn.log_softmax(network(X))]
        logs += [tf.nn.log_softmax(network(view(X))) for view in views]
        if len(logs) == 1:
            return logs[0]
        return tf.reduce_logsumexp(tf.stack(logs), axis=0) - math.log(len(logs))

    return log_forward


def _compile_evaluate(logits_model, label_smoothing):
    import tensorflow as tf

    spec = logits_model.inputs[0]
    smoothing = float(label_smoothing)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *spec.shape[1:]], spec.dtype),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], spec.dtype),
        ],
        autograph=False,
    )
    def evaluate(X, y, w):
        logits = logits_model(X, training=False)
        nll = _smoothed_nll(tf, logits, y, smoothing)
        correct = tf.cast(tf.argmax(logits, axis=1, output_type=tf.int32) == y, w.dtype)
        return tf.reduce_sum(w * nll), tf.reduce_sum(w * correct), tf.reduce_sum(w)

    return evaluate


class Engine:
    """Compiled training, evaluation and inference for one Keras model.

    Parameters
    ----------
    model : keras.Model
        A compiled model whose input is the network's input shape, whose
        output is the class probabilities and whose layer named ``"logits"``
        gives the logits.
    augment : callable or None, default=None
        ``augment(X, seed) -> X``, run on each training mini-batch inside the
        compiled step; ``seed`` is a stateless seed of shape ``(2,)``.
    network : callable or None, default=None
        ``network(X) -> probabilities`` used for prediction, equal to the
        model in inference mode but cheaper to run (see
        :func:`skfmnist._engine.inference.inference_network`). None runs the model.
    logits_network : callable or None, default=None
        ``logits_network(X) -> logits``, the same for the logits (used for
        log-probabilities). None runs the model up to its "logits" layer.
    logits_model : keras.Model or None, default=None
        The model up to its "logits" layer, if already built
        (:func:`logits_model_of`); None builds it when first needed.
    """

    def __init__(self, model, augment=None, network=None, logits_network=None,
                 logits_model=None):
        self.model = model
        self.augment = augment
        self.network = network or (lambda X: model(X, training=False))
        self.logits_network = logits_network or (
            lambda X: self.logits_model(X, training=False)
        )
        self.input_shape = tuple(model.inputs[0].shape[1:])
        self.dtype = np.dtype(model.inputs[0].dtype)
        self._logits_model = logits_model
        self._functions = {}

    @property
    def logits_model(self):
        if self._logits_model is None:
            self._logits_model = logits_model_of(self.model)
        return self._logits_model

    def _function(self, key, build):
        if key not in self._functions:
            self._functions[key] = build()
        return self._functions[key]

    def train_function(self, label_smoothing):
        """The compiled run of training steps for this label smoothing."""
        return self._function(
            ("train", float(label_smoothing)),
            lambda: _train_function(
                self.logits_model, self.model.optimizer, label_smoothing, self.augment
            ),
        )

    def shape(self, X):
        """View flat rows ``(n, n_features)`` in the network's input shape."""
        X = np.asarray(X).astype(self.dtype, copy=False)
        return X.reshape((X.shape[0], *self.input_shape))

    def _chunks(self, X, size):
        for start in range(0, X.shape[0], size):
            yield X[start : start + size]

    def predict_proba(self, X, batch_size, views=()):
        """Class probabilities of flat rows ``X``, in chunks, as float64.

        ``views`` are functions ``X -> X`` (such as a mirror image) whose
        probabilities are averaged with those of ``X`` itself: test-time
        augmentation.
        """
        views = tuple(views)
        forward = self._function(
            ("forward", views),
            lambda: _compile_forward(self.network, self.model.inputs[0], views),
        )
        proba = self._run_rows(forward, X, batch_size)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X, batch_size, views=()):
        """Log of :meth:`predict_proba`, computed from the logits, as float64.

        ``log_softmax`` of the logits (a log-sum-exp over the views) stays
        finite where a probability underflows to 0; the rows are normalised
        in float64 as :meth:`predict_proba` normalises its rows.
        """
        views = tuple(views)
        forward = self._function(
            ("log_forward", views),
            lambda: _compile_log_forward(
                self.logits_network, self.model.inputs[0], views
            ),
        )
        log_proba = self._run_rows(forward, X, batch_size)
        top = log_proba.max(axis=1, keepdims=True)
        norm = np.log(np.exp(log_proba - top).sum(axis=1, keepdims=True))
        return log_proba - (top + norm)

    def _run_rows(self, forward, X, batch_size):
        """``forward`` over flat rows ``X`` in chunks, as one float64 array."""
        chunks = []
        for chunk in self._chunks(self.shape(X), batch_size):
            pad = -len(chunk) % _ROW_ALIGNMENT
            if pad:
                chunk = np.concatenate(
                    [chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)]
                )
            chunks.append(forward(chunk).numpy()[: len(chunk) - pad])
        return np.concatenate(chunks).astype(np.float64, copy=False)

    def evaluate(self, X, y, sample_weight, label_smoothing, batch_size,
                 penalty_share=0.0):
        """Weighted mean objective and accuracy on held-out flat rows ``X``.

        The objective is the one training minimises: the cross-entropy with
        the same label smoothing, plus ``penalty_share`` times the penalty's
        numerator ``0.5 * alpha * ||W||^2``. The share that makes it
        comparable with the training loss is the one that loss carries: the
        number of mini-batches of an epoch over the training weight (about
        ``1 / batch_size``).
        """
        import tensorflow as tf

        evaluate = self._function(
            ("evaluate", float(label_smoothing)),
            lambda: _compile_evaluate(self.logits_model, label_smoothing),
        )
        X = self.shape(X)
        y = y.astype(np.int32, copy=False)
        w = sample_weight.astype(self.dtype, copy=False)
        loss = correct = weight = 0.0
        for start in range(0, X.shape[0], batch_size):
            part = slice(start, start + batch_size)
            sums = evaluate(X[part], y[part], w[part])
            loss, correct, weight = (
                a + float(b) for a, b in zip((loss, correct, weight), sums, strict=True)
            )
        penalty = float(_penalty(tf, self.logits_model, self.dtype))
        return loss / weight + penalty_share * penalty, correct / weight

    def state(self):
        """Copies of every model and optimizer variable, to restore later."""
        return [v.numpy() for v in self._state_variables()]

    def restore(self, state):
        """Put back the variables copied by :meth:`state`.

        Raises ValueError, naming the first mismatch, when ``state`` does not
        hold one array of the right shape per variable.
        """
        variables = self._state_variables()
        if len(state) != len(variables):
            raise ValueError(
                f"{len(state)} arrays for {len(variables)} variables"
            )
        for variable, value in zip(variables, state, strict=True):
            if tuple(np.shape(value)) != tuple(variable.shape):
                raise ValueError(
                    f"an array of shape {np.shape(value)} for {variable.path}, "
                    f"of shape {tuple(variable.shape)}"
                )
        for variable, value in zip(variables, state, strict=True):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def _state_variables(self):
        return [*self.model.variables, *self.model.optimizer.variables]


class EpochRunner:
    """Run epochs of mini-batch training on in-memory tensors.

    Parameters
    ----------
    engine : Engine
        The engine of the model to train.
    X, y, sample_weight : ndarray
        Training data as flat rows, encoded labels, weights.
    batch_size : int
        Mini-batch size.
    shuffle : bool
        Whether each epoch visits the samples in a new random order.
    rng : numpy.random.RandomState
        Source of the shuffling orders and of the augmentation seed.
    label_smoothing : float
        Label smoothing of the cross-entropy.
    steps_per_execution : int
        Optimizer steps per compiled call; callbacks see each call as a batch.
    """

    def __init__(
        self, engine, X, y, sample_weight, *, batch_size, shuffle, rng,
        label_smoothing, steps_per_execution,
    ):
        import tensorflow as tf

        self.n_samples = X.shape[0]
        self.batch_size = min(batch_size, self.n_samples)
        self.steps = math.ceil(self.n_samples / self.batch_size)
        self.steps_per_execution = max(1, min(steps_per_execution, self.steps))
        self.shuffle = shuffle
        self.rng = rng
        self._run = engine.train_function(label_smoothing)
        self._X = tf.convert_to_tensor(engine.shape(X))
        self._y = tf.convert_to_tensor(y.astype(np.int32, copy=False))
        self._w = tf.convert_to_tensor(sample_weight.astype(engine.dtype, copy=False))
        self._tf = tf

    def new_order(self):
        """Draw the order and augmentation seed of the next epoch."""
        if self.shuffle:
            order = self.rng.permutation(self.n_samples)
        else:
            order = np.arange(self.n_samples)
        self._order = self._tf.convert_to_tensor(order.astype(np.int32))
        self._seed = self._tf.constant(self.rng.randint(2**31 - 1), self._tf.int32)

    def run_steps(self, start, stop):
        """Run optimizer steps ``start`` to ``stop`` of the current epoch.

        Returns
        -------
        sums : tuple of float
            Weighted sums of the objective and of correct predictions, and
            the sum of the weights, over the samples of these steps.
        """
        tf = self._tf
        sums = self._run(
            self._X, self._y, self._w, self._order,
            tf.constant(start, tf.int32), tf.constant(stop, tf.int32),
            tf.constant(self.batch_size, tf.int32), self._seed,
        )
        return tuple(float(value) for value in sums)

    def chunks(self):
        """``(start, stop)`` step ranges of one epoch, one per compiled call."""
        for start in range(0, self.steps, self.steps_per_execution):
            yield start, min(start + self.steps_per_execution, self.steps)
