"""What ``lab predict`` (and a web service) asks of a finished ``classifier`` run: plain arguments in, plain
data out.

- :func:`prepare_image` turns a picture (a file, the bytes of one, or an array of pixels) into what the
  run's network was trained on: float32 pixels 0-255 shaped like its ``input_shape``. Files and bytes may
  be anything Pillow reads (PNG, JPEG, GIF's first frame, BMP, WebP, TIFF, 16-bit, palette,
  transparent ...); arrays are ``(H, W)`` or ``(H, W, 1 | 3 | 4)`` pixels in 0-255.

  *Digits* (one channel, MNIST): the picture becomes grey; a light background (the border's mean above
  127) is inverted so that the digit is light on dark as in MNIST; the background level (the border's
  median) is taken off and the levels stretched so that the strongest ink is 255 and faint noise
  (JPEG ringing, paper texture) 0. Then LeCun's recipe for MNIST: the ink's bounding box is padded to a
  square with the background, scaled so its longer side is 20 pixels (anti-aliased), and placed in the
  28 x 28 field so that its centre of mass is at the centre (14, 14) — the aspect ratio is kept.

  *Photos* (three channels, CIFAR-10): RGB (transparent parts on white, grey repeated), the longer side
  fitted to 32 pixels, the shorter padded by repeating the edge pixels (black bars would be a border the
  network never saw in training; repeated edges keep the colours it did).

  Every step that changed the picture is said in the returned notes.

- :class:`Classifier` opens a run (``artifacts/classifier.keras`` with ``safe_mode=True`` and
  ``artifacts/classes.json``), predicts class probabilities, ranks the top-K classes and reads the run's
  own test images; :meth:`Classifier.classify` answers for pictures and test images at once as plain
  dicts, and :func:`predict` does it all in one call (what ``lab predict`` calls).

A request the run cannot take (a file that is not an image, a test index out of range, a top-K
beyond the classes) raises :class:`PredictError`, which names the setting it is about (``image file``,
``image``, ``test index``, ``top``) and the value, so that a caller such as ``lab predict`` can say which
option to change. A run folder that is not a usable classifier run is a :class:`lab.errors.RunError`.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lab import scenario
from lab.errors import DataError, RunError
from lab.runs import RunDir, load_run_model, read_json
from supervised.classifier.data import load_images
from supervised.classifier.model import top_classes

MODEL_FILE = "classifier.keras"  # artifacts/: the trained model (the best epoch's weights)
CLASSES_FILE = "classes.json"  # artifacts/: what the model's classes are called and what it takes
DIGIT_BOX = 20 / 28  # MNIST: the digit's bounding box fits 20 x 20 pixels of the 28 x 28 field
INK_FLOOR = 0.1  # digits: ink below this share of the strongest is noise (JPEG ringing, paper)
LIGHT_BACKGROUND = 127  # digits: a border mean above this is a light background (dark ink): invert
# a picture is read only up to 100 MiB (Pillow also refuses decompression bombs)
MAX_IMAGE_BYTES = 100 * 2**20
BATCH = 500  # images per predict call


class PredictError(ValueError):
    """An input this run cannot take. ``setting`` names what it is about (``"image file"``, ``"image"``,
    ``"test index"``, ``"top"``), ``value`` the value given and ``detail`` what is wrong with it."""

    def __init__(self, setting: str, value, detail: str):
        super().__init__(f"{setting} {value}: {detail}")
        self.setting = setting
        self.value = value
        self.detail = detail


# --------------------------------------------------------------------------------------------------
# Reading pictures


def check_image_file(path) -> None:
    """A picture file must be a regular file of at most MAX_IMAGE_BYTES: a FIFO or a device (``/dev/zero``)
    would make the reader wait or read for ever. (Missing files and folders are said when it is read.)"""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return  # missing, unreadable or a bad name: said by the reader, with the file named
    if stat.S_ISDIR(st.st_mode):
        return
    if not stat.S_ISREG(st.st_mode):
        raise PredictError("image file", str(path), "not a regular file (a FIFO, a device or a socket); give "
                           "a picture file")
    if st.st_size > MAX_IMAGE_BYTES:
        raise PredictError("image file", str(path), f"{st.st_size / 2**20:,.0f} MiB; a picture file is read "
                           f"only up to {MAX_IMAGE_BYTES // 2**20} MiB")


def described(source) -> tuple[str, str]:
    """``(setting, value)`` that name a picture in messages: ``("image file", path)`` for a file,
    ``("image", "(N bytes)")`` or ``("image", "of shape (H, W, C)")`` otherwise."""
    if isinstance(source, np.ndarray):
        return "image", f"of shape {source.shape}"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "image", f"({len(source):,} bytes)"
    return "image file", str(source)


def _decode(source, bad) -> tuple[Image.Image, list[str]]:
    """A Pillow image of a file or a file-like object (its first frame), turned upright, and its notes."""
    notes: list[str] = []
    try:
        img = Image.open(source)
        frames = getattr(img, "n_frames", 1)
        img.load()
    except UnidentifiedImageError:
        raise bad("not an image (Pillow does not recognise it as PNG, JPEG, GIF, BMP, WebP, TIFF or another "
                  "picture format)") from None
    except PermissionError:
        raise bad("cannot be read (permission denied)") from None
    except Image.DecompressionBombError as exc:
        raise bad(f"too large to read safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise bad(f"a damaged or truncated image ({str(exc) or type(exc).__name__})") from None
    if frames > 1:
        notes.append(f"the first of {frames} frames")
    try:
        turned = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block: the picture as stored
        turned = img
    if turned is not img and turned.size != img.size:
        notes.append("turned upright as its EXIF orientation says")
    return turned, notes


def _open_file(path: Path) -> tuple[Image.Image, list[str]]:
    def bad(detail: str) -> PredictError:
        return PredictError("image file", str(path), detail)

    if path.is_dir():
        raise bad("is a folder, not an image file")
    if not path.exists():
        raise bad("no such file")
    check_image_file(path)
    return _decode(path, bad)


def _open_bytes(data: bytes) -> tuple[Image.Image, list[str]]:
    def bad(detail: str) -> PredictError:
        return PredictError(*described(data), detail)

    if len(data) > MAX_IMAGE_BYTES:
        raise bad(f"a picture is read only up to {MAX_IMAGE_BYTES // 2**20} MiB")
    return _decode(io.BytesIO(bytes(data)), bad)


def _array_pixels(a: np.ndarray) -> tuple[np.ndarray, bool, list[str]]:
    """``(float64 (H, W, 3) or (H, W, 1) in 0-255, is it colour, notes)`` of an array of pixels."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4) or min(a.shape[:2]) < 1 or not (
            np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise PredictError("image", f"of shape {a.shape} ({a.dtype})", "give pixels (H, W) or (H, W, 1 | 3 | "
                           "4) in 0-255")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise PredictError("image", f"of shape {a.shape}", "has pixels that are not finite numbers")
    notes: list[str] = []
    if a.min() < 0 or a.max() > 255:
        a = np.clip(a, 0, 255)
        notes.append("pixels clipped to 0-255")
    if a.shape[-1] == 4:
        alpha = a[..., 3:] / 255.0
        if alpha.min() < 1:
            notes.append("transparent parts put on white")
        a = a[..., :3] * alpha + 255.0 * (1 - alpha)
    return a, a.shape[-1] == 3, notes


