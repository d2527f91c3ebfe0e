"""The ``language-model`` task's runner: a text (:mod:`lab.data.text`) -> a next-token network
(:mod:`supervised.language_model.model`) trained on the shared epoch loop (:mod:`lab.loop`) -> scored
beside an interpolated Kneser-Ney n-gram fitted on the same training tokens
(:mod:`supervised.language_model.ngram`) -> report, and the network ``lab generate`` reads.

**Data**: a UTF-8 file cut contiguously 90/5/5 (``data.fractions``), or a Penn Treebank folder; characters
or words; the vocabulary from the training split only (``<unk>`` is id 0), saved as
``artifacts/vocabulary.json``; the out-of-vocabulary rate of each split goes in the report.

**Training** (the standard recipe of Zaremba et al. and char-rnn): the training ids are cut into
``batch_size`` contiguous streams (:func:`lab.data.text.bptt_batches`); step k trains on window k of every
stream, and the recurrent state is carried from window k to k+1 (stateful layers) and reset at the start
of each epoch. Each epoch starts the streams at a random offset below ``seq_len`` drawn from the loop's
per-epoch generator, so windows do not always cut the text at the same places (and a resumed run draws
the same offsets). Gradient-norm clipping, the training section's learning-rate schedule per optimizer
step, early stopping on the validation loss with the best weights restored, a time limit.

**Scoring**: validation and test text are cut into ``eval_batch_size`` streams (see
:func:`~supervised.language_model.model.score_tokens`); the n-gram baselines score exactly the same target
tokens (each from the up to ``order - 1`` tokens before it in the split). Figures: nats per token, bits per
character (char models), perplexity (word models), and the ratio to the Kneser-Ney model's.

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

from lab.data.text import Corpus, Vocabulary, bptt_batches, load_corpus
from lab.errors import DataError
from lab.loop import EarlyStopping, EpochLoop
from lab.paths import shared_datasets
from lab.runs import atomic_write_json
from lab.schedules import current_rate
from supervised.language_model import ngram, report
from supervised.language_model.model import (
    build_model,
    copy_for_batch,
    cudnn_use,
    figures_of,
    loss_of,
    make_optimizer,
    reset_states,
    score_tokens,
    scoring_streams,
    target_positions,
    train_windows,
)
from supervised.language_model.serve import META_FILE, MODEL_FILE, VOCAB_FILE

CHECKPOINT = "language_model"


def run(cfg, ctx) -> dict:
    """Train the language model of a scenario, score it beside the n-gram baselines, write the report."""
    data = load_text(cfg.data)
    ctx.log(data.describe())
    t, m, v = cfg.training, cfg.model, len(data.vocab)
    data.vocab.save(ctx.artifact(VOCAB_FILE))
    ctx.record_env("language_model", cudnn_use(m, ctx.strategy_info.devices if ctx.strategy_info else []))
    steps_per_epoch = len(bptt_batches(data.train, t.batch_size, t.seq_len, split="train")[0])
    scoring_streams(data.valid, t.eval_batch_size, "valid")  # too little text is said now, not after training
    scoring_streams(data.test, t.eval_batch_size, "test")
    loop = EpochLoop(ctx, CHECKPOINT, t, seed=cfg.seed,
                     early_stopping=EarlyStopping("val_nats", patience=t.patience),
                     describe=f"{m.cell} epochs")
    model = loop.restore(lambda: compiled_model(cfg, ctx, v, steps_per_epoch))
    scorer = None  # the network for eval_batch_size streams, with the weights of the epoch
    for epoch in loop:
        offset = int(epoch.rng.integers(t.seq_len))
        rate = current_rate(model.optimizer)
        loss = train_epoch(loop, model, data.train[offset:], t)
        if scorer is None:
            scorer = build_model(m, v, t.eval_batch_size, window=t.seq_len)
        scorer.set_weights(model.get_weights())
        val = float(np.mean(score_tokens(scorer, data.valid, t.seq_len, "valid")))
        loop.end_epoch({"loss": loss, "val_nats": val, "learning_rate": rate,
                        "train_seconds": round(loop.state.train_seconds, 2)}, show=("loss", "val_nats"))
    trained = loop.finish()

    summary = {**summarise(cfg, data, model), **trained}
    summary["tokens_per_second"] = summary.get("samples_per_second", 0.0)
    ctx.log(f"test {summary['test_nats']:.4f} nats/token ({_headline(summary)}); {summary['kn_order']}-gram "
            f"KN {summary['kn_nats']:.4f}, unigram {summary['unigram_nats']:.4f}")
    single = copy_for_batch(model, m, v, 1)
    save_products(ctx, cfg, data, single, summary["test_nats"])
    report.write_report(cfg, ctx, data, summary, single)
    return summary


@dataclass
class TextData:
    """The corpus, its vocabulary (from the training split) and the three splits as token ids."""

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
    path = shared_datasets() / "shakespeare.txt"
    return path if path.is_file() else None


def load_text(data_cfg) -> TextData:
    """Read the corpus of a ``data`` section, build the vocabulary from its training split, encode the
    splits."""
    path = data_cfg.path
    if path is None:
        path = default_text()
        if path is None:
            raise DataError("data.path is null and there is no ../shared/datasets/shakespeare.txt beside the "
                            "lab; set data.path to a UTF-8 text file or a Penn Treebank folder")
    corpus = load_corpus(path, level=data_cfg.level, fractions=tuple(data_cfg.fractions),
                         max_chars=data_cfg.max_chars, lowercase=data_cfg.lowercase,
                         split_punctuation=data_cfg.split_punctuation)
    vocab = Vocabulary.build(corpus.train, max_size=data_cfg.vocab_size, min_count=data_cfg.min_count)
    ids = {name: vocab.encode(corpus.split(name)) for name in ("train", "valid", "test")}
    oov = {name: vocab.oov_rate(corpus.split(name)) for name in ("train", "valid", "test")}
    return TextData(corpus, vocab, ids["train"], ids["valid"], ids["test"], oov)


def compiled_model(cfg, ctx, vocab_size: int, steps_per_epoch: int) -> keras.Model:
    """A fresh network for ``batch_size`` streams, compiled with the training section's optimizer."""
    t = cfg.training
    model = build_model(cfg.model, vocab_size, t.batch_size, seed=cfg.seed, window=t.seq_len)
    model.compile(optimizer=make_optimizer(t, steps_per_epoch), loss=loss_of(t), jit_compile=ctx.jit_compile)
    return model


