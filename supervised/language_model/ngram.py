"""Classical n-gram baselines for the language-model runs: interpolated Kneser-Ney and a unigram.

Every RNN language model in the lab is fitted beside these two, on the same token ids, so that its
test loss (nats per token) can be read against the best counting model of the same data. NumPy only.

Token ids are ints ``0 .. V-1`` (id 0 is ``<unk>``); models see 1-D integer numpy arrays.

Interpolated Kneser-Ney (Chen & Goodman 1998, "interpolated KN", one discount per order)
---------------------------------------------------------------------------------------
For an order-``n`` model, level ``k`` (``1 <= k <= n``) predicts ``w`` from the ``k-1`` previous
tokens ``h``. Each level has its own counts ``a_k``:

- the highest level ``k = n`` uses raw counts ``a_n(h w) = c(h w)`` in the training stream;
- lower levels use continuation counts ``a_k(h w) = N1+(. h w)``: the number of distinct tokens
  seen immediately before ``h w`` (distinct ``(k+1)``-grams ending in ``h w``). The ``k``-gram at the
  very start of the stream has no left neighbour, so that occurrence adds no continuation (no
  ``<s>`` padding).

With ``T_k(h) = sum_w a_k(h w)`` and ``U_k(h) = |{w : a_k(h w) > 0}|``::

    p_k(w | h) = max(a_k(h w) - D_k, 0) / T_k(h)  +  D_k * U_k(h) / T_k(h) * p_{k-1}(w | h')
                                                    (h' = h without its first token)
    p_k(w | h) = p_{k-1}(w | h')                    if T_k(h) = 0 (context never seen: back off)
    p_0(w)     = 1 / V                              (uniform over the whole vocabulary)

so the lowest level is ``p_1(w) = max(N1+(. w) - D_1, 0) / N1+(. .) + D_1 * |types| / N1+(. .) / V``:
the KN continuation unigram interpolated with the uniform distribution, giving every id (including
ids never seen in training) a probability > 0. Each level is a proper distribution over the V ids
for every context (seen, partly seen or unseen), which the tests check.

Discounts: one per level, ``D_k = n1 / (n1 + 2 n2)`` where ``n1``, ``n2`` are the numbers of
``k``-grams whose level-``k`` count ``a_k`` is exactly 1 and 2 (Ney, Essen & Kneser's estimate).
When ``n1 = 0`` or ``n2 = 0`` (tiny corpora) the formula degenerates to 0 or 1, so ``D_k = 0.5`` is
used instead; this keeps ``0 < D_k < 1`` and the uniform floor strictly positive. (Modified KN with
three discounts is not implemented.)

Contexts: ``logprob(context, token)`` uses the last ``min(len(context), n-1)`` ids of the context, at
level ``len + 1``. In ``score(ids)`` token ``i`` is predicted from the tokens ``max(0, i-n+1) .. i-1``
of the same stream, so the first token uses the empty context (level 1, the continuation unigram
mixed with uniform), the second a one-token context (level 2, continuation counts if ``n > 2``) and
so on; from token ``n-1`` on the full order-``n`` model is used. ``score`` is the mean negative
log-likelihood in nats per token.

Unigram: add-one smoothing over the vocabulary, ``p(w) = (c(w) + 1) / (N + V)``.

Implementation: an ``k``-gram is coded as the integer ``sum_j w_j V^(k-j)`` (int64 when
``V^n < 2^62``, otherwise Python ints in object arrays, slower but exact); each level stores sorted
unique codes with their counts plus per-context totals ``T_k``, types ``U_k``; look-ups are
``np.searchsorted``, so ``score`` is vectorised and never builds V-sized distributions.

Timings (this machine, CPU, one process; synthetic streams with the stated sizes):

- characters, V=100, order 5: fit on 1,000,000 tokens 0.66 s; score 55,000 tokens 0.10 s.
- words, V=10,000 (i.i.d. Zipf), order 3: fit on 900,000 tokens 0.25 s; score 55,000 tokens 0.04 s.
- the object-array fallback (V=10,000, order 5, V^5 > 2^62): score 10,000 tokens 0.2 s.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["KneserNey", "Unigram", "fit_and_score"]

_FALLBACK_DISCOUNT = 0.5


def _check_vocab(vocab_size) -> int:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise ValueError(f"vocab_size must be an integer >= 1, got {vocab_size!r}")
    return int(vocab_size)


def _check_ids(ids, vocab_size: int, what: str = "ids", allow_empty: bool = True) -> np.ndarray:
    """A 1-D int64 copy of ``ids``, or ValueError saying what is wrong."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of token ids, got shape {arr.shape}")
    if arr.size == 0:
        if not allow_empty:
            raise ValueError(f"{what} is empty: nothing to score")
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must hold integer token ids, got dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        pos = int(np.flatnonzero(arr == bad)[0])
        raise ValueError(
            f"{what} out of range: id {bad} at position {pos}; ids must be in 0..{vocab_size - 1} "
            f"(vocab_size={vocab_size})"
        )
    return arr.astype(np.int64)


