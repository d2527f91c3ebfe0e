"""The ``optimizers`` pictures and report: trajectories over each surface's contours, the network's loss
curves, a table of final values and the rankings."""

from __future__ import annotations

import numpy as np

from lab.plots import pyplot
from supervised.optimizers.model import SURFACES, surface_values


def surface_figure(surface: str, cfg, paths: dict[str, np.ndarray]):
    from matplotlib.colors import LogNorm

    plt = pyplot()
    _, minimum, (x0, x1, y0, y1) = SURFACES[surface]
    start = getattr(cfg.surfaces, f"{surface}_start")
    x0, x1 = min(x0, start[0] - 0.5), max(x1, start[0] + 0.5)
    y0, y1 = min(y0, start[1] - 0.5), max(y1, start[1] + 0.5)
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    z = surface_values(surface, np.stack([gx, gy], axis=-1)) + 1e-3
    fig, ax = plt.subplots(figsize=(7, 5.6))
    levels = np.logspace(np.log10(z.min()), np.log10(z.max()), 30)
    ax.contourf(gx, gy, z, levels=levels, norm=LogNorm(), cmap="Greys", alpha=0.35)
    ax.contour(gx, gy, z, levels=levels, norm=LogNorm(), colors="#777", linewidths=0.4)
    colors = plt.get_cmap("tab10")
    for i, (name, path) in enumerate(paths.items()):
        path = np.where(np.isfinite(path), path, np.nan)
        final = surface_values(surface, path[-1])
        label = f"{name}: f = {final:.2e}" if np.isfinite(final) else f"{name}: diverged"
        ax.plot(path[:, 0], path[:, 1], "-", lw=1.4, color=colors(i % 10), label=label)
        ax.plot(path[-1, 0], path[-1, 1], "o", ms=4, color=colors(i % 10))
    ax.plot(*start, "s", color="k", ms=7, label="start")
    ax.plot(*minimum, "*", color="#d62728", ms=14, label="minimum")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(f"{surface.capitalize()}: {cfg.surfaces.steps} steps of each optimizer")
    ax.legend(fontsize=8, loc="best")
    return fig


def network_figure(cfg, losses: dict[str, list]):
    fig, ax = pyplot().subplots(figsize=(7, 4.2))
    for name, curve in losses.items():
        ax.plot([np.nan if v is None else v for v in curve], lw=1.6, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch (full batch)")
    ax.set_ylabel("binary cross-entropy")
    hidden = "-".join(str(h) for h in cfg.network.hidden)
    ax.set_title(f"Two moons, network 2-{hidden}-1 ({cfg.network.activation}), same initial weights")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def report_optimizers(ctx, cfg, done: dict, summary: dict) -> None:
    """The figures (artifacts/<surface>.png, network_loss.png), the table of optimizers and the rankings."""
    names = [s.name for s in cfg.optimizers]
    for surface in cfg.surfaces.functions:
        paths = {n: np.asarray(done[n]["surfaces"][surface]["path"]) for n in names}
        ctx.save_figure(surface_figure(surface, cfg, paths), f"{surface}.png")
    ctx.save_figure(network_figure(cfg, {n: done[n]["network"]["loss"] for n in names}), "network_loss.png")
    rows = []
    for spec in cfg.optimizers:
        options = ", ".join(f"{k}={v}" for k, v in spec.options.items()) or "-"
        row = {"optimizer": spec.name, "class": spec.optimizer, "lr (surfaces)": spec.learning_rate,
               "lr (network)": spec.net_lr, "options": options}
        for surface in cfg.surfaces.functions:
            row[f"{surface} f(end)"] = summary[f"{surface}_final_{spec.name}"]
        row["network loss"] = summary[f"network_loss_{spec.name}"]
        row["network accuracy"] = summary[f"network_accuracy_{spec.name}"]
        rows.append(row)
    ctx.report.table("Optimizers compared", rows,
                     note=f"{cfg.surfaces.steps} steps on each surface from the same start; "
                          f"{cfg.network.epochs} full-batch epochs on {cfg.network.samples} two-moons points "
                          "from the same initial weights. None: the run diverged.")
    ranks = [f"- {what}: {summary[f'ranking_{what}'].replace(',', ' < ')}"
             for what in [*cfg.surfaces.functions, "network"]]
    ctx.report.text("Rankings (lowest final value first)", "\n".join(ranks))
    for surface in cfg.surfaces.functions:
        ctx.report.image(f"Trajectories on {surface}", f"artifacts/{surface}.png")
    ctx.report.image("Network loss curves", "artifacts/network_loss.png")
