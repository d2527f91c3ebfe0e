"""The ``graph-basics`` runner: the book's chapter-1 programs (x + y, W.x, W.x + b, the gradients of
W.x + b) evaluated on explicit graphs, then W.x + b as a Keras ``Dense`` layer checked against them;
every graph drawn as DOT."""

from __future__ import annotations

import keras
import numpy as np

from lab.graphviz import model_dot
from supervised.graph_basics.model import Program, chapter1_programs, dense_affine, format_value
from supervised.graph_basics.report import draw, report_programs

# How close the Dense layer must come to the float64 graph under each compute dtype (mixed precision).
TOLERANCE = {"float16": 1e-2, "bfloat16": 2e-2}


def run(cfg, ctx) -> dict:
    g = cfg.graph
    summary: dict = {}
    rows, drawings = [], []
    for program in chapter1_programs(g.weights, g.vector, g.bias, g.x, g.y):
        values = program.graph.evaluate(program.feeds)
        figures, shown, node_notes = program_results(program, values)
        summary.update(figures)
        dot = program.graph.to_dot(values, title=program.title, notes=node_notes)
        drawings.append(draw(ctx, dot, program.key, program.title))
        rows.append({"program": program.key, "computes": program.title, "result": shown,
                     "graph": drawings[-1].dot})
        ctx.log(f"{program.key}: {program.title} = {shown}")

    # The fifth program: the same affine map as a Keras layer, checked against the explicit graph.
    model = dense_affine(g.weights, g.bias)
    dense_out = keras.ops.convert_to_numpy(model(np.asarray([g.vector], dtype="float32")))[0]
    summary.update({f"dense_{j}": float(v) for j, v in enumerate(dense_out)})
    affine = np.array([summary[f"affine_{j}"] for j in range(len(dense_out))])
    tolerance = TOLERANCE.get(model.compute_dtype, 1e-5)
    summary["dense_matches_graph"] = bool(np.allclose(dense_out, affine, rtol=tolerance, atol=tolerance))
    model_path = ctx.save_model(model, "affine_dense.keras")
    dot = model_dot(model, "W·x + b as a Keras Dense layer")
    drawings.append(draw(ctx, dot, "dense", "Dense(W, b) in Keras"))
    rows.append({"program": "dense", "computes": "Dense layer with kernel Wᵀ, bias b",
                 "result": format_value(dense_out, 6), "graph": drawings[-1].dot})
    ctx.log(f"dense: Keras Dense layer = {format_value(dense_out, 6)} (saved {model_path.name})")

    report_programs(ctx, rows, drawings)
    ctx.log_metrics(0, **{k: v for k, v in summary.items() if isinstance(v, float)})
    return summary


def program_results(program: Program, values: dict) -> tuple[dict, str, dict | None]:
    """A program's summary figures, its result as text, and the notes to draw on its nodes (gradients)."""
    result = values[program.result.name]
    if program.key == "gradients":
        grads = program.graph.gradients(program.result, program.feeds)
        figures = {f"grad_w_{j}": _clean(v) for j, v in enumerate(np.ravel(grads["W"]))}
        figures.update({f"grad_x_{j}": _clean(v) for j, v in enumerate(np.ravel(grads["x"]))})
        figures["grad_b"] = _clean(grads["b"])
        shown = "; ".join(f"∂/∂{k} = {format_value(v)}" for k, v in grads.items())
        return figures, shown, {name: f"∂cost/∂{name} = {format_value(v)}" for name, v in grads.items()}
    if np.ndim(result) == 0:
        return {f"{program.key}_result": _clean(result)}, format_value(result, 6), None
    figures = {f"{program.key}_{j}": _clean(v) for j, v in enumerate(np.ravel(result))}
    return figures, format_value(result, 6), None


def _clean(v) -> float:
    """A float without the last-bit noise of binary arithmetic (12 significant digits: 9.4, not
    9.399999999999999)."""
    return float(f"{float(v):.12g}")
