"""MovieLens 100K, 1M (and 10M) and latest/20M/25M: readers, the 100K writer, titles and genres.

Every reader has the package's one reader signature, ``read_xxx(folder, *, max_files=None) -> Ratings``.
A MovieLens layout holds a single ratings file, which is always read: ``max_files`` is accepted so that
all readers can be called alike, and changes nothing here.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from lab.data.ratings.model import CANONICAL_GENRES, ML100K_GENRES, Ratings, _pair_keys, from_ids
from lab.data.ratings.parse import _check_scale, _malformed, read_numeric_table, text_lines
from lab.data.safe import data_file
from lab.errors import DataError

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
    """(user ids, item ids, ratings, timestamps, 1-based lines) of a ratings file."""
    with data_file(path, "ratings file"):
        rows, lines = read_numeric_table(path, 4, seps, expected, allow_dot=allow_dot, int_fields=(0, 1, 3),
                                         skip_header=skip_header)
    if not len(rows):
        raise DataError(f"{path}: holds no ratings")
    _check_scale(path, rows[:, 2], lines, scale)
    return (rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2], rows[:, 3].astype(np.int64),
            lines)


def read_movielens_100k(folder: str | Path, *, max_files: int | None = None) -> Ratings:
    """MovieLens 100K: ``u.data`` and, when present, ``u.item``, ``u.genre`` and the own splits."""
    folder = Path(folder)
    data = folder / "u.data"
    _check_exists(data, "MovieLens 100K ratings")
    scale = (1.0, 2.0, 3.0, 4.0, 5.0)
    u, i, r, t, lines = _read_ratings_file(data, b"\t ",
                                           "4 whole numbers separated by tabs: user item rating timestamp",
                                           scale)
    genre_names = ML100K_GENRES
    if (folder / "u.genre").exists():
        names = []
        for lineno, line in enumerate(text_lines(folder / "u.genre", "latin-1", "genre|index lines"), 1):
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
        for lineno, line in enumerate(text_lines(item_file, "latin-1", "the movies, one a line"), 1):
            if not line.strip():
                continue
            parts = line.split("|")
            if len(parts) != 5 + n_g or not parts[0].strip().isdecimal() or any(
                    f not in ("0", "1") for f in parts[5:]):
                raise _malformed(item_file, lineno,
                                 f"id|title|release date|video date|IMDb URL|{n_g} genre flags (0/1)")
            title, year = split_title_year(parts[1])
            if not year and len(parts[2]) >= 4 and parts[2][-4:].isdecimal():
                year = int(parts[2][-4:])
            meta[int(parts[0])] = (title, year, np.array([f == "1" for f in parts[5:]]))
    out = from_ids(u, i, r, t, scale, meta, genre_names, name="MovieLens 100K", source=str(folder),
                   lines=lines, ratings_file=str(data))
    out.own_splits = _own_split_masks(out, folder, [f"u{k}" for k in range(1, 6)] + ["ua", "ub"])
    return out


def _own_split_masks(r: Ratings, folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        test = folder / f"{name}.test"
        if not test.exists():
            continue
        u, i, _, _, _ = _read_ratings_file(test, b"\t ",
                                           "4 whole numbers separated by tabs: user item rating timestamp",
                                           r.scale)
        have, want = _pair_keys(r, u, i)
        mask = np.isin(have, want)
        missing = len(np.unique(want)) - int(mask.sum())
        if missing > 0:
            raise DataError(f"{test}: {missing} of its ratings are not in u.data (is it from another copy of "
                            f"the data?)")
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


def read_movielens_1m(folder: str | Path, *, max_files: int | None = None) -> Ratings:
    """MovieLens 1M (and 10M): ``ratings.dat`` (``user::movie::rating::timestamp``) and ``movies.dat``."""
    folder = Path(folder)
    data = folder / "ratings.dat"
    _check_exists(data, "MovieLens 1M ratings")
    half = _has_half_stars(data)
    scale = tuple(np.arange(0.5 if half else 1.0, 5.01, 0.5 if half else 1.0))
    u, i, r, t, lines = _read_ratings_file(data, b":", "UserID::MovieID::Rating::Timestamp", scale,
                                           allow_dot=half)
    titles, genre_lists = {}, {}
    movies = folder / "movies.dat"
    if movies.exists():
        for lineno, line in enumerate(
                text_lines(movies, "latin-1", "MovieID::Title (Year)::Genre|Genre lines"), 1):
            if not line.strip():
                continue
            parts = line.split("::")
            if len(parts) != 3 or not parts[0].strip().isdecimal():
                raise _malformed(movies, lineno, "MovieID::Title (Year)::Genre|Genre")
            titles[int(parts[0])] = split_title_year(parts[1])
            genre_lists[int(parts[0])] = parts[2].split("|")
    names, flags = _genre_matrix(genre_lists)
    meta = {k: (title, year, flags[k]) for k, (title, year) in titles.items()}
    return from_ids(u, i, r, t, scale, meta, names, name="MovieLens 1M", source=str(folder), lines=lines,
                    ratings_file=str(data))


def _has_half_stars(path: Path) -> bool:
    with data_file(path, "ratings file"), open(path, "rb") as fh:
        head = fh.read(1 << 20)
    return b"." in head


def read_movielens_latest(folder: str | Path, *, max_files: int | None = None) -> Ratings:
    """MovieLens latest/20M/25M: ``ratings.csv`` (``userId,movieId,rating,timestamp``) and ``movies.csv``."""
    folder = Path(folder)
    data = folder / "ratings.csv"
    _check_exists(data, "MovieLens ratings")
    scale = tuple(np.arange(0.5, 5.01, 0.5))
    u, i, r, t, lines = _read_ratings_file(data, b",", "userId,movieId,rating,timestamp", scale,
                                           allow_dot=True, skip_header=True)
    titles, genre_lists = {}, {}
    movies = folder / "movies.csv"
    if movies.exists():
        text = "\n".join(text_lines(movies, "utf-8", "movieId,title,genres lines"))
        with data_file(movies, "movies file"):
            reader = csv.reader(io.StringIO(text))
            for row in reader:
                lineno = reader.line_num
                if not row or (lineno == 1 and row[0].strip().lower() == "movieid"):
                    continue
                if len(row) != 3 or not row[0].strip().isdecimal():
                    raise _malformed(movies, lineno,
                                     "movieId,title,genres (titles with commas in double quotes)")
                titles[int(row[0])] = split_title_year(row[1])
                genre_lists[int(row[0])] = row[2].split("|")
    names, flags = _genre_matrix(genre_lists)
    meta = {k: (title, year, flags[k]) for k, (title, year) in titles.items()}
    return from_ids(u, i, r, t, scale, meta, names, name="MovieLens", source=str(folder), lines=lines,
                    ratings_file=str(data))


# --------------------------------------------------------------------------------------------------
# Writer (tests and benchmarks make files in the dataset's layout with it)


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
