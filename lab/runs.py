"""Run folders: ``runs/<UTC time>-<name>/`` with the resolved scenario, env.json, metrics, checkpoints,
artifacts, summary.json and report.md. Every file is written atomically (temporary name, then rename),
and a run never overwrites another run's folder.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lab.errors import RunError

RUN_MARKER = "run.json"
SCENARIO_FILE = "scenario.yaml"


# --------------------------------------------------------------------------------------------------
# Atomic writes


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None):
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on failure removed.

    For writers that want a file name (``model.save``, ``savefig``). ``suffix`` keeps the extension the
    writer looks at (default: the target's own).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.exists(tmp):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj):
    for attr in ("item", "tolist"):
        if hasattr(obj, attr):
            return getattr(obj, attr)()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n")


def read_json(path: Path, what: str = "file") -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: missing {what}") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}:{exc.lineno}: corrupt {what}: {exc.msg}") from None


def load_run_model(path: Path):
    """A finished run's ``.keras`` model (uncompiled, safe mode); a RunError naming the file when it is
    damaged or not what `lab run` writes. The task's module must be imported first (its custom layers)."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # a damaged file: say which, not a traceback
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise RunError(f"{path}: cannot load the model ({type(exc).__name__}{': ' + first if first else ''}); "
                       "the file is damaged or not what `lab run` writes") from None


# --------------------------------------------------------------------------------------------------
# Names


def sanitise_name(name: str) -> str:
    """A folder-safe version of a run name: no separators, no leading dots, at most 80 characters."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:80]
    return clean or "run"


def utc_stamp(now: float | None = None) -> str:
    return datetime.fromtimestamp(now if now is not None else time.time(), tz=timezone.utc).strftime("%Y%m%d-%H%M%S")


# --------------------------------------------------------------------------------------------------
# Metrics


class MetricsCSV:
    """``metrics.csv``: one row per logged step; columns grow as new figures appear.

    Appends are cheap; when a new column appears the file is rewritten atomically with the wider header.
    On resume, :meth:`truncate_after` drops rows logged after the checkpoint being resumed from.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.columns: list[str] = []
        if self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), None)
            self.columns = list(header or [])

    def rows(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def _rewrite(self, rows: list[dict]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
        atomic_write_text(self.path, buf.getvalue())

    def log(self, row: dict[str, Any]) -> None:
        row = {k: _fmt(v) for k, v in row.items()}
        new = [k for k in row if k not in self.columns]
        if new or not self.path.exists():
            old = self.rows()
            self.columns += new
            self._rewrite(old + [row])
            return
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n").writerow(row)

    def truncate_after(self, step: int, key: str = "step") -> None:
        rows = [r for r in self.rows() if r.get(key, "") == "" or float(r[key]) <= step]
        if self.path.exists():
            self._rewrite(rows)


def _fmt(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


# --------------------------------------------------------------------------------------------------
# Run folders


class RunDir:
    """One run folder. Create it with :meth:`create`; open an existing one with :meth:`open`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # layout
    @property
    def scenario_path(self) -> Path:
        return self.path / SCENARIO_FILE

    @property
    def marker_path(self) -> Path:
        return self.path / RUN_MARKER

    @property
    def env_path(self) -> Path:
        return self.path / "env.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def report_path(self) -> Path:
        return self.path / "report.md"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def artifacts(self) -> Path:
        return self.path / "artifacts"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @classmethod
    def create(cls, out_dir: str | Path, name: str, task: str, now: float | None = None) -> RunDir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        base = f"{utc_stamp(now)}-{sanitise_name(name)}"
        for i in range(1000):
            candidate = out / (base if i == 0 else f"{base}-{i + 1}")
            try:
                candidate.mkdir()  # atomic: fails if another run took the name
            except FileExistsError:
                continue
            run = cls(candidate)
            # The sanitised name cannot escape `out`, but check anyway: no scenario writes elsewhere.
            if out.resolve() not in candidate.resolve().parents:
                raise RunError(f"run name {name!r} would leave the output folder {out}")
            for sub in (run.checkpoints, run.artifacts):
                sub.mkdir()
            run.write_marker(task=task, name=name, status="created")
            return run
        raise RunError(f"{out}: could not find a free run folder name for {base}")

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if not run.path.exists():
            raise RunError(f"{run.path}: no such run folder")
        if not run.path.is_dir():
            raise RunError(f"{run.path}: is a file, not a run folder")
        if not run.marker_path.exists() or not run.scenario_path.exists():
            raise RunError(
                f"{run.path}: not a run folder (a run folder made by `lab run` holds {RUN_MARKER} and {SCENARIO_FILE})"
            )
        return run

    # state
    def marker(self) -> dict:
        return read_json(self.marker_path, "run marker")

    def write_marker(self, **fields) -> None:
        data = self.marker() if self.marker_path.exists() else {}
        data.update(fields)
        data["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        data.setdefault("created", data["updated"])
        atomic_write_json(self.marker_path, data)

    @property
    def task(self) -> str:
        return self.marker().get("task", "")

    @property
    def status(self) -> str:
        return self.marker().get("status", "")

    def summary(self) -> dict:
        return read_json(self.summary_path, "summary") if self.summary_path.exists() else {}

    def require_task(self, *tasks: str, command: str = "this command") -> None:
        if self.task not in tasks:
            raise RunError(
                f"{self.path}: a {self.task or 'unknown'} run, but {command} needs a run of "
                f"{' or '.join(tasks)}"
            )

    def read_scenario(self) -> dict:
        import yaml

        try:
            data = yaml.safe_load(self.scenario_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RunError(f"{self.scenario_path}: corrupt resolved scenario: {exc}") from None
        if not isinstance(data, dict):
            raise RunError(f"{self.scenario_path}: corrupt resolved scenario (not a mapping)")
        return data

    def artifact(self, name: str) -> Path:
        """Path for an artifact file (the folder exists)."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        return self.artifacts / name

    def checkpoint(self, name: str) -> Path:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        return self.checkpoints / name


def find_runs(out_dir: str | Path = "runs") -> list[RunDir]:
    out = Path(out_dir)
    if not out.is_dir():
        return []
    return [RunDir(p) for p in sorted(out.iterdir()) if (p / RUN_MARKER).exists()]
