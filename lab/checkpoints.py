"""Atomic checkpoints: every part of one checkpoint becomes current at once, or not at all.

A checkpoint named ``vae`` lives in ``checkpoints/``::

    checkpoints/vae.json    the manifest: {"serial": 7, "folder": "vae-00007", "state": {...}, "parts": [...]}
    checkpoints/vae-00007/  the parts: model.keras, strips.npz, best.weights.h5, agent/, ...

:meth:`CheckpointStore.save` writes the parts into a hidden folder (``.vae-00008.tmp``), renames it to
``vae-00008`` when every part is written, then replaces the manifest (one atomic rename) and only then
removes the previous folder. A kill at any instant therefore leaves the manifest naming a whole
checkpoint: the old one until the manifest is replaced, the new one after. The parts and the folder
are flushed to disk (fsync) before the manifest names them, so a power cut cannot leave a manifest
naming parts the disk never received. Whatever a kill left behind (a half-written hidden folder, a
finished folder the manifest never named, an old folder not yet removed, a manifest write cut short)
is removed by the next :meth:`clean` (every :meth:`save` starts with one; so does taking the run's
lock, :meth:`lab.runs.RunDir.lock`, for hidden temporaries). :meth:`load` only reads: a command that
looks at a run still training (``lab sample``, ``lab watch``) must never remove the folder its trainer
is writing or is about to name. A manifest
that cannot be read makes :meth:`clean` keep every finished folder (only hidden temporaries go), so
nothing is lost to a damaged manifest that someone may still repair by hand.

A part that has not changed since the last checkpoint (say the best weights of early stopping) can be
given as the :class:`~pathlib.Path` of its current file: it is hard-linked into the new folder instead
of being written again.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from lab.errors import RunError
from lab.runs import atomic_write_json, read_json, writing

Writer = Callable[[Path], None]

NOT_RESUMABLE = "this run cannot be resumed (start it again)"
_PART_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # a plain file name, never hidden, never '..'
_SERIAL_FOLDER = re.compile(r"^[A-Za-z0-9_]+-\d{5}$")


class CheckpointStore:
    """The checkpoints called ``name`` in ``folder`` (a run's ``checkpoints/``)."""

    def __init__(self, folder: str | Path, name: str):
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise ValueError(f"checkpoint names are letters, digits and '_' (got {name!r})")
        self.folder = Path(folder)
        self.name = name
        self.manifest = self.folder / f"{name}.json"
        self._pattern = re.compile(rf"^\.?{re.escape(name)}-(\d{{5}})(\.tmp)?$")

    # reading --------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.manifest.exists()

    def load(self) -> tuple[dict, dict[str, Path]] | None:
        """``(state, {part name: path})`` of the current checkpoint, or None when there is none (reads only).

        A manifest that is not what :meth:`save` writes, or that names a part that is missing, is a
        :class:`RunError` naming the file: the run cannot be resumed from it.
        """
        if not self.manifest.exists():
            return None
        data = read_json(self.manifest, "checkpoint manifest", dict, hint=NOT_RESUMABLE)
        if (not isinstance(data.get("state"), dict) or not isinstance(data.get("parts"), list)
                or not isinstance(data.get("folder"), str) or not _SERIAL_FOLDER.match(data["folder"])
                or data["folder"].startswith(".") or not self._pattern.match(data["folder"])
                or type(data.get("serial")) is not int
                or not all(isinstance(p, str) and _PART_NAME.match(p) for p in data["parts"])):
            raise RunError(f"{self.manifest}: corrupt checkpoint manifest (not the mapping `lab run` "
                           f"writes); "
                           + NOT_RESUMABLE)
        folder = self.folder / data["folder"]
        parts = {}
        for part in data["parts"]:
            path = folder / part
            if not path.exists():
                raise RunError(f"{path}: part {part!r} of the checkpoint named by {self.manifest} is "
                               f"missing; "
                               + NOT_RESUMABLE)
            parts[part] = path
        return data["state"], parts

    def _current(self) -> tuple[int, str | None, bool]:
        """``(serial, folder, readable)`` of the manifest: ``(0, None, True)`` when there is none,
        ``(0, None, False)`` when it cannot be read."""
        if not self.manifest.exists():
            return 0, None, True
        try:
            data = read_json(self.manifest, "checkpoint manifest")
        except RunError:
            return 0, None, False
        if isinstance(data, dict) and type(data.get("serial")) is int and isinstance(data.get("folder"), str):
            return data["serial"], data["folder"], True
        return 0, None, False

    def _serials(self) -> list[int]:
        """Serials of the folders of this store on disk (finished or not)."""
        if not self.folder.is_dir():
            return []
        return [int(m.group(1)) for e in self.folder.iterdir() if (m := self._pattern.match(e.name))]

    # writing --------------------------------------------------------------------------------------
    def save(self, state: dict, parts: dict[str, Writer | Path]) -> dict[str, Path]:
        """Write a new checkpoint of ``parts`` (name -> writer called with the path to write, or an
        existing file to keep) and ``state`` (JSON), make it current, remove the previous one. An OSError
        (a full disk...) is a RunError naming the checkpoint; the previous checkpoint stays current."""
        with writing(self.folder / self.name, "checkpoint"):
            return self._save(state, parts)

    def _save(self, state: dict, parts: dict[str, Writer | Path]) -> dict[str, Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.clean()
        serial, old, _ = self._current()
        serial = max([serial, *self._serials()]) + 1  # never onto a folder that is there (a damaged manifest)
        final = self.folder / f"{self.name}-{serial:05d}"
        tmp = self.folder / f".{final.name}.tmp"
        tmp.mkdir()
        try:
            for part, write in parts.items():
                if not _PART_NAME.match(part):
                    raise ValueError(f"checkpoint part names are plain file names (got {part!r})")
                target = tmp / part
                if isinstance(write, Path):
                    _link_or_copy(write, target)
                else:
                    write(target)
            _fsync_tree(tmp)
            os.replace(tmp, final)
            _fsync_dir(self.folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        atomic_write_json(self.manifest, {"serial": serial, "folder": final.name, "state": state,
                                          "parts": sorted(parts)})
        if old and old != final.name:
            _remove(self.folder / old)
        return {part: final / part for part in parts}

    def clean(self) -> None:
        """Remove what a kill left behind: hidden temporary folders and folders the manifest does not name."""
        if not self.folder.is_dir():
            return
        _, current, readable = self._current()
        for entry in self.folder.iterdir():
            if self._pattern.match(entry.name) and entry.name != current:
                if readable or entry.name.startswith("."):  # a damaged manifest: keep the finished folders
                    _remove(entry)
            elif entry.name.startswith(f".{self.manifest.name}."):  # a manifest write cut short
                _remove(entry)


def _link_or_copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder`` and the folders themselves (best effort: not every file system
    can)."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            _fsync_path(Path(root) / name, os.O_RDONLY)
        _fsync_dir(Path(root))


def _fsync_dir(folder: Path) -> None:
    _fsync_path(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _fsync_path(path: Path, flags: int) -> None:
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
