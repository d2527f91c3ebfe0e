"""The ``vae`` runner: train the VAE on binarised MNIST with the shared epoch loop, evaluate it on the test
digits (ELBO and importance-weighted log p(x)), draw from its prior and score the samples with a
classifier trained in the run.

Random streams (:mod:`lab.seeding`, all named): ``test-binarisation`` (the one Bernoulli draw of the test
digits), ``train-binarisation`` (the training digits' draw under ``binarize: static``; ``dynamic`` draws
again each epoch from the loop's epoch stream), ``iw-estimate`` (the draws of q(z|x) of the estimate),
``prior-samples`` (samples.png: ``lab sample --seed S`` draws the same from a run of seed S),
``quality-classifier`` (the scoring classifier's shuffle) and ``quality-samples`` (the samples it scores).

Run folder: the loop's checkpoint after every epoch (``checkpoints/vae.json`` names it: the model with its
optimizer state, and the data path ``lab sample`` needs), ``checkpoints/classifier.keras``; at the end the
trained model ``artifacts/vae.keras`` (what ``lab sample`` draws from) and the pictures of :mod:`.report`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np

from generative.vae import report
from generative.vae.model import (
    VAE,
    binarize,
    binary_test_digits,
    build_vae,
    importance_weighted,
    kl_weight,
    load_vae,
    predict,
    score,
    train_classifier,
    vae_terms,
)
from lab.checkpoints import NOT_RESUMABLE
from lab.data.mnist import flat, load_logged_digits
from lab.errors import TrainingError
from lab.loop import EpochLoop
from lab.runs import load_run_model
from lab.schedules import current_rate, learning_rate
from lab.seeding import stream

CHECKPOINT = "vae"  # checkpoints/vae.json names the last checkpoint (lab.checkpoints)
FINAL_MODEL = "vae.keras"  # artifacts/: the trained model, what `lab sample` draws from
CLASSIFIER_FILE = "classifier.keras"  # checkpoints/: the scoring classifier, trained once per run
SAMPLES_STREAM = "prior-samples"  # samples.png and `lab sample`'s prior grid


def run(cfg, ctx) -> dict:
    """Train the VAE of a ``vae`` scenario, evaluate it, sample from it and score the samples."""
    data = load_logged_digits(cfg.data, ctx.log)
    x_train, x_test = flat(data.x_train), flat(data.x_test)
    mode, t = cfg.data.binarize, cfg.training
    x_test_bin = binary_test_digits(x_test, mode, cfg.seed)
    static_train = (binarize(x_train, mode, stream(cfg.seed, "train-binarisation"))
                    if mode != "dynamic" else None)  # static and threshold: one set for all epochs

    loop = EpochLoop(ctx, CHECKPOINT, t, seed=cfg.seed, describe="vae epochs", terms=vae_terms)
    model = loop.restore(lambda: build(cfg, ctx, len(x_train)),
                         load=lambda path: load_vae(path, hint=NOT_RESUMABLE))
    loop.extra["data_path"] = absolute_path(cfg.data.path)  # `lab sample` finds the digits from anywhere
    for epoch in loop:
        x_epoch = static_train if static_train is not None else binarize(x_train, mode, epoch.rng)
        x_epoch = x_epoch[epoch.rng.permutation(len(x_epoch))]
        weight = kl_weight(epoch.index, t.beta, t.kl_warmup_epochs)
        model.kl_weight.assign(weight)
        rate = current_rate(model.optimizer)
        train = loop.fit((x_epoch,), t.batch_size)
        test = loop.evaluate((x_test_bin,), 1000)
        loop.end_epoch({"loss": train["loss"], "elbo": train["elbo"],
                        "reconstruction": train["reconstruction"], "kl": train["kl"], "kl_weight": weight,
                        "test_elbo": test["elbo"], "learning_rate": rate}, show=("elbo", "test_elbo"))
    if not ctx.is_chief:  # another worker of a multi-worker run: the chief evaluates, samples and saves
        return {"task": "vae", **loop.figures()}

    summary = {"task": "vae", "model": cfg.model.kind, "latent_size": cfg.model.latent_size,
               "prior": cfg.model.prior, "prior_components": model.prior_components, "epochs": t.epochs,
               "binarize": cfg.data.binarize, "train_digits": len(x_train), "test_digits": len(x_test)}
    summary.update(evaluate(model, x_test_bin, cfg, ctx))
    report.likelihood(ctx, summary, cfg)
    samples = model.sample(cfg.sampling.grid, stream(cfg.seed, SAMPLES_STREAM), cfg.sampling.temperature)
    report.samples(ctx, samples, cfg)
    if cfg.quality.enabled:
        summary.update(sample_quality(model, data, x_train, x_test, x_test_bin, cfg, ctx))
    pairs = min(32, len(x_test))
    report.reconstructions(ctx, x_test[:pairs], model.reconstruct(x_test_bin[:pairs]))
    report.curves(ctx)
    summary.update(loop.figures())
    ctx.save_model(model, FINAL_MODEL, where="artifacts")
    return summary


def build(cfg, ctx, train_digits: int) -> VAE:
    """A fresh VAE of the scenario, compiled with Adam on the training section's learning-rate schedule."""
    t = cfg.training
    model = build_vae(cfg.model, beta=t.beta, seed=cfg.seed)
    steps_per_epoch = math.ceil(train_digits / t.batch_size)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate(t, steps_per_epoch)),
                  jit_compile=ctx.jit_compile)
    return model


