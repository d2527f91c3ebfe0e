"""The common in-memory form of ratings: :class:`Ratings`, :func:`from_ids` and :class:`Split`.

Every reader, the generator and the splits produce or consume these; this module knows no file format.
``SECONDS_PER_DAY`` is the unit of ``Ratings.time``; ``ML100K_GENRES`` and ``CANONICAL_GENRES`` are the
genre vocabularies the readers and the generator share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.data.safe import data_file
from lab.errors import DataError
from lab.runs import atomic_path

SECONDS_PER_DAY = 86400

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
CANONICAL_GENRES = ML100K_GENRES[1:]


@dataclass
class Ratings:
    """Ratings as parallel arrays with dense indices, plus the movies' metadata.

    ``user[j]``, ``item[j]``, ``rating[j]``, ``time[j]`` describe rating ``j``. ``user_ids[u]`` is the
    dataset's id of user index ``u`` (sorted ascending), likewise ``item_ids``. ``titles[i]`` has no year
    (``years[i]``, 0 when unknown); ``genres[i, g]`` says whether item ``i`` has genre ``genre_names[g]``.
    ``scale`` lists the possible rating values (ascending). ``own_splits`` maps a split name of the
    dataset (``u1``, ``ua``, ``probe``...) to a boolean test mask over ratings. ``truth`` holds the
    planted parameters of synthetic data (None for real data). ``notes`` says what the reader changed
    in the data (duplicate ratings dropped, see :func:`from_ids`): a runner logs them as warnings.
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    time: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    titles: np.ndarray
    years: np.ndarray
    genres: np.ndarray
    genre_names: tuple[str, ...]
    scale: np.ndarray
    name: str = "ratings"
    source: str = ""
    own_splits: dict[str, np.ndarray] = field(default_factory=dict)
    truth: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.rating)

    @property
    def density(self) -> float:
        return len(self) / max(1, self.n_users * self.n_items)

    def describe(self) -> str:
        return (f"{self.name}: {len(self):,} ratings by {self.n_users:,} users of {self.n_items:,} items "
                f"(density {self.density:.2%}; scale {', '.join(f'{v:g}' for v in self.scale)})")

    def rating_index(self) -> np.ndarray:
        """Each rating's position in ``scale`` (int8)."""
        return np.searchsorted(self.scale, self.rating).astype(np.int8)

    def user_index(self, user_id) -> int | None:
        """The index of a dataset user id, or None."""
        return _lookup(self.user_ids, user_id)

    def item_index(self, item_id) -> int | None:
        return _lookup(self.item_ids, item_id)

    def item_genres(self, i: int) -> list[str]:
        return [self.genre_names[g] for g in np.flatnonzero(self.genres[i])]

    def display_title(self, i: int) -> str:
        return f"{self.titles[i]} ({self.years[i]})" if self.years[i] else str(self.titles[i])

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Ratings per user and per item."""
        return (np.bincount(self.user, minlength=self.n_users),
                np.bincount(self.item, minlength=self.n_items))

    def subset(self, keep: np.ndarray, name: str | None = None) -> Ratings:
        """The ratings selected by a boolean mask (or indices), with users and items re-indexed densely."""
        keep = np.asarray(keep)
        if keep.dtype != bool:
            mask = np.zeros(len(self), bool)
            mask[keep] = True
            keep = mask
        users, user = np.unique(self.user[keep], return_inverse=True)
        items, item = np.unique(self.item[keep], return_inverse=True)
        return Ratings(
            user=user.astype(np.int32), item=item.astype(np.int32), rating=self.rating[keep],
            time=self.time[keep], user_ids=self.user_ids[users], item_ids=self.item_ids[items],
            titles=self.titles[items], years=self.years[items], genres=self.genres[items],
            genre_names=self.genre_names, scale=self.scale, name=name or self.name, source=self.source,
            own_splits={k: v[keep] for k, v in self.own_splits.items()},
            truth=_subset_truth(self.truth, users, items) if self.truth else None, notes=list(self.notes),
        )

    # compact storage (the run folder keeps the data a recommender was fitted on)
    def save_npz(self, path: str | Path) -> None:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(
                tmp, user=self.user, item=self.item, rating=self.rating, time=self.time,
                user_ids=self.user_ids, item_ids=self.item_ids, titles=np.asarray(self.titles, dtype=str),
                years=self.years, genres=self.genres, genre_names=np.asarray(self.genre_names, dtype=str),
                scale=self.scale, name=np.asarray(self.name), source=np.asarray(self.source),
            )

    @classmethod
    def load_npz(cls, path: str | Path) -> Ratings:
        """Ratings saved by :meth:`save_npz`; a DataError naming the file (and the member) when it is
        missing, truncated or corrupt, or its arrays do not fit together."""
        path = Path(path)
        keys = ("user", "item", "rating", "time", "user_ids", "item_ids", "titles", "years", "genres",
                "genre_names", "scale", "name", "source")
        with data_file(path, "saved ratings file"):
            z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: not a saved ratings file (a single .npy array, not an .npz archive)")
        a = {}
        with z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise DataError(f"{path}: not a saved ratings file (missing {', '.join(missing)})")
            for k in keys:
                with data_file(path, f"saved ratings file (member {k}.npy)"):
                    a[k] = z[k]
        n = len(a["rating"]) if a["rating"].ndim == 1 else -1
        ok = (n >= 0 and all(a[k].shape == (n,) for k in ("user", "item", "time"))
              and all(a[k].ndim == 1 for k in ("user_ids", "item_ids", "titles", "years", "scale"))
              and len(a["titles"]) == len(a["years"]) == len(a["item_ids"]) and a["genres"].ndim == 2
              and len(a["genres"]) == len(a["item_ids"]) and a["genres"].shape[1] == len(a["genre_names"])
              and all(np.issubdtype(a[k].dtype, np.integer)
                      for k in ("user", "item", "time", "user_ids", "item_ids"))
              and (n == 0 or (0 <= a["user"].min() and a["user"].max() < len(a["user_ids"])
                              and 0 <= a["item"].min() and a["item"].max() < len(a["item_ids"]))))
        if not ok:
            raise DataError(f"{path}: damaged saved ratings file (its arrays do not fit together)")
        return cls(user=a["user"], item=a["item"], rating=a["rating"], time=a["time"], user_ids=a["user_ids"],
                   item_ids=a["item_ids"], titles=a["titles"], years=a["years"], genres=a["genres"],
                   genre_names=tuple(str(g) for g in a["genre_names"]), scale=a["scale"], name=str(a["name"]),
                   source=str(a["source"]))


def _lookup(sorted_ids: np.ndarray, key) -> int | None:
    try:
        key = sorted_ids.dtype.type(key)
    except (TypeError, ValueError, OverflowError):
        return None
    pos = int(np.searchsorted(sorted_ids, key))
    return pos if pos < len(sorted_ids) and sorted_ids[pos] == key else None


def _subset_truth(truth: dict, users: np.ndarray, items: np.ndarray) -> dict:
    out = {}
    for k, v in truth.items():
        if k.startswith("user_"):
            out[k] = v[users]
        elif k.startswith("item_"):
            out[k] = v[items]
        else:
            out[k] = v
    return out


def from_ids(user_ids_raw: np.ndarray, item_ids_raw: np.ndarray, rating: np.ndarray, time: np.ndarray,
             scale, meta: dict | None = None, genre_names: tuple[str, ...] = (), name: str = "ratings",
             source: str = "", lines: np.ndarray | None = None, ratings_file: str = "") -> Ratings:
    """Build :class:`Ratings` from raw dataset ids. ``meta`` maps an item id to (title, year, genre flags).

    **Duplicates.** A user rates a movie once; a file that rates the same (user, item) pair on several
    lines (a file concatenated twice, a merge gone wrong) would count the pair several times. The rule:
    each pair keeps its **latest** rating (the largest timestamp; on a tie the one read last), the others
    are dropped, and a note (``Ratings.notes``) gives the count, an example pair (with its lines when
    ``lines``, the 1-based line of each rating, is given) and the rule; ``ratings_file`` names the file in
    it (default ``source``).
    """
    user_ids_raw, item_ids_raw = np.asarray(user_ids_raw), np.asarray(item_ids_raw)
    rating, time = np.asarray(rating), np.asarray(time)
    users, user = np.unique(user_ids_raw, return_inverse=True)
    items, item = np.unique(item_ids_raw, return_inverse=True)
    notes = []
    keep = _latest_of_each_pair(user, item, time, len(items))
    if keep is not None:
        dropped = len(keep) - int(keep.sum())
        first = int(np.flatnonzero(~keep)[0])
        pair = (user == user[first]) & (item == item[first])
        where = (f" at lines {', '.join(str(int(n)) for n in np.asarray(lines)[pair][:5])}"
                 if lines is not None else "")
        notes.append(f"{ratings_file or source or name}: {dropped:,} duplicate rating(s) of a (user, item) "
                     f"pair already rated (e.g. user {int(users[user[first]])}, item "
                     f"{int(items[item[first]])}{where}); kept each pair's latest rating (largest timestamp, "
                     f"on a tie the later line) and dropped the other {dropped:,}")
        user, item, rating, time = user[keep], item[keep], rating[keep], time[keep]
        users, user = np.unique(users[user], return_inverse=True)  # (a user or item may have gone: re-index)
        items, item = np.unique(items[item], return_inverse=True)
    meta = meta or {}
    n_g = len(genre_names)
    titles = np.empty(len(items), dtype=object)
    years = np.zeros(len(items), np.int32)
    genres = np.zeros((len(items), n_g), bool)
    for i, item_id in enumerate(items.tolist()):
        title, year, flags = meta.get(item_id, (f"Movie {item_id}", 0, None))
        titles[i], years[i] = title, year
        if flags is not None:
            genres[i] = flags
    return Ratings(
        user=user.astype(np.int32), item=item.astype(np.int32), rating=np.asarray(rating, np.float32),
        time=np.asarray(time, np.int64), user_ids=users.astype(np.int64), item_ids=items.astype(np.int64),
        titles=titles.astype(str), years=years, genres=genres, genre_names=tuple(genre_names),
        scale=np.asarray(scale, np.float32), name=name, source=source, notes=notes,
    )


def _latest_of_each_pair(user: np.ndarray, item: np.ndarray, time: np.ndarray,
                         n_items: int) -> np.ndarray | None:
    """None when every (user, item) pair occurs once; else the mask of the ratings to keep: per pair, the
    largest ``time``, on a tie the last one. One sort of int64 keys checks a clean file."""
    key = user.astype(np.int64) * max(1, n_items) + item
    check = np.sort(key)
    if not len(check) or not (check[1:] == check[:-1]).any():
        return None
    del check
    order = np.lexsort((np.arange(len(key)), time, key))  # by pair, then time, then position
    last = np.ones(len(key), bool)
    last[:-1] = key[order[1:]] != key[order[:-1]]
    keep = np.zeros(len(key), bool)
    keep[order[last]] = True
    return keep


def _pair_keys(r: Ratings, users_raw: np.ndarray, items_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    base = int(r.item_ids.max()) + 1 if r.n_items else 1
    have = r.user_ids[r.user] * base + r.item_ids[r.item]
    want = users_raw.astype(np.int64) * base + items_raw.astype(np.int64)
    return have, want


@dataclass(frozen=True)
class Split:
    """Indices into a :class:`Ratings` of the training and the held-out ratings."""

    name: str
    train: np.ndarray
    test: np.ndarray
