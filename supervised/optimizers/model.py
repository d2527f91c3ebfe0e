"""The maths of the ``optimizers`` task: the 2-D test surfaces (Rosenbrock, Beale), the two-moons problem and
its small network, and descents by any Keras optimizer.

:func:`descend` and :func:`train_network` run a whole descent inside one ``tf.function`` (a ``tf.range``
loop writing a ``TensorArray``), so thousands of steps are one call rather than thousands of eager steps.
"""

from __future__ import annotations

import contextlib
import logging

import keras
import numpy as np
import tensorflow as tf

from lab.errors import ScenarioError
from lab.seeding import stream_seed

# --------------------------------------------------------------------------------------------------
# Surfaces


def rosenbrock(p):
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(p):
    x, y = p[..., 0], p[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


SURFACES = {
    # name: (function, minimum, plot bounds (x0, x1, y0, y1))
    "rosenbrock": (rosenbrock, (1.0, 1.0), (-2.0, 2.0, -1.0, 3.0)),
    "beale": (beale, (3.0, 0.5), (-1.0, 4.0, -1.5, 2.0)),
}


def surface_values(surface: str, points) -> np.ndarray:
    """f of a surface at NumPy points (float64; overflow on a diverged path gives inf/nan, silently)."""
    with np.errstate(all="ignore"):
        return np.asarray(SURFACES[surface][0](np.asarray(points, dtype="float64")))


def finite_or_none(v: float) -> float | None:
    """``v``, or None for a diverged value (inf, nan): JSON has neither."""
    return float(v) if np.isfinite(v) else None


def rank(results: dict[str, float | None]) -> list[str]:
    """Names by final value, lowest first; diverged ones (None) last."""
    return sorted(results, key=lambda k: (results[k] is None, results[k] if results[k] is not None else 0.0))


# --------------------------------------------------------------------------------------------------
# Optimizers and descents


def make_optimizer(spec, learning_rate: float, where: str = "optimizers"):
    """The Keras optimizer a spec names; a wrong option becomes a ScenarioError naming the field."""
    cls = getattr(keras.optimizers, spec.optimizer, None)
    if cls is None:
        raise ScenarioError(f"{where}: optimizer {spec.optimizer!r} is not in this Keras "
                            f"({keras.__version__})")
    try:
        return cls(learning_rate=learning_rate, **spec.options)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}.options: {spec.optimizer} rejects {spec.options}: {exc}") from None


def compiled(fn, jit_compile: bool):
    """``tf.function(fn, jit_compile=...)``, called with TensorFlow's warnings silenced.

    Each optimizer is traced into its own function on purpose (its update is part of the loop), so
    TensorFlow's "frequent retracing" warning is silenced while these functions are called.
    """
    function = tf.function(fn, jit_compile=jit_compile)

    def call(*args):
        with _tf_log_level(logging.ERROR):
            return function(*args)

    return call


@contextlib.contextmanager
def _tf_log_level(level: int):
    logger = tf.get_logger()
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def descend(optimizer, fn, start, steps: int, step_fn=tf.function) -> np.ndarray:
    """``steps`` optimizer steps on the 2-D function ``fn`` from ``start``; returns the (steps + 1, 2)
    path."""
    point = keras.Variable(np.asarray(start, dtype="float32"), name="point")
    optimizer.build([point])

    def loop(n):
        path = tf.TensorArray(tf.float32, size=n + 1)
        path = path.write(0, point.value)
        for i in tf.range(n):
            with tf.GradientTape() as tape:
                value = fn(point.value)
            grad = tape.gradient(value, point.value)
            optimizer.apply_gradients([(grad, point)])
            path = path.write(i + 1, point.value)
        return path.stack()

    return step_fn(loop)(tf.constant(steps)).numpy()


# --------------------------------------------------------------------------------------------------
# Two moons and a small network


def two_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles with Gaussian noise, standardised; labels 0 and 1 (shuffled)."""
    n0 = n // 2
    t0, t1 = rng.uniform(0, np.pi, n0), rng.uniform(0, np.pi, n - n0)
    outer = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    inner = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([outer, inner]) + rng.normal(0, noise, (n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n - n0)])
    order = rng.permutation(n)
    x, y = x[order], y[order]
    x = (x - x.mean(0)) / x.std(0)
    return x.astype("float32"), y.astype("float32")[:, None]


def moons_network(hidden, activation: str, seed: int) -> keras.Model:
    """2 -> hidden... -> 1 (sigmoid); layer i's Glorot-uniform kernel drawn from the stream ("network", i)."""
    layers = [keras.Input((2,), name="point")]
    for i, width in enumerate(hidden):
        init = keras.initializers.GlorotUniform(seed=stream_seed(seed, "network", i))
        layers.append(keras.layers.Dense(width, activation=activation, name=f"hidden_{i}",
                                         kernel_initializer=init))
    init = keras.initializers.GlorotUniform(seed=stream_seed(seed, "network", len(hidden)))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="class", kernel_initializer=init))
    return keras.Sequential(layers, name="moons")


def train_network(model, optimizer, x, y, epochs: int, step_fn=tf.function) -> tuple[np.ndarray, float]:
    """Full-batch training for ``epochs``; returns the loss before each step (and at the end) and the
    accuracy."""
    optimizer.build(model.trainable_variables)
    bce = keras.losses.BinaryCrossentropy()
    xt, yt = tf.constant(x), tf.constant(y)

    def loop(n):
        history = tf.TensorArray(tf.float32, size=n + 1)
        for i in tf.range(n):
            with tf.GradientTape() as tape:
                loss = bce(yt, tf.cast(model(xt, training=True), tf.float32))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            history = history.write(i, loss)
        pred = tf.cast(model(xt, training=False), tf.float32)
        history = history.write(n, bce(yt, pred))
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.round(pred), yt), tf.float32))
        return history.stack(), accuracy

    history, accuracy = step_fn(loop)(tf.constant(epochs))
    return history.numpy(), float(accuracy)
