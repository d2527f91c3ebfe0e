"""Image classifiers: the book's MNIST network (chapter 3), a convnet, and its CIFAR-10 CNN (chapter 6).

The ``classifier`` task reads MNIST (:mod:`lab.data.mnist`) or CIFAR-10 in its binary format
(:mod:`lab.data.cifar10`), holds out a seeded validation share of the training images, and trains one
of four networks on the shared epoch loop (:mod:`lab.loop`):

- ``mlp``: dense layers (the book's 784-300-100-10);
- ``convnet``: blocks of 3x3 convolutions and max-pooling, then dense layers (Keras' MNIST convnet, and
  with two convolutions a block Keras' cifar10_cnn recipe);
- ``cnn``: the book's chapter-6 layout — 3x3 convolutions of 32, 64 and 128 filters, each followed by
  2x2 max-pooling and dropout 0.2, a dense layer of 625 units with dropout 0.55, softmax;
- ``resnet``: a small residual network for 32 x 32 images after the DAWNBench ResNet-9 (Myrtle.ai, 2018;
  94% on the full CIFAR-10 in 24 epochs): a 3x3 "prep" convolution, then stages that each widen with a
  3x3 convolution, halve the image with 2x2 max-pooling and add ``blocks`` residual blocks (two 3x3
  convolutions with batch normalisation around an identity shortcut), global max-pooling, softmax.
  Downsampling by pooling rather than strided convolutions with 1x1 projections: the same accuracy per
  parameter, and about twice the images/s on a CPU (measured here).

Every model takes raw pixels (float32 0-255, ``(H, W, C)``) and returns class probabilities: the
random augmentation (``RandomFlip``, ``RandomTranslation`` with zero fill: a random crop after zero
padding) and the standardisation by the training images' per-channel mean and variance
(``Normalization``) are its first layers, so the saved ``artifacts/classifier.keras`` is all ``lab
predict`` needs (with ``augment.test_flip`` it averages each image's probabilities with its mirror
image's: test-time augmentation, also inside the saved model). Models, losses, schedules and optimizers are ``keras.*`` only (no ``tf.*``): the same
code runs on Keras' JAX backend. The last layer computes in float32 under mixed precision.

Training: ``model.fit`` one epoch at a time on a permutation drawn from the loop's per-epoch generator
(under ``strategy: multi-worker`` the custom loop of :mod:`lab.distributed`, on the same permutation),
cross-entropy with optional label smoothing, Adam / AdamW / SGD (Nesterov) / RMSprop at a constant,
cosine or one-cycle learning rate, early stopping on the validation loss with the best weights kept
(always restored at the end when there is a validation split), an optional time limit.

What the run writes: ``summary.json`` (test accuracy and loss, per-class accuracy range, parameters,
samples/s, the best epoch and the time to reach it), ``report.md`` with the per-class table, the
confusion matrix (``artifacts/confusion.png``), the most confident mistakes (``artifacts/mistakes.png``)
and the learning curves (``artifacts/learning_curves.png``); ``artifacts/classifier.keras`` and
``artifacts/classes.json`` for ``lab predict``; with ``report.book_outputs`` the book's ``artifacts/csv/``
and ``artifacts/images/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from lab.distributed import classify_terms
from lab.errors import DataError
from lab.loop import EarlyStopping, EpochLoop
from lab.runs import atomic_write_json
from lab.schedules import current_rate, learning_rate

MODEL_FILE = "classifier.keras"  # artifacts/: the trained model (the best epoch's weights)
CLASSES_FILE = "classes.json"  # artifacts/: what lab predict needs besides the model
CHECKPOINT = "classifier"
MNIST_NAMES = tuple(str(d) for d in range(10))


# --------------------------------------------------------------------------------------------------
# Data


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
    notes: tuple[str, ...] = ()  # what the reader changed (float pixels scaled to 0-255...): the runner logs them

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def describe(self) -> str:
        return (f"{self.dataset}: {len(self.x_train):,} training, {len(self.x_val):,} validation, {len(self.x_test):,} "
                f"test images {'x'.join(map(str, self.input_shape))} from {self.source}")


def shared_copy(dataset: str) -> Path | None:
    """The offline copy beside the lab (``../shared/datasets``), when there is one."""
    from lab.paths import shared_datasets

    path = shared_datasets() / ("mnist.npz" if dataset == "mnist" else "cifar10-subset")
    return path if path.exists() else None


def read_dataset(data_cfg, notes: list[str] | None = None):
    """``(x_train, y_train, x_test, y_test, class_names, source)`` of a scenario's ``data`` section; what the
    reader changed in the data (float pixels scaled...) is appended to ``notes``."""
    path = data_cfg.path if data_cfg.path is not None else shared_copy(data_cfg.dataset)
    if data_cfg.dataset == "mnist":
        from lab.data.mnist import load_mnist

        d = load_mnist(path).limit(data_cfg.train_limit, data_cfg.test_limit)
        if notes is not None:
            notes.extend(d.notes)
        return d.x_train[..., None], d.y_train, d.x_test[..., None], d.y_test, MNIST_NAMES, d.source
    from lab.data.cifar10 import load_cifar10

    d = load_cifar10(path, download=data_cfg.download).limit(data_cfg.train_limit, data_cfg.test_limit)
    return d.x_train, d.y_train, d.x_test, d.y_test, tuple(d.class_names), d.source


def validation_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, validation indices): a seeded draw of ``round(share * n)`` images."""
    n_val = int(round(share * n))
    order = np.random.default_rng([int(seed), 7_777]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def load_images(data_cfg, seed: int) -> ImageData:
    notes: list[str] = []
    x_train, y_train, x_test, y_test, names, source = read_dataset(data_cfg, notes)
    if len(x_train) == 0 or len(x_test) == 0:
        raise DataError(f"{source}: {len(x_train)} training and {len(x_test)} test images: nothing to learn from "
                        "or to test on")
    tr, va = validation_split(len(x_train), data_cfg.validation, seed)
    if len(tr) < 1 or (data_cfg.validation > 0 and len(va) < 1):
        raise DataError(f"{source}: {len(x_train)} training images are too few for a validation share of "
                        f"{data_cfg.validation:g}")
    return ImageData(x_train[tr], y_train[tr], x_train[va], y_train[va], x_test, y_test, names, data_cfg.dataset,
                     str(source), tuple(notes))


# --------------------------------------------------------------------------------------------------
# Networks (keras.* only)


def channel_stats(x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance of uint8 images (N, H, W, C), in float64, chunk by chunk."""
    c = x.shape[-1]
    total, sq, count = np.zeros(c), np.zeros(c), 0
    for i in range(0, len(x), chunk):
        part = x[i:i + chunk].reshape(-1, c).astype(np.float64)
        total += part.sum(0)
        sq += np.square(part).sum(0)
        count += len(part)
    mean = total / max(1, count)
    return mean, np.maximum(sq / max(1, count) - np.square(mean), 1e-6)


def _conv(x, filters, act, bn, name, padding="same", strides=1):
    x = layers.Conv2D(filters, 3, strides=strides, padding=padding, use_bias=not bn, kernel_initializer="he_normal",
                      name=name)(x)
    if bn:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(act, name=f"{name}_{act}")(x)


def _dense_head(x, hidden, act, dropout):
    for i, width in enumerate(hidden):
        x = layers.Dense(width, activation=act, kernel_initializer="he_normal", name=f"dense{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dense{i}_dropout")(x)
    return x


def _residual_block(x, filters, act, name):
    y = _conv(x, filters, act, True, f"{name}_a")
    y = _conv(y, filters, act, True, f"{name}_b")
    return layers.Add(name=f"{name}_add")([x, y])


def build_model(model_cfg, augment_cfg, input_shape, n_classes: int, mean, variance, seed: int = 0) -> keras.Model:
    """The classifier a ``model`` section names, with augmentation and standardisation as its first layers."""
    m = model_cfg
    inputs = keras.Input(input_shape, name="pixels")
    x = inputs
    if augment_cfg.flip:
        x = layers.RandomFlip("horizontal", seed=seed, name="random_flip")(x)
    if augment_cfg.crop_padding:
        shift = augment_cfg.crop_padding
        x = layers.RandomTranslation(shift / input_shape[0], shift / input_shape[1], fill_mode="constant",
                                     interpolation="nearest", seed=seed + 1, name="random_crop")(x)
    x = layers.Normalization(mean=np.asarray(mean, np.float32), variance=np.asarray(variance, np.float32),
                             name="standardise")(x)
    act = m.activation
    if m.kind == "mlp":
        x = layers.Flatten(name="flatten")(x)
        x = _dense_head(x, m.hidden, act, m.dropout)
    elif m.kind == "convnet":
        for b, filters in enumerate(m.filters):
            for c in range(m.convs_per_block):  # the last convolution of a block is unpadded, as in Keras' recipes
                last = c == m.convs_per_block - 1
                x = _conv(x, filters, act, m.batch_norm, f"block{b}_conv{c}", padding="valid" if last else "same")
            x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
            if m.conv_dropout:
                x = layers.Dropout(m.conv_dropout, name=f"block{b}_dropout")(x)
        x = layers.Flatten(name="flatten")(x)
        x = _dense_head(x, m.hidden, act, m.dropout)
        if m.dropout and not m.hidden:
            x = layers.Dropout(m.dropout, name="dropout")(x)
    elif m.kind == "cnn":
        for b, filters in enumerate(m.filters):
            x = _conv(x, filters, act, m.batch_norm, f"conv{b}")
            x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
            if m.conv_dropout:
                x = layers.Dropout(m.conv_dropout, name=f"conv{b}_dropout")(x)
        x = layers.Flatten(name="flatten")(x)
        x = _dense_head(x, m.hidden, act, m.dropout)
    else:  # resnet
        x = _conv(x, m.filters[0], act, True, "prep")
        for s, filters in enumerate(m.filters[1:]):
            x = _conv(x, filters, act, True, f"stage{s}_conv")
            x = layers.MaxPooling2D(2, name=f"stage{s}_pool")(x)
            for b in range(m.blocks):
                x = _residual_block(x, filters, act, f"stage{s}_block{b}")
        x = layers.GlobalMaxPooling2D(name="pool")(x)
    x = layers.Dense(n_classes, name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"{m.kind}_classifier")


@keras.saving.register_keras_serializable(package="lab")
class Mirror(layers.Layer):
    """Images mirrored left-right (channels-last batches)."""

    def call(self, images):
        return ops.flip(images, axis=-2)


def with_test_flip(model: keras.Model) -> keras.Model:
    """A model whose probabilities average ``model``'s on each image and on its mirror image (test-time
    augmentation for photos; it shares ``model``'s weights)."""
    inputs = keras.Input(model.input_shape[1:], name="pixels")
    both = layers.Average(name="mean_of_image_and_mirror")([model(inputs), model(Mirror(name="mirror")(inputs))])
    return keras.Model(inputs, both, name=f"{model.name}_test_flip")


# --------------------------------------------------------------------------------------------------
# Learning-rate schedules and optimizers


def make_optimizer(t, steps_per_epoch: int):
    lr = learning_rate(t, steps_per_epoch)  # the training section's schedule (lab.schedules)
    if t.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=t.weight_decay)
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=t.momentum, nesterov=True, weight_decay=t.weight_decay or None)
    return keras.optimizers.RMSprop(lr)


