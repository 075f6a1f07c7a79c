"""The training engine shared by every classifier (private).

- ``runtime``: imports TensorFlow and Keras, sizes TensorFlow's thread pools
  only when asked (:func:`skfmnist.set_num_threads`);
- ``training``: the compiled training step and epoch runner (a whole epoch
  inside one ``tf.function``), and the one version-gated place that touches
  Keras internals (the fused Adam update);
- ``loop``: the epoch loop around it: learning-rate schedule, Keras
  callbacks, early stopping, divergence and Ctrl-C;
- ``inference``: the prediction-time form of a network (batch normalisation
  folded into convolutions).

Nothing here knows scikit-learn; :mod:`skfmnist._base` is the bridge.
"""
