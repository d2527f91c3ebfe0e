"""The ``optimizers`` runner: each Keras optimizer of the scenario on Rosenbrock and Beale (same start, same
budget) and on a small two-moons network (same initial weights), ranked in the summary.

Each optimizer's results are saved as a state file once it finishes, so a resumed run skips it.
"""

from __future__ import annotations

from lab.seeding import stream
from supervised.optimizers.model import (
    SURFACES,
    descend,
    finite_or_none,
    make_optimizer,
    moons_network,
    rank,
    surface_values,
    train_network,
    two_moons,
)
from supervised.optimizers.report import report_optimizers


def run(cfg, ctx) -> dict:
    for i, spec in enumerate(cfg.optimizers):  # every mistake in the options before any work
        make_optimizer(spec, spec.learning_rate, f"optimizers.{i}")
    done = finished(cfg, ctx)
    data = two_moons(cfg.network.samples, cfg.network.noise, stream(cfg.seed, "moons"))
    initial = moons_network(cfg.network.hidden, cfg.network.activation, cfg.seed).get_weights()
    units = len(cfg.surfaces.functions) + 1
    with ctx.progress(len(cfg.optimizers) * units, "optimizers", unit="run") as bar:
        if done:
            bar.update(len(done) * units)
        for spec in cfg.optimizers:
            if spec.name in done:
                continue
            for part, result in compare_one(spec, cfg, data, initial, ctx):
                final = result["network"]["final"] if part == "network" else result["surfaces"][part]["final"]
                bar.update(1, optimizer=spec.name, **{part: final if final is not None else float("inf")})
            done[spec.name] = result
            ctx.save_state(f"optimizer-{spec.name}.json",
                           {"spec": spec.model_dump(mode="json"), "result": result})

    if ctx.resume:
        ctx.metrics.truncate_after(-1)  # metrics are written once, below, from the saved results
    log_curves(ctx, cfg, done)
    summary = summarise(cfg, done)
    report_optimizers(ctx, cfg, done, summary)
    return summary


def finished(cfg, ctx) -> dict:
    """The results of the optimizers a resumed run already finished (with the same settings), by name."""
    done: dict = {}
    if ctx.resume:
        for spec in cfg.optimizers:
            saved = ctx.load_state(f"optimizer-{spec.name}.json")
            if saved is not None and saved.get("spec") == spec.model_dump(mode="json"):
                done[spec.name] = saved["result"]
    if done:
        ctx.log(f"resuming: {', '.join(done)} already finished")
    return done


def compare_one(spec, cfg, data, initial_weights, ctx):
    """Run one optimizer on every surface, then on the network, yielding ``(part, results so far)`` after
    each part; the results are JSON-ready."""
    where = f"optimizers.{[o.name for o in cfg.optimizers].index(spec.name)}"
    out: dict = {"surfaces": {}, "network": {}}
    for surface in cfg.surfaces.functions:
        start = getattr(cfg.surfaces, f"{surface}_start")
        path = descend(make_optimizer(spec, spec.learning_rate, where), SURFACES[surface][0], start,
                       cfg.surfaces.steps, jit_compile=ctx.jit_compile)
        values = surface_values(surface, path)
        out["surfaces"][surface] = {"path": path.tolist(), "final": finite_or_none(values[-1])}
        yield surface, out
    x, y = data
    model = moons_network(cfg.network.hidden, cfg.network.activation, cfg.seed)
    model.set_weights(initial_weights)
    optimizer = make_optimizer(spec, spec.net_lr, where)
    history, accuracy = train_network(model, optimizer, x, y, cfg.network.epochs, jit_compile=ctx.jit_compile)
    out["network"] = {"loss": [finite_or_none(v) for v in history], "final": finite_or_none(history[-1]),
                      "accuracy": accuracy}
    yield "network", out


def summarise(cfg, done: dict) -> dict:
    """Final values, the best and the ranking on each surface and on the network (None: diverged)."""
    summary: dict = {}
    names = [s.name for s in cfg.optimizers]
    for surface in cfg.surfaces.functions:
        finals = {n: done[n]["surfaces"][surface]["final"] for n in names}
        summary.update({f"{surface}_final_{n}": finals[n] for n in names})
        ranking = rank(finals)
        summary[f"best_{surface}"] = ranking[0]
        summary[f"ranking_{surface}"] = ",".join(ranking)
    for n in names:
        summary[f"network_loss_{n}"] = done[n]["network"]["final"]
        summary[f"network_accuracy_{n}"] = done[n]["network"]["accuracy"]
    ranking = rank({n: done[n]["network"]["final"] for n in names})
    summary["best_network"] = ranking[0]
    summary["ranking_network"] = ",".join(ranking)
    return summary


def log_curves(ctx, cfg, done: dict) -> None:
    """metrics.csv: f along each path at about 50 steps (the figures have every step), then the network's
    losses at about 100 epochs."""
    names = [s.name for s in cfg.optimizers]
    steps = cfg.surfaces.steps
    paths = {(surface, n): done[n]["surfaces"][surface]["path"]
             for surface in cfg.surfaces.functions for n in names}
    for step in sorted({*range(0, steps + 1, max(1, steps // 50)), steps}):
        ctx.log_metrics(step, **{f"{surface}_{n}": float(surface_values(surface, path[step]))
                                 for (surface, n), path in paths.items()})
    epochs = cfg.network.epochs
    for epoch in sorted({*range(0, epochs + 1, max(1, epochs // 100)), epochs}):
        ctx.log_metrics(epoch, **{f"network_loss_{n}": done[n]["network"]["loss"][epoch] for n in names
                                  if done[n]["network"]["loss"][epoch] is not None})
