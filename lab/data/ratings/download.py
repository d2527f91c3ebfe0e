"""Downloading MovieLens 100K and 1M into a cache folder (md5-checked, unpacked safely)."""

from __future__ import annotations

import urllib.request  # noqa: F401 - tests patch urllib.request.urlopen through this module's name
import zipfile
from pathlib import Path

from lab.data.download import cache_dir, fetch, verify
from lab.data.ratings.layout import LAYOUTS, detect_layout
from lab.errors import DataError

DOWNLOADS = {
    "movielens-100k": ("https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                       "0e33842e24a9c977be4e0107933c0723", "ml-100k"),
    "movielens-1m": ("https://files.grouplens.org/datasets/movielens/ml-1m.zip",
                     "c4d9eecfca2ab87c1945afe126590906", "ml-1m"),
}


def download_movielens(which: str, cache: str | Path | None = None, timeout: float = 20.0) -> Path:
    """Download and unpack MovieLens 100K or 1M into the cache (md5-checked); returns its folder."""
    if which not in DOWNLOADS:
        raise DataError(f"no download known for {which!r}; downloads exist for {', '.join(DOWNLOADS)}")
    url, md5, sub = DOWNLOADS[which]
    root = cache_dir(cache)
    target = root / sub
    if detect_layout(target) is not None:
        return target
    archive = root / f"{sub}.zip"
    if archive.exists():
        verify(archive, md5, keep_bad=True)
    else:
        fetch(url, archive, md5, timeout=timeout, keep_bad=True, hints=[
            f"download {sub}.zip elsewhere, unzip it, and point the scenario at the folder: "
            f"--set data.path=/path/to/{sub}",
            f"or put {sub}.zip in {root} (it is checked against md5 {md5})"])
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            if member.startswith("/") or ".." in Path(member).parts:
                raise DataError(f"{archive}: unsafe path {member!r} in the archive")
        z.extractall(root)
    if detect_layout(target) is None:
        raise DataError(f"{archive}: unpacked, but {target} holds no {LAYOUTS[which]}")
    return target
