"""CIFAR-10 from its own binary distribution: the batch files, the official tarball, or a download.

:func:`load_cifar10` takes the scenario's ``data.path`` (and ``data.download``, ``data.cache``):

- a folder holding the batch files (e.g. ``../shared/datasets/cifar10-subset`` from the lab's folder):
  ``data_batch_1.bin`` ... ``data_batch_5.bin``, ``test_batch.bin`` and ``batches.meta.txt``;
- a folder holding ``cifar-10-batches-bin/`` (what the official tarball extracts to), or holding the
  tarball ``cifar-10-binary.tar.gz`` itself;
- the tarball ``cifar-10-binary.tar.gz`` (any ``.tar``, ``.tar.gz`` or ``.tgz``): its members are read
  straight from the archive in one pass, nothing is extracted to disk; the batch files may sit anywhere
  in it (officially under ``cifar-10-batches-bin/``), each name once;
- ``None``: the official tarball in the cache (``data.cache``, default ``~/.cache/lab/datasets/``). With
  ``download=True`` and no tarball there yet, it is downloaded from
  ``https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz`` (162 MiB) to a ``.part`` name, its md5
  checked against the published ``c32a1d4ab5d03f1284b67883e8d87530``, then renamed (see
  :mod:`lab.data.download`). A tarball found in the cache is md5-checked on every load (~0.3 s).

**The format.** Each file is a run of 3,073-byte records: one label byte (0-9), then 3,072 pixel bytes,
1,024 red, 1,024 green, 1,024 blue, each plane row-major 32 x 32. Any number of records per file is
accepted (the official files hold 10,000 each; the offline subset 4,000 and 1,000). Whichever of
``data_batch_1.bin`` ... ``data_batch_5.bin`` are present are read, in order, and concatenated;
``test_batch.bin`` is the test split. ``batches.meta.txt`` holds the ten class names, one a line, label 0
first (the official file ends with blank lines); without it the standard names are used (they are fixed
by the dataset: ``CLASS_NAMES``).

**What you get.** :class:`Cifar10`: ``x_train`` uint8 (N, 32, 32, 3) in HWC order (what Keras' conv
layers expect with ``channels_last``), ``y_train`` int64 (N,), ``x_test``, ``y_test``, ``class_names``
and ``source``; ``limit(train, test)`` keeps the first images of each split. The arrays are writable
copies. The files are decoded with NumPy, no Python loop per record: ``frombuffer`` + ``reshape`` checks
every file, then each colour plane is copied into its channel of one preallocated array (the HWC
transpose, done plane by plane). Every file is checked before any is decoded.

**Checks, each a** :class:`~lab.errors.DataError` **that names the file (a tar member as
``member in archive``):**

- an empty file; a length that is not a whole number of 3,073-byte records (the message gives the byte
  offset where the cut-short record starts; a length that would fit CIFAR-100's 3,074-byte records is
  pointed out);
- a label byte outside 0-9 (the record index and its byte offset);
- no training batch, or no ``test_batch.bin`` (the folder or archive and the expected names);
- a ``batches.meta.txt`` that is not ten non-empty names (the line where it goes wrong);
- a path that does not exist, a file that is not a tar archive (a lone ``.bin`` file: give its folder),
  a corrupt or truncated archive, two members of one name in an archive;
- no path and no cached tarball without ``download``, and a failed download (offline): the message says
  how to point ``data.path`` at local files or to set ``data.download: true``;
- a wrong md5: a fresh download is deleted (nothing is left in the cache), a cached tarball is moved
  aside to ``cifar-10-binary.tar.gz.bad``.

:func:`write_cifar10_folder` and :func:`cifar_bytes` write the same format (for tests and conversions).
Relative paths are taken from the current folder. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.data.download import cache_dir, fetch, verify
from lab.errors import DataError

SIDE = 32
PLANE = SIDE * SIDE  # 1,024 bytes per colour plane
RECORD = 1 + 3 * PLANE  # 3,073 bytes: label, R plane, G plane, B plane
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
META_FILE = "batches.meta.txt"
FOLDER = "cifar-10-batches-bin"  # what the official tarball extracts to
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
ARCHIVE = "cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published on https://www.cs.toronto.edu/~kriz/cifar.html
HINT = [
    "point data.path at local CIFAR-10 files in the binary format: the folder holding data_batch_1.bin ... "
    "data_batch_5.bin and test_batch.bin (e.g. `--set data.path=../shared/datasets/cifar10-subset` from the "
    f"lab's folder), the folder holding {FOLDER}/, or {ARCHIVE} itself",
    f"or set data.download: true (`--set data.download=true`) on a machine with internet to fetch {ARCHIVE} "
    "(162 MiB) into the cache",
]


@dataclass
class Cifar10:
    """Colour images as uint8 (N, 32, 32, 3) in HWC order, int64 labels (N,), the class names, and the
    source."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def limit(self, train: int | None = None, test: int | None = None) -> Cifar10:
        """The first ``train`` training and ``test`` test images (None: all)."""
        return Cifar10(self.x_train[:train], self.y_train[:train], self.x_test[:test], self.y_test[:test],
                       self.class_names, self.source)

    def __repr__(self) -> str:
        return f"Cifar10({len(self.x_train)} train, {len(self.x_test)} test from {self.source})"


