"""The run lock: one process at a time works on a run folder.

``RUN/.lock`` is locked with ``fcntl.flock`` (exclusive, non-blocking) by the process that runs or
resumes the run, and holds who that is: ``{"pid": ..., "host": ..., "started": ...}``. A second process
that tries to take it gets a :class:`~lab.errors.RunError` naming the holder::

    with run.lock():            # RunDir.lock(), or acquire_lock(run.path) ... release()
        ...train...

The lock belongs to the open file, not to the file on disk: the operating system releases it when the
process exits in any way (normal exit, exception, SIGKILL, crash). A ``.lock`` file left behind by a
dead process therefore locks nothing; the next process takes the lock at once and writes its own pid
over the dead one's (nothing needs to notice the process is gone, and no pid is ever guessed alive).
The file itself is never removed (removing a flock'd file lets two processes lock two different files);
on release it is emptied.

Locks are per open file: the same process locking one run twice also gets the error. A ``fork``ed child
shares its parent's lock; ``subprocess`` children do not (the descriptor is not inherited).
Where ``fcntl`` does not exist (Windows), runs are not locked.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from lab.errors import RunError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_FILE = ".lock"


class RunLock:
    """A held lock on a run folder (from :func:`acquire_lock`); :meth:`release` it, or use it in ``with``."""

    def __init__(self, folder: Path, fd: int | None, holder: dict):
        self.folder = folder
        self.path = folder / LOCK_FILE
        self.holder = holder
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (idempotent). The file stays, emptied."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor of the open file releases the flock

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self):  # a lock dropped without release(): the OS would free it at exit anyway
        with contextlib.suppress(Exception):
            self.release()


def acquire_lock(folder: str | Path) -> RunLock:
    """Lock the run folder ``folder`` for this process, or raise RunError naming the process that holds it."""
    folder = Path(folder)
    path = folder / LOCK_FILE
    holder = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if fcntl is None:  # pragma: no cover - Windows
        return RunLock(folder, None, holder)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunError(f"{path}: cannot create the run's lock file ({type(exc).__name__}: "
                       f"{exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = _read_holder(fd)
        os.close(fd)
        raise RunError(f"{folder} is in use by {describe_holder(other)}; wait for it or stop it") from None
    except OSError as exc:  # a file system without locks: say so rather than run unlocked in silence
        os.close(fd)
        raise RunError(f"{path}: cannot lock the run folder ({type(exc).__name__}: "
                       f"{exc.strerror or exc})") from None
    try:
        data = (json.dumps(holder) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
    except OSError:
        pass  # the lock is held all the same; only the message of a second process will be vaguer
    return RunLock(folder, fd, holder)


@contextlib.contextmanager
def locked(folder: str | Path):
    """``with locked(run.path):`` the folder is this process's until the block ends (see
    :func:`acquire_lock`)."""
    lock = acquire_lock(folder)
    try:
        yield lock
    finally:
        lock.release()


def lock_holder(folder: str | Path) -> dict | None:
    """Who holds the lock of ``folder`` now (``{"pid", "host", "started"}``, possibly empty when it could not
    be read), or None when nobody does. Takes nothing: a probe for commands that only want to warn."""
    path = Path(folder) / LOCK_FILE
    if fcntl is None or not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe_holder(holder: dict) -> str:
    pid, host, started = holder.get("pid"), holder.get("host"), holder.get("started")
    if not isinstance(pid, int):
        return "another process"
    text = f"process {pid}"
    if isinstance(host, str) and host and host != socket.gethostname():
        text += f" on {host}"
    if isinstance(started, str) and started:
        text += f" (started {started})"
    return text
