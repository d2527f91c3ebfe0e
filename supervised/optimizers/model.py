"""The maths of the ``optimizers`` task: the 2-D test surfaces (Rosenbrock, Beale), the two-moons problem and
its small network, and descents by any Keras optimizer.

:func:`descend` and :func:`train_network` run a whole descent inside one compiled call (a ``tf.range``
loop on TensorFlow, ``lax.scan`` on JAX: :class:`lab.compiled.Compiled`), so thousands of steps are one
call rather than thousands of eager steps.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from lab.compiled import Compiled, value_and_grad
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


def descend(optimizer, fn, start, steps: int, jit_compile: bool = False) -> np.ndarray:
    """``steps`` optimizer steps on the 2-D function ``fn`` from ``start``; returns the (steps + 1, 2)
    path."""
    point = keras.Variable(np.asarray(start, dtype="float32"), name="point")
    optimizer.build([point])

    def step(_):
        value, _, grads = value_and_grad(lambda: (fn(point.value), ()), [point])
        optimizer.apply(grads, [point])
        return (point.value,)

    run = Compiled(step, [point, *optimizer.variables], jit_compile=jit_compile, scan=1)
    (path,) = run(np.zeros(steps, np.float32))
    return np.concatenate([np.asarray(start, np.float32)[None], path])


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


def train_network(model, optimizer, x, y, epochs: int, jit_compile: bool = False) -> tuple[np.ndarray, float]:
    """Full-batch training for ``epochs``; returns the loss before each step (and at the end) and the
    accuracy."""
    optimizer.build(model.trainable_variables)
    bce = keras.losses.BinaryCrossentropy()
    variables = model.trainable_variables

    def loss_fn():
        loss = bce(y, ops.cast(model(x, training=True), "float32"))
        return loss, ()

    def step(_):
        loss, _, grads = value_and_grad(loss_fn, variables)
        optimizer.apply(grads, variables)
        return (loss,)

    def final():
        pred = ops.cast(model(x, training=False), "float32")
        return bce(y, pred), ops.mean(ops.cast(ops.equal(ops.round(pred), y), "float32"))

    state = [*model.variables, *optimizer.variables]
    (history,) = Compiled(step, state, jit_compile=jit_compile, scan=1)(np.zeros(epochs, np.float32))
    loss, accuracy = Compiled(final, model.variables)()
    return np.append(history, loss), float(accuracy)
