"""The ``language-model`` task: next-character or next-word models with rnn, gru or lstm cells, trained by
truncated backpropagation through time on the shared epoch loop (:mod:`lab.loop`), measured against an
interpolated Kneser-Ney n-gram fitted on the same training tokens and scored on the same test tokens.

**Data** (:mod:`lab.data.text`): a UTF-8 file cut contiguously 90/5/5 (``data.fractions``), or a Penn
Treebank folder; characters or words; the vocabulary from the training split only (``<unk>`` is id 0),
saved as ``artifacts/vocabulary.json``; the out-of-vocabulary rate of each split goes in the report.

**The network**: token ids -> embedding -> (input dropout) -> ``layers`` stateful recurrent layers with
dropout between them -> (output dropout) -> logits over the vocabulary (a dense layer, or the embedding
matrix itself with ``tie_weights``). Keras' ``LSTM`` and ``GRU`` keep their defaults (tanh, sigmoid gates,
biases, no recurrent dropout, GRU's ``reset_after``), which are exactly the settings under which Keras runs
them on the fused cuDNN kernels on a GPU; :func:`cudnn_use` says so for each run in ``env.json``.
``SimpleRNN`` has no cuDNN kernel.

**Training** (the standard recipe of Zaremba et al. and char-rnn): the training ids are cut into
``batch_size`` contiguous streams (:func:`lab.data.text.bptt_batches`); step k trains on window k of every
stream, and the recurrent state is carried from window k to k+1 (stateful layers) and reset at the start
of each epoch. Each epoch starts the streams at a random offset below ``seq_len`` drawn from the loop's
per-epoch generator, so windows do not always cut the text at the same places (and a resumed run draws
the same offsets). Gradient-norm clipping, a constant, cosine or step-decay schedule per optimizer step,
early stopping on the validation loss with the best weights restored, a time limit.

**Scoring**: validation and test text are cut into ``eval_batch_size`` streams read in windows by a copy
of the network built for that batch size; the state is carried through each whole stream, so only the
first token of each stream is read without context. Every other token ``t`` is scored as
``-log p(t | all text before it in its stream)`` in nats; the n-gram baselines score exactly the same
target tokens (each from the up to ``order - 1`` tokens before it in the split). Figures: nats per token,
bits per character (char models), perplexity (word models), and the ratio to the Kneser-Ney model's.

**Artifacts**: ``language_model.keras`` (the network rebuilt for one stream, which ``lab generate`` loads),
``language_model.json`` (what the network is and reads), ``vocabulary.json``, ``curves.png``, the report
with the comparison table and samples at several temperatures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from lab.data.text import UNK, WORD_OR_MARK, Corpus, Vocabulary, bptt_batches, load_corpus
from lab.errors import DataError
from lab.loop import EarlyStopping, EpochLoop
from lab.schedules import current_rate, learning_rate

CHECKPOINT = "language_model"
MODEL_FILE = "language_model.keras"
META_FILE = "language_model.json"
VOCAB_FILE = "vocabulary.json"
CELLS = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


# --------------------------------------------------------------------------------------------------
# Data


@dataclass
class TextData:
    corpus: Corpus
    vocab: Vocabulary
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    oov: dict[str, float]

    @property
    def level(self) -> str:
        return self.corpus.level

    def describe(self) -> str:
        return (f"{self.corpus.source}: {len(self.train):,} / {len(self.valid):,} / {len(self.test):,} "
                f"{'characters' if self.level == 'chars' else 'words'} (train / valid / test), vocabulary "
                f"{len(self.vocab):,}")


def default_text() -> Path | None:
    """The Shakespeare beside the lab (``../shared/datasets/shakespeare.txt``), when it is there."""
    from lab.paths import shared_datasets

    path = shared_datasets() / "shakespeare.txt"
    return path if path.is_file() else None


def load_text(data_cfg) -> TextData:
    """Read the corpus of a ``data`` section, build the vocabulary from its training split, encode the splits."""
    path = data_cfg.path
    if path is None:
        path = default_text()
        if path is None:
            raise DataError("data.path is null and there is no ../shared/datasets/shakespeare.txt beside the lab; set "
                            "data.path to a UTF-8 text file or a Penn Treebank folder")
    corpus = load_corpus(path, level=data_cfg.level, fractions=tuple(data_cfg.fractions),
                         max_chars=data_cfg.max_chars, lowercase=data_cfg.lowercase,
                         split_punctuation=data_cfg.split_punctuation)
    vocab = Vocabulary.build(corpus.train, max_size=data_cfg.vocab_size, min_count=data_cfg.min_count)
    ids = {name: vocab.encode(corpus.split(name)) for name in ("train", "valid", "test")}
    oov = {name: vocab.oov_rate(corpus.split(name)) for name in ("train", "valid", "test")}
    return TextData(corpus, vocab, ids["train"], ids["valid"], ids["test"], oov)


# --------------------------------------------------------------------------------------------------
# The network


@keras.saving.register_keras_serializable(package="lab")
class TiedEmbedding(layers.Layer):
    """An embedding whose matrix is also the output layer: ``call(ids)`` looks tokens up; ``call(h,
    logits=True)`` returns ``h @ E^T + b``, the logits over the vocabulary (Press & Wolf 2017)."""

    def __init__(self, vocab_size: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.dim = int(vocab_size), int(dim)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(shape=(self.vocab_size, self.dim), name="embeddings",
                                          initializer=keras.initializers.RandomUniform(-0.1, 0.1))
        self.bias = self.add_weight(shape=(self.vocab_size,), name="bias", initializer="zeros")

    def call(self, inputs, logits: bool = False):
        if logits:
            e = ops.cast(self.embeddings, inputs.dtype)
            return ops.matmul(inputs, ops.transpose(e)) + ops.cast(self.bias, inputs.dtype)
        return ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim}


def build_model(m, vocab_size: int, batch_size: int, seed: int = 0) -> keras.Model:
    """The network of a ``model`` section for ``batch_size`` streams (stateful: the batch size is part of it).
    Networks built from the same section for different batch sizes have the same weights in the same order."""
    cell = getattr(layers, CELLS[m.cell])
    ids = keras.Input((None,), batch_size=batch_size, dtype="int32", name="ids")
    if m.tie_weights:
        table = TiedEmbedding(vocab_size, m.embedding, name="embedding")
        x = table(ids)
    else:
        x = layers.Embedding(vocab_size, m.embedding, name="embedding")(ids)
    if m.input_dropout:
        x = layers.Dropout(m.input_dropout, seed=seed + 1, name="input_dropout")(x)
    for i in range(m.layers):
        if i and m.dropout:
            x = layers.Dropout(m.dropout, seed=seed + 10 + i, name=f"dropout_{i}")(x)
        x = cell(m.units, return_sequences=True, stateful=True, name=f"{m.cell}_{i + 1}")(x)
    if m.output_dropout:
        x = layers.Dropout(m.output_dropout, seed=seed + 2, name="output_dropout")(x)
    if m.tie_weights:
        logits = table(x, logits=True)
    else:
        logits = layers.Dense(vocab_size, name="logits")(x)
    logits = layers.Activation("linear", dtype="float32", name="logits_float32")(logits)
    return keras.Model(ids, logits, name=f"{m.cell}_language_model")


def reset_states(model) -> None:
    """Zero the state every stateful recurrent layer carries (start of an epoch, of a scoring pass, of a text)."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def copy_for_batch(model, m, vocab_size: int, batch_size: int) -> keras.Model:
    """The same network (weights copied) for another number of streams."""
    twin = build_model(m, vocab_size, batch_size)
    twin.set_weights(model.get_weights())
    return twin


