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
import shutil
import struct
import tempfile
import time
import tokenize
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lab import scenario
from lab.errors import LabError, RunError, ScenarioError
from lab.lock import acquire_lock

RUN_MARKER = "run.json"
SCENARIO_FILE = "scenario.yaml"
LOCK_NAME = ".lock"  # lab.lock.LOCK_FILE

# What a killed writer leaves: atomic_path's mkstemp files (".<name>.<8 of [a-z0-9_]>[.<ext>]"), mkdtemp
# folders of the same shape, and hidden ".<name>.tmp" / ".<name>.old" folders (checkpoints, saved agents).
_LEFTOVER = re.compile(r"^\..+\.(?:[a-z0-9_]{8}(?:\.[A-Za-z0-9]+)?|tmp|old)$")


# --------------------------------------------------------------------------------------------------
# Atomic writes


@contextlib.contextmanager
def writing(path: str | Path, what: str = "file", *, error: type[LabError] = RunError):
    """Write ``path`` inside this block: an OSError (a full disk, no permission, a read-only file system, a
    file where a folder should be) becomes ``error`` naming the path and the cause, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise error(f"{path}: cannot write the {what} ({_os_reason(exc)})") from None


def _os_reason(exc: OSError) -> str:
    if exc.strerror:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != "" else ""
        return f"{type(exc).__name__}: {exc.strerror}{where}"
    return describe_exception(exc)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None):
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on failure removed.

    For writers that want a file name (``model.save``, ``savefig``). ``suffix`` keeps the extension the
    writer looks at (default: the target's own). An OSError while writing (a full disk, no permission...)
    becomes a :class:`RunError` naming ``path`` and the cause; the old file, if any, stays.
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.",
                                   suffix=suffix if suffix is not None else path.suffix, dir=path.parent)
        os.close(fd)
    try:
        with writing(path):
            yield Path(tmp)
            if os.path.exists(tmp):
                os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
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


# --------------------------------------------------------------------------------------------------
# Reading run files (and data files): corruption is a LabError naming the file, never a traceback

# What reading a damaged file raises: the OS (a folder where a file should be, an unreadable file),
# truncated zips (.npz, .keras), broken deflate streams (.gz, compressed npz members), JSON, and the
# ValueError / KeyError / TypeError that NumPy and Keras raise on a file that is not what they expect.
CORRUPT_FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error, json.JSONDecodeError, UnicodeDecodeError,
    ValueError, KeyError, TypeError, IndexError,
    # numpy parses an .npy header with ast/tokenize (a damaged header: SyntaxError, TokenError); zipfile
    # meets a damaged version or compression field with NotImplementedError; a damaged shape can ask for
    # more memory than there is (found by tests/test_fuzz.py)
    SyntaxError, tokenize.TokenError, NotImplementedError, MemoryError, OverflowError,
)

# Loading a damaged .keras file raises whatever Keras, zipfile or h5py meets first (ValueError "File not
# found" for a truncated zip, BadZipFile for a bad CRC, OSError from h5py, TypeError/KeyError from a
# mangled config...): a file `lab run` wrote that will not load is damaged, whatever the type.
KERAS_LOAD_ERRORS: tuple[type[BaseException], ...] = (Exception,)

MAX_JSON_BYTES = 64 * 2**20  # a run's JSON files are small: a bigger one is not what `lab run` wrote


def describe_exception(exc: BaseException) -> str:
    """``TypeName: first line of the message`` (just the type name when the message is empty)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, KeyError) and exc.args:
        first = f"no {exc.args[0]!r}"
    if len(first) > 200:
        first = first[:200] + "..."
    name = type(exc).__name__
    if name == "error":  # zlib.error, struct.error...: say whose
        name = f"{type(exc).__module__}.error"
    return f"{name}: {first}" if first else name


@contextlib.contextmanager
def reading(path: str | Path, what: str, *, error: type[LabError] = RunError, hint: str = "",
            catch: tuple[type[BaseException], ...] = CORRUPT_FILE_ERRORS):
    """Read ``path`` (a ``what``: "summary", "checkpoint manifest", "replay buffer"...) inside this block;
    whatever a damaged, missing or unreadable file makes the reader raise becomes ``error`` (a LabError:
    RunError by default, DataError for data files) naming the file and the cause, ``hint`` appended::

        with reading(path, "replay buffer", hint="this run cannot be resumed (start it again)"):
            with np.load(path, allow_pickle=False) as data:
                ...

    Messages: ``PATH: missing WHAT``, ``PATH: cannot read WHAT (PermissionError: ...)`` for the other
    OS errors, ``PATH:LINE: corrupt WHAT (json message)``, else ``PATH: corrupt WHAT (Type: message)``.
    LabErrors raised inside (a reader's own checks) pass through unchanged.
    """
    tail = f"; {hint}" if hint else ""
    try:
        yield
    except LabError:
        raise
    except FileNotFoundError:
        raise error(f"{path}: missing {what}{tail}") from None
    except json.JSONDecodeError as exc:  # (a ValueError: before the generic case)
        raise error(f"{path}:{exc.lineno}: corrupt {what} ({exc.msg}){tail}") from None
    except OSError as exc:
        if isinstance(exc, zipfile.BadZipFile) or exc.errno is None:  # (gzip.BadGzipFile is an OSError too)
            raise error(f"{path}: corrupt {what} ({describe_exception(exc)}){tail}") from None
        reason = exc.strerror or describe_exception(exc)
        raise error(f"{path}: cannot read {what} ({type(exc).__name__}: {reason}){tail}") from None
    except catch as exc:
        raise error(f"{path}: corrupt {what} ({describe_exception(exc)}){tail}") from None


