"""What ``lab generate`` (and a web service) asks of a finished ``language-model`` run: plain arguments in,
plain data out.

:class:`TextModel` opens a run (``artifacts/language_model.keras``, the network for one stream, loaded with
``safe_mode=True``; ``language_model.json``; ``vocabulary.json``), reads a prompt as the training text was
read (:meth:`TextModel.prompt`), and samples text after it: :meth:`TextModel.stream` yields each token as
it is drawn (``{"text", "token", "logprob"}``, for streaming), :meth:`TextModel.write` returns the whole
text with each token's log-probability. The same seed gives the same text (the ``sampling`` stream of
:mod:`lab.seeding`).

A request the run cannot take (a prompt with characters a character model never saw, a temperature out of
range...) raises :class:`GenerateError`, which names the setting (``prompt``, ``length``, ``temperature``,
``top-k``, ``seed``) and the value, so that ``lab generate`` can name its option. A run folder that is not
a usable language-model run is a :class:`lab.errors.RunError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from lab.data.text import UNK, WORD_OR_MARK, Vocabulary
from lab.errors import DataError, RunError
from lab.runs import RunDir, load_run_model, read_json
from lab.seeding import stream
from supervised.language_model.model import (
    log_softmax,
    read,
    reset_states,
    sample_token,
)
from supervised.language_model.transformer import WindowState, window_of

MODEL_FILE = "language_model.keras"  # artifacts/: the network rebuilt for one stream
META_FILE = "language_model.json"  # artifacts/: what the network is and reads
VOCAB_FILE = "vocabulary.json"  # artifacts/: the vocabulary of the training split
MAX_LENGTH = 1_000_000  # tokens one request may ask for


class GenerateError(ValueError):
    """A request this run cannot take. ``setting`` names what it is about (``"prompt"``, ``"length"``,
    ``"temperature"``, ``"top-k"``, ``"seed"``), ``value`` the value given and ``detail`` what is wrong."""

    def __init__(self, setting: str, value, detail: str):
        super().__init__(f"{setting} {value}: {detail}")
        self.setting = setting
        self.value = value
        self.detail = detail


def check_settings(length: int, temperature: float, top_k: int | None, seed: int) -> None:
    """A GenerateError for a setting out of range (before any run is opened)."""
    if not 1 <= length <= MAX_LENGTH:
        raise GenerateError("length", length, f"give 1 ... {MAX_LENGTH} tokens")
    if not (math.isfinite(temperature) and 0 < temperature <= 100):
        raise GenerateError("temperature", f"{temperature:g}",
                            "give a number above 0 and at most 100 (e.g. 0.8)")
    if top_k is not None and top_k < 1:
        raise GenerateError("top-k", top_k, "give 1 or more (or leave it out to draw among all tokens)")
    if not 0 <= seed <= 2**32 - 1:
        raise GenerateError("seed", seed, "give 0 ... 4294967295")


class TextSampler:
    """Sampling from a network built for one stream: ``feed`` text, then ``sample`` token after token."""

    def __init__(self, model, vocab: Vocabulary, level: str, lowercase: bool = False,
                 split_punctuation: bool = False):
        self.model, self.vocab, self.level = model, vocab, level
        self.lowercase, self.split_punctuation = lowercase, split_punctuation
        self.logits: np.ndarray | None = None
        self._line_start = True
        window = window_of(model) if model is not None else None
        self.window = WindowState(window) if window else None  # the transformer's state: its last tokens

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
        if self.window:
            self.window.tokens = []
        self.logits = None

    def snapshot(self) -> tuple:
        """What one text's sampling carries from token to token: the recurrent layers' states, the last
        logits, whether a line has begun. With :meth:`restore`, several texts can share one network (the
        web service interleaves them token by token)."""
        if self.window:
            states = list(self.window.tokens)
        else:
            states = [[np.array(v) for v in layer.states] for layer in self._stateful()]
        return states, None if self.logits is None else self.logits.copy(), self._line_start

    def restore(self, snapshot: tuple) -> None:
        states, logits, line_start = snapshot
        if self.window:
            self.window.tokens = list(states)
        else:
            for layer, values in zip(self._stateful(), states, strict=True):
                for variable, value in zip(layer.states, values, strict=True):
                    variable.assign(value)
        self.logits, self._line_start = logits, line_start

    def _stateful(self) -> list:
        return [layer for layer in self.model.layers if getattr(layer, "stateful", False)]

    def feed(self, ids) -> None:
        ids = np.asarray(ids, np.int32).reshape(1, -1)
        if self.window:
            logits = self.window.feed(self.model, ids)
            self.logits = self.logits if logits is None else logits
        elif ids.size:
            self.logits = np.asarray(read(self.model, ids), np.float64)[0, -1]

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


def sample(sampler: TextSampler, prompt: str, prompt_ids, length: int, temperature: float, top_k: int | None,
           seed: int) -> Iterator[tuple[str, int, float]]:
    """Yield ``(text, token, logprob)`` for ``length`` tokens after ``prompt`` (read as ``prompt_ids``), drawn
    from the ``sampling`` stream of ``seed``: the same seed gives the same text."""
    rng = stream(seed, "sampling")
    sampler.reset()
    sampler.begin(prompt)
    sampler.feed(prompt_ids)
    for _ in range(length):
        token, logprob = sampler.sample(temperature, top_k, rng)
        yield sampler.text_of(token), token, logprob


def read_meta(run) -> dict:
    """``language_model.json`` of a run (a RunError when it is missing or corrupt)."""
    meta_path = run.artifacts / META_FILE
    if not meta_path.exists():
        raise RunError(f"{run.path}: no trained language model yet ({META_FILE} is written when training "
                       f"ends); continue the run with `lab run --resume {run.path}`")
    meta = read_json(meta_path, "language-model description")
    if not isinstance(meta, dict) or meta.get("level") not in ("chars", "words") or not isinstance(
            meta.get("vocabulary"), str) or "/" in meta["vocabulary"] or "\\" in meta["vocabulary"]:
        raise RunError(f"{meta_path}: corrupt language-model description (not what `lab run` writes)")
    return meta


class TextModel:
    """The network of a finished ``language-model`` run, its vocabulary and its description."""

    def __init__(self, run, sampler: TextSampler, meta: dict):
        self.run, self.sampler, self.meta = run, sampler, meta

    @classmethod
    def open(cls, run_path) -> TextModel:
        """Open a finished language-model run (a :class:`RunError` when it is not one, or is damaged)."""
        run = RunDir.open(run_path)
        run.require_task("language-model", command="lab generate")
        meta = read_meta(run)
        try:
            vocab = Vocabulary.load(run.artifacts / meta["vocabulary"])
        except DataError as exc:
            raise RunError(str(exc)) from None
        model_path = run.artifacts / MODEL_FILE
        if not model_path.exists():
            raise RunError(f"{model_path}: missing ({META_FILE} is there, so the run finished; was the model "
                           "deleted?)")
        model = load_run_model(model_path)
        if model.input_shape[0] != 1 or model.output_shape[-1] != len(vocab):
            raise RunError(f"{model_path}: the network reads {model.input_shape[0]} streams and predicts "
                           f"{model.output_shape[-1]} tokens, but `lab generate` needs 1 stream over the "
                           f"{len(vocab)} tokens of {meta['vocabulary']}")
        return cls(run, TextSampler(model, vocab, meta["level"], bool(meta.get("lowercase")),
                                    bool(meta.get("split_punctuation"))), meta)

    @property
    def level(self) -> str:
        return self.meta["level"]

    def prompt(self, text: str | None = None) -> dict:
        """How a prompt is read: ``{"text", "ids", "notes"}``. ``None``: the scenario's ``generate.prompt``;
        an empty prompt is a new line. Characters a character model never saw are a GenerateError; words a
        word model lacks are read as <unk> (said in the notes)."""
        text = text if text is not None else str(self.meta.get("prompt", "\n"))
        text = text or "\n"
        tokens, unknown = self.sampler.tokens_of(text)
        if unknown and self.level == "chars":
            shown = ", ".join(repr(c) for c in unknown[:20]) + (" ..." if len(unknown) > 20 else "")
            raise GenerateError("prompt", text, f"{len(unknown)} character(s) the model never saw in "
                                f"training: {shown}; leave them out (the run's vocabulary: "
                                f"{self.run.artifacts / self.meta['vocabulary']})")
        notes = ([f"read as <unk>: {', '.join(unknown[:20])}{' ...' if len(unknown) > 20 else ''}"] if unknown
                 else [])
        return {"text": text, "ids": [int(i) for i in self.sampler.vocab.encode(tokens)], "notes": notes}

    def top_k(self, top_k: int | None) -> int | None:
        """The number of tokens drawn among (at most the vocabulary), None for all."""
        return None if top_k is None else min(int(top_k), len(self.sampler.vocab))

    def stream(self, prompt: str | None = None, length: int = 300, temperature: float = 0.8,
               top_k: int | None = None, seed: int = 0) -> Iterator[dict]:
        """Yield ``{"text", "token", "logprob"}`` for each of ``length`` tokens after the prompt as it is
        drawn: the text to print (a word model's words with a space before them, <eos> as a new line), the
        token and its natural log-probability under the network itself (temperature 1, no top-k)."""
        check_settings(length, temperature, top_k, seed)
        read = self.prompt(prompt)
        vocab = self.sampler.vocab
        for piece, token, logprob in sample(self.sampler, read["text"], read["ids"], length, temperature,
                                            self.top_k(top_k), seed):
            yield {"text": piece, "token": vocab.token(token), "logprob": logprob}

    def write(self, prompt: str | None = None, length: int = 300, temperature: float = 0.8,
              top_k: int | None = None, seed: int = 0) -> dict:
        """The whole text at once: ``{"run", "prompt", "seed", "temperature", "top_k", "text", "tokens":
        [{"token", "logprob"}], "mean_logprob"}``."""
        text = self.prompt(prompt)["text"]
        pieces = list(self.stream(text, length, temperature, top_k, seed))
        return {"run": str(self.run.path), "prompt": text, "seed": seed, "temperature": temperature,
                "top_k": self.top_k(top_k), "text": "".join(p["text"] for p in pieces),
                "tokens": [{"token": p["token"], "logprob": p["logprob"]} for p in pieces],
                "mean_logprob": sum(p["logprob"] for p in pieces) / len(pieces)}
