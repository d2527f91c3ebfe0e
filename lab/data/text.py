"""Text corpora for character- and word-level language models: a UTF-8 file or a Penn Treebank folder.

:func:`load_corpus` takes the scenario's ``data.path`` and ``level`` (``"chars"`` or ``"words"``):

- a UTF-8 text file (e.g. ``../shared/datasets/shakespeare.txt`` from the lab's folder). ``"\\r\\n"`` becomes
  ``"\\n"`` and a leading byte-order mark is dropped; ``max_chars`` keeps the first N characters (1,115,394 is
  the size of the tiny-shakespeare set of char-rnn and nanoGPT). The text is cut **contiguously** into
  train, valid and test by ``fractions`` (default 90/5/5): no shuffling, so the test text is text the model
  never saw a line of. At ``level="chars"`` the tokens are the characters and the cuts fall at
  ``int(n * fraction)`` characters; at ``level="words"`` each non-blank line gives its whitespace-separated
  words followed by the token ``"<eos>"`` (blank lines give nothing) and the cuts fall between tokens.
  ``lowercase`` and ``split_punctuation`` (word level) normalise such a text the way the Penn Treebank is
  normalised: lower case, and each punctuation mark a word of its own (apostrophes inside words stay).
- a folder in the Penn Treebank layout (Mikolov's ``simple-examples/data``): ``ptb.train.txt``,
  ``ptb.valid.txt`` and ``ptb.test.txt`` are the three splits (``fractions`` and ``max_chars`` do not
  apply); words only, read like a plain file at word level. The ``<unk>`` already in PTB's text is an
  ordinary token, and it is also the vocabulary's unknown token.

**What you get.** :class:`Corpus`: ``train``, ``valid``, ``test`` as ``list[str]`` of tokens (single
characters at char level, so both levels look the same downstream), ``level``, ``source`` (e.g.
``shakespeare.txt (first 1,115,394 characters), split 90/5/5``) and ``n_chars``, the characters read.

:class:`Vocabulary` is built from the **training** tokens only: id 0 is the unknown token ``"<unk>"`` (a
multi-character string, so at char level it cannot collide with a character), the others follow by
descending count, ties by token (the same on every machine). ``max_size`` (which counts ``<unk>``) and
``min_count`` prune it; ``encode`` maps tokens outside it to 0; ``oov_rate`` tells how much of a split falls
outside it (a literal ``<unk>`` counts as out of vocabulary). It is saved as JSON (written to a temporary
name, then renamed) and loaded back with the same ids.

:func:`bptt_batches` lays a split out for truncated backpropagation through time with a stateful RNN:
:func:`batchify` cuts the id stream into ``batch_size`` contiguous rows (the tail that does not fill a row
is dropped), then windows of ``seq_len`` are taken along the rows. ``X`` is (n_windows, batch_size,
seq_len), ``Y`` the same one token later, and window k+1 of row r continues window k of row r, so the state
an RNN carries from batch k to batch k+1 belongs to the same text. The last partial window is dropped.

**Checks, each a** :class:`~lab.errors.DataError` **that names the file or folder:**

- a path that does not exist or cannot be read; a file bigger than ``max_bytes`` (its size and the limit);
- an empty file; text that is not UTF-8 (the byte offset and line of the first bad byte and the bytes in
  hex); a file without a single word at word level;
- a folder without one of the three ``ptb.*.txt`` files (the missing ones and what the folder holds);
  ``level="chars"`` or ``max_chars`` on a folder;
- a split that comes out empty although its fraction is not zero (the split and how many tokens the file
  has);
- a vocabulary file that is not JSON, not one of ours, or damaged (duplicate tokens, ``<unk>`` not at 0);
- a split too short for one batch (how many tokens it has and how many one batch needs).

Bad arguments from code (``fractions`` that are not three non-negative numbers summing to 1 with train
above 0, a ``batch_size`` below 1, ...) raise ``ValueError``: the scenario's config validates them first.
NumPy and the standard library only; nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lab.errors import DataError

EOS = "<eos>"
UNK = "<unk>"
PTB_FILES = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")
SPLITS = ("train", "valid", "test")
TINY_SHAKESPEARE_CHARS = 1_115_394
VOCAB_FORMAT = "lab.text.vocabulary"


@dataclass
class Corpus:
    """Three contiguous splits as lists of tokens (characters or words), the level, where they came from."""

    train: list[str]
    valid: list[str]
    test: list[str]
    level: Literal["chars", "words"]
    source: str
    n_chars: int

    def split(self, name: str) -> list[str]:
        """The tokens of split ``name`` (``train``, ``valid`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"no split {name!r}; the splits are {', '.join(SPLITS)}")
        return getattr(self, name)

    def __repr__(self) -> str:
        return (f"Corpus({self.level}: {len(self.train):,} train, {len(self.valid):,} valid, "
                f"{len(self.test):,} test from {self.source})")


# --------------------------------------------------------------------------------------------------
# Reading


def load_corpus(path: str | Path, *, level: Literal["chars", "words"],
                fractions: Sequence[float] = (0.9, 0.05, 0.05), max_chars: int | None = None,
                max_bytes: int = 2**31, lowercase: bool = False, split_punctuation: bool = False) -> Corpus:
    """The corpus in ``path`` (a UTF-8 text file, or a Penn Treebank folder) at ``level``; see the module doc.
    Word level only: ``lowercase`` folds case, ``split_punctuation`` makes each punctuation mark a word of
    its own (``"night;"`` -> ``"night" ";"``; apostrophes inside a word stay: ``"o'er"``)."""
    if level not in ("chars", "words"):
        raise ValueError(f"level must be 'chars' or 'words', not {level!r}")
    if max_chars is not None and max_chars < 1:
        raise ValueError(f"max_chars must be at least 1 (or None for all), not {max_chars}")
    path = Path(path)
    if (lowercase or split_punctuation) and level != "words":
        raise ValueError("lowercase and split_punctuation apply to level 'words'")
    normal = {"lowercase": lowercase, "split_punctuation": split_punctuation}
    if path.is_dir():
        return _load_ptb(path, level, max_chars, max_bytes, **normal)
    fractions = _check_fractions(fractions)
    text = read_text(path, max_bytes)
    truncated = max_chars is not None and len(text) > max_chars
    if truncated:
        text = text[:max_chars]
    tokens = list(text) if level == "chars" else words(text, **normal)
    unit = "characters" if level == "chars" else "words (with <eos>)"
    if not tokens:
        raise DataError(f"{path}: no words, only whitespace ({len(text):,} characters); a word-level corpus "
                        f"needs text")
    n = len(tokens)
    a = int(n * fractions[0])
    b = int(n * (fractions[0] + fractions[1]))
    parts = (tokens[:a], tokens[a:b], tokens[b:])
    for name, part, fraction in zip(SPLITS, parts, fractions, strict=True):
        if not part and fraction > 0:
            raise DataError(f"{path}: the {name} split is empty: the file has {n:,} {unit}"
                            f"{' (after max_chars)' if truncated else ''} and {fraction:.0%} of them is less "
                            f"than one; give more text or change data.fractions")
    what = f"first {len(text):,} characters" if truncated else f"{len(text):,} characters"
    split = "/".join(f"{100 * f:g}" for f in fractions)
    return Corpus(*parts, level=level, source=f"{path.name} ({what}), split {split}", n_chars=len(text))


def read_text(path: str | Path, max_bytes: int = 2**31) -> str:
    """A UTF-8 file's text with ``"\\r\\n"`` as ``"\\n"`` and no byte-order mark; DataError on anything
    else."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{path}: no such file or folder") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc}") from None
    if size > max_bytes:
        raise DataError(f"{path}: {size:,} bytes is more than the limit of {max_bytes:,} bytes; cut the file "
                        f"or raise the limit (max_bytes)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc}") from None
    if not data:
        raise DataError(f"{path}: the file is empty (0 bytes); expected UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start: max(exc.end, exc.start + 1)].hex(" ")
        raise DataError(f"{path}, line {line}: not UTF-8 text: byte offset {exc.start:,} holds {bad} "
                        f"({exc.reason}); save the file as UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


WORD_OR_MARK = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


def words(text: str, lowercase: bool = False, split_punctuation: bool = False) -> list[str]:
    """Each non-blank line's whitespace-separated words followed by ``"<eos>"`` (blank lines give nothing);
    optionally lower-cased, and with punctuation marks as words of their own."""
    tokens: list[str] = []
    if lowercase:
        text = text.lower()
    for line in text.split("\n"):
        line_words = WORD_OR_MARK.findall(line) if split_punctuation else line.split()
        if line_words:
            tokens.extend(line_words)
            tokens.append(EOS)
    return tokens


def _load_ptb(folder: Path, level: str, max_chars: int | None, max_bytes: int, **normal) -> Corpus:
    if level != "words":
        raise DataError(f"{folder}: a folder is read as Penn Treebank (ptb.train.txt, ptb.valid.txt, "
                        f"ptb.test.txt), which is word level only; use level 'words', or point data.path at "
                        f"a single text file for level 'chars'")
    if max_chars is not None:
        raise DataError(f"{folder}: max_chars applies to a single text file, not to a Penn Treebank folder "
                        "(its files are the splits); leave max_chars unset")
    missing = [name for name in PTB_FILES if not (folder / name).is_file()]
    if missing:
        try:
            found = sorted(p.name for p in folder.iterdir())
        except OSError:
            found = []
        raise DataError(f"{folder}: missing {', '.join(missing)}; a Penn Treebank folder holds "
                        f"{', '.join(PTB_FILES)} (found: {', '.join(found[:20]) or 'nothing'}"
                        f"{', ...' if len(found) > 20 else ''})")
    parts, n_chars = [], 0
    for name in PTB_FILES:
        text = read_text(folder / name, max_bytes)
        tokens = words(text, **normal)
        if not tokens:
            raise DataError(f"{folder / name}: no words, only whitespace ({len(text):,} characters)")
        parts.append(tokens)
        n_chars += len(text)
    return Corpus(*parts, level="words", source=f"Penn Treebank folder {folder.name or folder} "
                  f"({', '.join(PTB_FILES)})", n_chars=n_chars)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(f"fractions must be three numbers (train, valid, test), not {fractions!r}") from None
    if len(values) != 3:
        raise ValueError(f"fractions must be three numbers (train, valid, test), not {len(values)}: "
                         f"{fractions!r}")
    if any(not np.isfinite(f) or f < 0 for f in values) or values[0] <= 0:
        raise ValueError(f"fractions must be non-negative with train above 0, not {fractions!r}")
    if abs(sum(values) - 1) > 1e-9:
        raise ValueError(f"fractions must sum to 1, not {sum(values):g}: {fractions!r}")
    return values  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# Vocabulary


class Vocabulary:
    """Tokens <-> int ids; id 0 is the unknown token. Build it from the training split with :meth:`build`."""

    def __init__(self, tokens: Sequence[str], counts: Sequence[int] | None = None, *, unk: str = UNK):
        tokens = list(tokens)
        if not tokens or tokens[0] != unk:
            raise ValueError(f"the first token must be the unknown token {unk!r}")
        self.unk = unk
        self.tokens: list[str] = tokens
        self.ids: dict[str, int] = {t: i for i, t in enumerate(tokens)}
        if len(self.ids) != len(tokens):
            dup = next(t for t, c in Counter(tokens).items() if c > 1)
            raise ValueError(f"token {dup!r} appears twice")
        #: training count of every token; counts[unk] = training tokens that map to unk
        self.counts: dict[str, int] = (dict(zip(tokens, counts, strict=True)) if counts is not None
                                       else {t: 0 for t in tokens})

    @classmethod
    def build(cls, tokens: Iterable[str], *, max_size: int | None = None, min_count: int = 1,
              unk: str = UNK) -> Vocabulary:
        """The vocabulary of ``tokens`` (the training split): unk, then by descending count, ties by token."""
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be at least 1 (it counts {unk}), not {max_size}")
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, not {min_count}")
        counter = Counter(tokens)
        total = sum(counter.values())
        ranked = sorted(((t, c) for t, c in counter.items() if t != unk and c >= min_count),
                        key=lambda tc: (-tc[1], tc[0]))
        if max_size is not None:
            ranked = ranked[: max_size - 1]
        kept = sum(c for _, c in ranked)
        return cls([unk] + [t for t, _ in ranked], [total - kept] + [c for _, c in ranked], unk=unk)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self.ids

    def __repr__(self) -> str:
        return f"Vocabulary({len(self):,} tokens, unk={self.unk!r})"

    def id(self, token: str) -> int:
        """The id of ``token`` (0, the unknown token's, for a token outside the vocabulary)."""
        return self.ids.get(token, 0)

    def token(self, id: int) -> str:
        """The token of ``id``."""
        if not 0 <= id < len(self.tokens):
            raise ValueError(f"id {id} is outside the vocabulary (0-{len(self.tokens) - 1})")
        return self.tokens[id]

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """The ids of ``tokens`` as int32 (tokens outside the vocabulary become 0)."""
        get = self.ids.get
        return np.fromiter((get(t, 0) for t in tokens), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids``."""
        arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).ravel()
        if arr.size and (arr.min() < 0 or arr.max() >= len(self.tokens)):
            bad = int(arr[(arr < 0) | (arr >= len(self.tokens))][0])
            raise ValueError(f"id {bad} is outside the vocabulary (0-{len(self.tokens) - 1})")
        return [self.tokens[i] for i in arr.tolist()]

    def oov_rate(self, tokens: Sequence[str]) -> float:
        """The fraction of ``tokens`` outside the vocabulary (a literal unknown token counts as outside)."""
        if not tokens:
            return 0.0
        ids = self.ids
        return sum(1 for t in tokens if ids.get(t, 0) == 0) / len(tokens)

    def to_json(self) -> dict:
        """A JSON-able dict: the format, the unknown token, the tokens in id order and their counts."""
        return {"format": VOCAB_FORMAT, "version": 1, "unk": self.unk, "tokens": list(self.tokens),
                "counts": [self.counts.get(t, 0) for t in self.tokens]}

    @classmethod
    def from_json(cls, obj: object, source: str = "vocabulary") -> Vocabulary:
        """The vocabulary of :meth:`to_json`'s dict; DataError naming ``source`` when it is not one."""
        if not isinstance(obj, dict) or obj.get("format") != VOCAB_FORMAT:
            raise DataError(f"{source}: not a vocabulary saved by the lab (no \"format\": "
                            f"\"{VOCAB_FORMAT}\")")
        if obj.get("version") != 1:
            raise DataError(f"{source}: vocabulary version {obj.get('version')!r}; this lab reads version 1")
        unk, tokens, counts = obj.get("unk"), obj.get("tokens"), obj.get("counts")
        if not isinstance(unk, str) or not unk:
            raise DataError(f"{source}: \"unk\" must be a non-empty string, not {unk!r}")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DataError(f"{source}: \"tokens\" must be a list of strings")
        if not isinstance(counts, list) or len(counts) != len(tokens) or not all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise DataError(f"{source}: \"counts\" must be {len(tokens):,} non-negative integers, one per "
                            f"token")
        try:
            return cls(tokens, counts, unk=unk)
        except ValueError as exc:
            raise DataError(f"{source}: damaged vocabulary: {exc}") from None

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON to ``path`` (a temporary name first, then renamed)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """The vocabulary :meth:`save` wrote to ``path``; DataError naming the file when it is not one."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 (byte offset {exc.start:,}); not a saved "
                            f"vocabulary") from None
        except OSError as exc:
            raise DataError(f"{path}: cannot read it: {exc}") from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg}); not a "
                            f"saved vocabulary") from None
        return cls.from_json(obj, str(path))


# --------------------------------------------------------------------------------------------------
# Truncated-BPTT batches


def batchify(ids: np.ndarray, batch_size: int, *, split: str = "the") -> np.ndarray:
    """The stream ``ids`` cut into ``batch_size`` contiguous rows: (batch_size, n // batch_size); tail
    dropped."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be one stream (1-D), not shape {ids.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    width = len(ids) // batch_size
    if width == 0:
        raise DataError(f"{split} split has {len(ids):,} tokens, fewer than batch_size={batch_size:,} rows; "
                        "lower batch_size or give more text")
    return ids[: batch_size * width].reshape(batch_size, width)


def bptt_batches(ids: np.ndarray, batch_size: int, seq_len: int, *,
                 split: str = "the") -> tuple[np.ndarray, np.ndarray]:
    """Windows for truncated BPTT: X, Y (n_windows, batch_size, seq_len), Y = X one token later.

    Window k+1 of row r continues window k of row r (``X[k + 1, r, 0] == Y[k, r, -1]``), so a stateful RNN
    carries its state across batches. ``split`` names the split in the error when one batch does not fit.
    """
    ids = np.asarray(ids)
    if seq_len < 1:
        raise ValueError(f"seq_len must be at least 1, not {seq_len}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    need = batch_size * (seq_len + 1)
    if ids.ndim == 1 and len(ids) < need:
        raise DataError(f"{split} split has {len(ids):,} tokens; one batch needs batch_size*(seq_len+1)="
                        f"{batch_size}*({seq_len}+1)={need:,}; lower batch_size or seq_len, or give more "
                        f"text")
    rows = batchify(ids, batch_size, split=split)
    n_windows = (rows.shape[1] - 1) // seq_len
    span = n_windows * seq_len

    def cut(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a.reshape(batch_size, n_windows, seq_len).transpose(1, 0, 2))

    return cut(rows[:, :span]), cut(rows[:, 1: span + 1])
