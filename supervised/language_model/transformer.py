"""The ``language-model`` task's transformer: a decoder-only, causal, pre-norm transformer (GPT-2's block, as
nanoGPT writes it) in Keras, and how a model without a recurrent state scores a text and samples from it.

    ids -> token embedding (tied with the output) + learned positions -> (input dropout)
        -> ``layers`` x [x + Dropout(Attention(LayerNorm(x))); x + Dropout(MLP(LayerNorm(x)))]
        -> LayerNorm -> (output dropout) -> h @ E^T + b

Each position attends to itself and the ``context - 1`` positions before it (the whole window by default;
a shorter ``model.context`` is a sliding band). The position table holds ``training.seq_len`` positions:
the transformer reads at most one training window at a time, so **its window is its state**.

**Scoring** (:func:`reading_windows`): each stream is read in windows of ``seq_len`` tokens that move on by
half a window; the first window scores all its tokens, each later one only its second half, so every token
but the first ``seq_len / 2`` of a stream is scored with at least ``seq_len / 2`` tokens before it (and at
most ``seq_len - 1``). The recurrent cells carry their state through the whole stream instead; the same
target tokens are scored either way. **Sampling** (:class:`WindowState`): the last ``seq_len`` tokens are
the state; each token is predicted from them, padded on the right to one fixed shape (the causal mask keeps
the padding out of sight), so one compiled function serves every step.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from lab.seeding import stream_seed


@keras.saving.register_keras_serializable(package="lab")
class PositionEmbedding(layers.Layer):
    """Adds a learned vector for each position ``0 ... T - 1`` of a window (at most ``length``)."""

    def __init__(self, length: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.length, self.dim = int(length), int(dim)

    def build(self, input_shape=None):
        self.positions = self.add_weight(shape=(self.length, self.dim), name="positions",
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x):
        return x + ops.cast(self.positions[: ops.shape(x)[1]], x.dtype)

    def compute_output_shape(self, input_shape):  # (JAX cannot trace the slice of an unknown length)
        return input_shape

    def get_config(self):
        return {**super().get_config(), "length": self.length, "dim": self.dim}


@keras.saving.register_keras_serializable(package="lab")
class Block(layers.Layer):
    """One pre-norm transformer block: causal (or banded) multi-head self-attention and a GELU MLP, each on a
    layer-normalised input, each added back through dropout."""

    def __init__(self, width: int, heads: int, mlp_ratio: int = 4, context: int | None = None,
                 dropout: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.width, self.heads, self.mlp_ratio = int(width), int(heads), int(mlp_ratio)
        self.context, self.dropout, self.seed = context, float(dropout), seed
        seeds = [None if seed is None else stream_seed(seed, "dropout/block", i) for i in range(3)]
        self.norm_1 = layers.LayerNormalization(epsilon=1e-5, name="norm_1")
        self.attention = layers.MultiHeadAttention(heads, width // heads, dropout=dropout, seed=seeds[0],
                                                   name="attention")
        self.norm_2 = layers.LayerNormalization(epsilon=1e-5, name="norm_2")
        self.expand = layers.Dense(mlp_ratio * width, activation="gelu", name="expand")
        self.project = layers.Dense(width, name="project")
        self.drop_1 = layers.Dropout(dropout, seed=seeds[1])
        self.drop_2 = layers.Dropout(dropout, seed=seeds[2])

    def build(self, input_shape):
        self.norm_1.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.norm_2.build(input_shape)
        self.expand.build(input_shape)
        self.project.build((*input_shape[:-1], self.mlp_ratio * self.width))

    def call(self, x, training=None):
        h = self.norm_1(x)
        mask = band_mask(ops.shape(x)[0], ops.shape(x)[1], self.context)
        h = self.attention(h, h, attention_mask=mask, use_causal_mask=mask is None, training=training)
        x = x + self.drop_1(h, training=training)
        h = self.project(self.expand(self.norm_2(x)))
        return x + self.drop_2(h, training=training)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "heads": self.heads, "mlp_ratio": self.mlp_ratio,
                "context": self.context, "dropout": self.dropout, "seed": self.seed}


def band_mask(batch, length, context: int | None):
    """``mask[b, i, j]``: position ``i`` may attend to ``j`` (``i - context < j <= i``); None for a plain
    causal mask (the whole window)."""
    if context is None:
        return None
    i = ops.expand_dims(ops.arange(length), 1)
    j = ops.expand_dims(ops.arange(length), 0)
    allowed = ops.logical_and(j <= i, i - j < context)
    return ops.broadcast_to(ops.expand_dims(allowed, 0), (batch, length, length))


def build_transformer(m, vocab_size: int, window: int, batch_size: int | None, seed: int, embedding):
    """The transformer of a ``model`` section reading windows of up to ``window`` tokens; ``embedding`` is the
    tied token table (:class:`~supervised.language_model.model.TiedEmbedding`)."""
    ids = keras.Input((None,), batch_size=batch_size, dtype="int32", name="ids")
    table = embedding(vocab_size, m.units, name="embedding")
    x = PositionEmbedding(window, m.units, name="positions")(table(ids))
    if m.input_dropout:
        x = layers.Dropout(m.input_dropout, seed=stream_seed(seed, "dropout/input"), name="input_dropout")(x)
    context = m.context if m.context is not None and m.context < window else None
    for i in range(m.layers):
        x = Block(m.units, m.heads, m.mlp_ratio, context, m.dropout, seed=stream_seed(seed, "blocks", i),
                  name=f"block_{i + 1}")(x)
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    if m.output_dropout:
        x = layers.Dropout(m.output_dropout, seed=stream_seed(seed, "dropout/output"),
                           name="output_dropout")(x)
    logits = layers.Activation("linear", dtype="float32", name="logits_float32")(table(x, logits=True))
    return keras.Model(ids, logits, name="transformer_language_model")


def window_logits(model, x: np.ndarray, window: int) -> np.ndarray:
    """Logits for windows ``x`` (streams x T, T <= window) padded on the right to ``window`` tokens, so
    every call has one shape; the causal mask keeps the padding from the real positions."""
    t = x.shape[1]
    padded = np.zeros((x.shape[0], window), np.int32)
    padded[:, :t] = x
    return np.asarray(model.predict_on_batch(padded), np.float64)[:, :t]


def window_of(model) -> int | None:
    """The window a transformer reads (its position table's length); None for a recurrent network."""
    for layer in model.layers:
        if isinstance(layer, PositionEmbedding):
            return layer.length
    return None


def reading_windows(n: int, window: int) -> list[tuple[int, int, int]]:
    """How a stream of ``n`` tokens is read: ``(start, end, scored_from)`` for each window ``[start, end)``
    of at most ``window`` tokens, whose tokens ``[scored_from, end)`` are scored. Windows move on by half a
    window; every token is scored once, with at least half a window before it past the stream's first."""
    step = max(1, window // 2)
    out, end = [], min(window, n)
    out.append((0, end, 0))
    while end < n:
        new_end = min(end + step, n)
        out.append((max(0, new_end - window), new_end, end))
        end = new_end
    return out


class WindowState:
    """The state of a transformer sampling one text: its last ``window`` tokens."""

    def __init__(self, window: int):
        self.window = int(window)
        self.tokens: list[int] = []

    def feed(self, model, ids) -> np.ndarray | None:
        """Read ``ids`` after the text so far; the logits of the next token (None when nothing was read)."""
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        if not ids:
            return None
        self.tokens = (self.tokens + ids)[-self.window:]
        x = np.asarray(self.tokens, np.int32)[None]
        return window_logits(model, x, self.window)[0, -1]