# --------------------------------------------------------------------------------------------------
# One batch file, the meta file


def parse_cifar(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The images (N, 32, 32, 3) uint8 and labels (N,) int64 of one batch file's bytes; ``source`` names
    it."""
    records = check_records(data, source)
    images = np.empty((len(records), SIDE, SIDE, 3), np.uint8)
    decode_into(records, images)
    return images, records[:, 0].astype(np.int64)


def check_records(data: bytes, source: str) -> np.ndarray:
    """One batch file's bytes as a (N, 3,073) uint8 view, once its length and its labels are checked."""
    size = len(data)
    if size == 0:
        raise DataError(f"{source}: empty file (0 bytes); a CIFAR-10 batch is a run of {RECORD:,}-byte "
                        f"records (1 label byte, {3 * PLANE:,} pixel bytes)")
    n, rest = divmod(size, RECORD)
    if rest:
        why = (f" (it is a whole number of {RECORD + 1:,}-byte records: CIFAR-100's binary format, with two "
               "label bytes, is not CIFAR-10)") if size % (RECORD + 1) == 0 else ""
        raise DataError(f"{source}: {size:,} bytes is not a whole number of {RECORD:,}-byte records: the "
                        f"record at byte offset {n * RECORD:,} (record {n:,}) is cut short, {rest:,} of "
                        f"{RECORD:,} bytes{why}")
    records = np.frombuffer(data, dtype=np.uint8).reshape(n, RECORD)
    labels = records[:, 0]
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{source}: label {labels[i]} in record {i:,} (byte offset {i * RECORD:,}) is not a "
                        f"class 0-9 ({bad.size:,} such record{'s' if bad.size > 1 else ''})")
    return records


def decode_into(records: np.ndarray, out: np.ndarray) -> None:
    """Write the pixels of (N, 3,073) records into ``out`` (N, 32, 32, 3): plane c becomes channel c.

    One contiguous plane at a time (about 4x faster than one transpose of the (N, 3, 32, 32) block).
    """
    n = len(records)
    for c in range(3):
        out[..., c] = records[:, 1 + c * PLANE: 1 + (c + 1) * PLANE].reshape(n, SIDE, SIDE)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file (``data_batch_N.bin``, ``test_batch.bin``): images (N, 32, 32, 3) and labels (N,)."""
    path = Path(path)
    return parse_cifar(_read_bytes(path), str(path))


def parse_meta(data: bytes, source: str) -> tuple[str, ...]:
    """The ten class names of ``batches.meta.txt`` (one a line, label 0 first; trailing blank lines
    allowed)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"{source}, line {line}: not UTF-8 text (byte offset {exc.start:,}); expected the "
                        f"ten class names, one a line") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    for i, name in enumerate(lines):
        if not name:
            raise DataError(f"{source}, line {i + 1}: an empty line among the class names; expected ten "
                            f"names, one a line, label 0 first")
    if len(lines) > len(CLASS_NAMES):
        raise DataError(f"{source}, line {len(CLASS_NAMES) + 1}: an 11th class name "
                        f"{lines[len(CLASS_NAMES)]!r}; CIFAR-10 has ten classes, one a line, label 0 first")
    if len(lines) < len(CLASS_NAMES):
        raise DataError(f"{source}, line {len(lines) + 1}: the file ends after {len(lines)} class name"
                        f"{'' if len(lines) == 1 else 's'}; CIFAR-10 has ten, one a line, label 0 first")
    return tuple(lines)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc}") from None


