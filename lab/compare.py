"""``lab compare RUN...``: what differs between runs of one task, their final figures side by side (the
best of each figure the task declares marked), and one metrics.csv column of every run in one plot.

A RUN is a run folder, or a *sweep folder*: a folder that is not a run but holds run folders named
``trial-NNN`` (what ``lab sweep`` writes); it stands for its trials in order. :func:`compare` returns a
plain dict, the object that ``lab compare --json`` prints::

    {"task": "classifier",
     "runs": [{"label": "trial-000", "path": "runs/.../trial-000", "status": "complete"}, ...],
     "differences": {"training.learning_rate": [0.001, 0.01]},
     "figures": {"test_accuracy": {"values": [0.91, 0.93], "best": [1], "better": "higher"}, ...},
     "curves": {"column": "val_accuracy", "png": "compare.png"},
     "notes": ["..."]}

No TensorFlow on this path: `lab compare` starts in about a second.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import registry
from lab.errors import LabError, RunError, UsageError
from lab.plots import pyplot
from lab.runs import RUN_MARKER, MetricsCSV, RunDir, atomic_path, reading

TRIAL = re.compile(r"^trial-(\d+)$")
MISSING = object()  # a scenario field one run does not have
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


@dataclass
class Entry:
    """One run being compared: its folder, label, and what was read from it."""

    run: RunDir
    label: str
    status: str = ""
    task: str = ""
    scenario: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Which runs


def expand(paths: list[str]) -> tuple[list[Entry], list[str]]:
    """The runs named by ``paths`` (sweep folders expanded to their trials, in order) and notes on the
    trials left out (those still running or interrupted; a pruned one stays, for its curve). A path that is
    neither a run nor a sweep folder: RunDir.open's RunError."""
    entries, notes = [], []
    for arg in paths:
        path = Path(arg)
        trials = _trials(path) if path.is_dir() and not (path / RUN_MARKER).exists() else []
        if not trials:
            entries.append(Entry(RunDir.open(path), path.resolve().name))
            continue
        for trial in trials:
            if not trial.summary_path.exists() and trial.status not in ("complete", "pruned"):
                notes.append(f"{trial.path}: left out (status {trial.status or 'unknown'}, no summary.json "
                             f"yet)")
                continue  # (a pruned trial stays: its curve shows where the pruner stopped it)
            entries.append(Entry(RunDir.open(trial.path), trial.path.name))
    _unique_labels(entries)
    return entries, notes


def _trials(folder: Path) -> list[RunDir]:
    """The run folders named trial-NNN directly in ``folder``, by number."""
    with reading(folder, "folder"):
        children = list(folder.iterdir())
    found = [(int(m.group(1)), p) for p in children
             if (m := TRIAL.match(p.name)) and p.is_dir() and (p / RUN_MARKER).exists()]
    return [RunDir(p) for _, p in sorted(found)]


def _unique_labels(entries: list[Entry]) -> None:
    """Labels that tell runs apart: the folder name, ``<parent>/<name>`` where two runs share a name (trials
    of two sweeps), then a ``#N`` suffix (the same run given twice)."""
    def dups():
        seen = [e.label for e in entries]
        return [e for e in entries if seen.count(e.label) > 1]

    for e in dups():
        e.label = f"{e.run.path.resolve().parent.name}/{e.run.path.resolve().name}"
    counts: dict[str, int] = {}
    for e in dups():
        counts[e.label] = counts.get(e.label, 0) + 1
        e.label = f"{e.label}#{counts[e.label]}"


