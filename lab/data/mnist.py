"""MNIST digits from wherever they are: Keras' download cache, a local ``mnist.npz``, or the raw IDX files.

:func:`load_mnist` takes the scenario's ``data.path``:

- ``None``: ``keras.datasets.mnist.load_data()`` (downloads once into ``~/.keras/datasets/``, then reads
  the cache). Without internet and without a cache it raises a :class:`~lab.errors.DataError` that says
  how to point ``data.path`` at local files.
- a ``.npz`` file in Keras' layout (``x_train`` (N, 28, 28) uint8, ``y_train`` (N,), ``x_test``,
  ``y_test``), e.g. ``../shared/datasets/mnist10k.npz``;
- a folder holding ``mnist.npz``, or the four IDX files of LeCun's distribution
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``; each may end in ``.gz``; ``.idx3-ubyte`` spellings are accepted too).

IDX files are checked as they are read: the magic number (``0x00000803`` for images, ``0x00000801``
for labels), the dimensions (28 x 28 images), the size the header promises against the size of the file,
labels in 0-9, and as many images as labels. Every problem is a ``DataError`` that names the file and the
byte offset. A ``.gz`` whose stream is corrupt or cut short names the compressed byte where it goes wrong
(:func:`lab.data.safe.read_gzip`); a file (decompressed) over 1 GiB is refused.

An ``.npz`` is read member by member: a corrupt member (bad CRC, broken deflate data) is a DataError
naming the file and the member. Pixels stored as another dtype than uint8 are taken when they are whole
numbers 0-255, **scaled when they are floats all within [0, 1]** (``x * 255``, rounded; the reader says
so in ``Mnist.notes``, which the runners log), and refused otherwise (values outside 0-255, NaN or
infinity: the message gives the minimum and maximum found).

Whatever the source, a data set with no training or no test digit is a DataError giving both counts
(not an error deep inside training later), and so are training digits that are all blank (every pixel
one value: nothing to learn).

Relative paths are taken from the current folder. Nothing here imports TensorFlow unless a download is
needed. :class:`MnistDataConfig` is the ``data:`` section of the scenarios that read MNIST;
:func:`load_digits` reads what it names and :func:`flat` turns the images into the float pixels the
models take.
"""

from __future__ import annotations

import gzip
import io
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from lab.data.safe import CORRUPT_FILE_ERRORS, data_file, describe_exception, read_gzip, read_limited
from lab.errors import DataError
from lab.schema import Section

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
ROWS = COLS = 28
SPLITS = {"train": "train", "test": "t10k"}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_IDX_BYTES = 2**30  # one IDX file, decompressed (MNIST's training images are 47 MB, EMNIST's 0.6 GB)
HINT = (
    "point data.path at local MNIST files: a Keras-layout mnist.npz (e.g. `--set "
    "data.path=../shared/datasets/mnist10k.npz` from the lab's folder), or a folder with "
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte "
    "(each may be .gz)"
)


