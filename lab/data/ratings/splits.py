"""Train/test splits of a :class:`Ratings`: k-fold, the dataset's own, per-user hold-out and temporal.

The random ones draw from ``seed``: a whole number, or a NumPy generator the caller names (the lab's tasks
pass a named stream of :mod:`lab.seeding`)."""

from __future__ import annotations

import numpy as np

from lab.data.ratings.model import Ratings, Split
from lab.errors import DataError


def kfold(r: Ratings, k: int = 5, seed: int | np.random.Generator = 0) -> list[Split]:
    """Random k-fold over ratings: every rating is held out exactly once."""
    if k < 2:
        raise DataError(f"k-fold needs k >= 2 (got {k})")
    perm = np.random.default_rng(seed).permutation(len(r))
    folds = np.array_split(perm, k)
    return [Split(f"fold{f + 1}", np.sort(np.concatenate(folds[:f] + folds[f + 1:])), np.sort(folds[f]))
            for f in range(k)]


def own_splits(r: Ratings, names: list[str] | None = None) -> list[Split]:
    """The dataset's own splits (MovieLens 100K ``u1..u5``, ``ua``, ``ub``; Netflix ``probe``)."""
    if not r.own_splits:
        raise DataError(f"{r.name} ({r.source}) has no splits of its own (MovieLens 100K's u1..u5.base/.test "
                        f"or Netflix's probe.txt); use split.method: kfold, holdout or temporal")
    names = names or list(r.own_splits)
    missing = [n for n in names if n not in r.own_splits]
    if missing:
        raise DataError(f"{r.name}: no split named {', '.join(missing)}; it has {', '.join(r.own_splits)}")
    return [Split(n, np.flatnonzero(~r.own_splits[n]), np.flatnonzero(r.own_splits[n])) for n in names]


def _per_user_rank(r: Ratings, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort ratings by (user, key): returns the order and each rating's rank within its user (in that
    order)."""
    order = np.lexsort((key, r.user))
    counts = np.bincount(r.user, minlength=r.n_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(r)) - np.repeat(starts, counts)
    return order, rank


def _take_first(r: Ratings, order, rank, n: int | None, fraction: float | None, min_train: int,
                name: str) -> Split:
    counts = np.bincount(r.user, minlength=r.n_users)
    if n is not None:
        n_test = np.full(r.n_users, n)
    else:
        n_test = np.round(counts * float(fraction)).astype(np.int64)
    n_test = np.clip(np.minimum(n_test, counts - min_train), 0, None)
    sorted_users = r.user[order]
    test_sorted = rank < n_test[sorted_users]
    return Split(name, np.sort(order[~test_sorted]), np.sort(order[test_sorted]))


def holdout(r: Ratings, n: int | None = None, fraction: float | None = None,
            seed: int | np.random.Generator = 0, min_train: int = 1) -> Split:
    """Per user, ``n`` random ratings (or ``fraction`` of them) held out; every user keeps ``min_train``."""
    if (n is None) == (fraction is None):
        raise DataError("a hold-out split needs exactly one of n (ratings per user) or fraction")
    key = np.random.default_rng(seed).random(len(r))
    order, rank = _per_user_rank(r, key)
    label = f"holdout{n}" if n is not None else f"holdout{fraction:g}"
    return _take_first(r, order, rank, n, fraction, min_train, label)


def temporal(r: Ratings, n: int | None = None, fraction: float | None = None, min_train: int = 1,
             seed: int | np.random.Generator = 0) -> Split:
    """Per user, the latest ``n`` ratings (or ``fraction``) held out: predict the future from the past."""
    if (n is None) == (fraction is None):
        raise DataError("a temporal split needs exactly one of n (ratings per user) or fraction")
    tie = np.random.default_rng(seed).random(len(r))
    order, rank = _per_user_rank(r, -(r.time.astype(np.float64) + tie * 0.5))
    label = f"temporal{n}" if n is not None else f"temporal{fraction:g}"
    return _take_first(r, order, rank, n, fraction, min_train, label)


def make_splits(r: Ratings, method: str, folds: int = 5, names: list[str] | None = None, n: int | None = None,
                fraction: float | None = None, seed: int | np.random.Generator = 0) -> list[Split]:
    """The splits a scenario asks for: ``kfold``, ``own``, ``holdout`` or ``temporal``."""
    if method == "kfold":
        return kfold(r, folds, seed)
    if method == "own":
        return own_splits(r, names)
    if method == "holdout":
        return [holdout(r, n=n, fraction=fraction, seed=seed)]
    if method == "temporal":
        return [temporal(r, n=n, fraction=fraction, seed=seed)]
    raise DataError(f"unknown split method {method!r}; choose kfold, own, holdout or temporal")