def _read(source) -> tuple[np.ndarray, bool, list[str], str]:
    """``(pixels, is it colour, notes, size text)`` of a file path, the bytes of a file or an array."""
    if isinstance(source, np.ndarray):
        a, colour, notes = _array_pixels(source)
        return a, colour, notes, f"{a.shape[1]}x{a.shape[0]}"
    if isinstance(source, (bytes, bytearray, memoryview)):
        img, notes = _open_bytes(source)
    else:
        img, notes = _open_file(Path(source))
    a, colour, more = _pixels(img)
    return a, colour, notes + more, f"{img.size[0]}x{img.size[1]}"


def _pixels(img) -> tuple[np.ndarray, bool, list[str]]:
    """``(float64 (H, W, 3) or (H, W, 1) in 0-255, is it colour, notes)`` of a loaded Pillow image."""
    notes: list[str] = []
    mode = img.mode
    if mode.startswith("I") or mode == "F":  # 16- and 32-bit grey, float grey
        a = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16") or a.max(initial=0) > 255:
            a = a / 257.0
            notes.append("16-bit grey scaled to 0-255")
        return np.clip(a, 0, 255)[..., None], False, notes
    transparent = "A" in mode or "a" in mode or "transparency" in img.info
    if transparent:
        rgba = img.convert("RGBA")
        if np.asarray(rgba)[..., 3].min() < 255:
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            rgba = Image.alpha_composite(white, rgba)
            notes.append("transparent parts put on white")
        img = rgba.convert("RGB") if mode not in ("LA", "La") else rgba.convert("L")
    elif mode == "1":
        img = img.convert("L")
    elif mode != "L" and mode != "RGB":  # palette, CMYK, YCbCr, LAB, HSV
        img = img.convert("RGB")
        if mode == "P" and _is_grey(np.asarray(img)):
            img = img.convert("L")
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2:
        return a[..., None], False, notes
    return a, True, notes


