"""The Netflix Prize layout: the reader (rating files, ``movie_titles.csv``, ``probe.txt``) and the writer.

``read_netflix(folder, *, max_files=None)`` has the package's one reader signature; here ``max_files``
means: read only the first N rating files (sorted by name).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab.data.ratings.layout import LAYOUTS, _netflix_rating_files
from lab.data.ratings.model import SECONDS_PER_DAY, Ratings, _pair_keys, from_ids
from lab.data.ratings.parse import _check_scale, _chunks, _line_text, _malformed, _tokenize, text_lines
from lab.data.safe import data_file
from lab.errors import DataError


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
    """Parse a file of ``MovieID:`` blocks: yields (movie ids, rows (n, fields) int64, 1-based lines) per
    chunk."""
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
                    f"{path}:{before + first[0] + 1}: the first line is "
                    f"{_line_text(path, before + first[0] + 1)!r}, not 'MovieID:' (a Netflix Prize file "
                    f"starts each movie's block with its id and a colon)"
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


def _blocks(path: Path, fields: int, expected: str, what: str):
    """:func:`_netflix_blocks`, with an unreadable or damaged file a DataError naming it."""
    with data_file(path, what):
        yield from _netflix_blocks(path, fields, expected)


def read_netflix(folder: str | Path, *, max_files: int | None = None) -> Ratings:
    """The Netflix Prize layout: rating files, ``movie_titles.csv`` and ``probe.txt`` (the split
    ``probe``)."""
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
        for movies, rows, lines in _blocks(path, 5, expected, "rating file"):
            y, mo, d = rows[:, 2], rows[:, 3], rows[:, 4]
            bad_date = (mo < 1) | (mo > 12) | (d < 1) | (d > 31) | (y < 1900) | (y > 2100)
            if bad_date.any():
                raise DataError(f"{path}:{int(lines[np.argmax(bad_date)])}: bad date in "
                                f"{_line_text(path, int(lines[np.argmax(bad_date)]))!r} (expected "
                                f"YYYY-MM-DD)")
            _check_scale(path, rows[:, 1].astype(np.float64), lines, scale)
            _check_ids(path, rows[:, 0], lines, "customer id")
            _check_ids(path, movies, lines, "movie id")
            us.append(rows[:, 0].astype(np.int32))
            ms.append(movies.astype(np.int32))
            rs.append(rows[:, 1].astype(np.int8))
            ds.append(days_from_civil(y, mo, d).astype(np.int32))
    user_raw, movie_raw = np.concatenate(us), np.concatenate(ms)
    del us, ms
    rating = np.concatenate(rs).astype(np.float32)
    time = np.concatenate(ds).astype(np.int64) * SECONDS_PER_DAY
    meta = _read_netflix_titles(folder / "movie_titles.csv")
    out = from_ids(user_raw, movie_raw, rating, time, scale, meta, (), name="Netflix Prize",
                   source=str(folder), ratings_file=f"{folder} ({', '.join(p.name for p in files)})")
    probe = folder / "probe.txt"
    if probe.exists():
        pm, pu = [], []
        for movies, rows, lines in _blocks(probe, 1, "'MovieID:' or 'CustomerID'", "probe file"):
            _check_ids(probe, rows[:, 0], lines, "customer id")
            _check_ids(probe, movies, lines, "movie id")
            pm.append(movies)
            pu.append(rows[:, 0])
        have, want = _pair_keys(out, np.concatenate(pu), np.concatenate(pm))
        mask = np.isin(have, want)
        if len(want) and not mask.any():
            cut = (f"; data.max_files reads only {len(files)} rating file(s) "
                   f"({', '.join(p.name for p in files)}), so the probe's movies may be in the "
                   f"others") if max_files else ""
            raise DataError(f"{probe}: none of the probe's {len(want):,} (customer, movie) pairs is among "
                            f"the {len(out):,} ratings read, so the split 'probe' would hold out "
                            f"nothing{cut}; is the probe from this copy of the data?")
        out.own_splits["probe"] = mask
    return out


def _check_ids(path: Path, ids: np.ndarray, lines: np.ndarray, what: str) -> None:
    """Ids are stored as int32: one that does not fit is a DataError naming its line (not a silent wrap)."""
    big = ids > np.iinfo(np.int32).max
    if big.any():
        j = int(np.argmax(big))
        raise DataError(f"{path}:{int(lines[j])}: {what} {int(ids[j])} is larger than "
                        f"{np.iinfo(np.int32).max:,} in {_line_text(path, int(lines[j]))!r}")


def _read_netflix_titles(path: Path) -> dict:
    meta = {}
    if not path.exists():
        return meta
    for lineno, line in enumerate(text_lines(path, "latin-1", "MovieID,YearOfRelease,Title lines"), 1):
        if not line.strip():
            continue
        parts = line.split(",", 2)
        year = parts[1].strip() if len(parts) == 3 else ""
        if len(parts) != 3 or not parts[0].strip().isdecimal() or not (
                (year.isdecimal() and len(year) <= 4) or year == "NULL"):
            raise _malformed(path, lineno,
                             "MovieID,YearOfRelease,Title (year may be NULL; title may hold commas)")
        meta[int(parts[0])] = (parts[2].strip(), int(year) if year != "NULL" else 0, None)
    return meta


# --------------------------------------------------------------------------------------------------
# Writer (tests and benchmarks make files in the dataset's layout with it)


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
