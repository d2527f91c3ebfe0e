"""MNIST as the generative models see it: flat float32 pixels in [0, 1], binarised when a likelihood needs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab.data.mnist import Mnist, load_mnist


def load_digits(data_cfg) -> Mnist:
    """The digits a scenario's ``data`` section names, cut to its limits."""
    return load_mnist(data_cfg.path).limit(data_cfg.train_limit, data_cfg.test_limit)


def absolute_data_path(path: str | None) -> str | None:
    """``data.path`` made absolute (recorded so that `lab sample` finds the data from any folder)."""
    return None if path is None else str(Path(path).expanduser().resolve())


def flat(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(len(images), -1)


def binarize(x: np.ndarray, mode: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Grey pixels in [0, 1] -> binary float32 pixels: a Bernoulli draw (dynamic/static) or x > 0.5 (threshold)."""
    if mode == "threshold":
        return (x > 0.5).astype(np.float32)
    if rng is None:
        raise ValueError("a Bernoulli binarisation needs a random generator")
    return (rng.random(x.shape, dtype=np.float32) < x).astype(np.float32)


def epoch_rng(seed: int, epoch: int, purpose: int = 0) -> np.random.Generator:
    """A generator that depends only on (seed, epoch, purpose): a resumed run draws the same numbers."""
    return np.random.default_rng([int(seed), int(epoch), int(purpose)])