def read_json(path: str | Path, what: str = "file", expect: type | tuple[type, ...] | None = None, *,
              error: type[LabError] = RunError, hint: str = "") -> Any:
    """The JSON value of ``path``; ``error`` (a RunError by default) naming the file when it is missing,
    unreadable, not JSON, larger than :data:`MAX_JSON_BYTES` or (with ``expect``, e.g. ``dict``) of
    another JSON type."""
    path = Path(path)
    with reading(path, what, error=error, hint=hint):
        with open(path, "rb") as fh:
            raw = fh.read(MAX_JSON_BYTES + 1)
        if len(raw) > MAX_JSON_BYTES:
            raise error(f"{path}: corrupt {what} (larger than {MAX_JSON_BYTES // 2**20} MiB)" +
                        (f"; {hint}" if hint else ""))
        data = json.loads(raw.decode("utf-8"))
    if expect is not None and not isinstance(data, expect):
        want = " or ".join(_JSON_NAMES.get(t, t.__name__)
                           for t in (expect if isinstance(expect, tuple) else (expect,)))
        raise error(f"{path}: corrupt {what} (a JSON {_json_type(data)}, not {want})" +
                    (f"; {hint}" if hint else ""))
    return data


_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
               bool: "true/false"}


def _json_type(value) -> str:
    if value is None:
        return "null"
    for t, name in (("bool", bool), ("object", dict), ("list", list), ("string", str),
                    ("number", (int, float))):
        if isinstance(value, name):
            return t
    return type(value).__name__


def load_run_model(path: Path):
    """A finished run's ``.keras`` model (uncompiled, safe mode); a RunError naming the file when it is
    damaged or not what `lab run` writes. The task's module must be imported first (its custom layers)."""
    import keras

    with reading(path, "model",
                 hint="cannot load the model: the file is damaged or not what `lab run` writes",
                 catch=KERAS_LOAD_ERRORS):
        return keras.saving.load_model(path, compile=False, safe_mode=True)


# --------------------------------------------------------------------------------------------------
# Names


