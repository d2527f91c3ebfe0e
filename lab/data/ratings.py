"""Movie ratings in one in-memory form, read from the datasets' own files or generated.

:class:`Ratings` holds every rating as parallel arrays (``user`` and ``item`` dense int32 indices,
``rating`` float32, ``time`` int64 seconds since 1970) plus the maps back to the dataset's ids and the
movies' titles, years and genres. Readers:

- **MovieLens 100K** (:func:`read_movielens_100k`): ``u.data`` (``user item rating timestamp``, tabs),
  ``u.item`` (``|``-separated, latin-1, 19 genre flags), ``u.genre``; the dataset's own splits
  ``u1..u5.base/.test`` and ``ua/ub.base/.test`` when present.
- **MovieLens 1M** (:func:`read_movielens_1m`): ``ratings.dat`` and ``movies.dat`` with ``::`` separators
  (latin-1).
- **MovieLens latest / 20M / 25M** (:func:`read_movielens_latest`): ``ratings.csv`` (half-star ratings,
  header line) and ``movies.csv`` (quoted titles that contain commas, UTF-8).
- **Netflix Prize** (:func:`read_netflix`): ``combined_data_*.txt`` (or the original
  ``training_set/mv_*.txt``): a ``MovieID:`` line, then ``CustomerID,Rating,YYYY-MM-DD`` lines;
  ``movie_titles.csv`` (``MovieID,Year,Title``; latin-1; titles with unquoted commas; year ``NULL``);
  ``probe.txt`` (``MovieID:`` then ``CustomerID`` lines) becomes the split ``probe``.
- **Synthetic Netflix-style data** (:func:`synthetic`): the offline default, seeded.

:func:`load_ratings` detects the layout of a folder. Big files are parsed in chunks by a vectorised
NumPy tokenizer (no Python object per line), so 100M Netflix ratings need about 1.1 GB of arrays
plus one chunk. Every problem in a file is a :class:`~lab.errors.DataError` naming the file and line.

Splits (:func:`make_splits`): random k-fold, the dataset's own splits, a per-user hold-out of n ratings
(or a fraction: the "stratified" split), and a per-user temporal split (each user's latest ratings).

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.errors import DataError

SECONDS_PER_DAY = 86400
CHUNK_BYTES = 16 << 20

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
CANONICAL_GENRES = ML100K_GENRES[1:]

DOWNLOADS = {
    "movielens-100k": ("https://files.grouplens.org/datasets/movielens/ml-100k.zip", "0e33842e24a9c977be4e0107933c0723",
                       "ml-100k"),
    "movielens-1m": ("https://files.grouplens.org/datasets/movielens/ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906",
                     "ml-1m"),
}

LAYOUTS = {
    "movielens-100k": "u.data (+ u.item, u.genre, u1..u5/ua/ub .base/.test) [MovieLens 100K]",
    "movielens-1m": "ratings.dat (+ movies.dat) [MovieLens 1M]",
    "movielens-latest": "ratings.csv (+ movies.csv) [MovieLens latest/20M/25M]",
    "netflix": "combined_data_1.txt ... combined_data_4.txt or training_set/mv_*.txt (+ movie_titles.csv, probe.txt) "
               "[Netflix Prize]",
}


# --------------------------------------------------------------------------------------------------
# The common form


@dataclass
class Ratings:
    """Ratings as parallel arrays with dense indices, plus the movies' metadata.

    ``user[j]``, ``item[j]``, ``rating[j]``, ``time[j]`` describe rating ``j``. ``user_ids[u]`` is the
    dataset's id of user index ``u`` (sorted ascending), likewise ``item_ids``. ``titles[i]`` has no year
    (``years[i]``, 0 when unknown); ``genres[i, g]`` says whether item ``i`` has genre ``genre_names[g]``.
    ``scale`` lists the possible rating values (ascending). ``own_splits`` maps a split name of the
    dataset (``u1``, ``ua``, ``probe``...) to a boolean test mask over ratings. ``truth`` holds the
    planted parameters of synthetic data (None for real data).
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
        return (np.bincount(self.user, minlength=self.n_users), np.bincount(self.item, minlength=self.n_items))

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
            user=user.astype(np.int32), item=item.astype(np.int32), rating=self.rating[keep], time=self.time[keep],
            user_ids=self.user_ids[users], item_ids=self.item_ids[items], titles=self.titles[items],
            years=self.years[items], genres=self.genres[items], genre_names=self.genre_names, scale=self.scale,
            name=name or self.name, source=self.source,
            own_splits={k: v[keep] for k, v in self.own_splits.items()},
            truth=_subset_truth(self.truth, users, items) if self.truth else None,
        )

    # compact storage (the run folder keeps the data a recommender was fitted on)
    def save_npz(self, path: str | Path) -> None:
        from lab.runs import atomic_path

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(
                tmp, user=self.user, item=self.item, rating=self.rating, time=self.time, user_ids=self.user_ids,
                item_ids=self.item_ids, titles=np.asarray(self.titles, dtype=str), years=self.years,
                genres=self.genres, genre_names=np.asarray(self.genre_names, dtype=str), scale=self.scale,
                name=np.asarray(self.name), source=np.asarray(self.source),
            )

    @classmethod
    def load_npz(cls, path: str | Path) -> Ratings:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(
                    user=z["user"], item=z["item"], rating=z["rating"], time=z["time"], user_ids=z["user_ids"],
                    item_ids=z["item_ids"], titles=z["titles"], years=z["years"], genres=z["genres"],
                    genre_names=tuple(str(g) for g in z["genre_names"]), scale=z["scale"], name=str(z["name"]),
                    source=str(z["source"]),
                )
        except FileNotFoundError:
            raise DataError(f"{path}: missing ratings file") from None
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: not a saved ratings file ({exc})") from None


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
             source: str = "") -> Ratings:
    """Build :class:`Ratings` from raw dataset ids. ``meta`` maps an item id to (title, year, genre flags)."""
    users, user = np.unique(user_ids_raw, return_inverse=True)
    items, item = np.unique(item_ids_raw, return_inverse=True)
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
        scale=np.asarray(scale, np.float32), name=name, source=source,
    )


