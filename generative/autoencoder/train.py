"""The ``autoencoder`` runner: train the book's autoencoder on MNIST with the shared epoch loop, then compare
it with PCA of the same code size, fitted on the same training digits in the same run.

After every epoch the same test digits are reconstructed: one strip per epoch under the originals in
``artifacts/training_strips.png`` (the book's ``training/`` pictures, in one file). A checkpoint after every
epoch holds the model with its optimizer state and the strips so far (``checkpoints/autoencoder.json`` names
it); ``lab run --resume`` continues from it and ends with the numbers of a run that never stopped. The only
random numbers are the loop's epoch stream (shuffle, then the denoising corruption).
"""

from __future__ import annotations

import time

import keras
import numpy as np

from generative.autoencoder import report
from generative.autoencoder.model import (
    bce,
    build_autoencoder,
    corrupt,
    mse,
    pca_fit,
    pca_reconstruct,
    predict,
)
from lab import images
from lab.checkpoints import NOT_RESUMABLE
from lab.data.mnist import flat, load_logged_digits
from lab.errors import RunError, TrainingError
from lab.loop import EpochLoop
from lab.runs import reading
from lab.schedules import learning_rate

STRIPS_PART = "strips.npz"  # the checkpoint's file of the training strips


def run(cfg, ctx) -> dict:
    """Train the autoencoder of an ``autoencoder`` scenario and compare it with PCA."""
    data = load_logged_digits(cfg.data, ctx.log)
    x_train, x_test = flat(data.x_train), flat(data.x_test)
    m, t = cfg.model, cfg.training
    fixed = x_test[:cfg.pictures.strip_digits]

    loop = EpochLoop(ctx, "autoencoder", t, seed=cfg.seed, describe="autoencoder epochs")
    model = loop.restore(lambda: build(cfg, ctx, len(x_train)))
    strips = load_strips(loop.files.get(STRIPS_PART), loop.state.epoch, len(fixed))[:loop.state.epoch]
    loop.parts[STRIPS_PART] = lambda path: np.savez_compressed(path, strips=np.stack(strips))
    for epoch in loop:
        target = x_train[epoch.rng.permutation(len(x_train))]
        inputs = corrupt(target, m.denoising.noise, m.denoising.amount, epoch.rng)
        train = loop.fit((inputs, target), t.batch_size)
        rec_test = predict(model, x_test)
        strips.append(images.to_uint8(rec_test[:len(fixed)]))
        report.strips(ctx, fixed, strips)
        loop.end_epoch({"loss": train["loss"], "test_mse": mse(x_test, rec_test),
                        "test_bce": bce(x_test, rec_test)}, show=("loss", "test_mse"))

    rec_test = predict(model, x_test)
    t0 = time.perf_counter()
    mean, comps, explained = pca_fit(x_train, m.code_size)
    pca_test = pca_reconstruct(x_test, mean, comps)
    pca_seconds = time.perf_counter() - t0
    summary = {"task": "autoencoder", "code_size": m.code_size, "epochs": t.epochs,
               "train_digits": len(x_train), "test_digits": len(x_test),
               **compare(x_test, rec_test, pca_test, explained)}
    summary.update(loop.finish())
    summary["pca_seconds"] = round(pca_seconds, 3)
    ctx.log(f"test MSE {summary['test_mse']:.5f} vs PCA({m.code_size}) {summary['pca_test_mse']:.5f} "
            f"(ratio {report.ratio_text(summary['mse_ratio_vs_pca'])})")
    report.final(ctx, cfg, summary, x_test, rec_test, pca_test)
    return summary


def build(cfg, ctx, train_digits: int):
    """A fresh autoencoder of the scenario, compiled with Adam on the training section's schedule."""
    m, t = cfg.model, cfg.training
    model, _, _ = build_autoencoder(m)
    loss = keras.losses.BinaryCrossentropy() if m.loss == "bce" else keras.losses.MeanSquaredError()
    steps_per_epoch = -(-train_digits // t.batch_size)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate(t, steps_per_epoch)), loss=loss,
                  jit_compile=ctx.jit_compile)
    return model


def compare(x_test: np.ndarray, rec_test: np.ndarray, pca_test: np.ndarray, explained: float) -> dict:
    """The test figures of the autoencoder and of PCA, and their MSE ratio; a TrainingError when the
    autoencoder's are not finite (it diverged)."""
    figures = {
        "test_mse": mse(x_test, rec_test),
        "test_bce": bce(x_test, rec_test),
        "pca_test_mse": mse(x_test, pca_test),
        "pca_test_bce": bce(x_test, pca_test),
        "pca_explained_variance": explained,
    }
    bad = {k: v for k, v in figures.items() if not np.isfinite(v)}
    if bad:
        said = ", ".join(f"{k} = {v}" for k, v in bad.items())
        raise TrainingError(f"autoencoder: {said} after training: the model diverged. Lower "
                            "training.learning_rate and start again")
    # PCA reconstructs the test digits exactly only when they lie in its subspace (tiny or constant data):
    # the ratio is then not measurable, not a division by zero
    pca = figures["pca_test_mse"]
    figures["mse_ratio_vs_pca"] = figures["test_mse"] / pca if pca > 0 else None
    return figures


def load_strips(path, epochs: int, digits: int) -> list[np.ndarray]:
    """The checkpoint's strips (one (digits, 28, 28) uint8 row per epoch finished); a RunError naming the
    file when it is damaged or does not fit the checkpoint."""
    if path is None:
        return []
    with reading(path, "checkpoint of the training strips", hint=NOT_RESUMABLE):
        with np.load(path, allow_pickle=False) as f:
            strips = f["strips"]
    if strips.dtype != np.uint8 or strips.shape[1:] != (digits, 28, 28) or len(strips) < epochs:
        raise RunError(f"{path}: corrupt checkpoint of the training strips (shape {strips.shape}, dtype "
                       f"{strips.dtype}; expected at least {epochs} strips of {digits} digits, uint8); "
                       f"{NOT_RESUMABLE}")
    return list(strips)
