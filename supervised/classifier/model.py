"""Image classifiers: the book's MNIST network (chapter 3), a convnet, and its CIFAR-10 CNN (chapter 6).

Four networks, all ``keras.*`` (no ``tf.*``: the same code runs on Keras' JAX backend):

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
random augmentation (``RandomFlip``, and :class:`RandomShift`: a random crop after zero padding, written
in ``keras.ops`` because Keras' ``RandomTranslation`` declares itself not compilable, which turns the whole
model's compilation off on JAX) and the standardisation by the training images' per-channel mean and variance
(``Normalization``) are its first layers, so the saved ``artifacts/classifier.keras`` is all ``lab
predict`` needs (with ``augment.test_flip`` it averages each image's probabilities with its mirror
image's: test-time augmentation, also inside the saved model). The last layer computes in float32 under
mixed precision. The augmentation layers' seeds come from the named streams ``augment/flip`` and
``augment/crop`` (the epoch loop reseeds them every epoch).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from lab.schedules import learning_rate
from lab.seeding import stream_seed

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
    x = layers.Conv2D(filters, 3, strides=strides, padding=padding, use_bias=not bn,
                      kernel_initializer="he_normal", name=name)(x)
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


def build_model(model_cfg, augment_cfg, input_shape, n_classes: int, mean, variance,
                seed: int = 0) -> keras.Model:
    """The classifier a ``model`` section names, with augmentation and standardisation as its first layers."""
    m = model_cfg
    inputs = keras.Input(input_shape, name="pixels")
    x = inputs
    if augment_cfg.flip:
        x = layers.RandomFlip("horizontal", seed=stream_seed(seed, "augment/flip"), name="random_flip")(x)
    if augment_cfg.crop_padding:
        x = RandomShift(augment_cfg.crop_padding, seed=stream_seed(seed, "augment/crop"),
                        name="random_crop")(x)
    x = layers.Normalization(mean=np.asarray(mean, np.float32), variance=np.asarray(variance, np.float32),
                             name="standardise")(x)
    act = m.activation
    if m.kind == "mlp":
        x = layers.Flatten(name="flatten")(x)
        x = _dense_head(x, m.hidden, act, m.dropout)
    elif m.kind == "convnet":
        for b, filters in enumerate(m.filters):
            # the last convolution of a block is unpadded, as in Keras' recipes
            for c in range(m.convs_per_block):
                last = c == m.convs_per_block - 1
                x = _conv(x, filters, act, m.batch_norm, f"block{b}_conv{c}",
                          padding="valid" if last else "same")
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
class RandomShift(layers.Layer):
    """In training, each image moved by a random whole number of pixels in ``[-shift, shift]`` along each
    axis, zeros moved in: a random crop of the image padded by ``shift`` zeros. Inference: unchanged."""

    def __init__(self, shift: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.shift, self.seed = int(shift), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training or not self.shift:
            return images
        h, w = images.shape[1], images.shape[2]
        moves = keras.random.randint((ops.shape(images)[0], 2), -self.shift, self.shift + 1,
                                     seed=self.generator)
        rows = ops.arange(h)[None, :] - moves[:, :1]  # (B, H): the source row of each row
        cols = ops.arange(w)[None, :] - moves[:, 1:]
        out = ops.take_along_axis(images, ops.clip(rows, 0, h - 1)[:, :, None, None], axis=1)
        out = ops.take_along_axis(out, ops.clip(cols, 0, w - 1)[:, None, :, None], axis=2)
        inside = ((rows >= 0) & (rows < h))[:, :, None, None] & ((cols >= 0) & (cols < w))[:, None, :, None]
        return ops.where(inside, out, ops.zeros_like(out))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shift": self.shift, "seed": self.seed}


@keras.saving.register_keras_serializable(package="lab")
class Mirror(layers.Layer):
    """Images mirrored left-right (channels-last batches)."""

    def call(self, images):
        return ops.flip(images, axis=-2)


def with_test_flip(model: keras.Model) -> keras.Model:
    """A model whose probabilities average ``model``'s on each image and on its mirror image (test-time
    augmentation for photos; it shares ``model``'s weights)."""
    inputs = keras.Input(model.input_shape[1:], name="pixels")
    both = layers.Average(name="mean_of_image_and_mirror")(
        [model(inputs), model(Mirror(name="mirror")(inputs))])
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
        return keras.optimizers.SGD(lr, momentum=t.momentum, nesterov=True,
                                    weight_decay=t.weight_decay or None)
    return keras.optimizers.RMSprop(lr)


# --------------------------------------------------------------------------------------------------
# Predictions and their figures (plain maths)


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[y]


def predict_probs(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    out = [keras.ops.convert_to_numpy(model(x[i:i + batch_size].astype(np.float32), training=False))
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def cross_entropy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))))




def per_class_accuracy(pred: np.ndarray, y: np.ndarray, k: int) -> list[float]:
    """The share of each class's images predicted right (NaN for a class with no images)."""
    return [float(np.mean(pred[y == c] == c)) if np.any(y == c) else float("nan") for c in range(k)]


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """counts[true, predicted]."""
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (np.asarray(y, np.int64), np.asarray(pred, np.int64)), 1)
    return m


def confident_mistakes(probs: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` wrong predictions with the highest predicted probability, most confident first."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y)
    order = np.argsort(-probs[wrong, pred[wrong]], kind="stable")
    return wrong[order[:n]]


def top_classes(probs: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` most probable classes of one image's probabilities, ``(class index, probability)``, most
    probable first (ties: the lower index first)."""
    p = np.asarray(probs, np.float64).reshape(-1)
    order = np.argsort(-p, kind="stable")[:k]
    return [(int(i), float(p[i])) for i in order]
