"""The ``first-network`` pictures and report: the learning curve and the network's predictions, the gallery
of activation functions with their derivatives."""

from __future__ import annotations

import math

import numpy as np

from lab.plots import pyplot
from supervised.first_network.model import ACTIVATION_TITLES, BOOK_X, BOOK_Y


def learning_curve_figure(losses: list[float], training, epochs: int):
    fig, ax = pyplot().subplots(figsize=(6, 3.6))
    ax.plot(np.arange(len(losses)), losses, lw=1.8)
    ax.axhline(training.target_loss, color="#c33", ls="--", lw=1, label=f"target {training.target_loss:g}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (full-batch gradient step)")
    ax.set_ylabel(training.loss)
    ax.set_title(f"One sigmoid layer learns y from X: {epochs} epochs")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def activation_figure(curves, x):
    n = len(curves)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = pyplot().subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    for ax, (name, (value, deriv)) in zip(axes.flat, curves.items(), strict=False):
        ax.axhline(0, color="#999", lw=0.6)
        ax.axvline(0, color="#999", lw=0.6)
        ax.plot(x, value, lw=2, label="f(x)")
        ax.plot(x, deriv, lw=1.6, ls="--", label="f'(x)")
        ax.set_title(ACTIVATION_TITLES.get(name, name), fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Activation functions (solid) and their derivatives by autodiff (dashed)")
    fig.tight_layout()
    return fig


def report_network(ctx, training, pred, weights, losses: list[float], epochs: int, learned: bool) -> None:
    """The learning curve (saved as artifacts/learning_curve.png) and the table of predictions."""
    ctx.save_figure(learning_curve_figure(losses, training, epochs), "learning_curve.png")
    shown = "[" + ", ".join(f"{float(w):.4g}" for w in weights) + "]"
    ctx.report.table(
        "The network's predictions",
        [{"X": BOOK_X[i].astype(int).tolist(), "y": int(BOOK_Y[i, 0]), "prediction": float(pred[i]),
          "rounded": int(round(float(pred[i])))} for i in range(len(pred))],
        note=f"One Dense unit with a sigmoid, {training.loss} loss, plain gradient descent at learning rate "
             f"{training.learning_rate:g}: {'learned' if learned else 'NOT learned'} after {epochs} epochs "
             f"(loss {losses[-1]:.4g}). Weights: {shown}.",
    )
    ctx.report.image("Learning curve", "artifacts/learning_curve.png")


def report_activations(ctx, curves, xs) -> None:
    """The gallery (saved as artifacts/activations.png) and a table of values at 0 and derivative ranges."""
    ctx.save_figure(activation_figure(curves, xs), "activations.png")
    zero = int(np.argmin(np.abs(xs)))
    ctx.report.table(
        "Activation functions",
        [{"function": ACTIVATION_TITLES.get(n, n), "f(0)": float(v[zero]), "f'(0)": float(d[zero]),
          "max f'": float(d.max()), "min f'": float(d.min())} for n, (v, d) in curves.items()],
        note="Derivatives computed by TensorFlow's autodiff on the plotted range.",
    )
    ctx.report.image("Activation gallery", "artifacts/activations.png")
