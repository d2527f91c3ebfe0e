"""The book's autoencoder (chapter 7): 784-128-64-128-784 on MNIST, and the PCA baseline it is measured
against.

The network: a named ``encoder`` (784 -> hidden... -> code) and ``decoder`` (code -> mirrored hidden -> 784)
joined in one functional model; widths, activations and the loss (BCE or MSE per pixel) come from the
scenario. ``model.denoising`` corrupts the training inputs (Gaussian noise or masking, :func:`corrupt`)
while the target stays the clean digit.

Baseline: PCA with as many components as the code has units (numpy: eigenvectors of the scatter matrix,
i.e. the SVD's right singular vectors, :func:`pca_fit`). Both are scored with the mean squared error
(:func:`mse`) and the binary cross-entropy per pixel (:func:`bce`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

EPS = 1e-7


def build_autoencoder(model_cfg):
    """(autoencoder, encoder, decoder) for an ``AutoencoderModelConfig`` section."""
    act = model_cfg.activation
    x = keras.Input((784,), name="pixels")
    h = x
    for i, width in enumerate(model_cfg.hidden):
        h = layers.Dense(width, activation=act, name=f"dense_{i}")(h)
    code = layers.Dense(model_cfg.code_size, activation=model_cfg.code_activation, name="code")(h)
    encoder = keras.Model(x, code, name="encoder")
    z = keras.Input((model_cfg.code_size,), name="code_in")
    h = z
    for i, width in enumerate(reversed(model_cfg.hidden)):
        h = layers.Dense(width, activation=act, name=f"dense_{i}")(h)
    out = layers.Dense(784, activation=model_cfg.output_activation, name="pixels_out")(h)
    decoder = keras.Model(z, out, name="decoder")
    inputs = keras.Input((784,), name="digits")
    autoencoder = keras.Model(inputs, decoder(encoder(inputs)), name="autoencoder")
    return autoencoder, encoder, decoder


def corrupt(x: np.ndarray, noise: str, amount: float, rng: np.random.Generator) -> np.ndarray:
    """The denoising autoencoder's input corruption (the clean ``x`` stays the target)."""
    if noise == "gaussian":
        return np.clip(x + rng.normal(0.0, amount, x.shape).astype(np.float32), 0.0, 1.0)
    if noise == "masking":
        return x * (rng.random(x.shape, dtype=np.float32) >= amount)
    return x


def mse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(x, np.float64) - y) ** 2))


def bce(x: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy per pixel of predictions ``y`` (clipped into (0, 1)), grey targets ``x``."""
    y = np.clip(np.asarray(y, np.float64), EPS, 1 - EPS)
    return float(-np.mean(x * np.log(y) + (1 - x) * np.log(1 - y)))


def pca_fit(x_train: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, components (k, d), share of the variance explained) of the centred digits.

    The principal axes are the eigenvectors of the d x d scatter matrix (the right singular vectors of the
    centred data): one matrix product and a symmetric eigendecomposition, much cheaper than an SVD of the
    N x d data.
    """
    x = np.asarray(x_train, dtype=np.float64)
    mean = x.mean(0)
    centred = x - mean
    values, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    total = values.sum()
    explained = float(values[:components].sum() / total) if total > 0 else 1.0  # no variance: nothing lost
    return mean, vectors[:, :components].T, explained


def pca_reconstruct(x: np.ndarray, mean: np.ndarray, comps: np.ndarray) -> np.ndarray:
    return (x - mean) @ comps.T @ comps + mean


def predict(model, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """The model's outputs for ``x``, in batches, as numpy."""
    out = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out)
