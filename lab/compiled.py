"""Compiled stateful steps on either Keras backend: one way to write a custom training step.

A task's step is written once, statefully, the way Keras code reads: it calls its models, takes gradients
with :func:`value_and_grad`, applies them with ``optimizer.apply`` and ``variable.assign``s what it keeps.
:class:`Compiled` runs it

* on TensorFlow as a ``tf.function`` (XLA when asked), called through its concrete function per input
  signature, which skips ``tf.function``'s polymorphic dispatch (~1 ms of CPU per call);
* on JAX as a ``jax.jit`` of a pure function: the variables' values go in, the step runs inside a
  ``keras.StatelessScope`` (so its reads see those values and its assignments are collected, as Keras' own
  JAX trainer does), and the new values come out and are put back into the variables after the call.
  JAX steps are always compiled (an uncompiled JAX step runs op by op, far slower).

With ``scan=N`` (its N outputs) the step runs once per slice of its inputs' leading axis, carrying the
variables from one to the next (a ``tf.range`` loop on TensorFlow, ``jax.lax.scan`` on JAX): ``K`` updates
in one call.

No TensorFlow import unless the backend is TensorFlow: this module is the JAX path's too.
"""

from __future__ import annotations

import numpy as np

from lab.backend import keras_backend


class Compiled:
    """``step(*arrays) -> tuple of NumPy arrays``: ``fn`` compiled for the Keras backend.

    Args:
        fn: the step: takes backend tensors, returns a tuple of float32 tensors; may assign ``variables``.
        variables: every Keras variable ``fn`` reads or assigns (models' weights, optimizer state,
            counters). On JAX a variable left out would be baked into the compiled code as a constant.
        jit_compile: XLA on TensorFlow; JAX compiles always.
        scan: run ``fn`` once per slice of the inputs' leading axis, outputs stacked along a new one; ``fn``
            then returns ``scan`` float32 tensors (TensorFlow's loop needs to know how many).
        any_shape: on TensorFlow, one graph for inputs of any size past their first axis (sizes unknown to
            it), for steps called with many (a language model reading prompts of every length; the first
            axis, a stateful network's batch, stays fixed); JAX compiles per shape whatever this says.
    """

    def __init__(self, fn, variables, *, jit_compile: bool = False, scan: int = 0, any_shape: bool = False):
        self.fn = fn
        self.variables = list({id(v): v for v in variables}.values())  # each once (shared layers)
        self.scan = scan
        self.any_shape = any_shape
        self.backend = keras_backend()
        if self.backend == "tensorflow":
            import tensorflow as tf

            self._tf = tf
            self._function = tf.function(self._tf_scan if scan else fn, jit_compile=jit_compile)
            self._concrete: dict = {}
        else:
            import jax

            self._jax = jax
            self._jitted = jax.jit(self._pure)

    def __call__(self, *arrays):
        if self.backend == "tensorflow":
            return self._call_tf(arrays)
        outputs, values = self._jitted([v.value for v in self.variables], *arrays)
        for variable, value in zip(self.variables, values, strict=True):
            variable.assign(value)
        return tuple(np.asarray(o) for o in outputs)

    # TensorFlow ------------------------------------------------------------------------------------
    def _call_tf(self, arrays):
        tf = self._tf
        arrays = [np.asarray(a) for a in arrays]
        key = tuple((a.shape[:1] + (None,) * (a.ndim - 1) if self.any_shape else a.shape, a.dtype.str)
                    for a in arrays)
        fn = self._concrete.get(key)
        if fn is None:  # (TensorFlow's "frequent retracing" warning is silenced: many steps trace on purpose)
            logger, level = tf.get_logger(), tf.get_logger().level
            logger.setLevel("ERROR")
            try:
                fn = self._function.get_concrete_function(*[tf.TensorSpec(k[0], a.dtype)
                                                            for k, a in zip(key, arrays, strict=True)])
            finally:
                logger.setLevel(level)
            self._concrete[key] = fn
        return tuple(o.numpy() for o in fn(*[tf.constant(a) for a in arrays]))

    def _tf_scan(self, *arrays):
        tf = self._tf
        k = arrays[0].shape[0]
        if k == 1:
            return tuple(o[None] for o in self.fn(*[a[0] for a in arrays]))
        stacks = [tf.TensorArray(tf.float32, size=k) for _ in range(self.scan)]
        for i in tf.range(k):
            outputs = self.fn(*[a[i] for a in arrays])
            stacks = [s.write(i, o) for s, o in zip(stacks, outputs, strict=True)]
        return tuple(s.stack() for s in stacks)

    # JAX -------------------------------------------------------------------------------------------
    def _pure(self, values, *arrays):
        if not self.scan:
            return self._stateless(values, arrays)

        def body(carry, xs):
            outputs, new = self._stateless(carry, xs)
            return new, outputs

        values, outputs = self._jax.lax.scan(body, values, arrays)
        return outputs, values

    def _stateless(self, values, arrays):
        import keras

        with keras.StatelessScope(state_mapping=list(zip(self.variables, values, strict=True))) as scope:
            outputs = self.fn(*arrays)
        return tuple(outputs), [scope.get_current_value(v) for v in self.variables]


def value_and_grad(loss_fn, variables):
    """``(loss, aux, grads)``: ``loss_fn() -> (loss, aux)`` and the gradients of ``loss`` with respect to
    ``variables``, inside a :class:`Compiled` step (a ``GradientTape`` on TensorFlow, ``jax.value_and_grad``
    on JAX, where every other variable keeps the value the step has given it so far, and what ``loss_fn``
    assigns — a recurrent layer's carried state, a dropout layer's seed — is kept as on TensorFlow)."""
    variables = list(variables)
    if keras_backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
        return loss, aux, tape.gradient(loss, variables)
    import jax
    import keras
    from keras.src.backend.common.stateless_scope import get_stateless_scope

    outer = get_stateless_scope()

    def of(values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))) as scope:
            if outer is not None:
                for key, value in outer.state_mapping.items():
                    scope.state_mapping.setdefault(key, value)
            before = dict(scope.state_mapping)
            loss, aux = loss_fn()
        assigned = {key: value for key, value in scope.state_mapping.items() if before.get(key) is not value}
        return loss, (aux, assigned)

    (loss, (aux, assigned)), grads = jax.value_and_grad(of, has_aux=True)([v.value for v in variables])
    if outer is not None:
        outer.state_mapping.update(assigned)  # (as StatelessScope.add_update does)
    return loss, aux, grads