@dataclass
class Mnist:
    """Digits as uint8 images (N, 28, 28) and int labels (N,), with where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    # what the reader changed (float pixels scaled...): log them
    notes: list[str] = field(default_factory=list)

    def limit(self, train: int | None = None, test: int | None = None) -> Mnist:
        """The first ``train`` training and ``test`` test digits (None: all)."""
        return Mnist(self.x_train[:train], self.y_train[:train], self.x_test[:test], self.y_test[:test],
                     self.source, list(self.notes))

    def __repr__(self) -> str:
        return f"Mnist({len(self.x_train)} train, {len(self.x_test)} test from {self.source})"


# --------------------------------------------------------------------------------------------------
# IDX files


def _read_bytes(path: Path) -> bytes:
    what = "an IDX file"
    if path.suffix == ".gz":
        return read_gzip(path, what, MAX_IDX_BYTES)
    return read_limited(path, what, MAX_IDX_BYTES)


def parse_idx(data: bytes, source: str, expect_magic: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes whose magic number must be ``expect_magic``.

    ``source`` names the file in errors. Returns the array with the dimensions from the header.
    """
    kind = {IMAGES_MAGIC: "an idx3-ubyte image file", LABELS_MAGIC: "an idx1-ubyte label file"}.get(
        expect_magic, f"an IDX file with magic 0x{expect_magic:08x}")
    if len(data) < 4:
        raise DataError(f"{source}: truncated at byte {len(data)}: an IDX file starts with a 4-byte magic "
                        f"number (file has {len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != expect_magic:
        what = ""
        if magic == LABELS_MAGIC and expect_magic == IMAGES_MAGIC:
            what = " (that is a label file's magic: images and labels swapped?)"
        elif magic == IMAGES_MAGIC and expect_magic == LABELS_MAGIC:
            what = " (that is an image file's magic: images and labels swapped?)"
        elif data[:2] == b"\x1f\x8b":
            what = " (the file is gzip-compressed: give it a .gz name)"
        raise DataError(f"{source}: wrong magic number 0x{magic:08x} at byte 0; expected "
                        f"0x{expect_magic:08x} for {kind}{what}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated header: {ndim} dimensions need {header} header bytes, "
                        f"the file has {len(data)}")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) < expected:
        raise DataError(f"{source}: truncated: the header (dimensions {' x '.join(map(str, dims))}) promises "
                        f"{expected} bytes, the file has {len(data)} (data stops at byte {len(data)}, "
                        f"{expected - len(data)} bytes missing)")
    if len(data) > expected:
        raise DataError(f"{source}: {len(data) - expected} unexpected bytes after byte {expected}: the "
                        f"header (dimensions {' x '.join(map(str, dims))}) promises {expected} bytes, the "
                        f"file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_images(path: str | Path) -> np.ndarray:
    path = Path(path)
    images = parse_idx(_read_bytes(path), str(path), IMAGES_MAGIC)
    if images.shape[1:] != (ROWS, COLS):
        raise DataError(f"{path}: images are {images.shape[1]} x {images.shape[2]} (header bytes 8-15); "
                        f"MNIST digits are {ROWS} x {COLS}")
    return images


def read_idx_labels(path: str | Path) -> np.ndarray:
    path = Path(path)
    labels = parse_idx(_read_bytes(path), str(path), LABELS_MAGIC)
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{path}: label {labels[i]} at byte {8 + i} (item {i}) is not a digit 0-9 "
                        f"({bad.size} such labels)")
    return labels.astype(np.int64)


def idx_name(split: str, what: str, ndim: int) -> str:
    return f"{SPLITS[split]}-{what}-idx{ndim}-ubyte"


def _find_idx(folder: Path, split: str, what: str, ndim: int) -> Path | None:
    prefix = SPLITS[split]
    for name in (f"{prefix}-{what}-idx{ndim}-ubyte", f"{prefix}-{what}.idx{ndim}-ubyte"):
        for suffix in ("", ".gz"):
            p = folder / f"{name}{suffix}"
            if p.is_file():
                return p
    return None


def read_idx_folder(folder: str | Path) -> Mnist:
    """The four IDX files in ``folder`` (any may be gzipped)."""
    folder = Path(folder)
    out = {}
    for split in SPLITS:
        img_path = _find_idx(folder, split, "images", 3)
        lab_path = _find_idx(folder, split, "labels", 1)
        missing = [n for n, p in ((idx_name(split, "images", 3), img_path),
                                  (idx_name(split, "labels", 1), lab_path))
                   if p is None]
        if missing:
            raise DataError(f"{folder}: missing {', '.join(missing)} (or the same with .gz)", [HINT])
        images, labels = read_idx_images(img_path), read_idx_labels(lab_path)
        if len(images) != len(labels):
            raise DataError(f"{img_path} holds {len(images)} images but {lab_path} holds {len(labels)} "
                            f"labels: the files do not belong together")
        out[split] = (images, labels)
    return check_counts(Mnist(out["train"][0], out["train"][1], out["test"][0], out["test"][1],
                              f"IDX files in {folder}"), str(folder))


# --------------------------------------------------------------------------------------------------
# npz in Keras' layout


