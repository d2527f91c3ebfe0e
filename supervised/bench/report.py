"""The bench's tables and its plot: the sections of ``report.md`` and the tables `lab bench` prints.

:func:`tables` turns a summary into titled tables of formatted cells (plain data: the report renders them in
Markdown, the command aligns them as text); :func:`write` adds them to the run's report with the plot of
GFLOP/s against matrix size.
"""

from __future__ import annotations

from typing import Any

from lab.context import markdown_table
from lab.plots import pyplot
from supervised.bench.model import ENGINES, MODELS

Columns = list[tuple[str, str, str]]  # (key of the row, header, format spec)

MATMUL_COLS: Columns = [
    ("device", "device", ""), ("dtype", "dtype", ""), ("engine", "engine", ""), ("n", "n", "d"),
    ("gflops_median", "GFLOP/s", ".1f"), ("gflops_min", "min", ".1f"), ("gflops_max", "max", ".1f"),
    ("percent_of_peak", "% of peak", ".0f"), ("seconds_median", "s/product", ".2e")]
CONV_COLS: Columns = [
    ("device", "device", ""), ("dtype", "dtype", ""), ("engine", "engine", ""), ("batch", "batch", "d"),
    ("gflops_median", "GFLOP/s", ".1f"), ("gflops_min", "min", ".1f"), ("gflops_max", "max", ".1f"),
    ("images_per_second", "images/s", ".0f"), ("percent_of_peak", "% of peak", ".0f")]
TRAIN_COLS: Columns = [
    ("device", "device", ""), ("model", "model", ""), ("batch", "batch", "d"),
    ("steps_per_second", "steps/s", ".1f"), ("steps_per_second_min", "min", ".1f"),
    ("steps_per_second_max", "max", ".1f"), ("samples_per_second", "samples/s", ".0f"),
    ("jit_compile", "XLA", "")]
SPEEDUP_COLS: Columns = [
    ("measurement", "measurement", ""), ("device", "device", ""), ("figure", "figure", ""),
    ("cpu", "CPU", ".1f"), ("gpu", "GPU", ".1f"), ("speedup", "GPU/CPU", ".1f")]

PLOT = "bench.png"


def cell(v: Any, fmt: str) -> str:
    """One table cell: ``-`` for nothing, yes/no for a flag, a number in ``fmt``, anything else as text."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)) and fmt:
        return format(v, fmt)
    return str(v)


def table(title: str, rows: list[dict], columns: Columns, notes: list[str] | None = None) -> dict:
    """A titled table of formatted cells; ``numeric`` says which columns hold numbers (right-aligned as
    text)."""
    return {"title": title, "notes": notes or [], "headers": [h for _, h, _ in columns],
            "cells": [[cell(r.get(k), fmt) for k, _, fmt in columns] for r in rows],
            "numeric": [all(isinstance(r.get(k), (int, float)) or r.get(k) is None for r in rows)
                        for k, _, _ in columns]}


def tables(summary: dict) -> list[dict]:
    """The bench's tables: products, conv2d, training steps and, with a GPU, the speed-ups."""
    layer = summary["conv2d"][0]["layer"] if summary["conv2d"] else "layer"
    out = [
        table("Matrix products: GFLOP/s = 2 n^3 / t (median of repeats; min, max)", summary["matmul"],
              MATMUL_COLS, [f"engine {k}: {v}" for k, v in ENGINES.items()]),
        table(f"conv2d {layer}, forward only", summary["conv2d"], CONV_COLS),
        table("Training steps: one train_on_batch per step, Adam, synthetic data", summary["training"],
              TRAIN_COLS, [f"{k}: {v}" for k, v in MODELS.items()]),
    ]
    if summary["speedup"]:
        out.append(table("Speed-up GPU / CPU", summary["speedup"], SPEEDUP_COLS))
    return out


def devices(summary: dict) -> list[tuple[str, str, list[str]]]:
    """Each measured device: its name, its description, and lines on its peak (how it was reckoned) and on the
    dtypes it skipped (and why)."""
    return [(d["name"], d["description"],
             [f"peak: {d['peak_method']}", *(f"{t}: {why}" for t, why in d["dtypes_skipped"].items())])
            for d in summary["devices"]]


def write(ctx, summary: dict) -> None:
    """The report's sections (devices and peaks, then each table) and the plot in ``artifacts/``."""
    ctx.save_figure(plot(summary), PLOT)
    lines = ctx.report.section("Devices and their peaks")
    lines += [f"- backend: {summary['backend']}; {summary['gpu_note']}",
              f"- repeats per figure: {summary['settings']['repeats']} (median shown, min and max beside "
              "it); warm-up calls excluded", ""]
    for name, description, notes in devices(summary):
        lines += [f"- **{name}**: {description}", *(f"  - {note}" for note in notes)]
    for t in tables(summary):
        lines = ctx.report.section(t["title"])
        lines += [f"- {note}" for note in t["notes"]] + ([""] if t["notes"] else [])
        lines += markdown_table([dict(zip(t["headers"], row, strict=True)) for row in t["cells"]])
        if t["title"].startswith("Matrix products"):
            lines += ["", f"![GFLOP/s against matrix size](artifacts/{PLOT})"]


def plot(summary: dict):
    """GFLOP/s against matrix size, one line per device, dtype and engine, each device's peak dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    series: dict[tuple[str, str, str], list[dict]] = {}
    for r in summary["matmul"]:
        series.setdefault((r["device"], r["dtype"], r["engine"]), []).append(r)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    peaks = {d["name"]: d["peak_gflops"] for d in summary["devices"]}
    drawn = set()
    for i, ((dev, dtype, engine), rows) in enumerate(sorted(series.items())):
        rows = sorted(rows, key=lambda r: r["n"])
        med = [r["gflops_median"] for r in rows]
        err = [[m - r["gflops_min"] for m, r in zip(med, rows, strict=True)],
               [r["gflops_max"] - m for m, r in zip(med, rows, strict=True)]]
        colour = colours[i % len(colours)]
        ax.errorbar([r["n"] for r in rows], med, yerr=err, marker="o", capsize=3, color=colour,
                    label=f"{dev} {dtype} {engine}")
        peak = (peaks.get(dev) or {}).get(dtype)
        if peak and (dev, dtype) not in drawn:
            drawn.add((dev, dtype))
            ax.axhline(peak, linestyle="--", color=colour, alpha=0.7,
                       label=f"{dev} {dtype} peak ({peak:.0f})")

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("matrix size n (n x n @ n x n)")
    ax.set_ylabel("GFLOP/s (median, min-max bars)")
    ax.set_title("Matrix products: measured against the estimated peak")
    ax.grid(True, which="both", alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
