"""Matplotlib for files. The lab draws figures only into files (PNG in a run folder), never in a window,
so this is the one place that picks matplotlib's Agg backend, before pyplot is first imported: every
module asks :func:`pyplot` for ``matplotlib.pyplot`` instead of importing it."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: matplotlib is slow to import)."""
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(ctx, series: dict[str, str], ylabel: str, name: str, logy: bool = False):
    """A line per metrics.csv column in ``series`` (column -> label) against the step; saved as ``name``."""
    plt = pyplot()
    rows = ctx.metrics.rows()
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in series.items():
        pts = [(int(float(r["step"])), float(r[key])) for r in rows if r.get(key, "") != ""]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker=".", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return ctx.save_figure(fig, name)
