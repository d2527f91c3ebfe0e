"""The ``language-model`` task's networks and their maths: token ids -> embedding -> (input dropout) ->
``layers`` stateful rnn | gru | lstm layers with dropout between them -> (output dropout) -> logits over the
vocabulary (a dense layer, or the embedding matrix itself with ``tie_weights``); or the transformer of
:mod:`supervised.language_model.transformer`, which carries no state across windows.

**The loss** (:func:`loss_of`): Keras' per-token mean, or :func:`window_summed_crossentropy` (each window's
cross-entropy summed over its time steps, averaged over the batch: Zaremba et al.'s, whose learning rate and
clipping threshold were set for a gradient ``seq_len`` times the per-token mean's). ``init_scale`` draws every
weight uniformly in ``[-s, s]`` as their code does.

Keras' ``LSTM`` and ``GRU`` keep their defaults (tanh, sigmoid gates, biases, no recurrent dropout, GRU's
``reset_after``), which are exactly the settings under which Keras runs them on the fused cuDNN kernels on
a GPU; :func:`cudnn_use` says so for each run in ``env.json``. ``SimpleRNN`` has no cuDNN kernel. The
dropout layers' seeds come from the named streams ``dropout/input``, ``dropout/between`` (one per layer)
and ``dropout/output`` (the epoch loop reseeds them every epoch).

**The state, carried on every backend**: the stateful layers keep their state in variables that are not
among the model's, so Keras' compiled ``fit`` and ``predict`` on JAX (stateless functions of the model's
variables) drop it after each batch, where TensorFlow's keep it. Training (:func:`train_windows`) and
reading (:func:`read`) therefore run as :class:`lab.compiled.Compiled` steps that list the states among
their variables: the state goes in and comes out of each compiled call on both backends.

**Scoring** (:func:`score_tokens`): text is cut into streams read in windows by a copy of the network
built for that many streams; the state is carried through each whole stream, so only the first token of
each stream is read without context. Every other token ``t`` is scored as ``-log p(t | all text before it
in its stream)`` in nats (the transformer: ``-log p(t | the window before it)``, :func:`score_in_windows`).
**Sampling** (:func:`sample_token`): a token drawn from the softmax of the logits divided by a temperature,
among the ``top_k`` likeliest when given.
"""

from __future__ import annotations

import math
import weakref

import keras
import numpy as np
from keras import layers, ops

from lab.compiled import Compiled, value_and_grad
from lab.errors import DataError
from lab.schedules import learning_rate
from lab.seeding import stream_seed
from supervised.language_model.transformer import build_transformer, reading_windows, window_logits, window_of

CELLS = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


# --------------------------------------------------------------------------------------------------
# The network


@keras.saving.register_keras_serializable(package="lab")
class TiedEmbedding(layers.Layer):
    """An embedding whose matrix is also the output layer: ``call(ids)`` looks tokens up; ``call(h,
    logits=True)`` returns ``h @ E^T + b``, the logits over the vocabulary (Press & Wolf 2017)."""

    def __init__(self, vocab_size: int, dim: int, init_scale: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.dim, self.init_scale = int(vocab_size), int(dim), init_scale

    def build(self, input_shape=None):
        scale = self.init_scale or 0.1
        self.embeddings = self.add_weight(shape=(self.vocab_size, self.dim), name="embeddings",
                                          initializer=keras.initializers.RandomUniform(-scale, scale))
        self.bias = self.add_weight(shape=(self.vocab_size,), name="bias", initializer="zeros")

    def call(self, inputs, logits: bool = False):
        if logits:
            e = ops.cast(self.embeddings, inputs.dtype)
            return ops.matmul(inputs, ops.transpose(e)) + ops.cast(self.bias, inputs.dtype)
        return ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "init_scale": self.init_scale}