def _assemble(where: str, present: Collection[str], read: Callable[[str], bytes], name: Callable[[str], str],
              source: str) -> Cifar10:
    """The data set from the files ``present`` in ``where``; ``read`` gives a file's bytes, ``name`` its
    label."""
    train = [f for f in TRAIN_FILES if f in present]
    missing = []
    if not train:
        missing.append(f"a training batch ({', '.join(TRAIN_FILES)}: any of them)")
    if TEST_FILE not in present:
        missing.append(f"the test batch {TEST_FILE}")
    if missing:
        found = sorted(present)
        raise DataError(f"{where}: missing {' and '.join(missing)}; CIFAR-10's binary distribution has "
                        f"{', '.join(TRAIN_FILES)}, {TEST_FILE} and {META_FILE} "
                        f"(found: {', '.join(found) if found else 'none of them'})", HINT)
    parts = [check_records(read(f), name(f)) for f in train]  # every file checked before any is decoded
    test = check_records(read(TEST_FILE), name(TEST_FILE))
    classes = parse_meta(read(META_FILE), name(META_FILE)) if META_FILE in present else CLASS_NAMES
    x_train = np.empty((sum(len(p) for p in parts), SIDE, SIDE, 3), np.uint8)
    start = 0
    for p in parts:  # decoded straight into the one training array: no concatenation copy
        decode_into(p, x_train[start: start + len(p)])
        start += len(p)
    y_train = np.concatenate([p[:, 0] for p in parts]).astype(np.int64)
    x_test = np.empty((len(test), SIDE, SIDE, 3), np.uint8)
    decode_into(test, x_test)
    y_test = test[:, 0].astype(np.int64)
    return Cifar10(x_train, y_train, x_test, y_test, classes, source)


WANTED = (*TRAIN_FILES, TEST_FILE, META_FILE)


def read_cifar_folder(folder: str | Path) -> Cifar10:
    """The batch files in ``folder`` (whichever training batches are there, the test batch, the meta file)."""
    folder = Path(folder)
    present = [f for f in WANTED if (folder / f).is_file()]
    return _assemble(str(folder), present, lambda f: _read_bytes(folder / f), lambda f: str(folder / f),
                     f"CIFAR-10 batches in {folder}")


def read_cifar_tar(path: str | Path) -> Cifar10:
    """The batch files inside a tar archive (gzipped or not), read in one pass without extracting anything."""
    path = Path(path)
    members: dict[str, tuple[str, bytes]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for info in tar:
                base = info.name.rstrip("/").rsplit("/", 1)[-1]
                if not info.isfile() or base not in WANTED:
                    continue
                if base in members:
                    raise DataError(f"{path}: two members named {base} ({members[base][0]} and {info.name}); "
                                    f"expected one set of batch files, officially under {FOLDER}/")
                fh = tar.extractfile(info)
                members[base] = (info.name, fh.read() if fh is not None else b"")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file", HINT) from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path}: not a readable tar archive, or a corrupt or truncated one ({exc}); the "
                        f"official {ARCHIVE} is 162 MiB") from None
    return _assemble(str(path), members, lambda f: members[f][1], lambda f: f"{members[f][0]} in {path}",
                     f"{path}")


# --------------------------------------------------------------------------------------------------
# The official tarball in the cache


