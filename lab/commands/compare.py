"""``lab compare RUN RUN... [--metric COLUMN] [--out PATH] [--json]``: runs of one task side by side (no
TensorFlow)."""

import json

from lab import compare

DESCRIPTION = """Compare runs of one task: the scenario fields that differ (dotted paths, one column per run),
the final figures side by side (* marks the best run of each figure the task declares), and one metrics.csv
column of every run overlaid in one plot.

A RUN is a run folder or a sweep folder (one holding trial-NNN run folders: it stands for its trials).

Examples:
  lab compare runs/<a> runs/<b>
  lab compare runs/<sweep> --metric val_loss --out cmp.png
  lab compare runs/<a> runs/<b> --json"""

CELL = 40  # the widest value shown in a table cell


def add_arguments(p):
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run folders, or sweep folders (their trial-NNN runs); 2 runs or more in all")
    p.add_argument("--metric", metavar="COLUMN",
                   help="the metrics.csv column to plot (default: the column that shows the task's headline "
                        "figure while training, else the first column every run has)")
    p.add_argument("--out", metavar="PATH", default="compare.png",
                   help="where to write the plot (.png, .svg or .pdf; default ./compare.png)")
    p.add_argument("--json", action="store_true", help="print the comparison as one JSON object only")


def main(args) -> int:
    result = compare.compare(args.runs, metric=args.metric, out=args.out)
    if args.json:
        print(compare.to_json(result))
        return 0
    for line in text_lines(result):
        print(line)
    return 0


def text_lines(result: dict) -> list[str]:
    """The comparison as the lines `lab compare` prints."""
    labels = [r["label"] for r in result["runs"]]
    lines = [f"task: {result['task']}, {len(labels)} runs"]
    width = max(len(label) for label in labels)
    lines += [f"  {r['label']:<{width}}  {r['status'] or '?':<11} {r['path']}" for r in result["runs"]]
    diffs = result["differences"]
    lines.append("")
    if diffs:
        lines.append(f"differences ({len(diffs)} field{'s' if len(diffs) > 1 else ''}):")
        lines += _table(["field"] + labels, [[k] + [_value(v) for v in vs] for k, vs in diffs.items()])
    else:
        lines.append("differences: none (the scenarios are the same)")
    lines.append("")
    lines += _figure_lines(result["figures"], labels)
    curves = result["curves"]
    lines.append("")
    lines.append(f"curves: {curves['column']} -> {curves['png']}" if curves["png"] else "curves: none")
    lines += [f"note: {n}" for n in result["notes"]]
    return lines


def _figure_lines(figures: dict, labels: list[str]) -> list[str]:
    if not figures:
        return ["final figures: none (no run has a summary.json with numbers)"]
    rows = []
    for name, fig in figures.items():
        head = f"{name} ({fig['better']})" if fig["better"] else name
        rows.append([head] + [("-" if v is None else _value(v)) + ("*" if i in fig["best"] else "")
                              for i, v in enumerate(fig["values"])])
    return ["final figures (* the best run; (higher)/(lower): which way is better):"] + \
        _table(["figure"] + labels, rows)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in [header] + rows]


def _value(value) -> str:
    """A scenario or summary value as a table cell: YAML-like scalars, lists as JSON, '-' for missing."""
    if value is compare.MISSING:
        return "-"
    if value is None or isinstance(value, bool):
        text = json.dumps(value)
    elif isinstance(value, float):  # 1.0 stays 1.0, 0.001 stays 0.001; long ones get 6 digits
        text = repr(value) if len(repr(value)) <= 10 else f"{value:.6g}"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return text if len(text) <= CELL else text[:CELL - 3] + "..."