def build_model(m, vocab_size: int, batch_size: int, seed: int = 0, window: int | None = None) -> keras.Model:
    """The network of a ``model`` section for ``batch_size`` streams (stateful: the batch size is part of it).
    Networks built from the same section for different batch sizes have the same weights in the same order.
    The transformer reads windows of up to ``window`` tokens (``training.seq_len``)."""
    if not m.recurrent:
        if window is None:
            raise ValueError("build_model: the transformer needs the window it reads (training.seq_len)")
        return build_transformer(m, vocab_size, window, batch_size, seed, TiedEmbedding)
    ids = keras.Input((None,), batch_size=batch_size, dtype="int32", name="ids")
    init = initialisers(m.init_scale)
    if m.tied:
        table = TiedEmbedding(vocab_size, m.embedding_size, name="embedding", init_scale=m.init_scale)
        x = table(ids)
    else:
        x = layers.Embedding(vocab_size, m.embedding_size, name="embedding",
                             **({"embeddings_initializer": init()} if init else {}))(ids)
    if m.input_dropout:
        x = layers.Dropout(m.input_dropout, seed=stream_seed(seed, "dropout/input"), name="input_dropout")(x)
    for i in range(m.layers):
        if i and m.dropout:
            x = layers.Dropout(m.dropout, seed=stream_seed(seed, "dropout/between", i),
                               name=f"dropout_{i}")(x)
        x = recurrent_layer(m, init, name=f"{m.cell}_{i + 1}")(x)
    if m.output_dropout:
        x = layers.Dropout(m.output_dropout, seed=stream_seed(seed, "dropout/output"),
                           name="output_dropout")(x)
    if m.tied:
        logits = table(x, logits=True)
    else:
        logits = layers.Dense(vocab_size, name="logits", **({"kernel_initializer": init(),
                                                            "bias_initializer": init()} if init else {}))(x)
    logits = layers.Activation("linear", dtype="float32", name="logits_float32")(logits)
    return keras.Model(ids, logits, name=f"{m.cell}_language_model")


def initialisers(scale: float | None):
    """A maker of uniform [-scale, scale] initialisers (Zaremba et al.'s ``init_scale``), or None for Keras'
    own."""
    if scale is None:
        return None
    return lambda: keras.initializers.RandomUniform(-scale, scale)


def recurrent_layer(m, init, name: str):
    """A stateful recurrent layer of the section's cell; with ``init`` every weight (the LSTM's forget bias
    too) starts uniform, as in the TensorFlow PTB tutorial."""
    cell = getattr(layers, CELLS[m.cell])
    extra = {}
    if init:
        extra = {"kernel_initializer": init(), "recurrent_initializer": init(), "bias_initializer": init()}
        if m.cell == "lstm":
            extra["unit_forget_bias"] = False
    return cell(m.units, return_sequences=True, stateful=True, name=name, **extra)


def reset_states(model) -> None:
    """Zero the state every stateful recurrent layer carries (start of an epoch, of a scoring pass, of a
    text)."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def state_variables(model) -> list:
    """The state variables of every stateful recurrent layer (not among the model's variables)."""
    return [v for layer in model.layers if getattr(layer, "stateful", False) for v in layer.states]


_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {name: Compiled}


def _step(model, name: str, make):
    steps = _STEPS.setdefault(model, {})
    if name not in steps:
        steps[name] = make()
    return steps[name]


def read(model, ids) -> np.ndarray:
    """Logits ``(streams, T, vocabulary)`` of ``ids`` read by ``model``, its recurrent state carried from
    the call before (one TensorFlow graph for every length; JAX compiles per length)."""
    step = _step(model, "read", lambda: Compiled(lambda x: (model(x, training=False),),
                                                 [*model.variables, *state_variables(model)], any_shape=True))
    return step(np.asarray(ids, np.int32))[0]


def train_windows(model, x: np.ndarray, y: np.ndarray, loss, jit_compile: bool = False) -> float:
    """One gradient step of the compiled model's optimizer per row of ``x``/``y`` (windows of the streams,
    ``(steps, streams, T)``), the state carried from each to the next; the mean of their losses (as
    Keras' ``fit`` reports it)."""
    variables = model.trainable_variables
    optimizer = model.optimizer

    def step(ids, targets):
        def loss_fn():
            value = loss(targets, model(ids, training=True))
            value = value if isinstance(loss, keras.losses.Loss) else ops.mean(value)
            return optimizer.scale_loss(value), value

        _, value, grads = value_and_grad(loss_fn, variables)
        optimizer.apply(grads, variables)
        return (value,)

    if not optimizer.built:  # its variables must exist before the step is compiled
        optimizer.build(variables)
    run = _step(model, "train", lambda: Compiled(
        step, [*model.variables, *optimizer.variables, *state_variables(model)], jit_compile=jit_compile))
    losses = [float(run(x[i].astype(np.int32), y[i].astype(np.int32))[0]) for i in range(len(x))]
    return float(np.mean(losses))


def copy_for_batch(model, m, vocab_size: int, batch_size: int) -> keras.Model:
    """The same network (weights copied) for another number of streams."""
    twin = build_model(m, vocab_size, batch_size, window=window_of(model))
    twin.set_weights(model.get_weights())
    return twin


def cudnn_use(m, devices: list[str]) -> dict:
    """Whether the recurrent layers of a ``model`` section run on cuDNN's fused kernels, and why
    (env.json)."""
    gpu = any("GPU" in d.upper() for d in devices)
    if m.cell == "transformer":
        return {"cell": m.cell, "cudnn_eligible": False, "gpu": gpu, "cudnn_used": False,
                "why": "the transformer has no recurrent layer (its attention and MLPs are matrix products)"}
    if m.cell == "rnn":
        eligible, why = False, "SimpleRNN has no cuDNN kernel in Keras"
    else:
        eligible = True
        why = (f"{CELLS[m.cell]} with Keras' defaults (tanh, sigmoid gates, biases, no recurrent dropout"
               f"{', reset_after' if m.cell == 'gru' else ''}, not unrolled): the cuDNN kernel is used on a "
               f"GPU")
    return {"cell": m.cell, "cudnn_eligible": eligible, "gpu": gpu, "cudnn_used": eligible and gpu,
            "why": why if gpu or not eligible else why + "; this run has no GPU, so the generic kernel ran"}


# --------------------------------------------------------------------------------------------------
# Learning rate


@keras.saving.register_keras_serializable(package="lab")
def window_summed_crossentropy(y_true, y_pred):
    """Each window's cross-entropy summed over its time steps (Keras then averages over the windows of the
    batch): Zaremba et al.'s loss, ``seq_len`` times the per-token mean."""
    ce = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    return ops.sum(ce, axis=-1)


def loss_of(t):
    """The Keras loss of a training section's ``loss_reduction``."""
    if t.loss_reduction == "window":
        return window_summed_crossentropy
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_optimizer(t, steps_per_epoch: int):
    lr = learning_rate(t, steps_per_epoch)  # the training section's schedule (lab.schedules)
    clip = {"global_clipnorm": t.clipnorm} if t.clipnorm else {}
    if t.optimizer == "adam":
        return keras.optimizers.Adam(lr, **clip)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=t.weight_decay, **clip)
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(lr, **clip)
    return keras.optimizers.RMSprop(lr, **clip)


