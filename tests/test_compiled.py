"""lab.compiled, on whichever backend this suite runs (`make test`: TensorFlow, `make test-jax`: JAX): a
compiled step updates the variables it lists, K scanned steps equal K single ones, and what the loss
function assigns (a recurrent state, a seed) survives the gradient, as a GradientTape keeps it."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from lab.compiled import Compiled, value_and_grad


def _descent(k_at_once: bool):
    w = keras.Variable(np.array([3.0, -2.0], np.float32), name="w")
    seen = keras.Variable(0.0, trainable=False, name="seen")  # assigned inside the loss function
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build([w])

    def step(target):
        def loss_fn():
            seen.assign(seen.value + 1.0)
            return ops.sum(ops.square(w.value - target)), ()

        loss, _, grads = value_and_grad(loss_fn, [w])
        optimizer.apply(grads, [w])
        return (loss,)

    targets = np.array([[1.0, 1.0], [0.0, 2.0], [1.0, -1.0]], np.float32)
    variables = [w, seen, *optimizer.variables]
    if k_at_once:
        (losses,) = Compiled(step, variables, scan=1)(targets)
    else:
        single = Compiled(step, variables)
        losses = np.array([single(t)[0] for t in targets])
    return np.asarray(w.value), float(seen.value), losses


def test_scanned_steps_equal_single_steps_and_keep_what_the_loss_assigns():
    w_scan, seen_scan, losses_scan = _descent(True)
    w_one, seen_one, losses_one = _descent(False)
    np.testing.assert_allclose(w_scan, w_one, rtol=1e-6)
    np.testing.assert_allclose(losses_scan, losses_one, rtol=1e-6)
    assert seen_scan == seen_one == 3.0  # each step's assignment inside the loss function was kept
    # by hand: w <- w - 0.1 * 2 (w - t), three times
    w = np.array([3.0, -2.0])
    for t in ([1.0, 1.0], [0.0, 2.0], [1.0, -1.0]):
        w = w - 0.2 * (w - np.array(t))
    np.testing.assert_allclose(w_one, w, rtol=1e-5)
