"""The book's first network (chapter 2) and the activation functions, as Keras sees them.

:func:`first_network` is one Dense unit with a sigmoid; :func:`train_until_learned` trains it by
full-batch gradient descent, ``chunk`` epochs per compiled call (:class:`lab.compiled.Compiled` with
``scan``: a ``tf.range`` loop on TensorFlow, ``lax.scan`` on JAX), so a whole run is a few calls rather
than thousands of eager steps. :func:`activation_curves` gives each
activation's value and derivative by autodiff.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from lab.compiled import Compiled, value_and_grad

# The book's table: the last column of X is a constant 1 (the bias input); y is X's first column.
BOOK_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype="float32")
BOOK_Y = np.array([[0], [0], [1], [1]], dtype="float32")


def first_network(seed: int, use_bias: bool = False) -> keras.Model:
    """One Dense unit with a sigmoid, weights drawn uniformly in [-1, 1) (as the book's NumPy-style start)."""
    return keras.Sequential(
        [
            keras.Input((3,), name="X"),
            keras.layers.Dense(1, activation="sigmoid", use_bias=use_bias, name="layer",
                               kernel_initializer=keras.initializers.RandomUniform(-1.0, 1.0, seed=seed)),
        ],
        name="first_network",
    )


def train_until_learned(model, x, y, learning_rate, max_epochs, target_loss, loss="mse", chunk=500,
                        jit_compile=False, on_chunk=None):
    """Full-batch gradient descent until ``round(predictions) == y`` and ``loss < target_loss``.

    Each epoch first measures the loss and predictions at the current weights; if both criteria hold
    it stops, else it takes one gradient step. Runs ``chunk`` epochs per compiled call (``step_fn``
    compiles; once the criteria hold, the remaining epochs of the chunk leave the weights as they are).
    Returns ``(epochs, losses, learned)``: the number of gradient steps taken, the loss before
    each step (and at the end), and whether the criteria were met within ``max_epochs``.
    """
    optimizer = keras.optimizers.SGD(learning_rate)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.get(loss)
    variables = model.trainable_variables

    def measure():
        pred = ops.cast(model(x, training=True), "float32")
        value = ops.mean(loss_fn(y, pred))
        return value, ops.logical_and(ops.all(ops.equal(ops.round(pred), y)), value < target_loss)

    def step(_):  # one epoch; no step once learned (the same weights: learned stays true)
        value, ok, grads = value_and_grad(measure, variables)
        keep = 1.0 - ops.cast(ok, "float32")
        optimizer.apply([g * keep for g in grads], variables)
        return value, ops.cast(ok, "float32")

    run_chunk = Compiled(step, [*model.variables, *optimizer.variables], jit_compile=jit_compile, scan=2)
    losses: list[float] = []
    epochs, learned = 0, False
    while epochs < max_epochs and not learned:
        n = min(chunk, max_epochs - epochs)  # a static size, as XLA (jit_compile: true) needs
        history, ok = run_chunk(np.zeros(n, np.float32))
        learned = bool(ok.any())
        steps = int(ok.argmax()) if learned else n
        start = epochs
        epochs += steps
        losses += [float(v) for v in history[:steps]]
        if on_chunk is not None:
            on_chunk(start, epochs, losses)
    final, ok = Compiled(measure, model.variables)()
    losses.append(float(final))
    return epochs, losses, bool(ok)


ACTIVATION_TITLES = {
    "sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU (slope 0.2)",
    "elu": "ELU", "gelu": "GELU", "softplus": "softplus", "softmax": "softmax of (x, 0), first output",
    "selu": "SELU", "swish": "swish (SiLU)",
}


def activation_curves(names, x) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Value and derivative (by autodiff) of each activation on the points ``x``.

    Element-wise activations are differentiated through ``sum(f(x))``; softmax, which acts on a vector,
    is drawn as its first output for the pair (x, 0) (equal to sigmoid(x)) and differentiated the same
    way.
    """
    point = keras.Variable(np.asarray(x, dtype="float32"), name="x")
    out = {}
    for name in names:
        def curve(name=name):
            xt = point.value
            if name == "softmax":
                value = keras.activations.softmax(ops.stack([xt, ops.zeros_like(xt)], axis=-1), axis=-1)[:, 0]
            else:
                value = keras.activations.get(name)(xt)
            return ops.sum(value), value

        _, value, (grad,) = value_and_grad(curve, [point])
        out[name] = (ops.convert_to_numpy(value), ops.convert_to_numpy(grad))
    return out
