"""The RBM with its compiled training and prediction steps, on TensorFlow or JAX.

A batch of cases is sparse (:meth:`generative.rbm.model.Cases.batch`): its number of ratings changes from
batch to batch. TensorFlow compiles each step once for batches of any size (``tf.function`` with a
signature of unknown lengths). JAX compiles a function again for every new shape, so on JAX each batch is
padded first: its ratings (and its extra seen pairs) to the next power of two, the padding entries
pointing at case ``n`` and item ``n_visible``, one past the last of each. Every sum over cases or items
(``segment_sum``, ``scatter``) drops indices out of range on JAX, so the padding adds nothing to any
gradient or prediction; the reconstruction error leaves it out explicitly. The number of cases is a
compile-time constant there (one function per batch size: the full batches and the last one).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from generative.rbm.model import RBM
from lab.backend import keras_backend
from lab.compiled import Compiled

PADDED_KEYS = ("rows", "cols", "values", "seen_rows", "seen_cols")


class Machine:
    """An RBM with its compiled training and prediction steps."""

    def __init__(self, model: RBM, jit_compile: bool = False, rank_by: str = "expected_rating",
                 relevant: float = 4.0):
        self.model = model
        liked = (np.asarray(model.values) >= relevant).astype(np.float32)

        def predict(batch, cols):
            expected, probs, seen = model.predict_batch(batch, cols)
            if rank_by == "seen_and_liked":
                return expected, seen * ops.sum(probs * liked, axis=-1)
            return expected, expected

        def train(batch, k):
            return tuple(model.train_step(batch, k).values())

        steps = (train, lambda b: predict(b, None), model.predict_pairs, predict)
        if keras_backend() == "tensorflow":
            self._steps = TensorFlowSteps(steps, jit_compile)
        else:
            self._steps = PaddedSteps(model, steps)
        self._names = [m.name for m in model.metrics]

    def train_step(self, batch) -> dict:
        """One CD update on a batch of cases; the tracked figures (``recon_rmse``, ``hidden_prob``)."""
        values = self._steps.train(batch, int(ops.convert_to_numpy(self.model.cd_steps.value)))
        return {name: float(ops.convert_to_numpy(v)) for name, v in zip(self._names, values, strict=True)}

    def predict_pairs(self, batch, rows, cols) -> np.ndarray:
        return ops.convert_to_numpy(self._steps.pairs(batch, np.asarray(rows, np.int32),
                                                      np.asarray(cols, np.int32)))

    def predict(self, batch, cols=None):
        out = (self._steps.all(batch) if cols is None
               else self._steps.cols(batch, np.asarray(cols, np.int32)))
        return ops.convert_to_numpy(out[0]), ops.convert_to_numpy(out[1])


class TensorFlowSteps:
    """The steps as TensorFlow graphs of batches of any size."""

    def __init__(self, steps, jit_compile: bool):
        import tensorflow as tf

        spec = {"n": tf.TensorSpec([], tf.int32), **{k: tf.TensorSpec([None], tf.int32) for k in PADDED_KEYS}}
        pair = tf.TensorSpec([None], tf.int32)
        train, predict_all, predict_pairs, predict_cols = steps
        self._train = {}  # k -> the step of CD-k
        self._make_train = lambda k: tf.function(lambda b: train(b, k), input_signature=[spec],
                                                 jit_compile=bool(jit_compile), autograph=False)
        self.all = tf.function(predict_all, input_signature=[spec], autograph=False)
        self.pairs = tf.function(predict_pairs, input_signature=[spec, pair, pair], autograph=False)
        self.cols = tf.function(predict_cols, input_signature=[spec, pair], autograph=False)

    def train(self, batch, k: int):
        if k not in self._train:
            self._train[k] = self._make_train(k)
        return self._train[k](batch)


def bucket(length: int) -> int:
    """The padded length of ``length`` entries: the next power of two (at least 64)."""
    return max(64, 1 << max(0, int(length) - 1).bit_length())


def padded(values: np.ndarray, size: int, fill: int) -> np.ndarray:
    return np.concatenate([np.asarray(values, np.int32), np.full(size - len(values), fill, np.int32)])


class PaddedSteps:
    """The steps compiled by JAX for padded batches (see the module docstring): one :class:`Compiled` per
    step, number of cases (and CD steps), each compiled again only for a new power of two."""

    def __init__(self, model: RBM, steps):
        self.model = model
        self._fns = dict(zip(("train", "all", "pairs", "cols"), steps, strict=True))
        self._variables = [*model.variables, *(v for m in model.metrics for v in m.variables)]
        self._compiled: dict = {}

    def _run(self, name: str, batch: dict, *extra, k: int | None = None):
        n = int(batch["n"])
        key = (name, n, k)
        if key not in self._compiled:
            fn = self._fns[name] if k is None else (lambda b, f=self._fns[name]: f(b, k))

            def step(*arrays):
                out = fn({"n": n, **dict(zip(PADDED_KEYS, arrays[:5], strict=True))}, *arrays[5:])
                return out if isinstance(out, tuple) else (out,)

            self._compiled[key] = Compiled(step, self._variables)
        m, size, seen = self.model.n_visible, bucket(len(batch["rows"])), bucket(len(batch["seen_rows"]))
        arrays = (padded(batch["rows"], size, n), padded(batch["cols"], size, m),
                  padded(batch["values"], size, 0), padded(batch["seen_rows"], seen, n),
                  padded(batch["seen_cols"], seen, m))
        return self._compiled[key](*arrays, *extra)

    def train(self, batch, k: int):
        return self._run("train", batch, k=k)

    def all(self, batch):
        return self._run("all", batch)

    def pairs(self, batch, rows, cols):
        size = bucket(len(rows))
        (expected,) = self._run("pairs", batch, padded(rows, size, 0), padded(cols, size, 0))
        return expected[:len(rows)]

    def cols(self, batch, cols):
        expected, score = self._run("cols", batch, padded(cols, bucket(len(cols)), 0))
        return expected[:, :len(cols)], score[:, :len(cols)]