# --------------------------------------------------------------------------------------------------
# Scoring and sampling (plain maths)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def scoring_streams(ids: np.ndarray, streams: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of a scoring pass: ``ids[:-1]`` and ``ids[1:]`` cut into ``streams`` rows."""
    n = (len(ids) - 1) // streams
    if n < 1:
        raise DataError(f"the {split} split has {len(ids):,} tokens; scoring it in {streams} streams needs "
                        f"at least {streams + 1}; lower training.eval_batch_size or give more text")
    return ids[:-1][:streams * n].reshape(streams, n), ids[1:][:streams * n].reshape(streams, n)


def target_positions(ids: np.ndarray, streams: int) -> np.ndarray:
    """Positions in ``ids`` of the tokens :func:`score_tokens` scores (for the n-gram models)."""
    n = (len(ids) - 1) // streams
    return np.arange(1, streams * n + 1)


def score_tokens(model, ids: np.ndarray, seq_len: int, split: str = "test") -> np.ndarray:
    """``-log p`` (nats) of every target token of ``ids`` read in ``model``'s number of streams, state
    carried (the transformer: read in overlapping windows, :func:`reading_windows`)."""
    x, y = scoring_streams(ids, model.input_shape[0], split)
    window = window_of(model)
    if window:
        return score_in_windows(model, x, y, window).reshape(-1)
    reset_states(model)
    out = np.empty(y.shape, np.float64)
    for start in range(0, x.shape[1], seq_len):
        logits = np.asarray(read(model, x[:, start:start + seq_len]), np.float64)
        lp = log_softmax(logits)
        yy = y[:, start:start + seq_len]
        out[:, start:start + seq_len] = -np.take_along_axis(lp, yy[..., None], -1)[..., 0]
    reset_states(model)
    return out.reshape(-1)


def score_in_windows(model, x: np.ndarray, y: np.ndarray, window: int) -> np.ndarray:
    """``-log p`` of the targets ``y`` (streams x n) of the inputs ``x`` read by a transformer."""
    out = np.empty(y.shape, np.float64)
    for start, end, first in reading_windows(x.shape[1], window):
        lp = log_softmax(window_logits(model, x[:, start:end], window))[:, first - start:]
        out[:, first:end] = -np.take_along_axis(lp, y[:, first:end, None], -1)[..., 0]
    return out


def sample_token(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> int:
    """A token drawn from ``softmax(logits / temperature)`` restricted to the ``top_k`` likeliest."""
    z = np.asarray(logits, np.float64) / temperature
    if top_k is not None and top_k < len(z):
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(rng.choice(len(p), p=p))


# --------------------------------------------------------------------------------------------------
# The backend and the figures


def figures_of(nats: float, level: str, prefix: str) -> dict:
    """``{prefix}_nats`` and, for characters, ``{prefix}_bits_per_char``, for words
    ``{prefix}_perplexity``."""
    out = {f"{prefix}_nats": float(nats)}
    if level == "chars":
        out[f"{prefix}_bits_per_char"] = float(nats / math.log(2))
    else:
        out[f"{prefix}_perplexity"] = float(math.exp(nats))
    return out
