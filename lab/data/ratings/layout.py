"""Which files make up which layout: ``LAYOUTS``, :func:`detect_layout` and :func:`find_layout`.

This module reads no ratings; the readers (``READERS``) and :func:`load_ratings` live in
:mod:`lab.data.ratings.load`.
"""

from __future__ import annotations

from pathlib import Path

from lab.errors import DataError

LAYOUTS = {
    "movielens-100k": "u.data (+ u.item, u.genre, u1..u5/ua/ub .base/.test) [MovieLens 100K]",
    "movielens-1m": "ratings.dat (+ movies.dat) [MovieLens 1M]",
    "movielens-latest": "ratings.csv (+ movies.csv) [MovieLens latest/20M/25M]",
    "netflix": "combined_data_1.txt ... combined_data_4.txt or training_set/mv_*.txt (+ movie_titles.csv, "
               "probe.txt) [Netflix Prize]",
}


def _netflix_rating_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("combined_data_*.txt"))
    if not files and (folder / "training_set").is_dir():
        files = sorted((folder / "training_set").glob("mv_*.txt"))
    return files


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


def find_layout(path: str | Path, expect: str = "auto") -> tuple[Path, str]:
    """The folder holding a known layout (``path`` itself, the folder of a file, or one sub-folder)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder",
                        [f"expected a folder holding {v}" for v in LAYOUTS.values()])
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