def cudnn_use(m, devices: list[str]) -> dict:
    """Whether the recurrent layers of a ``model`` section run on cuDNN's fused kernels, and why (env.json)."""
    gpu = any("GPU" in d.upper() for d in devices)
    if m.cell == "rnn":
        eligible, why = False, "SimpleRNN has no cuDNN kernel in Keras"
    else:
        eligible = True
        why = (f"{CELLS[m.cell]} with Keras' defaults (tanh, sigmoid gates, biases, no recurrent dropout"
               f"{', reset_after' if m.cell == 'gru' else ''}, not unrolled): the cuDNN kernel is used on a GPU")
    return {"cell": m.cell, "cudnn_eligible": eligible, "gpu": gpu, "cudnn_used": eligible and gpu,
            "why": why if gpu or not eligible else why + "; this run has no GPU, so the generic kernel ran"}


# --------------------------------------------------------------------------------------------------
# Learning rate


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
        raise DataError(f"the {split} split has {len(ids):,} tokens; scoring it in {streams} streams needs at least "
                        f"{streams + 1}; lower training.eval_batch_size or give more text")
    return ids[:-1][:streams * n].reshape(streams, n), ids[1:][:streams * n].reshape(streams, n)


def target_positions(ids: np.ndarray, streams: int) -> np.ndarray:
    """Positions in ``ids`` of the tokens :func:`score_tokens` scores (for the n-gram models)."""
    n = (len(ids) - 1) // streams
    return np.arange(1, streams * n + 1)


