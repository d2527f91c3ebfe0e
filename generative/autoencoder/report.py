"""The autoencoder run's pictures and report sections: the training strips
(``artifacts/training_strips.png``), the final reconstructions beside PCA's
(``artifacts/reconstructions.png``), the test-MSE curve (``artifacts/training_curves.png``) and the table
of reconstruction errors."""

from __future__ import annotations

import numpy as np

from lab import images
from lab.plots import plot_curves


def strips_picture(originals: np.ndarray, strips: list[np.ndarray], scale: int = 2) -> np.ndarray:
    """Originals on top, then one row per epoch."""
    rows = np.concatenate([images.to_uint8(originals)[None], *[s[None] for s in strips]])
    return images.tile(rows.reshape(-1, 28, 28), len(rows), rows.shape[1], scale)


def strips(ctx, originals: np.ndarray, strips_: list[np.ndarray]) -> None:
    """``training_strips.png`` as it stands after an epoch."""
    images.save_png(strips_picture(originals, strips_), ctx.artifact("training_strips.png"))


def ratio_text(ratio: float | None) -> str:
    return f"{ratio:.3f}" if ratio is not None else "not measurable: PCA is exact on these digits"


def final(ctx, cfg, summary: dict, x_test: np.ndarray, rec_test: np.ndarray, pca_test: np.ndarray) -> None:
    """The final pictures (reconstruction triples, the curve) and the report's sections."""
    m, pics = cfg.model, cfg.pictures
    n = min(pics.pairs, len(x_test))
    cols = min(8, n)
    triples = np.stack([x_test[:n], rec_test[:n], pca_test[:n]], 1).reshape(-1, 784)
    images.save_png(images.tile(triples, -(-n // cols), cols * 3, scale=2),
                    ctx.artifact("reconstructions.png"))
    plot_curves(ctx, {"test_mse": "test MSE"}, "mean squared error per pixel", "training_curves.png")

    widths = "-".join(str(w) for w in [784, *m.hidden, m.code_size, *reversed(m.hidden), 784])
    explained = summary["pca_explained_variance"]
    noise = f", {m.denoising.noise} corruption {m.denoising.amount:g}" if m.denoising.noise != "none" else ""
    ctx.report.table("Test reconstruction error (per pixel)", [
        {"model": f"autoencoder {widths}", "MSE": summary["test_mse"], "BCE": summary["test_bce"]},
        {"model": f"PCA, {m.code_size} components ({explained:.1%} of the variance)",
         "MSE": summary["pca_test_mse"], "BCE": summary["pca_test_bce"]},
    ], note=f"Autoencoder MSE / PCA MSE = {ratio_text(summary['mse_ratio_vs_pca'])}. Trained with "
            f"{m.loss.upper()} loss{noise}.")
    ctx.report.image("Reconstructions during training", "artifacts/training_strips.png",
                     f"Top row: {pics.strip_digits} test digits; each row below: their reconstructions after "
                     "one more epoch.")
    ctx.report.image("Final reconstructions", "artifacts/reconstructions.png",
                     "Triples: test digit, autoencoder reconstruction, PCA reconstruction.")
    ctx.report.image("Training", "artifacts/training_curves.png", "Test MSE per epoch.")
