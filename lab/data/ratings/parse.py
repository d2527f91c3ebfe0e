"""A vectorised NumPy tokenizer for big numeric text files, and the DataErrors that name file and line.

Files are read in chunks of ``CHUNK_BYTES`` (each ending at a newline), so memory stays at the arrays
plus one chunk; no Python object is made per line. Tests shrink ``CHUNK_BYTES`` on *this* module to put
chunk boundaries in the middle of lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.data.safe import read_limited
from lab.errors import DataError

CHUNK_BYTES = 16 << 20
MAX_METADATA_BYTES = 256 * 2**20  # a titles or genres file (MovieLens 25M's movies.csv is 3 MB)


def _chunks(path: Path, chunk_bytes: int | None = None, start: int = 0, line0: int = 0):
    """Yield ``(bytes as uint8 array, number of lines before it)``, each chunk ending at a newline."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    rest = b""
    with open(path, "rb") as fh:
        fh.seek(start)
        while True:
            block = fh.read(chunk_bytes)
            if not block:
                break
            data = rest + block if rest else block
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            piece, rest = data[: cut + 1], data[cut + 1:]
            yield np.frombuffer(piece, np.uint8), line0
            line0 += piece.count(b"\n")
    if rest:
        yield np.frombuffer(rest + b"\n", np.uint8), line0


@dataclass
class _Tokens:
    value: np.ndarray  # int64: the digits of each number without its dot
    frac: np.ndarray  # digits after the dot
    bad: np.ndarray  # bool: more than one dot or no digit
    line: np.ndarray  # 0-based line (within the chunk) of each number
    n_lines: int
    line_start: np.ndarray
    line_end: np.ndarray  # exclusive, without a trailing '\r'
    bad_char_line: int  # first line holding a character that is neither a number nor a separator (-1: none)


def _tokenize(buf: np.ndarray, seps: bytes, allow_dot: bool) -> _Tokens:
    """Numbers (runs of digits, with one '.' when ``allow_dot``) of a chunk that ends with '\\n'."""
    digit = (buf >= 48) & (buf <= 57)
    num = digit | (buf == 46) if allow_dot else digit
    ok = num | (buf == 10) | (buf == 13)
    for s in seps:
        ok |= buf == s
    nl = np.flatnonzero(buf == 10)
    bad_chars = np.flatnonzero(~ok)
    bad_char_line = int(np.searchsorted(nl, bad_chars[0])) if len(bad_chars) else -1
    edge = np.diff(num.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edge == 1)
    lengths = np.flatnonzero(edge == -1) - starts
    del edge, digit, ok
    n = len(starts)
    value = np.zeros(n, np.int64)
    frac = np.zeros(n, np.int64)
    dots = np.zeros(n, np.int64)
    longest = int(lengths.max()) if n else 0
    if longest > 18:
        at = int(np.searchsorted(nl, starts[np.argmax(lengths)]))
        bad_char_line = at if bad_char_line < 0 else min(bad_char_line, at)
        longest = 18
    for j in range(longest):
        active = lengths > j
        ch = buf[np.minimum(starts + j, len(buf) - 1)].astype(np.int64)
        is_dot = active & (ch == 46)
        is_digit = active & ~is_dot
        value = np.where(is_digit, value * 10 + (ch - 48), value)
        frac += is_digit & (dots > 0)
        dots += is_dot
    line = np.searchsorted(nl, starts)
    line_start = np.concatenate(([0], nl[:-1] + 1))
    line_end = nl.copy()
    cr = (line_end > line_start) & (buf[np.maximum(line_end - 1, 0)] == 13)
    line_end[cr] -= 1
    bad = (dots > 1) | (lengths - dots == 0)
    return _Tokens(value, frac, bad, line, len(nl), line_start, line_end, bad_char_line)


def text_lines(path: Path, encoding: str, what: str) -> list[str]:
    """The lines of a small text file (a DataError naming the file, and the line of a byte that is not
    ``encoding``, when it cannot be read)."""
    raw = read_limited(path, what, MAX_METADATA_BYTES)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not {encoding.upper()} text (byte offset {exc.start:,} holds "
                        f"0x{raw[exc.start]:02x}); expected {what}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _line_text(path: Path, lineno: int, encoding: str = "latin-1") -> str:
    """The text of 1-based line ``lineno`` (for error messages)."""
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, 1):
            if i == lineno:
                text = raw.decode(encoding, errors="replace").rstrip("\r\n")
                return text if len(text) <= 80 else text[:77] + "..."
    return ""


def _malformed(path: Path, lineno: int, expected: str) -> DataError:
    return DataError(f"{path}:{lineno}: malformed line {_line_text(path, lineno)!r}: expected {expected}")


def _check_scale(path: Path, values: np.ndarray, lines: np.ndarray, scale) -> None:
    ok = np.isin(values, np.asarray(scale, np.float64))
    if not ok.all():
        j = int(np.argmin(ok))
        raise DataError(
            f"{path}:{int(lines[j])}: rating {values[j]:g} is outside the scale "
            f"({', '.join(f'{v:g}' for v in scale)})"
        )


def read_numeric_table(path: str | Path, n_fields: int, seps: bytes, expected: str, allow_dot: bool = False,
                       int_fields: tuple[int, ...] = (), skip_header: bool = False,
                       chunk_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a text file of ``n_fields`` numbers per line: returns (rows float64 (n, n_fields), 1-based lines).

    Blank lines are skipped; any other line without exactly ``n_fields`` numbers, with a character that
    is neither a digit nor a separator, or with a dot in an integer field raises a DataError naming the
    line. ``skip_header`` drops a first line that holds letters (a CSV header).
    """
    path = Path(path)
    start, line0 = 0, 0
    if skip_header:
        with open(path, "rb") as fh:
            first = fh.readline()
        if re.search(rb"[A-Za-z]", first):
            start, line0 = len(first), 1
    rows, lines = [], []
    for buf, before in _chunks(path, chunk_bytes, start, line0):
        tok = _tokenize(buf, seps, allow_dot)
        counts = np.bincount(tok.line, minlength=tok.n_lines)
        blank = (counts == 0) & (tok.line_end == tok.line_start)
        wrong = np.flatnonzero(~blank & (counts != n_fields))
        problems = [int(wrong[0])] if len(wrong) else []
        if tok.bad_char_line >= 0:
            problems.append(tok.bad_char_line)
        bad_tok = tok.bad.copy()
        if int_fields:
            field_of = np.arange(len(tok.value)) % n_fields if not len(wrong) else None
            if field_of is not None:
                bad_tok |= np.isin(field_of, int_fields) & (tok.frac > 0)
        if bad_tok.any():
            problems.append(int(tok.line[np.argmax(bad_tok)]))
        if problems:
            raise _malformed(path, before + min(problems) + 1, expected)
        vals = tok.value.astype(np.float64)
        if allow_dot and tok.frac.any():
            vals /= 10.0 ** tok.frac
        rows.append(vals.reshape(-1, n_fields))
        lines.append(before + tok.line[::n_fields] + 1)
    if not rows:
        return np.zeros((0, n_fields)), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(lines)