def score_tokens(model, ids: np.ndarray, seq_len: int, split: str = "test") -> np.ndarray:
    """``-log p`` (nats) of every target token of ``ids`` read in ``model``'s number of streams, state carried."""
    x, y = scoring_streams(ids, model.input_shape[0], split)
    reset_states(model)
    out = np.empty(y.shape, np.float64)
    for start in range(0, x.shape[1], seq_len):
        logits = np.asarray(model.predict_on_batch(x[:, start:start + seq_len]), np.float64)
        lp = log_softmax(logits)
        yy = y[:, start:start + seq_len]
        out[:, start:start + seq_len] = -np.take_along_axis(lp, yy[..., None], -1)[..., 0]
    reset_states(model)
    return out.reshape(-1)


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
# The runner


def require_tensorflow_backend() -> None:
    """The stateful layers carry their state from call to call as this task needs only on TensorFlow's
    backend: under JAX (Keras 3.15, jax 0.10), reading a text in windows gave other figures than reading it
    token by token (tests/supervised/test_language_model.py fails there), so the task refuses to run on
    it rather than report wrong numbers."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        from lab.errors import StrategyError

        raise StrategyError(f"the language-model task needs Keras' TensorFlow backend (this process runs "
                            f"KERAS_BACKEND={backend}): under {backend} its stateful layers did not carry their "
                            "state across windows as TensorFlow's do, which would make its figures wrong; "
                            "unset KERAS_BACKEND")


def figures_of(nats: float, level: str, prefix: str) -> dict:
    out = {f"{prefix}_nats": float(nats)}
    if level == "chars":
        out[f"{prefix}_bits_per_char"] = float(nats / math.log(2))
    else:
        out[f"{prefix}_perplexity"] = float(math.exp(nats))
    return out


def run(cfg, ctx) -> dict:
    """Train the language model of a scenario, score it beside the n-gram baselines, write the report."""
    from lab.runs import atomic_write_json
    from supervised import ngram

    require_tensorflow_backend()
    data = load_text(cfg.data)
    ctx.log(data.describe())
    t, m, v = cfg.training, cfg.model, len(data.vocab)
    data.vocab.save(ctx.artifact(VOCAB_FILE))
    ctx.record_env("language_model", cudnn_use(m, ctx.strategy_info.devices if ctx.strategy_info else []))
    x0, _ = bptt_batches(data.train, t.batch_size, t.seq_len, split="train")
    steps_per_epoch = len(x0)
    scoring_streams(data.valid, t.eval_batch_size, "valid")
    scoring_streams(data.test, t.eval_batch_size, "test")

    def build():
        model = build_model(m, v, t.batch_size, seed=cfg.seed)
        model.compile(optimizer=make_optimizer(t, steps_per_epoch),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=ctx.jit_compile)
        return model

    loop = EpochLoop(ctx, CHECKPOINT, t, seed=cfg.seed, early_stopping=EarlyStopping("val_nats", patience=t.patience),
                     describe=f"{m.cell} epochs")
    model = loop.restore(build)
    scorer = None
    for epoch in loop:
        offset = int(epoch.rng.integers(t.seq_len))
        x, y = bptt_batches(data.train[offset:], t.batch_size, t.seq_len, split="train")
        x, y = x.reshape(-1, t.seq_len), y.reshape(-1, t.seq_len)  # window-major: batch k = window k of each stream
        rate = current_rate(model.optimizer)
        reset_states(model)
        with loop.timed(samples=x.size):
            hist = model.fit(x, y, batch_size=t.batch_size, epochs=1, shuffle=False, verbose=0)
        reset_states(model)
        if scorer is None:
            scorer = build_model(m, v, t.eval_batch_size)
        scorer.set_weights(model.get_weights())
        val = float(np.mean(score_tokens(scorer, data.valid, t.seq_len, "valid")))
        loop.end_epoch({"loss": float(hist.history["loss"][-1]), "val_nats": val, "learning_rate": rate},
                       show=("loss", "val_nats"))
    trained = loop.finish()

    scorer = copy_for_batch(model, m, v, t.eval_batch_size)
    test_nats = score_tokens(scorer, data.test, t.seq_len, "test")
    val_nats = score_tokens(scorer, data.valid, t.seq_len, "valid")
    positions = target_positions(data.test, t.eval_batch_size)
    order = cfg.ngram_order
    kn = ngram.KneserNey(order, v).fit(data.train)
    unigram = ngram.Unigram(v).fit(data.train)
    kn_nats = float(-np.mean(kn.token_logprobs(data.test)[positions]))
    uni_nats = float(-np.mean(np.log(unigram.distribution()[data.test[positions]])))

    nats = float(np.mean(test_nats))
    summary = {"task": "language-model", "level": data.level, "cell": m.cell, "layers": m.layers, "units": m.units,
               "parameters": int(model.count_params()), "vocabulary": v,
               "train_tokens": len(data.train), "valid_tokens": len(data.valid), "test_tokens": len(data.test),
               "scored_test_tokens": int(test_nats.size),
               **figures_of(nats, data.level, "test"), **figures_of(float(np.mean(val_nats)), data.level, "valid"),
               "kn_order": order, **figures_of(kn_nats, data.level, "kn"),
               **figures_of(uni_nats, data.level, "unigram"),
               "ratio_to_kn": nats / kn_nats,
               **{f"oov_{k}": r for k, r in data.oov.items()}}
    if data.level == "words":
        summary["perplexity_ratio_to_kn"] = math.exp(nats) / math.exp(kn_nats)
    summary.update(trained)
    summary["tokens_per_second"] = summary.get("samples_per_second", 0.0)
    ctx.log(f"test {nats:.4f} nats/token ({_headline(summary)}); {order}-gram KN {kn_nats:.4f}, unigram {uni_nats:.4f}")

    single = copy_for_batch(model, m, v, 1)
    ctx.save_model(single, MODEL_FILE, where="artifacts")
    atomic_write_json(ctx.artifact(META_FILE), {
        "level": data.level, "cell": m.cell, "model": m.model_dump(), "vocabulary": VOCAB_FILE,
        "source": data.corpus.source, "test_nats": nats, "seed": cfg.seed,
        "prompt": cfg.generate.prompt, "lowercase": cfg.data.lowercase,
        "split_punctuation": cfg.data.split_punctuation})
    from supervised import language_report

    language_report.write_report(cfg, ctx, data, summary, single)
    return summary


def _headline(s: dict) -> str:
    if "test_bits_per_char" in s:
        return f"{s['test_bits_per_char']:.3f} bits/char"
    return f"perplexity {s['test_perplexity']:.1f}"


# --------------------------------------------------------------------------------------------------
# Text from a trained network


class TextSampler:
    """Sampling from a network built for one stream: ``feed`` text, then ``sample`` token after token."""

    def __init__(self, model, vocab: Vocabulary, level: str, lowercase: bool = False, split_punctuation: bool = False):
        self.model, self.vocab, self.level = model, vocab, level
        self.lowercase, self.split_punctuation = lowercase, split_punctuation
        self.logits: np.ndarray | None = None
        self._line_start = True

    def tokens_of(self, prompt: str) -> tuple[list[str], list[str]]:
        """The prompt's tokens, and those the vocabulary lacks (word models read those as <unk>)."""
        if self.level == "chars":
            tokens = list(prompt)
        else:  # read as the training text was: <eos> for each line end, the same case and punctuation rules
            pieces = (prompt.lower() if self.lowercase else prompt).replace("\n", " <eos> ").split()
            tokens = [t for p in pieces for t in ([p] if p == "<eos>" or not self.split_punctuation
                                                   else WORD_OR_MARK.findall(p))]
        return tokens, sorted({tok for tok in tokens if tok not in self.vocab and tok != UNK})

    def begin(self, prompt: str) -> None:
        """Start a text after ``prompt``: a word model puts a space before its first word unless the prompt
        ends with white space."""
        self._line_start = not prompt or prompt[-1].isspace()

    def reset(self) -> None:
        reset_states(self.model)
        self.logits = None

    def feed(self, ids) -> None:
        ids = np.asarray(ids, np.int32).reshape(1, -1)
        if ids.size:
            self.logits = np.asarray(self.model.predict_on_batch(ids), np.float64)[0, -1]

    def sample(self, temperature: float, top_k: int | None, rng: np.random.Generator) -> tuple[int, float]:
        """The next token and its log-probability under the network (temperature 1, no top-k)."""
        if self.logits is None:
            raise RuntimeError("feed the sampler some text first")
        token = sample_token(self.logits, temperature, top_k, rng)
        logprob = float(log_softmax(self.logits)[token])
        self.feed([token])
        return token, logprob

    def text_of(self, token: int) -> str:
        tok = self.vocab.token(token)
        if self.level == "chars":
            return tok
        if tok == "<eos>":
            self._line_start = True
            return "\n"
        text = tok if self._line_start else " " + tok
        self._line_start = False
        return text