def read_npz(path: str | Path) -> Mnist:
    """An ``.npz`` in Keras' layout. Pixels may be stored as any numeric dtype: whole numbers 0-255 are taken
    as they are, floats all within [0, 1] are scaled to 0-255 (rounded; said in ``notes``), floats within
    0-255 are rounded; anything else (a value outside 0-255, NaN or infinity) is a DataError giving the
    minimum and maximum found. Each member is read on its own, so a corrupt one is named."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file", [HINT])
    try:
        archive = np.load(path, allow_pickle=False)
    except CORRUPT_FILE_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz archive ({describe_exception(exc)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single .npy array, not an .npz archive with keys {', '.join(NPZ_KEYS)}")
    arrays = {}
    with archive:
        missing = [k for k in NPZ_KEYS if k not in archive.files]
        if missing:
            raise DataError(f"{path}: missing key(s) {', '.join(missing)}; Keras' mnist.npz layout has "
                            f"{', '.join(NPZ_KEYS)} (found: {', '.join(archive.files) or 'none'})")
        for k in NPZ_KEYS:
            with data_file(path, f"member {k}.npy of the archive"):
                arrays[k] = archive[k]
    notes: list[str] = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (ROWS, COLS):
            raise DataError(f"{path}: x_{split} has shape {x.shape}; expected (N, {ROWS}, {COLS})")
        if y.ndim != 1:
            raise DataError(f"{path}: y_{split} has shape {y.shape}; expected (N,)")
        if len(x) != len(y):
            raise DataError(f"{path}: x_{split} holds {len(x)} images but y_{split} holds {len(y)} labels")
        arrays[f"x_{split}"] = pixels_uint8(x, f"{path}: x_{split}", notes)
        if not np.issubdtype(y.dtype, np.integer) or y.size and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{path}: y_{split} must hold integer digits 0-9 (dtype {y.dtype})")
        arrays[f"y_{split}"] = y.astype(np.int64)
    return check_counts(Mnist(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                              str(path), notes), str(path))


def pixels_uint8(x: np.ndarray, where: str, notes: list[str]) -> np.ndarray:
    """Pixels of any numeric dtype as uint8 0-255 (the rule of :func:`read_npz`); ``where`` names the array in
    errors and in the note appended to ``notes`` when floats in [0, 1] are scaled."""
    if x.dtype == np.uint8:
        return x
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{where} must hold pixel values 0-255 (dtype {x.dtype}, not a number)")
    if not x.size:
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        finite = np.isfinite(x)
        if not finite.all():
            bad = int(np.size(x) - np.count_nonzero(finite))
            first = np.unravel_index(int(np.argmin(finite.ravel())), x.shape)
            raise DataError(f"{where} holds {bad:,} pixel value(s) that are NaN or infinite (the first at "
                            f"image {first[0]}, row {first[1]}, column {first[2]}: {x[first]}); pixels must "
                            f"be 0-255")
    lo, hi = x.min(), x.max()
    if lo < 0 or hi > 255:
        raise DataError(f"{where} must hold pixel values 0-255 (or floats in [0, 1]); found values from "
                        f"{lo:g} to {hi:g} (dtype {x.dtype})")
    if np.issubdtype(x.dtype, np.floating) and hi <= 1.0:
        notes.append(f"{where}: float pixels in [0, 1] (min {lo:g}, max {hi:g}) scaled to 0-255")
        return np.rint(x.astype(np.float64) * 255.0).astype(np.uint8)
    return np.rint(x).astype(np.uint8) if np.issubdtype(x.dtype, np.floating) else x.astype(np.uint8)


def check_counts(data: Mnist, where: str) -> Mnist:
    """``data`` unless it has no training or no test digits (a DataError with both counts), or its training
    digits are all blank (every pixel the same value)."""
    if len(data.x_train) == 0 or len(data.x_test) == 0:
        empty = " and ".join(n for n, a in (("training", data.x_train), ("test", data.x_test)) if len(a) == 0)
        raise DataError(f"{where}: {len(data.x_train):,} training and {len(data.x_test):,} test digits: no "
                        f"{empty} digits to learn from or to test on")
    lo, hi = int(data.x_train.min()), int(data.x_train.max())
    if lo == hi:
        raise DataError(f"{where}: all {len(data.x_train):,} training digits are blank (every pixel is "
                        f"{lo}); nothing to learn from (pixels stored in another range than 0-255?)")
    return data


# --------------------------------------------------------------------------------------------------
# Download through Keras


def download(timeout: float = 30.0) -> Mnist:
    """``keras.datasets.mnist.load_data()`` (cached in ``~/.keras/datasets``); a DataError when offline."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        import keras

        (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
    except Exception as exc:  # noqa: BLE001 - any download failure means "no data here"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"data.path is not set and MNIST could not be downloaded through keras.datasets "
                        f"({first})",
                        [HINT]) from None
    finally:
        socket.setdefaulttimeout(old)
    return Mnist(xtr, ytr.astype(np.int64), xte, yte.astype(np.int64), "keras.datasets.mnist")