# --------------------------------------------------------------------------------------------------
# A vectorised tokenizer for numeric text files


def _chunks(path: Path, chunk_bytes: int | None = None, start: int = 0, line0: int = 0):
    """Yield ``(bytes as uint8 array, number of lines before it)``, each chunk ending at a newline."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    rest = b""
    with open(path, "rb") as fh:
        fh.seek(start)
        while True:
            block = fh.read(chunk_bytes)
            if not block:
                break
            data = rest + block if rest else block
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            piece, rest = data[: cut + 1], data[cut + 1:]
            yield np.frombuffer(piece, np.uint8), line0
            line0 += piece.count(b"\n")
    if rest:
        yield np.frombuffer(rest + b"\n", np.uint8), line0


@dataclass
class _Tokens:
    value: np.ndarray  # int64: the digits of each number without its dot
    frac: np.ndarray  # digits after the dot
    bad: np.ndarray  # bool: more than one dot or no digit
    line: np.ndarray  # 0-based line (within the chunk) of each number
    n_lines: int
    line_start: np.ndarray
    line_end: np.ndarray  # exclusive, without a trailing '\r'
    bad_char_line: int  # first line holding a character that is neither a number nor a separator (-1: none)


def _tokenize(buf: np.ndarray, seps: bytes, allow_dot: bool) -> _Tokens:
    """Numbers (runs of digits, with one '.' when ``allow_dot``) of a chunk that ends with '\\n'."""
    digit = (buf >= 48) & (buf <= 57)
    num = digit | (buf == 46) if allow_dot else digit
    ok = num | (buf == 10) | (buf == 13)
    for s in seps:
        ok |= buf == s
    nl = np.flatnonzero(buf == 10)
    bad_chars = np.flatnonzero(~ok)
    bad_char_line = int(np.searchsorted(nl, bad_chars[0])) if len(bad_chars) else -1
    edge = np.diff(num.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edge == 1)
    lengths = np.flatnonzero(edge == -1) - starts
    del edge, digit, ok
    n = len(starts)
    value = np.zeros(n, np.int64)
    frac = np.zeros(n, np.int64)
    dots = np.zeros(n, np.int64)
    longest = int(lengths.max()) if n else 0
    if longest > 18:
        at = int(np.searchsorted(nl, starts[np.argmax(lengths)]))
        bad_char_line = at if bad_char_line < 0 else min(bad_char_line, at)
        longest = 18
    for j in range(longest):
        active = lengths > j
        ch = buf[np.minimum(starts + j, len(buf) - 1)].astype(np.int64)
        is_dot = active & (ch == 46)
        is_digit = active & ~is_dot
        value = np.where(is_digit, value * 10 + (ch - 48), value)
        frac += is_digit & (dots > 0)
        dots += is_dot
    line = np.searchsorted(nl, starts)
    line_start = np.concatenate(([0], nl[:-1] + 1))
    line_end = nl.copy()
    cr = (line_end > line_start) & (buf[np.maximum(line_end - 1, 0)] == 13)
    line_end[cr] -= 1
    bad = (dots > 1) | (lengths - dots == 0)
    return _Tokens(value, frac, bad, line, len(nl), line_start, line_end, bad_char_line)


def _line_text(path: Path, lineno: int, encoding: str = "latin-1") -> str:
    """The text of 1-based line ``lineno`` (for error messages)."""
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, 1):
            if i == lineno:
                text = raw.decode(encoding, errors="replace").rstrip("\r\n")
                return text if len(text) <= 80 else text[:77] + "..."
    return ""


def _malformed(path: Path, lineno: int, expected: str) -> DataError:
    return DataError(f"{path}:{lineno}: malformed line {_line_text(path, lineno)!r}: expected {expected}")


def _check_scale(path: Path, values: np.ndarray, lines: np.ndarray, scale) -> None:
    ok = np.isin(values, np.asarray(scale, np.float64))
    if not ok.all():
        j = int(np.argmin(ok))
        raise DataError(
            f"{path}:{int(lines[j])}: rating {values[j]:g} is outside the scale "
            f"({', '.join(f'{v:g}' for v in scale)})"
        )


def read_numeric_table(path: str | Path, n_fields: int, seps: bytes, expected: str, allow_dot: bool = False,
                       int_fields: tuple[int, ...] = (), skip_header: bool = False,
                       chunk_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a text file of ``n_fields`` numbers per line: returns (rows float64 (n, n_fields), 1-based lines).

    Blank lines are skipped; any other line without exactly ``n_fields`` numbers, with a character that
    is neither a digit nor a separator, or with a dot in an integer field raises a DataError naming the
    line. ``skip_header`` drops a first line that holds letters (a CSV header).
    """
    path = Path(path)
    start, line0 = 0, 0
    if skip_header:
        with open(path, "rb") as fh:
            first = fh.readline()
        if re.search(rb"[A-Za-z]", first):
            start, line0 = len(first), 1
    rows, lines = [], []
    for buf, before in _chunks(path, chunk_bytes, start, line0):
        tok = _tokenize(buf, seps, allow_dot)
        counts = np.bincount(tok.line, minlength=tok.n_lines)
        blank = (counts == 0) & (tok.line_end == tok.line_start)
        wrong = np.flatnonzero(~blank & (counts != n_fields))
        problems = [int(wrong[0])] if len(wrong) else []
        if tok.bad_char_line >= 0:
            problems.append(tok.bad_char_line)
        bad_tok = tok.bad.copy()
        if int_fields:
            field_of = np.arange(len(tok.value)) % n_fields if not len(wrong) else None
            if field_of is not None:
                bad_tok |= np.isin(field_of, int_fields) & (tok.frac > 0)
        if bad_tok.any():
            problems.append(int(tok.line[np.argmax(bad_tok)]))
        if problems:
            raise _malformed(path, before + min(problems) + 1, expected)
        vals = tok.value.astype(np.float64)
        if allow_dot and tok.frac.any():
            vals /= 10.0 ** tok.frac
        rows.append(vals.reshape(-1, n_fields))
        lines.append(before + tok.line[::n_fields] + 1)
    if not rows:
        return np.zeros((0, n_fields)), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(lines)