def _is_grey(rgb: np.ndarray) -> bool:
    return bool(np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]))


def _border(a: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring of a 2-D array (about 1/28 of the shorter side wide, at least 1)."""
    h, w = a.shape
    k = max(1, min(h, w) // 28)
    return np.concatenate([a[:k].ravel(), a[-k:].ravel(), a[k:-k, :k].ravel(), a[k:-k, -k:].ravel()])


def _resize(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """A 2-D float array resampled to ``height x width`` (Lanczos: anti-aliased when shrinking)."""
    if a.shape == (height, width):
        return a.astype(np.float64)
    out = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32)).resize((width, height),
                                                                           Image.Resampling.LANCZOS)
    return np.asarray(out, dtype=np.float64)


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    """(row, column) of the centre of mass of a 2-D array of non-negative weights (pixel centres at
    integers)."""
    total = float(a.sum())
    if total <= 0:
        return (a.shape[0] - 1) / 2, (a.shape[1] - 1) / 2
    rows, cols = np.indices(a.shape)
    return float((a * rows).sum() / total), float((a * cols).sum() / total)


def _want_invert(invert, border_mean: float, notes: list[str]) -> bool:
    if invert == "auto":
        if border_mean > LIGHT_BACKGROUND:
            notes.append(f"inverted: the background is light (border mean {border_mean:.0f}), the digits the "
                         "network learned are light on dark")
            return True
        return False
    if invert:
        notes.append("inverted (as asked)")
        return True
    if border_mean > LIGHT_BACKGROUND:
        notes.append(f"not inverted (as asked), though the background is light (border mean "
                     f"{border_mean:.0f})")
    return False


def _digit(grey: np.ndarray, size: tuple[int, int], invert, notes: list[str]) -> np.ndarray:
    """LeCun's MNIST preprocessing of a grey picture: light ink on black, the ink's box fitted to 20 x 20
    (aspect kept) and placed with its centre of mass at the centre of the 28 x 28 field."""
    height, width = size
    border = _border(grey)
    given = float(np.median(border))
    if _want_invert(invert, float(border.mean()), notes):
        grey, border = 255.0 - grey, 255.0 - border
    background = float(np.median(border))
    ink = np.clip(grey - background, 0, None)
    peak = float(ink.max(initial=0))
    if peak < 8:  # nothing but background (and noise)
        notes.append("no digit found: the picture is one level throughout")
        return np.zeros((height, width))
    floor = INK_FLOOR * peak
    ink = np.clip((ink - floor) / (peak - floor), 0, 1) * 255
    if background >= 1 or peak < 250:
        notes.append(f"levels stretched: the background to 0, the strongest ink to 255 (the ink stood "
                     f"{peak:.0f} levels above the background)")
    rows, cols = np.nonzero(ink.any(1))[0], np.nonzero(ink.any(0))[0]
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = ink[r0:r1, c0:c1]
    bh, bw = crop.shape
    side = max(bh, bw)
    square = np.zeros((side, side))  # pad the box to a square with the background (0 after the levels)
    top, left = (side - bh) // 2, (side - bw) // 2
    square[top:top + bh, left:left + bw] = crop
    box = max(1, int(round(DIGIT_BOX * min(height, width))))
    small = np.clip(_resize(square, box, box), 0, 255)
    if small.max() > 0:
        small *= 255.0 / small.max()
    cy, cx = centre_of_mass(small)
    y0 = int(np.clip(round(height / 2 - cy), 0, height - box))
    x0 = int(np.clip(round(width / 2 - cx), 0, width - box))
    out = np.zeros((height, width))
    out[y0:y0 + box, x0:x0 + box] = small
    notes.append(f"the digit's box ({bw}x{bh} px) padded to a square with the background (level {given:.0f}, "
                 f"the border's median), scaled to {box}x{box} and centred by its centre of mass in "
                 f"{width}x{height}")
    return out


def _photo(rgb: np.ndarray, size: tuple[int, int], notes: list[str]) -> np.ndarray:
    """The longer side fitted to the field, the shorter padded by repeating the edge pixels."""
    height, width = size
    h, w = rgb.shape[:2]
    scale = min(height / h, width / w)
    nh, nw = max(1, min(height, int(round(h * scale)))), max(1, min(width, int(round(w * scale))))
    small = np.stack([np.clip(_resize(rgb[..., c], nw, nh), 0, 255) for c in range(3)], axis=-1)
    if (h, w) != (nh, nw):
        notes.append(f"resized {w}x{h} to {nw}x{nh} (aspect kept)")
    if (nh, nw) != (height, width):
        top, left = (height - nh) // 2, (width - nw) // 2
        small = np.pad(small, ((top, height - nh - top), (left, width - nw - left), (0, 0)), mode="edge")
        notes.append(f"padded to {width}x{height} by repeating the edge pixels")
    return small


def prepare_image(source, input_shape, invert="auto") -> tuple[np.ndarray, list[str]]:
    """A picture as the run's network input: float32 ``(H, W, C)`` in 0-255, and notes on what was done to it.

    ``source``: a file path, the bytes of a picture file, or an array of pixels (``(H, W)`` or ``(H, W, 1 | 3
    | 4)`` in 0-255). ``input_shape``: ``(H, W, 1)`` for MNIST-shaped digits, ``(H, W, 3)`` for photos.
    ``invert``: ``"auto"`` (digits on a light background are inverted), ``True`` or ``False`` (always, never).
    A picture that cannot be read raises :class:`PredictError` (setting ``"image file"`` or ``"image"``).
    """
    height, width, channels = (int(v) for v in input_shape)
    if invert not in ("auto", True, False):
        raise ValueError(f"invert must be 'auto', True or False, not {invert!r}")
    if channels not in (1, 3):
        raise PredictError(*described(source), f"this run's network takes {channels} channels; only grey (1) "
                           f"or RGB (3) pictures can be prepared")
    a, colour, notes, size_text = _read(source)
    if channels == 1:
        if colour:
            grey = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114  # ITU-R 601, as Pillow's "L"
            notes.append(f"converted {size_text} colour to grey")
        else:
            grey = a[..., 0]
        out = _digit(grey, (height, width), invert, notes)[..., None]
    else:
        if not colour:
            a = np.repeat(a, 3, axis=-1)
            notes.append("grey repeated into RGB")
        if invert is True:
            a = 255.0 - a
            notes.append("inverted (as asked)")
        out = _photo(a, (height, width), notes)
    return out.astype(np.float32), notes


# --------------------------------------------------------------------------------------------------
# The run's network


def read_classes(run) -> dict:
    """``artifacts/classes.json`` of a classifier run (a RunError when it is missing or corrupt)."""
    path = run.artifacts / CLASSES_FILE
    if not path.exists():
        raise RunError(f"{run.path}: no trained classifier yet ({path.relative_to(run.path)} is written when "
                       f"training ends); continue the run with `lab run --resume {run.path}`")
    info = read_json(path, "classifier description")
    if (not isinstance(info, dict) or not isinstance(info.get("classes"), list) or
            not isinstance(info.get("input_shape"), list) or len(info["input_shape"]) != 3):
        raise RunError(f"{path}: corrupt classifier description (not what `lab run` writes)")
    return info


class Classifier:
    """The trained network of a ``classifier`` run, its class names and (on demand) its test images."""

    def __init__(self, run, model, info: dict):
        self.run = run
        self.model = model
        self.info = info
        self.classes = [str(c) for c in info["classes"]]
        self.input_shape = tuple(int(v) for v in info["input_shape"])
        self.dataset = str(info.get("dataset", ""))
        self._test = None

    @classmethod
    def open(cls, run_path) -> Classifier:
        """Open a finished classifier run (a :class:`RunError` when it is not one, or is damaged)."""
        run = RunDir.open(run_path)
        run.require_task("classifier", command="lab predict")
        info = read_classes(run)
        path = run.artifacts / MODEL_FILE
        if not path.exists():
            raise RunError(f"{path}: missing (classes.json is there, so the run finished; was the model "
                           f"deleted?)")
        model = load_run_model(path)
        self = cls(run, model, info)
        takes = tuple(model.input_shape[1:]) if isinstance(model.input_shape, tuple) else None
        if takes != self.input_shape:
            raise RunError(f"{path}: the model takes {takes}, but {run.artifacts / CLASSES_FILE} says "
                           f"{self.input_shape}")
        if model.output_shape[-1] != len(self.classes):
            raise RunError(f"{path}: the model has {model.output_shape[-1]} outputs for {len(self.classes)} "
                           f"classes")
        return self

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def check_top(self, k: int) -> int:
        if not 1 <= k <= self.n_classes:
            raise PredictError("top", k,
                               f"give 1 to {self.n_classes} (this run has {self.n_classes} classes)")
        return k

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, classes)`` of images ``(N, H, W, C)`` (or one ``(H, W, C)``) in 0-255."""
        x = np.asarray(images, np.float32)
        if x.shape == self.input_shape:
            x = x[None]
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"images of shape {x.shape[1:]}; this network takes {self.input_shape}")
        if len(x) == 0:
            return np.zeros((0, self.n_classes), np.float32)
        # Keras' compiled predict step: about 1 ms for one 28x28 digit here, against 7 ms for an eager call
        return np.concatenate([np.asarray(self.model.predict_on_batch(x[i:i + BATCH]), np.float32)
                               for i in range(0, len(x), BATCH)])

    def top(self, probs: np.ndarray, k: int) -> list[dict]:
        """The ``k`` most probable classes of one image's probabilities, most probable first (ties: the lower
        index first): ``[{"class": index, "name": ..., "probability": ...}]``."""
        self.check_top(k)
        return [{"class": i, "name": self.classes[i], "probability": p} for i, p in top_classes(probs, k)]

    def classify(self, images: Sequence = (), test_indices: Sequence[int] = (), top: int = 3,
                 invert="auto") -> list[dict]:
        """The top-``top`` classes of each picture (file paths, bytes of picture files or pixel arrays, see
        :func:`prepare_image`) and of each of the run's test images: one dict per input, pictures first,
        ``{"input", "kind": "file" | "image" | "test", "index" and "label" (test images), "top",
        "notes"}``."""
        self.check_top(top)
        inputs, pixels = [], []
        for n, source in enumerate(images):
            image, notes = prepare_image(source, self.input_shape, invert)
            setting, value = described(source)
            kind = "file" if setting == "image file" else "image"
            inputs.append(({"input": value if kind == "file" else f"image #{n}", "kind": kind}, notes))
            pixels.append(image)
        for index in test_indices:
            image, label = self.test_image(index)
            inputs.append(({"input": f"test #{index}", "kind": "test", "index": index, "label": label}, []))
            pixels.append(image)
        if not pixels:
            return []
        return [{**item, "top": self.top(p, top), "notes": notes}
                for (item, notes), p in zip(inputs, self.predict(np.stack(pixels)), strict=True)]

    def _test_set(self):
        if self._test is None:
            cfg = scenario.validate(self.run.read_scenario(), str(self.run.scenario_path))
            try:
                data = load_images(cfg.data, cfg.seed)
            except DataError as exc:
                raise DataError(f"the test images of {self.run.path} are not available: {exc.message}",
                                exc.problems) from None
            if tuple(data.x_test.shape[1:]) != self.input_shape:
                raise DataError(f"the test images of {self.run.path} ({data.source}) are "
                                f"{'x'.join(map(str, data.x_test.shape[1:]))}, but its network takes "
                                f"{'x'.join(map(str, self.input_shape))}: the data changed since training")
            self._test = (data.x_test, data.y_test)
        return self._test

    def test_image(self, index: int) -> tuple[np.ndarray, int]:
        """The run's test image ``index`` (float32 ``(H, W, C)`` in 0-255) and its label."""
        x, y = self._test_set()
        if not 0 <= index < len(x):
            raise PredictError("test index", index, f"out of range: this run has {len(x):,} test images, "
                               f"give 0 to {len(x) - 1}")
        return x[index].astype(np.float32), int(y[index])


def predict(run_path, images: Sequence = (), test_indices: Sequence[int] = (), top: int = 3,
            invert="auto") -> dict:
    """What ``lab predict`` prints: ``{"run", "classes", "predictions"}`` (see :meth:`Classifier.classify`).
    Picture files are checked before the run's network is loaded."""
    for source in images:
        if not isinstance(source, (np.ndarray, bytes, bytearray, memoryview)):
            check_image_file(source)
    clf = Classifier.open(run_path)
    return {"run": str(clf.run.path), "classes": list(clf.classes),
            "predictions": clf.classify(images, test_indices, top, invert)}
