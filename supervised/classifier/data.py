"""The images of a ``classifier`` scenario: MNIST (:mod:`lab.data.mnist`) or CIFAR-10 in its binary format
(:mod:`lab.data.cifar10`), with a seeded share of the training images held out for validation.

The runner trains on them; ``lab predict --test-index N`` (:mod:`supervised.classifier.serve`) reads the
same test images back from the run's scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.data.cifar10 import load_cifar10
from lab.data.mnist import load_mnist
from lab.errors import DataError
from lab.paths import shared_datasets
from lab.seeding import stream

MNIST_NAMES = tuple(str(d) for d in range(10))


@dataclass
class ImageData:
    """uint8 images ``(N, H, W, C)`` and int labels, split into train / validation / test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    dataset: str
    source: str
    # what the reader changed (float pixels scaled to 0-255...): the runner logs them
    notes: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def describe(self) -> str:
        return (f"{self.dataset}: {len(self.x_train):,} training, {len(self.x_val):,} validation, "
                f"{len(self.x_test):,} test images {'x'.join(map(str, self.input_shape))} from {self.source}")


def shared_copy(dataset: str) -> Path | None:
    """The offline copy beside the lab (``../shared/datasets``), when there is one."""
    path = shared_datasets() / ("mnist.npz" if dataset == "mnist" else "cifar10-subset")
    return path if path.exists() else None


def read_dataset(data_cfg, notes: list[str] | None = None):
    """``(x_train, y_train, x_test, y_test, class_names, source)`` of a scenario's ``data`` section; what the
    reader changed in the data (float pixels scaled...) is appended to ``notes``."""
    path = data_cfg.path if data_cfg.path is not None else shared_copy(data_cfg.dataset)
    if data_cfg.dataset == "mnist":
        d = load_mnist(path).limit(data_cfg.train_limit, data_cfg.test_limit)
        if notes is not None:
            notes.extend(d.notes)
        return d.x_train[..., None], d.y_train, d.x_test[..., None], d.y_test, MNIST_NAMES, d.source
    d = load_cifar10(path, download=data_cfg.download).limit(data_cfg.train_limit, data_cfg.test_limit)
    return d.x_train, d.y_train, d.x_test, d.y_test, tuple(d.class_names), d.source


def validation_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, validation indices): ``round(share * n)`` images drawn from the run's
    ``validation-split`` stream."""
    n_val = int(round(share * n))
    order = stream(seed, "validation-split").permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def load_images(data_cfg, seed: int) -> ImageData:
    """The images of a ``data`` section, split; a DataError when there are too few to learn and test."""
    notes: list[str] = []
    x_train, y_train, x_test, y_test, names, source = read_dataset(data_cfg, notes)
    if len(x_train) == 0 or len(x_test) == 0:
        raise DataError(f"{source}: {len(x_train)} training and {len(x_test)} test images: nothing to learn "
                        f"from or to test on")
    tr, va = validation_split(len(x_train), data_cfg.validation, seed)
    if len(tr) < 1 or (data_cfg.validation > 0 and len(va) < 1):
        raise DataError(f"{source}: {len(x_train)} training images are too few for a validation share of "
                        f"{data_cfg.validation:g}")
    return ImageData(x_train[tr], y_train[tr], x_train[va], y_train[va], x_test, y_test, names,
                     data_cfg.dataset, str(source), tuple(notes))