# --------------------------------------------------------------------------------------------------
# MovieLens


_YEAR_AT_END = re.compile(r"^(.*?)\s*\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\)\s*$")


def split_title_year(title: str) -> tuple[str, int]:
    """``"Toy Story (1995)"`` -> ``("Toy Story", 1995)``; a title without a year -> (title, 0)."""
    m = _YEAR_AT_END.match(title.strip())
    if m:
        return m.group(1).strip(), int(m.group(2))
    return title.strip(), 0


def _check_exists(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file ({what})")


def _read_ratings_file(path: Path, seps: bytes, expected: str, scale, allow_dot=False, skip_header=False):
    rows, lines = read_numeric_table(path, 4, seps, expected, allow_dot=allow_dot, int_fields=(0, 1, 3),
                                     skip_header=skip_header)
    if not len(rows):
        raise DataError(f"{path}: holds no ratings")
    _check_scale(path, rows[:, 2], lines, scale)
    return rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2], rows[:, 3].astype(np.int64)


def read_movielens_100k(folder: str | Path) -> Ratings:
    """MovieLens 100K: ``u.data`` and, when present, ``u.item``, ``u.genre`` and the own splits."""
    folder = Path(folder)
    data = folder / "u.data"
    _check_exists(data, "MovieLens 100K ratings")
    scale = (1.0, 2.0, 3.0, 4.0, 5.0)
    u, i, r, t = _read_ratings_file(data, b"\t ", "4 whole numbers separated by tabs: user item rating timestamp",
                                    scale)
    genre_names = ML100K_GENRES
    if (folder / "u.genre").exists():
        names = []
        for lineno, line in enumerate((folder / "u.genre").read_text(encoding="latin-1").splitlines(), 1):
            if not line.strip():
                continue
            name, sep, _ = line.rpartition("|")
            if not sep:
                raise _malformed(folder / "u.genre", lineno, "genre|index")
            names.append(name)
        genre_names = tuple(names)
    meta = {}
    item_file = folder / "u.item"
    if item_file.exists():
        n_g = len(genre_names)
        with open(item_file, encoding="latin-1", newline="") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                parts = line.split("|")
                if len(parts) != 5 + n_g or not parts[0].strip().isdigit() or any(
                        f not in ("0", "1") for f in parts[5:]):
                    raise _malformed(item_file, lineno, f"id|title|release date|video date|IMDb URL|{n_g} genre flags (0/1)")
                title, year = split_title_year(parts[1])
                if not year and len(parts[2]) >= 4 and parts[2][-4:].isdigit():
                    year = int(parts[2][-4:])
                meta[int(parts[0])] = (title, year, np.array([f == "1" for f in parts[5:]]))
    out = from_ids(u, i, r, t, scale, meta, genre_names, name="MovieLens 100K", source=str(folder))
    out.own_splits = _own_split_masks(out, folder, [f"u{k}" for k in range(1, 6)] + ["ua", "ub"])
    return out


