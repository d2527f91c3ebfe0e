"""Digit pictures as plain arrays: 28 x 28 tiles in a grid, written as PNG (exact pixel sizes, no matplotlib).

Layout of every grid: tiles of 28 x 28 pixels, ``PAD`` grey pixels between tiles and around the border,
then everything scaled by an integer ``scale``. So a grid of ``rows`` x ``cols`` tiles is
``scale * (rows * 28 + (rows + 1) * PAD)`` pixels high and ``scale * (cols * 28 + (cols + 1) * PAD)`` wide
(:func:`grid_size`).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from lab.runs import atomic_write_bytes

TILE = 28
PAD = 2
BACKGROUND = 128


def grid_size(rows: int, cols: int, scale: int = 1, tile: int = TILE) -> tuple[int, int]:
    """(height, width) in pixels of a grid of ``rows`` x ``cols`` tiles."""
    return scale * (rows * tile + (rows + 1) * PAD), scale * (cols * tile + (cols + 1) * PAD)


def square_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of the most square grid that holds ``n`` tiles (cols >= rows)."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


def to_uint8(images) -> np.ndarray:
    """Images with values in [0, 1] (any shape ending in 784 or 28 x 28) -> uint8 (N, 28, 28)."""
    a = np.asarray(images, dtype=np.float32)
    a = a.reshape(-1, TILE, TILE)
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def tile(images, rows: int, cols: int, scale: int = 1) -> np.ndarray:
    """Put uint8 (N, 28, 28) images (N <= rows * cols; missing tiles stay blank) in a grid."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = to_uint8(images)
    images = images.reshape(-1, TILE, TILE)
    if len(images) > rows * cols:
        raise ValueError(f"{len(images)} images do not fit in {rows} x {cols}")
    h, w = grid_size(rows, cols)
    out = np.full((h, w), BACKGROUND, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        y, x = PAD + r * (TILE + PAD), PAD + c * (TILE + PAD)
        out[y:y + TILE, x:x + TILE] = img
    if scale > 1:
        out = np.kron(out, np.ones((scale, scale), dtype=np.uint8))
    return out


def png_bytes(array: np.ndarray) -> bytes:
    """The PNG file of a uint8 grey (H, W) or RGB (H, W, 3) array, as bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 grey (H, W) or RGB (H, W, 3) array as a PNG, atomically."""
    return atomic_write_bytes(path, png_bytes(array))


def save_grid(images, path: str | Path, rows: int | None = None, cols: int | None = None,
              scale: int = 2) -> Path:
    """Tile ``images`` (the most square grid unless ``rows`` and ``cols`` are given) and write the PNG."""
    if rows is None or cols is None:
        rows, cols = square_shape(len(np.asarray(images).reshape(-1, TILE * TILE)))
    return save_png(tile(images, rows, cols, scale), path)