def generate(sampler: TextSampler, prompt: str, prompt_ids, length: int, temperature: float, top_k: int | None,
             seed: int):
    """Yield ``(text, token, logprob)`` for ``length`` tokens after ``prompt`` (read as ``prompt_ids``); the same
    seed gives the same text."""
    rng = np.random.default_rng(seed)
    sampler.reset()
    sampler.begin(prompt)
    sampler.feed(prompt_ids)
    for _ in range(length):
        token, logprob = sampler.sample(temperature, top_k, rng)
        yield sampler.text_of(token), token, logprob


def open_run(run_path) -> tuple[object, TextSampler, dict]:
    """A finished language-model run: its folder, a sampler on its network, and language_model.json
    (a :class:`~lab.errors.RunError` when the folder is not one, or is damaged)."""
    from lab.errors import RunError
    from lab.runs import RunDir, load_run_model, read_json

    require_tensorflow_backend()
    run = RunDir.open(run_path)
    run.require_task("language-model", command="lab generate")
    meta_path, model_path = run.artifacts / META_FILE, run.artifacts / MODEL_FILE
    if not meta_path.exists():
        raise RunError(f"{run.path}: no trained language model yet ({META_FILE} is written when training ends); "
                       f"continue the run with `lab run --resume {run.path}`")
    meta = read_json(meta_path, "language-model description")
    if not isinstance(meta, dict) or meta.get("level") not in ("chars", "words") or not isinstance(
            meta.get("vocabulary"), str) or "/" in meta["vocabulary"] or "\\" in meta["vocabulary"]:
        raise RunError(f"{meta_path}: corrupt language-model description (not what `lab run` writes)")
    try:
        vocab = Vocabulary.load(run.artifacts / meta["vocabulary"])
    except DataError as exc:
        raise RunError(str(exc)) from None
    if not model_path.exists():
        raise RunError(f"{model_path}: missing ({META_FILE} is there, so the run finished; was the model deleted?)")
    model = load_run_model(model_path)
    if model.input_shape[0] != 1 or model.output_shape[-1] != len(vocab):
        raise RunError(f"{model_path}: the network reads {model.input_shape[0]} streams and predicts "
                       f"{model.output_shape[-1]} tokens, but `lab generate` needs 1 stream over the {len(vocab)} "
                       f"tokens of {meta['vocabulary']}")
    return run, TextSampler(model, vocab, meta["level"], bool(meta.get("lowercase")),
                            bool(meta.get("split_punctuation"))), meta
