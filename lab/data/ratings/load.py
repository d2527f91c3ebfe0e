"""``READERS`` (layout name -> reader) and :func:`load_ratings`, the one entry point for files on disk.

Every reader in ``READERS`` has the same signature, ``reader(folder, *, max_files=None) -> Ratings``.
"""

from __future__ import annotations

from pathlib import Path

from lab.data.ratings.download import DOWNLOADS, download_movielens
from lab.data.ratings.layout import LAYOUTS, find_layout
from lab.data.ratings.model import Ratings
from lab.data.ratings.movielens import read_movielens_1m, read_movielens_100k, read_movielens_latest
from lab.data.ratings.netflix import read_netflix
from lab.errors import DataError

READERS = {
    "movielens-100k": read_movielens_100k,
    "movielens-1m": read_movielens_1m,
    "movielens-latest": read_movielens_latest,
    "netflix": read_netflix,
}


def load_ratings(path: str | Path | None = None, source: str = "auto", download: bool = False,
                 cache: str | Path | None = None, max_files: int | None = None) -> Ratings:
    """Read ratings from ``path`` (layout detected or given by ``source``), downloading MovieLens if
    allowed."""
    if path is not None and Path(path).expanduser().exists():
        folder, layout = find_layout(path, source)
    elif download and source in DOWNLOADS:
        folder, layout = download_movielens(source, cache), source
    elif path is None:
        raise DataError(f"data.source {source!r} needs data.path: the folder holding "
                        f"{LAYOUTS.get(source, 'the files')}"
                        + (" (or data.download: true where the machine is online)" if source in DOWNLOADS
                           else ""))
    else:
        hint = []
        if source in DOWNLOADS:
            url = DOWNLOADS[source][0]
            hint = [f"download {url} on a machine with internet, unzip it, and set data.path to the folder "
                    f"(e.g. --set data.path=/path/to/{DOWNLOADS[source][2]}), or set data.download: true "
                    f"when online"]
        else:
            hint = [f"expected a folder holding {LAYOUTS.get(source, ' or '.join(LAYOUTS.values()))}"]
        raise DataError(f"{path}: no such file or folder", hint)
    reader = READERS[layout]
    return reader(folder, max_files=max_files)