# --------------------------------------------------------------------------------------------------
# The runner


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[y]


def predict_probs(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    out = [keras.ops.convert_to_numpy(model(x[i:i + batch_size].astype(np.float32), training=False))
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def cross_entropy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))))


def run(cfg, ctx) -> dict:
    """Train the classifier of a ``classifier`` scenario, test it, and write its report and artifacts."""
    data = load_images(cfg.data, cfg.seed)
    ctx.log(data.describe())
    for note in data.notes:
        ctx.log(f"note: {note}")
    t, k = cfg.training, len(data.class_names)
    steps_per_epoch = math.ceil(len(data.x_train) / t.batch_size)
    x_train = data.x_train.astype(np.float32)
    y_train = one_hot(data.y_train, k)
    x_val, y_val = data.x_val.astype(np.float32), one_hot(data.y_val, k)
    mean, variance = channel_stats(data.x_train)

    def build():
        model = build_model(cfg.model, cfg.augment, data.input_shape, k, mean, variance, seed=cfg.seed)
        model.compile(optimizer=make_optimizer(t, steps_per_epoch),
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=t.label_smoothing),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=ctx.jit_compile)
        return model

    validate = len(x_val) > 0
    stopping = EarlyStopping("val_loss", patience=t.patience) if validate else None
    loop = EpochLoop(ctx, CHECKPOINT, t, seed=cfg.seed, early_stopping=stopping, describe=f"{cfg.model.kind} epochs",
                     terms=classify_terms(t.label_smoothing))
    model = loop.restore(build)
    for epoch in loop:
        order = epoch.rng.permutation(len(x_train))
        rate = current_rate(model.optimizer)
        figures = loop.fit((x_train[order], y_train[order]), t.batch_size)
        figures["learning_rate"] = rate
        if validate:
            val = loop.evaluate((x_val, y_val))
            figures.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        loop.end_epoch(figures, show=("loss", "val_accuracy") if validate else ("loss", "accuracy"))
    trained = loop.finish()
    if not ctx.is_chief:  # another worker of a multi-worker run: the chief tests, reports and saves
        return {"task": "classifier", **trained}

    final = with_test_flip(model) if cfg.augment.test_flip else model
    probs = predict_probs(final, data.x_test)
    pred = probs.argmax(1)
    summary = {"task": "classifier", "dataset": data.dataset, "model": cfg.model.kind,
               "parameters": int(model.count_params()), "train_images": len(data.x_train),
               "validation_images": len(data.x_val), "test_images": len(data.x_test),
               "test_accuracy": float(np.mean(pred == data.y_test)), "test_loss": cross_entropy(probs, data.y_test)}
    per_class = [float(np.mean(pred[data.y_test == c] == c)) if np.any(data.y_test == c) else float("nan")
                 for c in range(k)]
    summary["class_accuracy_min"] = float(np.nanmin(per_class))
    summary["class_accuracy_max"] = float(np.nanmax(per_class))
    summary.update(trained)
    ctx.log(f"test accuracy {summary['test_accuracy']:.4f} ({summary['test_images']:,} images)")

    ctx.save_model(final, MODEL_FILE, where="artifacts")
    atomic_write_json(ctx.artifact(CLASSES_FILE), {
        "dataset": data.dataset, "classes": list(data.class_names), "input_shape": list(data.input_shape),
        "test_accuracy": summary["test_accuracy"]})
    from supervised import classifier_report as rep

    rep.write_report(cfg, ctx, data, probs, per_class, summary)
    if cfg.report.book_outputs:
        summary.update(rep.write_book_outputs(ctx, data, probs, cfg.report))
    return summary


def read_classes(run) -> dict:
    """``artifacts/classes.json`` of a classifier run (a RunError when it is missing or corrupt)."""
    from lab.errors import RunError
    from lab.runs import read_json

    path = run.artifacts / CLASSES_FILE
    if not path.exists():
        raise RunError(f"{run.path}: no trained classifier yet ({path.relative_to(run.path)} is written when training "
                       f"ends); continue the run with `lab run --resume {run.path}`")
    info = read_json(path, "classifier description")
    if (not isinstance(info, dict) or not isinstance(info.get("classes"), list) or
            not isinstance(info.get("input_shape"), list) or len(info["input_shape"]) != 3):
        raise RunError(f"{path}: corrupt classifier description (not what `lab run` writes)")
    return info
