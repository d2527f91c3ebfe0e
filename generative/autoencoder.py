"""The book's autoencoder (chapter 7): 784-128-64-128-784 on MNIST, beside a PCA baseline.

The network: a named ``encoder`` (784 -> hidden... -> code) and ``decoder`` (code -> mirrored hidden -> 784)
joined in one functional model; widths, activations and the loss (BCE or MSE per pixel) come from the
scenario. ``model.denoising`` corrupts the training inputs (Gaussian noise or masking) while the target stays
the clean digit.

Pictures: after every epoch the same test digits are reconstructed, and ``artifacts/training_strips.png``
holds one strip per epoch under the originals (the book's ``training/`` pictures, in one file); at the end
``artifacts/reconstructions.png`` shows test digits beside their reconstructions.

Baseline: PCA with as many components as the code has units, fitted on the same training digits in the
same run (numpy: eigenvectors of the scatter matrix, i.e. the SVD's right singular vectors). Both are
scored on the test digits with the mean squared error and the binary cross-entropy per pixel;
``mse_ratio_vs_pca`` < 1 means the autoencoder wins.

Training runs on the shared epoch loop (:mod:`lab.loop`): a checkpoint after every epoch holds the model
with its optimizer state and the strips so far (``checkpoints/autoencoder.json`` names it); ``lab run
--resume`` continues from it and ends with the numbers of a run that never stopped.
"""

from __future__ import annotations

import time

import keras
import numpy as np
from keras import layers

from generative import images as img
from generative.data import flat, load_digits
from lab.errors import RunError, TrainingError
from lab.loop import EpochLoop
from lab.schedules import learning_rate

STRIPS_PART = "strips.npz"
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
    """Mean binary cross-entropy per pixel of predictions ``y`` (clipped into (0, 1)) for grey targets ``x``."""
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
    explained = float(values[:components].sum() / total) if total > 0 else 1.0  # (no variance: nothing is lost)
    return mean, vectors[:, :components].T, explained


def pca_reconstruct(x: np.ndarray, mean: np.ndarray, comps: np.ndarray) -> np.ndarray:
    return (x - mean) @ comps.T @ comps + mean


def _load_strips(path, epochs: int, digits: int) -> list[np.ndarray]:
    """The checkpoint's strips (one (digits, 28, 28) uint8 row per epoch finished); a RunError naming the file when
    it is damaged or does not fit the checkpoint."""
    if path is None:
        return []
    from lab.checkpoints import NOT_RESUMABLE
    from lab.runs import reading

    with reading(path, "checkpoint of the training strips", hint=NOT_RESUMABLE):
        with np.load(path, allow_pickle=False) as f:
            strips = f["strips"]
    if strips.dtype != np.uint8 or strips.shape[1:] != (digits, 28, 28) or len(strips) < epochs:
        raise RunError(f"{path}: corrupt checkpoint of the training strips (shape {strips.shape}, dtype {strips.dtype}; "
                       f"expected at least {epochs} strips of {digits} digits, uint8); {NOT_RESUMABLE}")
    return list(strips)


def strips_picture(originals: np.ndarray, strips: list[np.ndarray], scale: int = 2) -> np.ndarray:
    """Originals on top, then one row per epoch."""
    rows = np.concatenate([img.to_uint8(originals)[None], *[s[None] for s in strips]])
    return img.tile(rows.reshape(-1, 28, 28), len(rows), rows.shape[1], scale)