def load(entries: list[Entry], notes: list[str] = ()) -> str:
    """Read each run's marker, scenario and summary (a RunError naming a damaged file); the common task,
    or a RunError naming each run's task when they differ. Fewer than 2 runs: a UsageError (``notes``, on
    the trials left out, as its lines)."""
    if len(entries) < 2:
        named = f" ({entries[0].run.path})" if entries else ""
        raise UsageError(f"lab compare needs at least 2 runs, got {len(entries)}{named}; give two or more "
                         f"run folders, or a sweep folder holding 2 or more finished trial-NNN runs",
                         list(notes))
    for e in entries:
        marker = e.run.marker()
        e.status = str(marker.get("status", ""))
        e.scenario = e.run.read_scenario()
        e.task = str(marker.get("task") or e.scenario.get("task") or "")
        e.summary = e.run.summary()
    tasks = {e.task for e in entries}
    if len(tasks) > 1:
        raise RunError("runs of different tasks cannot be compared; give runs of one task:",
                       [f"{e.label}: {e.task or 'unknown task'} ({e.run.path})" for e in entries])
    return tasks.pop()


# --------------------------------------------------------------------------------------------------
# Scenario differences


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{"training.learning_rate": 0.1, ...}`` (lists are values, not expanded)."""
    if not isinstance(data, dict) or (prefix and not data):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def differences(scenarios: list[dict]) -> dict[str, list]:
    """The flattened fields whose values are not the same in every scenario (a field one scenario lacks
    counts as different; its value is :data:`MISSING`), in the order of first appearance."""
    flat = [flatten(s) for s in scenarios]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    out = {}
    for key in keys:
        values = [f.get(key, MISSING) for f in flat]
        if any(not _same(v, values[0]) for v in values[1:]):
            out[key] = values
    return out


def _same(a, b) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return type(a) is type(b) and a == b or (_number(a) is not None and _number(a) == _number(b))


# --------------------------------------------------------------------------------------------------
# Final figures


def _number(value) -> float | None:
    """``value`` as a finite float, or None for anything else (bools, strings, null, NaN, infinities)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def declared_figures(task: str) -> dict:
    """The figures ``task`` declares (name -> lab.schema.Figure, the headline first); {} for a task this
    version of the lab does not know."""
    try:
        return dict(registry.config_model(task).figures)
    except LabError:
        return {}


def figures_table(summaries: list[dict], declared: dict) -> dict[str, dict]:
    """Every numeric summary key of any run: ``{"values": [...], "best": [indexes], "better": ...}``, the
    declared figures first (headline first). Values that are not finite numbers are None; ``best`` marks
    every run tied for the best value of a declared figure, and is [] for the others."""
    keys = list(dict.fromkeys(k for s in summaries for k, v in s.items() if _number(v) is not None))
    keys = [k for k in declared if k in keys] + [k for k in keys if k not in declared]
    table = {}
    for key in keys:
        values = [_number(s.get(key)) for s in summaries]
        better = declared[key].better if key in declared else None
        table[key] = {"values": [_plain(v, s.get(key)) for v, s in zip(values, summaries, strict=True)],
                      "best": best_indexes(values, better), "better": better}
    return table


def _plain(number: float | None, original):
    """The summary's own value (an int stays an int) when it is a finite number, else None."""
    return None if number is None else original


def best_indexes(values: list[float | None], better: str | None) -> list[int]:
    """The indexes of the best values (all of them on a tie); [] when ``better`` is None or no run has one."""
    present = [v for v in values if v is not None]
    if better is None or not present:
        return []
    best = max(present) if better == "higher" else min(present)
    return [i for i, v in enumerate(values) if v == best]


# --------------------------------------------------------------------------------------------------
# Learning curves