def load_mnist(path: str | Path | None = None) -> Mnist:
    """MNIST from ``path`` (npz file, or folder with mnist.npz or the four IDX files), or downloaded."""
    if path is None or str(path).strip() == "":
        return download()
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"data.path {p}: no such file or folder (relative paths start at {Path.cwd()})",
                        [HINT])
    if p.is_file():
        if p.suffix == ".npz":
            return read_npz(p)
        with data_file(p, "data file"), open(p, "rb") as fh:
            head = fh.read(4)
        if head[:2] == b"PK":
            return read_npz(p)
        raise DataError(f"data.path {p}: a file that is not an .npz archive; give a Keras-layout .npz file "
                        f"or the folder holding the four IDX files", [HINT])
    if (p / "mnist.npz").is_file():
        return read_npz(p / "mnist.npz")
    found = [_find_idx(p, s, w, n) for s in SPLITS for w, n in (("images", 3), ("labels", 1))]
    if any(found):
        return read_idx_folder(p)
    expected = ["mnist.npz",
                *(idx_name(s, w, n) + "[.gz]" for s in SPLITS for w, n in (("images", 3), ("labels", 1)))]
    raise DataError(f"data.path {p}: no MNIST files in this folder; expected either mnist.npz (Keras layout) "
                    f"or the four IDX files: {', '.join(expected[1:])}", [HINT])


# --------------------------------------------------------------------------------------------------
# The scenario's data section, and the digits as the models see them


class MnistDataConfig(Section):
    """The ``data:`` section of the tasks that read MNIST (autoencoder, VAE)."""

    path: str | None = Field(
        None, description="MNIST location: null downloads through keras.datasets (cached in "
        "~/.keras/datasets; an error with a hint when offline); else a Keras-layout .npz file (e.g. "
        "../shared/datasets/mnist10k.npz) or a folder with mnist.npz or the four IDX files (.gz allowed). "
        "Relative to the current folder.")
    train_limit: int | None = Field(
        None, ge=1, description="Use only the first N training digits (null: all).")
    test_limit: int | None = Field(None, ge=1, description="Use only the first N test digits (null: all).")


def load_digits(data_cfg: MnistDataConfig) -> Mnist:
    """The digits a scenario's ``data`` section names, cut to its limits."""
    return load_mnist(data_cfg.path).limit(data_cfg.train_limit, data_cfg.test_limit)


def load_logged_digits(data_cfg: MnistDataConfig, log) -> Mnist:
    """:func:`load_digits`, saying through ``log`` (a run's ``ctx.log``) what was read and any notes."""
    data = load_digits(data_cfg)
    log(f"data: {data}")
    for note in data.notes:
        log(f"note: {note}")
    return data


def flat(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(len(images), -1)


# --------------------------------------------------------------------------------------------------
# Writers (for tests and conversions)


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte array as an IDX file (the inverse of :func:`parse_idx`)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx_folder(folder: str | Path, data: Mnist, gz: bool = False) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in {"train": (data.x_train, data.y_train), "test": (data.x_test, data.y_test)}.items():
        for what, ndim, arr in (("images", 3, x), ("labels", 1, y)):
            name = idx_name(split, what, ndim)
            raw = idx_bytes(arr)
            if gz:
                buf = io.BytesIO()
                with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as fh:
                    fh.write(raw)
                (folder / f"{name}.gz").write_bytes(buf.getvalue())
            else:
                (folder / name).write_bytes(raw)
    return folder