def run(cfg, ctx) -> dict:
    """Train the autoencoder of an ``autoencoder`` scenario and compare it with PCA."""
    data = load_digits(cfg.data)
    ctx.log(f"data: {data}")
    for note in data.notes:
        ctx.log(f"note: {note}")
    x_train, x_test = flat(data.x_train), flat(data.x_test)
    m, t, pics = cfg.model, cfg.training, cfg.pictures
    fixed = x_test[:pics.strip_digits]

    loss = keras.losses.BinaryCrossentropy() if m.loss == "bce" else keras.losses.MeanSquaredError()

    def build():
        model, _, _ = build_autoencoder(m)
        steps_per_epoch = -(-len(x_train) // t.batch_size)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate(t, steps_per_epoch)), loss=loss,
                      jit_compile=ctx.jit_compile)
        return model

    loop = EpochLoop(ctx, "autoencoder", t, seed=cfg.seed, describe="autoencoder epochs")
    model = loop.restore(build)
    strips: list[np.ndarray] = _load_strips(loop.files.get(STRIPS_PART), loop.state.epoch,
                                            len(fixed))[:loop.state.epoch]
    loop.parts[STRIPS_PART] = lambda path: np.savez_compressed(path, strips=np.stack(strips))
    for epoch in loop:
        order = epoch.rng.permutation(len(x_train))
        target = x_train[order]
        inputs = corrupt(target, m.denoising.noise, m.denoising.amount, epoch.rng)
        train = loop.fit((inputs, target), t.batch_size)
        rec_test = _predict(model, x_test)
        strips.append(img.to_uint8(rec_test[:pics.strip_digits]))
        img.save_png(strips_picture(fixed, strips), ctx.artifact("training_strips.png"))
        loop.end_epoch({"loss": train["loss"], "test_mse": mse(x_test, rec_test),
                        "test_bce": bce(x_test, rec_test)}, show=("loss", "test_mse"))

    rec_test = _predict(model, x_test)
    t0 = time.perf_counter()
    mean, comps, explained = pca_fit(x_train, m.code_size)
    pca_test = pca_reconstruct(x_test, mean, comps)
    pca_seconds = time.perf_counter() - t0
    summary = {
        "task": "autoencoder",
        "code_size": m.code_size,
        "epochs": t.epochs,
        "train_digits": len(x_train),
        "test_digits": len(x_test),
        "test_mse": mse(x_test, rec_test),
        "test_bce": bce(x_test, rec_test),
        "pca_test_mse": mse(x_test, pca_test),
        "pca_test_bce": bce(x_test, pca_test),
        "pca_explained_variance": explained,
    }
    bad = {k: v for k, v in summary.items() if isinstance(v, float) and not np.isfinite(v)}
    if bad:
        raise TrainingError(f"autoencoder: {', '.join(f'{k} = {v}' for k, v in bad.items())} after training: the "
                            "model diverged. Lower training.learning_rate and start again")
    # PCA reconstructs the test digits exactly only when they lie in its subspace (tiny or constant data):
    # the ratio is then not measurable, not a division by zero
    summary["mse_ratio_vs_pca"] = (summary["test_mse"] / summary["pca_test_mse"] if summary["pca_test_mse"] > 0
                                   else None)
    summary.update(loop.finish())
    summary["pca_seconds"] = round(pca_seconds, 3)
    ratio = summary["mse_ratio_vs_pca"]
    ratio_text = f"{ratio:.3f}" if ratio is not None else "not measurable: PCA is exact on these digits"
    ctx.log(f"test MSE {summary['test_mse']:.5f} vs PCA({m.code_size}) {summary['pca_test_mse']:.5f} "
            f"(ratio {ratio_text})")

    n = min(pics.pairs, len(x_test))
    cols = min(8, n)
    pairs = np.stack([x_test[:n], rec_test[:n], pca_test[:n]], 1).reshape(-1, 784)
    img.save_png(img.tile(pairs, -(-n // cols), cols * 3, scale=2), ctx.artifact("reconstructions.png"))
    img.plot_curves(ctx, {"test_mse": "test MSE"}, "mean squared error per pixel", "training_curves.png")

    widths = "-".join(str(w) for w in [784, *m.hidden, m.code_size, *reversed(m.hidden), 784])
    ctx.report.table("Test reconstruction error (per pixel)", [
        {"model": f"autoencoder {widths}", "MSE": summary["test_mse"], "BCE": summary["test_bce"]},
        {"model": f"PCA, {m.code_size} components ({explained:.1%} of the variance)", "MSE": summary["pca_test_mse"],
         "BCE": summary["pca_test_bce"]},
    ], note=f"Autoencoder MSE / PCA MSE = {ratio_text}. Trained with {m.loss.upper()} loss"
            + (f", {m.denoising.noise} corruption {m.denoising.amount:g}" if m.denoising.noise != "none" else "") + ".")
    ctx.report.image("Reconstructions during training", "artifacts/training_strips.png",
                     f"Top row: {pics.strip_digits} test digits; each row below: their reconstructions after one more "
                     "epoch.")
    ctx.report.image("Final reconstructions", "artifacts/reconstructions.png",
                     "Triples: test digit, autoencoder reconstruction, PCA reconstruction.")
    ctx.report.image("Training", "artifacts/training_curves.png", "Test MSE per epoch.")
    return summary


def _predict(model, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    out = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(out)