def download_cifar10(cache: str | Path | None = None, download: bool = True, timeout: float = 30.0) -> Path:
    """The official tarball in the cache, md5-checked; downloaded first when absent and ``download`` is
    true."""
    root = cache_dir(cache)
    archive = root / ARCHIVE
    if archive.is_file():
        return verify(archive, MD5, keep_bad=True)
    if not download:
        raise DataError(f"data.path is not set, data.download is false, and there is no {ARCHIVE} in {root}",
                        HINT)
    return fetch(URL, archive, MD5, timeout=timeout, hints=HINT)


def load_cifar10(path: str | Path | None = None, *, download: bool = False,
                 cache: str | Path | None = None) -> Cifar10:
    """CIFAR-10 from ``path`` (folder of batch files, folder holding them, or the tarball), or from the
    cache."""
    if path is None or str(path).strip() == "":
        return read_cifar_tar(download_cifar10(cache, download=download))
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"data.path {p}: no such file or folder (relative paths start at {Path.cwd()})", HINT)
    if p.is_file():
        if p.name.endswith((".tar", ".tar.gz", ".tgz")) or tarfile.is_tarfile(p):
            return read_cifar_tar(p)
        if p.name in WANTED:
            raise DataError(f"data.path {p}: a single CIFAR-10 file; give the folder holding it (with "
                            f"{TEST_FILE} and the training batches)", HINT)
        raise DataError(f"data.path {p}: not a tar archive; give the folder holding the batch files or "
                        f"{ARCHIVE}",
                        HINT)
    if any((p / f).is_file() for f in WANTED):
        return read_cifar_folder(p)
    if (p / FOLDER).is_dir():
        return read_cifar_folder(p / FOLDER)
    if (p / ARCHIVE).is_file():
        return read_cifar_tar(p / ARCHIVE)
    raise DataError(f"data.path {p}: no CIFAR-10 files in this folder; expected {', '.join(TRAIN_FILES)} "
                    f"(any of them) and {TEST_FILE} ({META_FILE} optional), or a {FOLDER}/ folder holding "
                    f"them, or {ARCHIVE}",
                    HINT)


# --------------------------------------------------------------------------------------------------
# Writers (for tests and conversions)


def cifar_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    """Images (N, 32, 32, 3) uint8 and labels 0-9 as one batch file's bytes (the inverse of
    :func:`parse_cifar`)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 4 or x.shape[1:] != (SIDE, SIDE, 3):
        raise ValueError(f"images must have shape (N, {SIDE}, {SIDE}, 3), not {x.shape}")
    if y.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), not {y.shape}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError("labels must be classes 0-9")
    records = np.empty((len(x), RECORD), np.uint8)
    records[:, 0] = y
    records[:, 1:] = x.astype(np.uint8, copy=False).transpose(0, 3, 1, 2).reshape(len(x), 3 * PLANE)
    return records.tobytes()


def write_cifar10_folder(folder: str | Path, data: Cifar10, n_train_files: int = 1) -> Path:
    """The official layout in ``folder``: the training images split over ``n_train_files`` batch files (1-5),
    ``test_batch.bin`` and ``batches.meta.txt``. Returns ``folder``."""
    if not 1 <= n_train_files <= len(TRAIN_FILES):
        raise ValueError(f"n_train_files must be 1-{len(TRAIN_FILES)}, not {n_train_files}")
    if len(data.x_train) < n_train_files:
        raise ValueError(f"{len(data.x_train)} training images cannot fill {n_train_files} batch files")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, idx in zip(TRAIN_FILES[:n_train_files],
                         np.array_split(np.arange(len(data.x_train)), n_train_files), strict=True):
        (folder / name).write_bytes(cifar_bytes(data.x_train[idx], data.y_train[idx]))
    (folder / TEST_FILE).write_bytes(cifar_bytes(data.x_test, data.y_test))
    (folder / META_FILE).write_text("".join(f"{n}\n" for n in data.class_names) + "\n", encoding="utf-8")
    return folder
