"""The ``graph-basics`` pictures and report: each program's graph drawn with Graphviz (DOT always, PNG when
``dot`` is installed) and a table of what each computes."""

from __future__ import annotations

from dataclasses import dataclass

from lab.graphviz import render_dot


@dataclass
class Drawing:
    """A graph drawn into the run's artifacts: ``dot`` and ``png`` are artifact names (``png`` None when
    Graphviz could not draw it, ``note`` then says why)."""

    title: str
    dot: str
    png: str | None = None
    note: str | None = None


def draw(ctx, dot_text: str, stem: str, title: str) -> Drawing:
    """Write ``artifacts/<stem>.dot`` and, when Graphviz's dot exists, ``<stem>.png``."""
    rendered = render_dot(dot_text, ctx.artifact(f"{stem}.png"))
    return Drawing(title, rendered.dot.name, rendered.image.name if rendered.image else None, rendered.note)


def report_programs(ctx, rows: list[dict], drawings: list[Drawing]) -> None:
    """The table of programs and results, then every graph (its picture, or a link to its DOT file)."""
    ctx.report.table("The chapter-1 programs", rows,
                     note="Each computation is an explicit graph evaluated with keras.ops (float64, as "
                          "Gorgonia's Float64); the Keras Dense layer computes W·x + b in float32.")
    for d in drawings:
        if d.png:
            ctx.report.image(f"Graph: {d.title}", f"artifacts/{d.png}")
        else:
            ctx.report.text(f"Graph: {d.title}", f"[artifacts/{d.dot}](artifacts/{d.dot}) (Graphviz DOT)")
    for note in sorted({d.note for d in drawings if d.note}):
        ctx.log(f"note: {note}")
        ctx.report.text("Drawing the graphs", note)
