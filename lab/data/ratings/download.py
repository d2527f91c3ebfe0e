"""Downloading MovieLens 100K and 1M into a cache folder (md5-checked, unpacked safely)."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from lab.data.ratings.layout import LAYOUTS, detect_layout
from lab.errors import DataError

DOWNLOADS = {
    "movielens-100k": ("https://files.grouplens.org/datasets/movielens/ml-100k.zip", "0e33842e24a9c977be4e0107933c0723",
                       "ml-100k"),
    "movielens-1m": ("https://files.grouplens.org/datasets/movielens/ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906",
                     "ml-1m"),
}


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