def sanitise_name(name: str) -> str:
    """A folder-safe version of a run name: no separators, no leading dots, at most 80 characters."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:80]
    return clean or "run"


def utc_stamp(now: float | None = None) -> str:
    return datetime.fromtimestamp(now if now is not None else time.time(),
                                  tz=timezone.utc).strftime("%Y%m%d-%H%M%S")


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
            with self._reading():
                with open(self.path, newline="", encoding="utf-8") as fh:
                    header = next(csv.reader(fh), None)
            self.columns = list(header or [])

    def _reading(self):
        return reading(self.path, "metrics file", catch=CORRUPT_FILE_ERRORS + (csv.Error,),
                       hint="remove it or start the run again")

    def rows(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self._reading():
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
            csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore",
                           lineterminator="\n").writerow(row)

    def truncate_after(self, step: int, key: str = "step") -> None:
        with self._reading():
            rows = [r for r in self.rows() if not r.get(key) or float(r[key]) <= step]
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
    def create(cls, out_dir: str | Path, name: str, task: str, now: float | None = None,
               folder: str | None = None) -> RunDir:
        """A new run folder ``<out_dir>/<UTC time>-<name>`` (``-2``, ``-3`` ... if taken), or exactly
        ``<out_dir>/<folder>`` when ``folder`` is given (a RunError if that exists)."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise RunError(f"{out}: the output folder is a file, not a folder; give another --out (or "
                           f"output:)")
        with writing(out, "output folder"):
            out.mkdir(parents=True, exist_ok=True)
        base = sanitise_name(folder) if folder else f"{utc_stamp(now)}-{sanitise_name(name)}"
        for i in range(1000):
            candidate = out / (base if i == 0 else f"{base}-{i + 1}")
            try:
                candidate.mkdir()  # atomic: fails if another run took the name
            except FileExistsError:
                if folder:
                    raise RunError(f"{candidate}: this run folder exists already") from None
                continue
            except OSError as exc:
                raise RunError(f"{out}: cannot create a run folder in the output folder ({_os_reason(exc)}); "
                               "give another --out (or output:)") from None
            run = cls(candidate)
            # The sanitised name cannot escape `out`, but check anyway: no scenario writes elsewhere.
            if out.resolve() not in candidate.resolve().parents:
                raise RunError(f"run name {name!r} would leave the output folder {out}")
            with writing(candidate, "run folder"):
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
        if (run.path / "sweep.json").exists():
            raise RunError(f"{run.path}: a sweep folder, not a run: its report is {run.path / 'report.md'}; "
                           f"`lab compare {run.path}` sets its trials side by side, `lab show "
                           f"{run.path / 'trial-000'}` shows one")
        if not run.marker_path.exists() or not run.scenario_path.exists():
            raise RunError(
                f"{run.path}: not a run folder (a run folder made by `lab run` holds {RUN_MARKER} and "
                f"{SCENARIO_FILE})"
            )
        return run

    # the lock
    def lock(self):
        """Lock this run folder for this process: a :class:`lab.lock.RunLock`, released by ``with`` (or its
        ``release()``) and by the OS when the process dies; RunError naming the process that holds it.
        Once locked, the temporaries a killed process left behind are removed (:meth:`remove_leftovers`)."""
        lock = acquire_lock(self.path)
        try:
            self.remove_leftovers()
        except BaseException:
            lock.release()
            raise
        return lock

    # state
    def marker(self) -> dict:
        return read_json(self.marker_path, "run marker", dict)

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
        return read_json(self.summary_path, "summary", dict) if self.summary_path.exists() else {}

    def require_task(self, *tasks: str, command: str = "this command") -> None:
        if self.task not in tasks:
            raise RunError(
                f"{self.path}: a {self.task or 'unknown'} run, but {command} needs a run of "
                f"{' or '.join(tasks)}"
            )

    def read_scenario(self) -> dict:
        """The resolved scenario (a mapping), read like any scenario: size-limited, a regular file, YAML with
        bounded aliases (:func:`lab.scenario.read_text_limited`, :func:`lab.scenario.load_yaml`); a RunError
        naming the file otherwise."""
        path = self.scenario_path
        try:
            text = scenario.read_text_limited(path, scenario.SCENARIO_MAX_BYTES, "resolved scenario",
                                              error=RunError)
            data, _ = scenario.load_yaml(text, str(path))
        except ScenarioError as exc:
            raise RunError(f"corrupt resolved scenario: {exc}" if not str(exc).startswith(str(path)) else
                           str(exc).replace(": not valid YAML", ": corrupt resolved scenario, not valid YAML",
                                            1)) from None
        if not isinstance(data, dict):
            raise RunError(f"{path}: corrupt resolved scenario (not a mapping)")
        return data

    def artifact(self, name: str) -> Path:
        """Path for an artifact file (the folder exists)."""
        with writing(self.artifacts, "artifacts folder"):
            self.artifacts.mkdir(parents=True, exist_ok=True)
        return self.artifacts / name

    def checkpoint(self, name: str) -> Path:
        with writing(self.checkpoints, "checkpoints folder"):
            self.checkpoints.mkdir(parents=True, exist_ok=True)
        return self.checkpoints / name

    def remove_leftovers(self) -> list[Path]:
        """Remove the temporaries a killed process left in the run folder, checkpoints/ (any depth) and
        artifacts/: files and folders of :func:`atomic_path` (``.<name>.<8 random characters>[.ext]``),
        hidden ``.<name>.tmp`` / ``.<name>.old`` folders (a checkpoint or saved agent being written or
        replaced). Only safe while holding the run's lock (:meth:`lock` calls it): then no live process
        is writing them. Returns what was removed."""
        removed = []
        places = [self.path, self.artifacts]
        if self.checkpoints.is_dir():
            places += [self.checkpoints] + [Path(root) for root, _, _ in os.walk(self.checkpoints)][1:]
        for folder in places:
            if not folder.is_dir():
                continue
            for entry in list(folder.iterdir()):
                if _LEFTOVER.match(entry.name) and entry.name != LOCK_NAME:
                    with contextlib.suppress(OSError):
                        if entry.is_dir() and not entry.is_symlink():
                            shutil.rmtree(entry)
                        else:
                            entry.unlink()
                        removed.append(entry)
        return removed


def find_runs(out_dir: str | Path = "runs") -> list[RunDir]:
    """The run folders directly under ``out_dir`` (those holding a run.json, readable or not), by name."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    with reading(out, "runs folder"):
        entries = sorted(out.iterdir())
    return [RunDir(p) for p in entries if (p / RUN_MARKER).exists()]
