"""The ``first-network`` runner: one sigmoid layer learns y = [0, 0, 1, 1] from the book's X by full-batch
gradient descent, until its predictions round to y; then a gallery of activation functions and their
derivatives (by autodiff)."""

from __future__ import annotations

import keras
import numpy as np

from lab.seeding import stream_seed
from supervised.first_network.model import (
    BOOK_X,
    BOOK_Y,
    activation_curves,
    first_network,
    train_until_learned,
)
from supervised.first_network.report import report_activations, report_network


def run(cfg, ctx) -> dict:
    t = cfg.training
    model = first_network(stream_seed(cfg.seed, "weights"), t.use_bias)
    every = max(1, t.max_epochs // 1000)  # metrics.csv: about 1000 rows at most
    with ctx.progress(t.max_epochs, "first network", unit="epoch") as bar:

        def on_chunk(start, end, losses):
            for e in range(start, end):
                if e % every == 0:
                    ctx.log_metrics(e, loss=losses[e])
            bar.update(end - start, loss=losses[-1] if losses else float("nan"))

        epochs, losses, learned = train_until_learned(
            model, BOOK_X, BOOK_Y, t.learning_rate, t.max_epochs, t.target_loss, t.loss,
            jit_compile=ctx.jit_compile, on_chunk=on_chunk,
        )
    ctx.log_metrics(epochs, loss=losses[-1])
    pred = keras.ops.convert_to_numpy(model(BOOK_X)).ravel()
    if not learned:
        ctx.log(f"warning: not learned within {t.max_epochs} epochs (loss {losses[-1]:.4g}); "
                "raise training.max_epochs or training.learning_rate")
    ctx.save_model(model, "first_network.keras")
    weights = keras.ops.convert_to_numpy(model.get_layer("layer").kernel).ravel()
    report_network(ctx, t, pred, weights, losses, epochs, learned)

    lo, hi = cfg.activations.x_range
    xs = np.linspace(lo, hi, 401)
    report_activations(ctx, activation_curves(cfg.activations.functions, xs), xs)

    summary = {"epochs": epochs, "final_loss": losses[-1], "learned": learned,
               "rounded_equal_y": bool(np.array_equal(np.round(pred), BOOK_Y.ravel()))}
    summary.update({f"prediction_{i}": float(p) for i, p in enumerate(pred)})
    summary.update({f"weight_{i}": float(w) for i, w in enumerate(weights)})
    return summary