def train_epoch(loop, model, ids: np.ndarray, t) -> float:
    """One pass over the training ids: step k trains on window k of every stream, the state carried from
    window to window (and zeroed before and after); the epoch's mean loss in nats per token (a loss summed
    over each window is divided by its length)."""
    x, y = bptt_batches(ids, t.batch_size, t.seq_len, split="train")
    # window-major: batch k = window k of each stream
    reset_states(model)
    with loop.timed(samples=x.size):
        loss = train_windows(model, x, y, loss_of(t), jit_compile=loop.ctx.jit_compile)
    reset_states(model)
    return loss / (t.seq_len if t.loss_reduction == "window" else 1)


def summarise(cfg, data: TextData, model) -> dict:
    """The network's figures on the validation and test text beside the n-gram baselines' on the same
    test tokens."""
    t, m, v = cfg.training, cfg.model, len(data.vocab)
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
    summary = {"task": "language-model", "level": data.level, "cell": m.cell, "layers": m.layers,
               "units": m.units, "parameters": int(model.count_params()), "vocabulary": v,
               "train_tokens": len(data.train), "valid_tokens": len(data.valid),
               "test_tokens": len(data.test), "scored_test_tokens": int(test_nats.size),
               **figures_of(nats, data.level, "test"),
               **figures_of(float(np.mean(val_nats)), data.level, "valid"), "kn_order": order,
               **figures_of(kn_nats, data.level, "kn"), **figures_of(uni_nats, data.level, "unigram"),
               "ratio_to_kn": nats / kn_nats,
               **{f"oov_{k}": r for k, r in data.oov.items()}}
    if data.level == "words":
        summary["perplexity_ratio_to_kn"] = math.exp(nats) / math.exp(kn_nats)
    return summary


def save_products(ctx, cfg, data: TextData, single, test_nats: float) -> None:
    """What ``lab generate`` reads: the network for one stream and ``language_model.json`` (the vocabulary
    was saved before training)."""
    ctx.save_model(single, MODEL_FILE, where="artifacts")
    atomic_write_json(ctx.artifact(META_FILE), {
        "level": data.level, "cell": cfg.model.cell, "model": cfg.model.model_dump(),
        "vocabulary": VOCAB_FILE, "source": data.corpus.source, "test_nats": test_nats, "seed": cfg.seed,
        "prompt": cfg.generate.prompt, "lowercase": cfg.data.lowercase,
        "split_punctuation": cfg.data.split_punctuation})


def _headline(s: dict) -> str:
    if "test_bits_per_char" in s:
        return f"{s['test_bits_per_char']:.3f} bits/char"
    return f"perplexity {s['test_perplexity']:.1f}"