def absolute_path(path: str | None) -> str | None:
    """``data.path`` made absolute (recorded so that `lab sample` finds the data from any folder)."""
    return None if path is None else str(Path(path).expanduser().resolve())


def evaluate(model: VAE, x_test_bin: np.ndarray, cfg, ctx) -> dict:
    """The test figures: ELBO, its two terms, the IW estimate of log p(x) (nats per digit), active units."""
    ev = cfg.evaluation
    x = x_test_bin[:ev.iw_digits]
    t0 = time.perf_counter()
    est = importance_weighted(model, x, ev.iw_samples, stream(cfg.seed, "iw-estimate"),
                              batch_digits=ev.batch_digits)
    z_mean, _ = model.encode(x)
    kl = float(est["kl"].mean())
    elbo = float(est["elbo"].mean())
    out = {
        "test_elbo": elbo,
        "test_reconstruction": -elbo - kl,
        "test_kl": kl,
        "test_log_likelihood_iw": float(est["iw"].mean()),
        "iw_samples": ev.iw_samples,
        "iw_digits": len(x),
        # Active units (Burda et al., 2016): dimensions whose posterior mean varies across digits (any prior).
        "active_latent_dims": int(np.sum(np.var(z_mean, axis=0) > 0.01)),
        "evaluation_seconds": round(time.perf_counter() - t0, 3),
    }
    bad = {k: out[k] for k in ("test_elbo", "test_reconstruction", "test_kl", "test_log_likelihood_iw")
           if not math.isfinite(out[k])}
    if bad:
        figures = ", ".join(f"{k} = {v}" for k, v in bad.items())
        raise TrainingError(f"vae evaluation: {figures} on the {len(x)} test digits after training: the "
                            "model gives them no finite likelihood (it diverged). Lower "
                            "training.learning_rate and start again")
    ctx.log(f"test ELBO {out['test_elbo']:.2f} nats, IW log p(x) {out['test_log_likelihood_iw']:.2f} nats "
            f"(k={ev.iw_samples})")
    return out


def sample_quality(model: VAE, data, x_train, x_test, x_test_bin, cfg, ctx) -> dict:
    """Prior samples, real test digits and reconstructions scored by the run's classifier (trained once, then
    read from ``checkpoints/classifier.keras``); the figures, and the table in the report."""
    q = cfg.quality
    path = ctx.run.checkpoints / CLASSIFIER_FILE
    t0 = time.perf_counter()
    if path.exists():
        classifier = load_run_model(path)
    else:
        ctx.log("training the scoring classifier")
        classifier = train_classifier(x_train, data.y_train, q.classifier_epochs,
                                      stream(cfg.seed, "quality-classifier"))
        ctx.save_model(classifier, CLASSIFIER_FILE)
    classifier_seconds = time.perf_counter() - t0
    p_test, f_test = predict(classifier, x_test)
    _, f_train = predict(classifier, x_train[:len(x_test)])
    p_s, f_s = predict(classifier, model.sample(q.samples, stream(cfg.seed, "quality-samples"),
                                                cfg.sampling.temperature))
    p_rec, f_rec = predict(classifier, model.reconstruct(x_test_bin))
    scores = {"samples": score(p_s, f_s, f_test, q.confidence),
              "test": score(p_test, f_train, f_test, q.confidence),
              "reconstructions": score(p_rec, f_rec, f_test, q.confidence)}
    s = scores["samples"]
    out = {
        "sample_confident_share": s["confident_share"],
        "sample_class_share_min": s["class_share_min"],
        "sample_class_share_max": s["class_share_max"],
        "sample_frechet_distance": s["frechet_distance"],
        "classifier_test_accuracy": float(np.mean(p_test.argmax(1) == data.y_test)),
        "test_confident_share": scores["test"]["confident_share"],
        "reconstruction_confident_share": scores["reconstructions"]["confident_share"],
        "train_test_frechet_distance": scores["test"]["frechet_distance"],
        "classifier_seconds": round(classifier_seconds, 3),
    }
    report.quality(ctx, scores, out["classifier_test_accuracy"], len(x_test), cfg)
    return out
