"""The VAE run's pictures and report sections: the likelihood table, prior samples
(``artifacts/samples.png``), the sample-quality table, reconstructions (``artifacts/reconstructions.png``)
and the training curves (``artifacts/training_curves.png``)."""

from __future__ import annotations

import math

import numpy as np

from lab import images
from lab.plots import plot_curves


def prior_text(model_cfg) -> str:
    """The prior of a model section, in words."""
    if model_cfg.prior == "mog":
        return f"learned mixture-of-{model_cfg.prior_components}-Gaussians prior"
    if model_cfg.prior == "vamp":
        return f"VampPrior ({model_cfg.prior_components} pseudo-inputs)"
    return "standard normal prior N(0, I)"


def likelihood(ctx, summary: dict, cfg) -> None:
    """The table of the test ELBO, its two terms and the IW estimate of log p(x)."""
    ctx.report.table("Likelihood (binarised test digits, nats per digit)", [
        {"estimate": "ELBO", "value": summary["test_elbo"]},
        {"estimate": f"log p(x), importance weighted (k={cfg.evaluation.iw_samples})",
         "value": summary["test_log_likelihood_iw"]},
        {"estimate": "reconstruction term -E[log p(x|z)]", "value": summary["test_reconstruction"]},
        {"estimate": "KL(q(z|x) || p(z))", "value": summary["test_kl"]},
    ], note="The IW estimate is a tighter lower bound on log p(x) than the ELBO. On full MNIST a "
            "one-stochastic-layer VAE reaches about -86 to -89 nats (IWAE paper); figures on a subset are "
            "not comparable.")


def samples(ctx, x_samples: np.ndarray, cfg) -> None:
    """``samples.png``: the prior samples as a square grid, and its section."""
    images.save_grid(x_samples, ctx.artifact("samples.png"))
    ctx.report.image("Samples from the prior", "artifacts/samples.png",
                     f"{cfg.sampling.grid} digits decoded from codes drawn from the {prior_text(cfg.model)} "
                     f"(standard deviations scaled by T={cfg.sampling.temperature:g}; pixel probabilities).")


def quality(ctx, scores: dict, classifier_accuracy: float, test_digits: int, cfg) -> None:
    """The sample-quality table: prior samples, real test digits and reconstructions, as the classifier
    scores them (``scores``: :func:`generative.vae.model.score` of each)."""
    q, s, ref, rec = cfg.quality, scores["samples"], scores["test"], scores["reconstructions"]
    confident = f"confidence >= {q.confidence:g}"

    def row(images_: str, figures: dict, frechet) -> dict:
        return {"images": images_, confident: figures["confident_share"],
                "smallest class": figures["class_share_min"], "largest class": figures["class_share_max"],
                "Fréchet distance to test digits": frechet}

    ctx.report.table("Sample quality", [
        row(f"{q.samples} prior samples ({cfg.model.prior}, T={cfg.sampling.temperature:g})", s,
            s["frechet_distance"]),
        row(f"{test_digits} real test digits (reference)", ref,
            f"{ref['frechet_distance']:.4g} (training digits)"),
        row(f"reconstructions of the {test_digits} test digits", rec, rec["frechet_distance"]),
    ], note=f"Scored by a small convolutional MNIST classifier trained in this run (test accuracy "
            f"{classifier_accuracy:.3f}). Targets: at least 85% of the samples confident, every class "
            "between 5% and 15%. Samples that fall short while reconstructions pass point at regions of the "
            "prior that no training digit's posterior covers. Class shares of the samples: "
            + ", ".join(f"{d}: {v:.3f}" for d, v in enumerate(s["class_shares"])) + ".")


def reconstructions(ctx, grey: np.ndarray, reconstructed: np.ndarray) -> None:
    """``reconstructions.png``: test digits beside their reconstructions, 8 pairs a row, and its section."""
    pairs = np.stack([grey, reconstructed], 1).reshape(-1, 784)
    rows = math.ceil(len(grey) / 8)
    images.save_png(images.tile(pairs, rows, 16, scale=2), ctx.artifact("reconstructions.png"))
    ctx.report.image("Reconstructions", "artifacts/reconstructions.png",
                     "Test digits (left of each pair) and their reconstructions through the mean of q(z|x).")


def curves(ctx) -> None:
    """``training_curves.png``: the train and test ELBO per epoch, and its section."""
    plot_curves(ctx, {"elbo": "train ELBO", "test_elbo": "test ELBO"}, "nats per digit",
                "training_curves.png")
    ctx.report.image("Training", "artifacts/training_curves.png", "ELBO per epoch (train and test, nats).")
