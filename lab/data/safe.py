"""Reading data files safely: one place that turns a damaged data file into a DataError naming it.

Every reader under :mod:`lab.data` reads its files inside :func:`data_file`::

    with data_file(path, "member x_train.npy of the MNIST archive"):
        x = archive["x_train"]

Whatever a missing, unreadable, truncated or corrupt file makes the reading raise (``OSError``,
``zipfile.BadZipFile``, ``zlib.error``, ``EOFError``, ``UnicodeDecodeError``, NumPy's ``ValueError``...)
becomes a :class:`~lab.errors.DataError` naming the file and the cause; the mapping is
:func:`lab.runs.reading`'s, the one the run files use, with ``DataError`` instead of ``RunError``.
DataErrors raised inside (a reader's own checks) pass through unchanged. Keep the block tight around
the reading: a ``ValueError`` of the reader's own code inside it would be reported as a corrupt file.

:func:`read_gzip` decompresses a ``.gz`` file chunk by chunk so that a corrupt or truncated stream is
reported with the compressed byte offset where it went wrong (and how much data came out before), and
a stream that inflates past ``limit`` bytes (a decompression bomb, or simply the wrong file) is refused
instead of filling the memory.
"""

from __future__ import annotations

import zlib
from contextlib import AbstractContextManager
from pathlib import Path

from lab.errors import DataError
from lab.runs import CORRUPT_FILE_ERRORS, describe_exception, reading

__all__ = ["CORRUPT_FILE_ERRORS", "data_file", "describe_exception", "read_gzip", "read_limited"]

CHUNK = 1 << 16


def data_file(path: str | Path, what: str, *, hint: str = "") -> AbstractContextManager:
    """A block reading ``path`` (a ``what``, e.g. "MNIST .npz archive"): corruption becomes a DataError
    ``PATH: corrupt WHAT (Type: message)`` (``PATH: missing WHAT``, ``PATH: cannot read WHAT (...)``),
    ``hint`` appended."""
    return reading(path, what, error=DataError, hint=hint)


def read_limited(path: str | Path, what: str, limit: int) -> bytes:
    """The bytes of a plain file of at most ``limit`` bytes (DataError naming the file otherwise)."""
    path = Path(path)
    with data_file(path, what):
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    if len(data) > limit:
        raise DataError(f"{path}: larger than the limit of {limit:,} bytes for {what}; is it the right file?")
    return data


def read_gzip(path: str | Path, what: str, limit: int) -> bytes:
    """The decompressed bytes of a gzip file (several gzip members are read one after another).

    A DataError names the file and the compressed byte offset when the stream is corrupt (bad deflate
    data, a CRC or length check that fails, a bad header) or ends before its end marker (truncated), and
    refuses a stream that decompresses to more than ``limit`` bytes.
    """
    path = Path(path)
    out = bytearray()
    offset = 0  # compressed bytes consumed so far
    with data_file(path, what):
        with open(path, "rb") as fh:
            inflater = zlib.decompressobj(wbits=31)
            started = False  # a gzip member is open (at least one byte of it was fed)
            pending = b""
            while True:
                chunk = pending or fh.read(CHUNK)
                pending = b""
                if not chunk:
                    break
                if not started and offset == 0 and chunk[:2] != b"\x1f\x8b":
                    raise DataError(f"{path}: not gzip data (byte 0 is 0x{chunk[0]:02x}, a gzip file starts "
                                    f"with 0x1f 0x8b); give the file a name without .gz if it is not "
                                    f"compressed")
                started = True
                before = inflater.copy()
                try:
                    out += inflater.decompress(chunk, limit + 1 - len(out))
                    while inflater.unconsumed_tail and len(out) <= limit:
                        out += inflater.decompress(inflater.unconsumed_tail, limit + 1 - len(out))
                except zlib.error as exc:
                    at = offset + _first_bad_byte(before, chunk)
                    raise DataError(f"{path}: corrupt gzip stream at compressed byte {at:,} ({exc}; "
                                    f"{len(out):,} bytes of {what} decompressed before the chunk that holds "
                                    f"it)") from None
                if len(out) > limit:
                    raise DataError(f"{path}: decompresses to more than the limit of {limit:,} bytes for "
                                    f"{what}; is it the right file?")
                if inflater.eof:
                    rest = inflater.unused_data
                    offset += len(chunk) - len(rest)
                    started = False
                    if rest.strip(b"\x00"):  # another gzip member follows (zero padding is allowed)
                        inflater = zlib.decompressobj(wbits=31)
                        pending = rest
                    continue
                offset += len(chunk)
    if started or not offset:
        raise DataError(f"{path}: truncated gzip stream: it ends at compressed byte {offset:,} before its "
                        f"end marker ({len(out):,} bytes of {what} decompressed)")
    return bytes(out)


def _first_bad_byte(inflater, chunk: bytes) -> int:
    """The index in ``chunk`` of the byte at which ``inflater`` (a copy taken before ``chunk``) fails: the
    shortest prefix of ``chunk`` that raises ``zlib.error``, found by bisection."""
    lo, hi = 0, len(chunk)  # chunk[:lo] decompresses, chunk[:hi] fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            inflater.copy().decompress(chunk[:mid])
        except zlib.error:
            hi = mid
        else:
            lo = mid
    return hi - 1