def _check_token(token, vocab_size: int, what: str = "token") -> int:
    if isinstance(token, bool) or not isinstance(token, (int, np.integer)):
        raise ValueError(f"{what} must be an integer token id, got {token!r}")
    if not 0 <= int(token) < vocab_size:
        raise ValueError(f"{what} {int(token)} out of range: ids must be in 0..{vocab_size - 1}")
    return int(token)


def _discount(counts: np.ndarray) -> float:
    """``n1 / (n1 + 2 n2)`` from the count-of-counts, or 0.5 when n1 or n2 is zero."""
    n1 = int(np.count_nonzero(counts == 1))
    n2 = int(np.count_nonzero(counts == 2))
    if n1 == 0 or n2 == 0:
        return _FALLBACK_DISCOUNT
    return n1 / (n1 + 2 * n2)


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at the positions of ``query`` in sorted ``keys``; 0 where absent."""
    out = np.zeros(len(query), dtype=values.dtype)
    if len(keys) == 0 or len(query) == 0:
        return out
    idx = np.searchsorted(keys, query)
    idx_c = np.minimum(idx, len(keys) - 1)
    hit = (idx < len(keys)) & (keys[idx_c] == query)
    out[hit] = values[idx_c[hit]]
    return out


class _Level:
    """Counts of one level: sorted gram codes with counts, sorted context codes with T and U."""

    def __init__(self, codes: np.ndarray, counts: np.ndarray, vocab_size: int):
        self.codes = codes  # sorted unique k-gram codes
        self.counts = counts.astype(np.int64)  # a_k (all > 0)
        self.discount = _discount(self.counts)
        ctx = codes // vocab_size
        if len(ctx):
            self.ctx_codes, start, types = np.unique(ctx, return_index=True, return_counts=True)
            self.ctx_total = np.add.reduceat(self.counts, start).astype(np.int64)
            self.ctx_types = types.astype(np.int64)
        else:
            self.ctx_codes = codes[:0]
            self.ctx_total = np.zeros(0, np.int64)
            self.ctx_types = np.zeros(0, np.int64)

    def interpolate(self, gram: np.ndarray, ctx: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """``p_k`` for grams with contexts ``ctx`` given ``lower = p_{k-1}`` of the same tokens."""
        total = _lookup(self.ctx_codes, self.ctx_total, ctx)
        seen = total > 0
        if not seen.any():
            return lower
        types = _lookup(self.ctx_codes, self.ctx_types, ctx[seen])
        count = _lookup(self.codes, self.counts, gram[seen])
        t = total[seen].astype(np.float64)
        d = self.discount
        out = lower.copy()
        out[seen] = np.maximum(count - d, 0.0) / t + d * types / t * lower[seen]
        return out


class KneserNey:
    """Interpolated Kneser-Ney n-gram model (one discount per order); see the module docstring."""

    def __init__(self, order: int, vocab_size: int):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}")
        self.order = int(order)
        self.vocab_size = _check_vocab(vocab_size)
        exact = self.vocab_size**self.order < 2**62
        self._dtype = np.int64 if exact else object
        self._pow = [self._scalar(self.vocab_size**j) for j in range(self.order)]
        self.levels: list[_Level] | None = None

    def _scalar(self, x: int):
        return np.int64(x) if self._dtype is np.int64 else int(x)

    def _as_codes(self, ids: np.ndarray) -> np.ndarray:
        return ids.astype(self._dtype)

    # ---------------------------------------------------------------------------------------------
    def fit(self, ids: np.ndarray) -> KneserNey:
        """Count the training stream (contiguous ids); returns ``self``."""
        x = self._as_codes(_check_ids(ids, self.vocab_size, "training ids"))
        n, N = self.order, len(x)
        # distinct k-grams (codes) for k = 1..n, and the raw counts of the n-grams
        grams: list[np.ndarray] = []
        code = x.copy()  # codes of the k-grams ending at each position i >= k-1
        raw_counts = None
        for k in range(1, n + 1):
            if k > 1:
                code = code[1:] + x[: N - k + 1] * self._pow[k - 1] if N >= k else x[:0]
            if k == n:
                uniq, raw_counts = np.unique(code, return_counts=True)
            else:
                uniq = np.unique(code)
            grams.append(uniq)
        levels: list[_Level] = [None] * n  # type: ignore[list-item]
        levels[n - 1] = _Level(grams[n - 1], raw_counts, self.vocab_size)
        for k in range(n - 1, 0, -1):  # continuation counts from the distinct (k+1)-grams
            suffix = grams[k] % self._pow[k]
            if len(suffix):
                codes, cont = np.unique(suffix, return_counts=True)
            else:
                codes, cont = suffix, np.zeros(0, np.int64)
            levels[k - 1] = _Level(codes, cont, self.vocab_size)
        self.levels = levels
        return self

    def _require_fit(self) -> list[_Level]:
        if self.levels is None:
            raise RuntimeError("KneserNey model is not fitted: call fit(ids) first")
        return self.levels

    @property
    def discounts(self) -> list[float]:
        """``[D_1, ..., D_n]``."""
        return [lv.discount for lv in self._require_fit()]

    def _probs(self, hist: np.ndarray, tok: np.ndarray) -> np.ndarray:
        """p(tok[b] | hist[b]) for a batch of contexts of one length m <= n-1 (shape (B, m))."""
        levels = self._require_fit()
        m = hist.shape[1]
        gram = tok.astype(self._dtype)
        p = np.full(len(tok), 1.0 / self.vocab_size)
        p = levels[0].interpolate(gram, np.zeros(len(tok), self._dtype), p)
        for k in range(2, m + 2):
            gram = gram + hist[:, m - k + 1].astype(self._dtype) * self._pow[k - 1]
            p = levels[k - 1].interpolate(gram, gram // self.vocab_size, p)
        return p

    def _context(self, context) -> np.ndarray:
        ctx = _check_ids(np.asarray(tuple(context), dtype=np.int64), self.vocab_size, "context")
        return ctx[len(ctx) - min(len(ctx), self.order - 1) :]

    def logprob(self, context: tuple[int, ...], token: int) -> float:
        """Natural log of p(token | last order-1 ids of context)."""
        token = _check_token(token, self.vocab_size)
        ctx = self._context(context)
        return float(np.log(self._probs(ctx[None, :], np.array([token]))[0]))

    def distribution(self, context: tuple[int, ...]) -> np.ndarray:
        """p(. | context) over the whole vocabulary, shape (V,), sums to 1."""
        ctx = self._context(context)
        V = self.vocab_size
        return self._probs(np.broadcast_to(ctx, (V, len(ctx))), np.arange(V))

    def token_logprobs(self, ids: np.ndarray) -> np.ndarray:
        """log p of each token of the stream given the (up to order-1) tokens before it in it."""
        x = _check_ids(ids, self.vocab_size, "ids", allow_empty=False)
        m = self.order - 1
        out = np.empty(len(x))
        for i in range(min(m, len(x))):  # the first tokens see a shorter context
            out[i] = np.log(self._probs(x[None, :i], x[i : i + 1])[0])
        if len(x) > m:
            hist = np.lib.stride_tricks.sliding_window_view(x, m + 1)[:, :m] if m else x[:, None][:, :0]
            out[m:] = np.log(self._probs(hist[: len(x) - m], x[m:]))
        return out

    def score(self, ids: np.ndarray) -> float:
        """Mean negative log-likelihood of the stream, nats per token."""
        return float(-self.token_logprobs(ids).mean())


class Unigram:
    """Add-one smoothed unigram: ``p(w) = (c(w) + 1) / (N + V)``."""

    def __init__(self, vocab_size: int):
        self.vocab_size = _check_vocab(vocab_size)
        self._logp: np.ndarray | None = None

    def fit(self, ids: np.ndarray) -> Unigram:
        x = _check_ids(ids, self.vocab_size, "training ids")
        counts = np.bincount(x, minlength=self.vocab_size).astype(np.float64)
        self._logp = np.log((counts + 1.0) / (len(x) + self.vocab_size))
        return self

    def _require_fit(self) -> np.ndarray:
        if self._logp is None:
            raise RuntimeError("Unigram model is not fitted: call fit(ids) first")
        return self._logp

    def logprob(self, context: tuple[int, ...], token: int) -> float:
        """Natural log of p(token); the context is ignored (checked only)."""
        logp = self._require_fit()
        _check_ids(np.asarray(tuple(context), dtype=np.int64), self.vocab_size, "context")
        return float(logp[_check_token(token, self.vocab_size)])

    def distribution(self, context: tuple[int, ...] = ()) -> np.ndarray:
        return np.exp(self._require_fit())

    def score(self, ids: np.ndarray) -> float:
        logp = self._require_fit()
        x = _check_ids(ids, self.vocab_size, "ids", allow_empty=False)
        return float(-logp[x].mean())


def fit_and_score(train_ids: np.ndarray, test_ids: np.ndarray, order: int, vocab_size: int) -> dict:
    """Fit KN of ``order`` and the unigram on ``train_ids``; their test loss in nats per token."""
    kn = KneserNey(order, vocab_size)
    t0 = time.perf_counter()
    kn.fit(train_ids)
    fit_seconds = time.perf_counter() - t0
    unigram = Unigram(vocab_size).fit(train_ids)
    return {
        "kn_order": int(order),
        "kn_nats": kn.score(test_ids),
        "unigram_nats": unigram.score(test_ids),
        "kn_fit_seconds": fit_seconds,
    }
