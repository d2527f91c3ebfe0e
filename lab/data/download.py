"""Fetching a published file into the cache: streamed to a temporary name, md5-checked, then renamed.

The readers that can download their dataset (``lab.data.ratings`` for MovieLens, ``lab.data.cifar10``)
share these helpers:

- :func:`cache_dir`: the cache folder, ``~/.cache/lab/datasets/`` unless one is given (``data.cache``);
- :func:`fetch`: download ``url`` to ``<target>.part`` (a progress bar in MiB), hashing as it streams,
  and rename it to ``target`` only when its md5 is the published one, so the final name never holds a
  partial or wrong file. A network failure (offline, DNS, timeout, cut connection) is a
  :class:`~lab.errors.DataError` that says the machine may be offline and carries the caller's hints
  (how to point ``data.path`` at local files); the ``.part`` file is deleted whatever happens. A wrong
  md5 deletes the download, or with ``keep_bad=True`` moves it to ``<target>.bad`` for inspection;
- :func:`verify`: the md5 check of a file already in the cache (a wrong one is moved to ``<target>.bad``).

``urllib.request.urlopen`` is looked up when called, so tests patch it on ``urllib.request``.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from lab.errors import DataError
from lab.progress import Progress

CHUNK = 1 << 20  # bytes read, hashed and written at a time (one progress step)
NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, ssl.SSLError,
                  http.client.HTTPException)


def cache_dir(cache: str | Path | None = None) -> Path:
    """The download cache: ``cache`` if given, else ``~/.cache/lab/datasets``."""
    return Path(cache).expanduser() if cache else Path.home() / ".cache" / "lab" / "datasets"


def md5_of(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _reject(path: Path, got: str, md5: str, shown: Path, keep_bad: bool) -> None:
    """Delete ``path`` (or move it to ``<shown>.bad``) and raise: its md5 ``got`` is not ``md5``."""
    if keep_bad:
        bad = shown.with_name(shown.name + ".bad")
        path.replace(bad)
        raise DataError(f"{shown}: md5 {got} is not the published {md5}; moved it to {bad.name}; try again")
    path.unlink(missing_ok=True)
    raise DataError(f"{shown}: md5 {got} is not the published {md5}; deleted the partial download "
                    f"{path.name}; try again")


def verify(path: str | Path, md5: str, *, keep_bad: bool = True) -> Path:
    """``path`` if its md5 is ``md5``; otherwise it is moved to ``<path>.bad`` (or deleted) and a DataError
    raised."""
    path = Path(path)
    got = md5_of(path)
    if got != md5:
        _reject(path, got, md5, path, keep_bad)
    return path


def fetch(url: str, target: str | Path, md5: str, *, timeout: float = 30.0, hints: Sequence[str] = (),
          keep_bad: bool = False, quiet: bool = False) -> Path:
    """Download ``url`` to ``target`` through ``<target>.part``; the md5 must be ``md5`` before the rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    digest = hashlib.md5()
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as fh:
                size = (resp.headers.get("Content-Length") if getattr(resp, "headers", None) is not None
                        else None)
                total = math.ceil(int(size) / CHUNK) if size and size.isdigit() else None
                bar = Progress(total, desc=f"downloading {target.name}", unit="MiB", quiet=quiet)
                try:
                    while chunk := resp.read(CHUNK):
                        digest.update(chunk)
                        fh.write(chunk)
                        bar.update(1)
                finally:
                    bar.close()
        except NETWORK_ERRORS as exc:
            raise DataError(f"could not download {url} ({getattr(exc, 'reason', None) or exc}); this machine "
                            f"may be offline", list(hints)) from None
        except OSError as exc:
            raise DataError(f"could not write the download to {part}: {exc}") from None
        if digest.hexdigest() != md5:
            _reject(part, digest.hexdigest(), md5, target, keep_bad)
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)  # an error or an interruption leaves no partial file behind
    return target