def read_curves(entries: list[Entry]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """label -> column -> [(step, value), ...] from each run's metrics.csv (empty when it has no rows);
    a RunError naming the file and line for a value that is not a number."""
    out = {}
    for e in entries:
        rows = MetricsCSV(e.run.metrics_path).rows()
        columns: dict[str, list[tuple[float, float]]] = {}
        for line, row in enumerate(rows, start=2):
            step = _cell(row.get("step"), e.run.metrics_path, line, "step")
            for key, text in row.items():
                if key in (None, "step") or text in (None, ""):
                    continue
                value = _cell(text, e.run.metrics_path, line, key)
                if step is not None and value is not None:
                    columns.setdefault(key, []).append((step, value))
        out[e.label] = columns
    return out


def _cell(text, path: Path, line: int, column: str) -> float | None:
    if text in (None, ""):
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        raise RunError(f"{path}:{line}: corrupt metrics file (column {column} holds {str(text)[:40]!r}, not "
                       f"a number); remove it or start the run again") from None


def choose_column(curves: dict[str, dict], declared: dict, asked: str | None) -> str | None:
    """The column to plot: ``asked`` (a UsageError listing the columns there are when no run has it), else
    the headline figure's progress column when a run has it, else the first column every run with rows
    has (the first run's order), else the first column of the first run with rows; None without rows."""
    having = [c for c in curves.values() if c]
    every = list(dict.fromkeys(k for c in having for k in c))
    if asked is not None:
        if asked not in every:
            there = ", ".join(every) if every else "none (no run has metrics.csv rows)"
            raise UsageError(f"--metric {asked}: no run being compared has that metrics.csv column; the "
                             f"columns there are: {there}")
        return asked
    headline = next(iter(declared.values()), None)
    if headline is not None and headline.progress in every:
        return headline.progress
    common = [k for k in every if all(k in c for c in having)]
    return (common or every or [None])[0]


def check_out(out: str | Path) -> Path:
    """``--out``: a file name ending .png, .svg or .pdf in a folder that exists (a UsageError otherwise)."""
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file name such as {path / 'compare.png'}")
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--out {out}: give a file name ending {', '.join(PLOT_SUFFIXES)} (the picture's "
                         f"format), e.g. compare.png")
    if not path.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {path.parent} does not exist; create it or give another "
                         f"path")
    return path


def curves_figure(series: dict[str, list[tuple[float, float]]], column: str, title: str):
    """A matplotlib figure (Agg) with one line per label in ``series``, against the step."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points in series.items():
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, marker="." if len(points) < 60 else None, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(column)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def save_figure(fig, out: Path) -> Path:
    """Write ``fig`` to ``out`` atomically and close it."""
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=110, format=out.suffix.lower().lstrip("."))
    finally:
        pyplot().close(fig)
    return out


# --------------------------------------------------------------------------------------------------
# The whole comparison


def compare(paths: list[str], metric: str | None = None, out: str | Path = "compare.png") -> dict:
    """Compare the runs named by ``paths``; write the curves plot to ``out``; return the dict described in
    the module docstring (:func:`to_json` prints it; a field a run lacks is :data:`MISSING` there)."""
    out = check_out(out)
    entries, notes = expand(paths)
    task = load(entries, notes)
    declared = declared_figures(task)
    for e in entries:
        if not e.summary:
            notes.append(f"{e.label}: no final figures (status {e.status or 'unknown'}, no summary.json)")
    curves = read_curves(entries)
    column = choose_column(curves, declared, metric)
    png = _plot(entries, curves, column, task, out, notes)
    return {
        "task": task,
        "runs": [{"label": e.label, "path": str(e.run.path), "status": e.status} for e in entries],
        "differences": differences([e.scenario for e in entries]),
        "figures": figures_table([e.summary for e in entries], declared),
        "curves": {"column": column, "png": str(png) if png else None},
        "notes": notes,
    }


def _plot(entries, curves, column, task, out: Path, notes: list[str]) -> Path | None:
    """Draw ``column`` of every run that has it into ``out``; notes for the runs left out."""
    if column is None:
        notes.append("no curves: no run has metrics.csv rows")
        return None
    series = {}
    for e in entries:
        if not curves[e.label]:
            notes.append(f"{e.label}: no curve (metrics.csv has no rows)")
        elif column not in curves[e.label]:
            notes.append(f"{e.label}: no curve (its metrics.csv has no {column} column)")
        else:
            series[e.label] = curves[e.label][column]
    return save_figure(curves_figure(series, column, f"{task}: {column}"), out)


def to_json(result: dict) -> str:
    """The comparison as one JSON object (non-finite numbers as null, other odd values as text)."""
    return json.dumps(_finite(result), indent=2, default=str, allow_nan=False)


def _finite(value):
    if value is MISSING:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