def _pair_keys(r: Ratings, users_raw: np.ndarray, items_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    base = int(r.item_ids.max()) + 1 if r.n_items else 1
    have = r.user_ids[r.user] * base + r.item_ids[r.item]
    want = users_raw.astype(np.int64) * base + items_raw.astype(np.int64)
    return have, want


def _own_split_masks(r: Ratings, folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        test = folder / f"{name}.test"
        if not test.exists():
            continue
        u, i, _, _ = _read_ratings_file(test, b"\t ", "4 whole numbers separated by tabs: user item rating timestamp",
                                        r.scale)
        have, want = _pair_keys(r, u, i)
        mask = np.isin(have, want)
        missing = len(np.unique(want)) - int(mask.sum())
        if missing > 0:
            raise DataError(f"{test}: {missing} of its ratings are not in u.data (is it from another copy of the data?)")
        out[name] = mask
    return out


def _genre_matrix(genre_lists: dict[int, list[str]]) -> tuple[tuple[str, ...], dict[int, np.ndarray]]:
    seen = {g for gs in genre_lists.values() for g in gs if g and g != "(no genres listed)"}
    names = tuple([g for g in CANONICAL_GENRES if g in seen] + sorted(seen - set(CANONICAL_GENRES)))
    pos = {g: k for k, g in enumerate(names)}
    flags = {}
    for item_id, gs in genre_lists.items():
        f = np.zeros(len(names), bool)
        for g in gs:
            if g in pos:
                f[pos[g]] = True
        flags[item_id] = f
    return names, flags


def read_movielens_1m(folder: str | Path) -> Ratings:
    """MovieLens 1M (and 10M): ``ratings.dat`` (``user::movie::rating::timestamp``) and ``movies.dat``."""
    folder = Path(folder)
    data = folder / "ratings.dat"
    _check_exists(data, "MovieLens 1M ratings")
    half = _has_half_stars(data)
    scale = tuple(np.arange(0.5 if half else 1.0, 5.01, 0.5 if half else 1.0))
    u, i, r, t = _read_ratings_file(data, b":", "UserID::MovieID::Rating::Timestamp", scale, allow_dot=half)
    titles, genre_lists = {}, {}
    movies = folder / "movies.dat"
    if movies.exists():
        with open(movies, encoding="latin-1", newline="") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                parts = line.split("::")
                if len(parts) != 3 or not parts[0].strip().isdigit():
                    raise _malformed(movies, lineno, "MovieID::Title (Year)::Genre|Genre")
                titles[int(parts[0])] = split_title_year(parts[1])
                genre_lists[int(parts[0])] = parts[2].split("|")
    names, flags = _genre_matrix(genre_lists)
    meta = {k: (title, year, flags[k]) for k, (title, year) in titles.items()}
    return from_ids(u, i, r, t, scale, meta, names, name="MovieLens 1M", source=str(folder))


def _has_half_stars(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    return b"." in head


def read_movielens_latest(folder: str | Path) -> Ratings:
    """MovieLens latest/20M/25M: ``ratings.csv`` (``userId,movieId,rating,timestamp``) and ``movies.csv``."""
    import csv

    folder = Path(folder)
    data = folder / "ratings.csv"
    _check_exists(data, "MovieLens ratings")
    scale = tuple(np.arange(0.5, 5.01, 0.5))
    u, i, r, t = _read_ratings_file(data, b",", "userId,movieId,rating,timestamp", scale, allow_dot=True,
                                    skip_header=True)
    titles, genre_lists = {}, {}
    movies = folder / "movies.csv"
    if movies.exists():
        with open(movies, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            for row in reader:
                lineno = reader.line_num
                if not row or (lineno == 1 and row[0].strip().lower() == "movieid"):
                    continue
                if len(row) != 3 or not row[0].strip().isdigit():
                    raise _malformed(movies, lineno, "movieId,title,genres (titles with commas in double quotes)")
                titles[int(row[0])] = split_title_year(row[1])
                genre_lists[int(row[0])] = row[2].split("|")
    names, flags = _genre_matrix(genre_lists)
    meta = {k: (title, year, flags[k]) for k, (title, year) in titles.items()}
    return from_ids(u, i, r, t, scale, meta, names, name="MovieLens", source=str(folder))


# --------------------------------------------------------------------------------------------------
# Netflix Prize


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorised)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _netflix_blocks(path: Path, fields: int, expected: str, chunk_bytes: int | None = None):
    """Parse a file of ``MovieID:`` blocks: yields (movie ids, rows (n, fields) int64, 1-based lines) per chunk."""
    movie = None
    seen_any = False
    for buf, before in _chunks(path, chunk_bytes):
        tok = _tokenize(buf, b",-:", allow_dot=False)
        counts = np.bincount(tok.line, minlength=tok.n_lines)
        nonempty = tok.line_end > tok.line_start
        header = nonempty & (buf[np.maximum(tok.line_end - 1, 0)] == 58)  # ends with ':'
        blank = (counts == 0) & ~nonempty
        data = ~header & ~blank
        if not seen_any:
            first = np.flatnonzero(~blank)
            if len(first) and not header[first[0]]:
                raise DataError(
                    f"{path}:{before + first[0] + 1}: the first line is {_line_text(path, before + first[0] + 1)!r}, "
                    "not 'MovieID:' (a Netflix Prize file starts each movie's block with its id and a colon)"
                )
            seen_any = bool(len(first))
        wrong = np.flatnonzero((header & (counts != 1)) | (data & (counts != fields)))
        problems = [int(wrong[0])] if len(wrong) else []
        if tok.bad_char_line >= 0:
            problems.append(tok.bad_char_line)
        if tok.bad.any():
            problems.append(int(tok.line[np.argmax(tok.bad)]))
        if problems:
            raise _malformed(path, before + min(problems) + 1, expected)
        is_header_tok = header[tok.line]
        header_lines = np.flatnonzero(header)
        header_ids = tok.value[is_header_tok]
        rows = tok.value[~is_header_tok].reshape(-1, fields)
        lines = tok.line[~is_header_tok][::fields]
        which = np.searchsorted(header_lines, lines) - 1
        if movie is None and len(which) and which[0] < 0:
            raise DataError(f"{path}:{before + lines[0] + 1}: a rating before any 'MovieID:' line")
        movies = np.where(which >= 0, header_ids[np.maximum(which, 0)] if len(header_ids) else 0,
                          movie if movie is not None else 0)
        if len(header_ids):
            movie = int(header_ids[-1])
        yield movies, rows, before + lines + 1
    if not seen_any:
        raise DataError(f"{path}: the file is empty (expected 'MovieID:' blocks)")


def _netflix_rating_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("combined_data_*.txt"))
    if not files and (folder / "training_set").is_dir():
        files = sorted((folder / "training_set").glob("mv_*.txt"))
    return files


def read_netflix(folder: str | Path, max_files: int | None = None) -> Ratings:
    """The Netflix Prize layout: rating files, ``movie_titles.csv`` and ``probe.txt`` (the split ``probe``)."""
    folder = Path(folder)
    files = _netflix_rating_files(folder)
    if not files:
        raise DataError(f"{folder}: no Netflix rating files (expected {LAYOUTS['netflix']})")
    if max_files:
        files = files[:max_files]
    scale = (1.0, 2.0, 3.0, 4.0, 5.0)
    us, ms, rs, ds = [], [], [], []
    expected = "'MovieID:' or 'CustomerID,Rating,YYYY-MM-DD'"
    for path in files:
        for movies, rows, lines in _netflix_blocks(path, 5, expected):
            y, mo, d = rows[:, 2], rows[:, 3], rows[:, 4]
            bad_date = (mo < 1) | (mo > 12) | (d < 1) | (d > 31) | (y < 1900) | (y > 2100)
            if bad_date.any():
                raise DataError(f"{path}:{int(lines[np.argmax(bad_date)])}: bad date in "
                                f"{_line_text(path, int(lines[np.argmax(bad_date)]))!r} (expected YYYY-MM-DD)")
            _check_scale(path, rows[:, 1].astype(np.float64), lines, scale)
            us.append(rows[:, 0].astype(np.int32))
            ms.append(movies.astype(np.int32))
            rs.append(rows[:, 1].astype(np.int8))
            ds.append(days_from_civil(y, mo, d).astype(np.int32))
    user_raw, movie_raw = np.concatenate(us), np.concatenate(ms)
    del us, ms
    rating = np.concatenate(rs).astype(np.float32)
    time = np.concatenate(ds).astype(np.int64) * SECONDS_PER_DAY
    meta = _read_netflix_titles(folder / "movie_titles.csv")
    out = from_ids(user_raw, movie_raw, rating, time, scale, meta, (), name="Netflix Prize", source=str(folder))
    probe = folder / "probe.txt"
    if probe.exists():
        pm, pu = [], []
        for movies, rows, _ in _netflix_blocks(probe, 1, "'MovieID:' or 'CustomerID'"):
            pm.append(movies)
            pu.append(rows[:, 0])
        have, want = _pair_keys(out, np.concatenate(pu), np.concatenate(pm))
        out.own_splits["probe"] = np.isin(have, want)
    return out


def _read_netflix_titles(path: Path) -> dict:
    meta = {}
    if not path.exists():
        return meta
    with open(path, encoding="latin-1", newline="") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split(",", 2)
            if len(parts) != 3 or not parts[0].strip().isdigit() or not (parts[1].strip().isdigit()
                                                                          or parts[1].strip() == "NULL"):
                raise _malformed(path, lineno, "MovieID,YearOfRelease,Title (year may be NULL; title may hold commas)")
            year = int(parts[1]) if parts[1].strip().isdigit() else 0
            meta[int(parts[0])] = (parts[2].strip(), year, None)
    return meta


# --------------------------------------------------------------------------------------------------
# Writers (tests and benchmarks make files in the datasets' layouts with these)


def write_movielens_100k(r: Ratings, folder: str | Path) -> Path:
    """Write ``u.data``, ``u.item`` and ``u.genre`` in MovieLens 100K's layout (latin-1)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = np.column_stack([r.user_ids[r.user], r.item_ids[r.item], r.rating.astype(np.int64), r.time])
    np.savetxt(folder / "u.data", rows, fmt="%d", delimiter="\t")
    names = r.genre_names if len(r.genre_names) == 19 else ML100K_GENRES
    with open(folder / "u.genre", "w", encoding="latin-1", newline="\n") as fh:
        fh.writelines(f"{g}|{k}\n" for k, g in enumerate(names))
    with open(folder / "u.item", "w", encoding="latin-1", errors="replace", newline="\n") as fh:
        for i in range(r.n_items):
            flags = np.zeros(19, int)
            for g in r.item_genres(i):
                if g in names:
                    flags[names.index(g)] = 1
            year = int(r.years[i])
            title = f"{r.titles[i]} ({year})" if year else str(r.titles[i])
            date = f"01-Jan-{year}" if year else ""
            fh.write(f"{r.item_ids[i]}|{title}|{date}||http://example.org/{r.item_ids[i]}|"
                     + "|".join(map(str, flags)) + "\n")
    return folder


def write_netflix(r: Ratings, folder: str | Path, n_files: int = 4, probe_fraction: float = 0.0,
                  seed: int = 0) -> Path:
    """Write ``combined_data_*.txt``, ``movie_titles.csv`` (latin-1) and optionally ``probe.txt``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    order = np.lexsort((r.user_ids[r.user], r.item))
    item, user = r.item[order], r.user_ids[r.user][order]
    rating = r.rating[order].astype(np.int64)
    day = (r.time[order] // SECONDS_PER_DAY).astype("datetime64[D]").astype(str)
    bounds = np.searchsorted(item, np.linspace(0, r.n_items, n_files + 1).astype(int))
    for f in range(n_files):
        lo, hi = bounds[f], bounds[f + 1]
        with open(folder / f"combined_data_{f + 1}.txt", "w", encoding="ascii", newline="\n") as fh:
            starts = np.flatnonzero(np.diff(item[lo:hi], prepend=-1)) + lo
            ends = np.append(starts[1:], hi)
            for s, e in zip(starts, ends, strict=True):
                fh.write(f"{r.item_ids[item[s]]}:\n")
                fh.write("".join(f"{u},{v},{d}\n" for u, v, d in zip(user[s:e].tolist(), rating[s:e].tolist(),
                                                                       day[s:e].tolist(), strict=True)))
    with open(folder / "movie_titles.csv", "w", encoding="latin-1", errors="replace", newline="\n") as fh:
        for i in range(r.n_items):
            year = str(int(r.years[i])) if r.years[i] else "NULL"
            fh.write(f"{r.item_ids[i]},{year},{r.titles[i]}\n")
    if probe_fraction > 0:
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(len(r), int(len(r) * probe_fraction), replace=False))
        pi, pu = r.item[pick], r.user_ids[r.user[pick]]
        o = np.lexsort((pu, pi))
        with open(folder / "probe.txt", "w", encoding="ascii", newline="\n") as fh:
            last = None
            for i, u in zip(pi[o].tolist(), pu[o].tolist(), strict=True):
                if i != last:
                    fh.write(f"{r.item_ids[i]}:\n")
                    last = i
                fh.write(f"{u}\n")
    return folder


# --------------------------------------------------------------------------------------------------
# Layout detection, download, loading


def detect_layout(folder: Path) -> str | None:
    if (folder / "u.data").is_file():
        return "movielens-100k"
    if (folder / "ratings.dat").is_file():
        return "movielens-1m"
    if (folder / "ratings.csv").is_file():
        return "movielens-latest"
    if _netflix_rating_files(folder):
        return "netflix"
    return None


READERS = {
    "movielens-100k": read_movielens_100k,
    "movielens-1m": read_movielens_1m,
    "movielens-latest": read_movielens_latest,
    "netflix": read_netflix,
}


def find_layout(path: str | Path, expect: str = "auto") -> tuple[Path, str]:
    """The folder holding a known layout (``path`` itself, the folder of a file, or one sub-folder)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder", [f"expected a folder holding {v}" for v in LAYOUTS.values()])
    folder = path.parent if path.is_file() else path
    layout = detect_layout(folder)
    if layout is None and folder.is_dir():
        found = [(sub, detect_layout(sub)) for sub in sorted(folder.iterdir()) if sub.is_dir()]
        found = [(s, lay) for s, lay in found if lay is not None and (expect == "auto" or lay == expect)]
        if len(found) == 1:
            folder, layout = found[0]
    if layout is None:
        wanted = [LAYOUTS[expect]] if expect in LAYOUTS else list(LAYOUTS.values())
        raise DataError(f"{path}: holds no known ratings layout", [f"expected {w}" for w in wanted])
    if expect not in ("auto", layout) and not (expect == "movielens-1m" and layout == "movielens-latest"):
        raise DataError(f"{folder}: holds {LAYOUTS[layout]}, but data.source is {expect!r} "
                        f"(expected {LAYOUTS.get(expect, expect)}); set data.source: auto or {layout}")
    return folder, layout


def cache_dir(cache: str | Path | None = None) -> Path:
    return Path(cache).expanduser() if cache else Path.home() / ".cache" / "lab" / "datasets"


def download_movielens(which: str, cache: str | Path | None = None, timeout: float = 20.0) -> Path:
    """Download and unpack MovieLens 100K or 1M into the cache (md5-checked); returns its folder."""
    if which not in DOWNLOADS:
        raise DataError(f"no download known for {which!r}; downloads exist for {', '.join(DOWNLOADS)}")
    url, md5, sub = DOWNLOADS[which]
    root = cache_dir(cache)
    target = root / sub
    if detect_layout(target) is not None:
        return target
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"{sub}.zip"
    if not archive.exists():
        tmp = archive.with_suffix(".zip.part")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:
                shutil.copyfileobj(resp, fh)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise DataError(
                f"could not download {url} ({getattr(exc, 'reason', exc)}); this machine may be offline",
                [f"download {sub}.zip elsewhere, unzip it, and point the scenario at the folder: "
                 f"--set data.path=/path/to/{sub}", f"or put {sub}.zip in {root} (it is checked against md5 {md5})"],
            ) from None
        tmp.replace(archive)
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    if digest != md5:
        bad = archive.with_suffix(".zip.bad")
        archive.replace(bad)
        raise DataError(f"{archive}: md5 {digest} is not the published {md5}; moved it to {bad.name}; try again")
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            if member.startswith("/") or ".." in Path(member).parts:
                raise DataError(f"{archive}: unsafe path {member!r} in the archive")
        z.extractall(root)
    if detect_layout(target) is None:
        raise DataError(f"{archive}: unpacked, but {target} holds no {LAYOUTS[which]}")
    return target


def load_ratings(path: str | Path | None = None, source: str = "auto", download: bool = False,
                 cache: str | Path | None = None, max_files: int | None = None) -> Ratings:
    """Read ratings from ``path`` (layout detected or given by ``source``), downloading MovieLens if allowed."""
    if path is not None and Path(path).expanduser().exists():
        folder, layout = find_layout(path, source)
    elif download and source in DOWNLOADS:
        folder, layout = download_movielens(source, cache), source
    elif path is None:
        raise DataError(f"data.source {source!r} needs data.path: the folder holding {LAYOUTS.get(source, 'the files')}"
                        + (" (or data.download: true where the machine is online)" if source in DOWNLOADS else ""))
    else:
        hint = []
        if source in DOWNLOADS:
            url = DOWNLOADS[source][0]
            hint = [f"download {url} on a machine with internet, unzip it, and set data.path to the folder "
                    f"(e.g. --set data.path=/path/to/{DOWNLOADS[source][2]}), or set data.download: true when online"]
        else:
            hint = [f"expected a folder holding {LAYOUTS.get(source, ' or '.join(LAYOUTS.values()))}"]
        raise DataError(f"{path}: no such file or folder", hint)
    reader = READERS[layout]
    return reader(folder, max_files=max_files) if layout == "netflix" else reader(folder)


# --------------------------------------------------------------------------------------------------
# Synthetic Netflix-style data

NETFLIX_DISTRIBUTION = (0.046, 0.101, 0.287, 0.336, 0.230)  # share of 1..5 stars in the Netflix Prize data

_ADJECTIVES = (
    "Silent", "Last", "Broken", "Golden", "Dark", "Hidden", "Endless", "Crimson", "Lonely", "Wild", "Frozen", "Secret",
    "Burning", "Lost", "Midnight", "Electric", "Savage", "Gentle", "Distant", "Fallen", "Iron", "Scarlet", "Quiet",
    "Restless", "Shattered", "Velvet", "Wicked", "Brave", "Hollow", "Northern", "Paper", "Glass", "Sleeping",
    "Forgotten", "Bitter", "Sweet", "Final", "Little", "Great", "Strange",
)
_NOUNS = (
    "River", "Harbor", "Empire", "Garden", "Kingdom", "Heart", "Shadow", "Road", "Storm", "Dream", "Summer", "City",
    "Island", "Mirror", "Promise", "Frontier", "Machine", "Letter", "Station", "Horizon", "Winter", "Voyage", "Secret",
    "Crown", "Highway", "Stranger", "Ghost", "Sky", "Tide", "Circus", "Mountain", "Desert", "Season", "Signal",
    "Orchard", "Lantern", "Bridge", "Witness", "Engine", "Song",
)
_PLACES = (
    "Paris", "Tokyo", "Brooklyn", "Havana", "Casablanca", "Vienna", "Texas", "Alaska", "Rome", "Bombay", "Berlin",
    "Chicago", "Lisbon", "the Valley", "the North", "Mars",
)
_NAMES = ("Annie", "Jack", "Marlowe", "Sophie", "Max", "Rosa", "Elliot", "Nora", "Frankie", "Otis", "Lola", "Walter")


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def _make_title(rng: np.random.Generator) -> str:
    a, n, n2 = rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.choice(_NOUNS)
    pattern = int(rng.integers(8))
    return [
        f"The {a} {n}", f"{a} {n}", f"{n} of the {n2}", f"{'An' if n[0] in 'AEIOU' else 'A'} {n} in {rng.choice(_PLACES)}",
        f"{rng.choice(_NAMES)}'s {n}", f"{_plural(n)}, {_plural(n2)} and Other Stories", f"The {n}", f"{a} {n}: Return to {rng.choice(_PLACES)}",
    ][pattern]


def synthetic(n_users: int = 2000, n_items: int = 1000, mean_ratings: float = 60.0, min_ratings: int = 20,
              n_tastes: int = 8, noise: float = 0.5, taste_strength: float = 1.0, popularity_exponent: float = 0.9,
              seed: int = 0, distribution=NETFLIX_DISTRIBUTION, batch_users: int = 2000) -> Ratings:
    """Netflix-style ratings with planted structure, the same for the same arguments.

    Movies get 1-3 of 18 genres, a year (recent years likelier), a quality and a power-law popularity
    (better movies a little more popular). Users belong to one of ``n_tastes`` taste types (a few loved
    and a few disliked genres) with personal variation, and have a rating bias. A user rates
    ``min_ratings`` + a log-normal number of movies, chosen by popularity and by taste (people watch
    what they expect to like). A rating is ``bias + quality + taste . genres + noise``, cut into 1..5
    stars at the quantiles of ``distribution`` (default: the Netflix Prize's shares). Timestamps are
    days between 1999 and 2005, each user active over a window. ``truth`` holds the planted parameters.
    """
    if n_users < 1 or n_items < 1 or min_ratings < 1:
        raise DataError("synthetic data needs at least one user, one item and min_ratings >= 1")
    if min_ratings > n_items:
        raise DataError(f"synthetic data: min_ratings {min_ratings} is more than the {n_items} items")
    rng = np.random.default_rng(seed)
    genre_names = CANONICAL_GENRES
    n_g = len(genre_names)
    # movies
    genre_weight = np.array([8, 5, 2, 3, 12, 5, 1.5, 16, 2, 1, 4, 2, 2.5, 6, 4, 7, 2, 1.2])
    n_genres_each = 1 + rng.binomial(2, 0.35, n_items)
    keys = np.log(genre_weight)[None, :] + rng.gumbel(size=(n_items, n_g))
    order = np.argsort(-keys, axis=1)
    genres = np.zeros((n_items, n_g), bool)
    rows = np.repeat(np.arange(n_items), n_genres_each)
    cols = order[rows, np.concatenate([np.arange(k) for k in n_genres_each])]
    genres[rows, cols] = True
    years = np.clip(2005 - np.floor(rng.exponential(11.0, n_items)), 1925, 2005).astype(np.int32)
    quality = rng.normal(0.0, 0.4, n_items)
    rank = np.empty(n_items, np.int64)
    rank[np.argsort(-(quality + rng.normal(0.0, 0.8, n_items)))] = np.arange(1, n_items + 1)
    log_pop = -popularity_exponent * np.log(rank)
    # users
    types = np.zeros((n_tastes, n_g))
    for t in range(n_tastes):
        picks = rng.permutation(n_g)
        types[t, picks[:3]] = 1.0
        types[t, picks[3:5]] = -1.0
    user_type = rng.integers(n_tastes, size=n_users)
    taste = taste_strength * types[user_type] + rng.normal(0.0, 0.3, (n_users, n_g))
    user_bias = rng.normal(0.0, 0.35, n_users)
    extra = max(mean_ratings - min_ratings, 0.0)
    sigma = 1.0
    n_each = min_ratings + np.floor(rng.lognormal(np.log(max(extra, 1e-9)) - sigma**2 / 2, sigma, n_users)).astype(np.int64)
    n_each = np.minimum(n_each, max(min_ratings, int(0.6 * n_items)))
    n_each = np.minimum(n_each, n_items)
    genre_norm = genres / np.sqrt(genres.sum(1, keepdims=True))
    # which movies each user rates: Gumbel top-k of popularity + taste, in batches of users
    batch_users = max(1, min(batch_users, 10_000_000 // n_items))  # at most ~80 MB of scores at a time
    users_out, items_out = [], []
    for lo in range(0, n_users, batch_users):
        hi = min(n_users, lo + batch_users)
        aff = taste[lo:hi] @ genre_norm.T
        score = log_pop[None, :] + 0.8 * aff + rng.gumbel(size=(hi - lo, n_items))
        kmax = int(n_each[lo:hi].max())
        top = np.argpartition(-score, kmax - 1, axis=1)[:, :kmax] if kmax < n_items else np.tile(np.arange(n_items), (hi - lo, 1))
        top_scores = np.take_along_axis(score, top, 1)
        top = np.take_along_axis(top, np.argsort(-top_scores, axis=1), 1)
        take = np.arange(kmax)[None, :] < n_each[lo:hi, None]
        users_out.append(np.broadcast_to(np.arange(lo, hi)[:, None], take.shape)[take])
        items_out.append(top[take])
    user = np.concatenate(users_out).astype(np.int32)
    item = np.concatenate(items_out).astype(np.int32)
    affinity = np.concatenate([np.einsum("ng,ng->n", taste[user[lo:lo + 1_000_000]], genre_norm[item[lo:lo + 1_000_000]])
                               for lo in range(0, len(user), 1_000_000)])
    latent = user_bias[user] + quality[item] + affinity + rng.normal(0.0, noise, len(user))
    cuts = np.quantile(latent, np.cumsum(distribution)[:-1])
    stars = (1 + np.searchsorted(cuts, latent)).astype(np.float32)
    # time: each user active from a start day over an exponential window (days since 1970)
    first_day, last_day = 10592, 13149  # 1999-01-01 .. 2005-12-31
    start = rng.integers(first_day, last_day - 30, n_users)
    span = np.minimum(rng.exponential(400.0, n_users) + 1, last_day - start)
    day = start[user] + np.floor(rng.random(len(user)) * span[user]).astype(np.int64)
    time = day * SECONDS_PER_DAY + rng.integers(0, SECONDS_PER_DAY, len(user))
    # titles, unique per (title, year)
    titles, seen = [], set()
    for i in range(n_items):
        t = _make_title(rng)
        base, k = t, 2
        while (t, int(years[i])) in seen:
            t = f"{base} {['II', 'III', 'IV', 'V', 'VI'][k - 2] if k <= 6 else k}"
            k += 1
        seen.add((t, int(years[i])))
        titles.append(t)
    order = np.lexsort((item, user))
    return Ratings(
        user=user[order], item=item[order], rating=stars[order], time=time[order].astype(np.int64),
        user_ids=np.arange(1, n_users + 1, dtype=np.int64), item_ids=np.arange(1, n_items + 1, dtype=np.int64),
        titles=np.asarray(titles, dtype=str), years=years, genres=genres, genre_names=genre_names,
        scale=np.arange(1, 6, dtype=np.float32), name="synthetic Netflix-style", source=f"synthetic(seed={seed})",
        truth={"user_type": user_type, "user_taste": taste, "user_bias": user_bias, "item_quality": quality,
               "item_log_popularity": log_pop, "type_genres": types, "item_genre_weights": genre_norm},
    )


def true_affinity(r: Ratings, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The planted taste . genres term of synthetic data for (user, item) pairs."""
    if not r.truth:
        raise DataError(f"{r.name}: not synthetic data, it has no planted tastes")
    return np.einsum("ng,ng->n", r.truth["user_taste"][users], r.truth["item_genre_weights"][items])


# --------------------------------------------------------------------------------------------------
# Splits


@dataclass(frozen=True)
class Split:
    """Indices into a :class:`Ratings` of the training and the held-out ratings."""

    name: str
    train: np.ndarray
    test: np.ndarray


def kfold(r: Ratings, k: int = 5, seed: int = 0) -> list[Split]:
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
        raise DataError(f"{r.name} ({r.source}) has no splits of its own (MovieLens 100K's u1..u5.base/.test or "
                        "Netflix's probe.txt); use split.method: kfold, holdout or temporal")
    names = names or list(r.own_splits)
    missing = [n for n in names if n not in r.own_splits]
    if missing:
        raise DataError(f"{r.name}: no split named {', '.join(missing)}; it has {', '.join(r.own_splits)}")
    return [Split(n, np.flatnonzero(~r.own_splits[n]), np.flatnonzero(r.own_splits[n])) for n in names]


def _per_user_rank(r: Ratings, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort ratings by (user, key): returns the order and each rating's rank within its user (in that order)."""
    order = np.lexsort((key, r.user))
    counts = np.bincount(r.user, minlength=r.n_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(r)) - np.repeat(starts, counts)
    return order, rank


def _take_first(r: Ratings, order, rank, n: int | None, fraction: float | None, min_train: int, name: str) -> Split:
    counts = np.bincount(r.user, minlength=r.n_users)
    if n is not None:
        n_test = np.full(r.n_users, n)
    else:
        n_test = np.round(counts * float(fraction)).astype(np.int64)
    n_test = np.clip(np.minimum(n_test, counts - min_train), 0, None)
    sorted_users = r.user[order]
    test_sorted = rank < n_test[sorted_users]
    return Split(name, np.sort(order[~test_sorted]), np.sort(order[test_sorted]))


def holdout(r: Ratings, n: int | None = None, fraction: float | None = None, seed: int = 0,
            min_train: int = 1) -> Split:
    """Per user, ``n`` random ratings (or ``fraction`` of them) held out; every user keeps ``min_train``."""
    if (n is None) == (fraction is None):
        raise DataError("a hold-out split needs exactly one of n (ratings per user) or fraction")
    key = np.random.default_rng(seed).random(len(r))
    order, rank = _per_user_rank(r, key)
    label = f"holdout{n}" if n is not None else f"holdout{fraction:g}"
    return _take_first(r, order, rank, n, fraction, min_train, label)


def temporal(r: Ratings, n: int | None = None, fraction: float | None = None, min_train: int = 1,
             seed: int = 0) -> Split:
    """Per user, the latest ``n`` ratings (or ``fraction``) held out: predict the future from the past."""
    if (n is None) == (fraction is None):
        raise DataError("a temporal split needs exactly one of n (ratings per user) or fraction")
    tie = np.random.default_rng(seed).random(len(r))
    order, rank = _per_user_rank(r, -(r.time.astype(np.float64) + tie * 0.5))
    label = f"temporal{n}" if n is not None else f"temporal{fraction:g}"
    return _take_first(r, order, rank, n, fraction, min_train, label)


def make_splits(r: Ratings, method: str, folds: int = 5, names: list[str] | None = None, n: int | None = None,
                fraction: float | None = None, seed: int = 0) -> list[Split]:
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
