"""Atomic checkpoints: every part of one checkpoint becomes current at once, or not at all.

A checkpoint named ``vae`` lives in ``checkpoints/``::

    checkpoints/vae.json          the manifest: {"serial": 7, "folder": "vae-00007", "state": {...}, "parts": [...]}
    checkpoints/vae-00007/        the parts: model.keras, strips.npz, best.weights.h5, agent/, ...

:meth:`CheckpointStore.save` writes the parts into a hidden folder (``.vae-00008.tmp``), renames it to
``vae-00008`` when every part is written, then replaces the manifest (one atomic rename) and only then
removes the previous folder. A kill at any instant therefore leaves the manifest naming a whole
checkpoint: the old one until the manifest is replaced, the new one after. Whatever a kill left behind
(a half-written hidden folder, a finished folder the manifest never named, an old folder not yet
removed) is removed by the next :meth:`clean` (every :meth:`load` and :meth:`save` starts with one).

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
from lab.runs import atomic_write_json, read_json

Writer = Callable[[Path], None]


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
        """``(state, {part name: path})`` of the current checkpoint, or None when there is none.

        A manifest that is not what :meth:`save` writes, or that names a part that is missing, is a
        :class:`RunError` naming the file: the run cannot be resumed from it.
        """
        if not self.manifest.exists():
            return None
        self.clean()
        data = read_json(self.manifest, "checkpoint manifest")
        if (not isinstance(data, dict) or not isinstance(data.get("state"), dict)
                or not isinstance(data.get("parts"), list) or not isinstance(data.get("folder"), str)
                or not self._pattern.match(data["folder"]) or not isinstance(data.get("serial"), int)):
            raise RunError(f"{self.manifest}: corrupt checkpoint manifest (not the mapping `lab run` writes)")
        folder = self.folder / data["folder"]
        parts = {}
        for part in data["parts"]:
            path = folder / str(part)
            if not isinstance(part, str) or "/" in part or not path.exists():
                raise RunError(f"{path}: part {part!r} of the checkpoint named by {self.manifest} is missing; "
                               "this run cannot be resumed (start it again)")
            parts[part] = path
        return data["state"], parts

    def _current(self) -> tuple[int, str | None]:
        try:
            data = read_json(self.manifest, "checkpoint manifest")
        except RunError:
            return 0, None
        if isinstance(data, dict) and isinstance(data.get("serial"), int) and isinstance(data.get("folder"), str):
            return data["serial"], data["folder"]
        return 0, None

    # writing --------------------------------------------------------------------------------------
    def save(self, state: dict, parts: dict[str, Writer | Path]) -> dict[str, Path]:
        """Write a new checkpoint of ``parts`` (name -> writer called with the path to write, or an
        existing file to keep) and ``state`` (JSON), make it current, remove the previous one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.clean()
        serial, old = self._current()
        serial += 1
        final = self.folder / f"{self.name}-{serial:05d}"
        tmp = self.folder / f".{final.name}.tmp"
        tmp.mkdir()
        try:
            for part, write in parts.items():
                if "/" in part or part.startswith("."):
                    raise ValueError(f"checkpoint part names are plain file names (got {part!r})")
                target = tmp / part
                if isinstance(write, Path):
                    _link_or_copy(write, target)
                else:
                    write(target)
            os.replace(tmp, final)
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
        _, current = self._current()
        for entry in self.folder.iterdir():
            if self._pattern.match(entry.name) and entry.name != current:
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


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
