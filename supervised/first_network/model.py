"""The book's first network (chapter 2) and the activation functions, as Keras sees them.

:func:`first_network` is one Dense unit with a sigmoid; :func:`train_until_learned` trains it by
full-batch gradient descent inside ``tf.function`` (a ``tf.range`` loop with a ``TensorArray`` of losses),
so a whole run is a few calls rather than thousands of eager steps. :func:`activation_curves` gives each
activation's value and derivative by autodiff.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

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
                        step_fn=tf.function, on_chunk=None):
    """Full-batch gradient descent until ``round(predictions) == y`` and ``loss < target_loss``.

    Each epoch first measures the loss and predictions at the current weights; if both criteria hold
    it stops, else it takes one gradient step. Runs ``chunk`` epochs per compiled call (``step_fn``
    compiles). Returns ``(epochs, losses, learned)``: the number of gradient steps taken, the loss before
    each step (and at the end), and whether the criteria were met within ``max_epochs``.
    """
    optimizer = keras.optimizers.SGD(learning_rate)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.get(loss)
    xt, yt = tf.constant(x), tf.constant(y)

    def measure():
        pred = tf.cast(model(xt, training=True), tf.float32)
        value = tf.reduce_mean(loss_fn(yt, pred))
        ok = tf.logical_and(tf.reduce_all(tf.equal(tf.round(pred), yt)), value < target_loss)
        return pred, value, ok

    def run_chunk(n: int):  # a Python int: a static size, as XLA (jit_compile: true) needs
        history = tf.TensorArray(tf.float32, size=n, element_shape=())
        done = tf.constant(False)
        steps = tf.constant(0)
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                _, value, ok = measure()
            history = history.write(steps, value)
            if ok:
                done = tf.constant(True)
                break
            grads = tape.gradient(value, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            steps += 1
        return steps, history.stack(), done

    run_chunk = step_fn(run_chunk)
    losses: list[float] = []
    epochs, learned = 0, False
    while epochs < max_epochs and not learned:
        n = min(chunk, max_epochs - epochs)
        steps, history, done = run_chunk(n)
        start = epochs
        epochs += int(steps)
        learned = bool(done)
        losses += [float(v) for v in history.numpy()[: int(steps)]]
        if on_chunk is not None:
            on_chunk(start, epochs, losses)
    _, final, ok = measure()
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
    xt = tf.constant(np.asarray(x, dtype="float32"))
    out = {}
    for name in names:
        with tf.GradientTape() as tape:
            tape.watch(xt)
            if name == "softmax":
                pair = tf.stack([xt, tf.zeros_like(xt)], axis=-1)
                value = keras.activations.softmax(pair, axis=-1)[:, 0]
            else:
                value = keras.activations.get(name)(xt)
            total = tf.reduce_sum(value)
        out[name] = (value.numpy(), tape.gradient(total, xt).numpy())
    return out
