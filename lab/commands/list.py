"""``lab list``: the scenarios shipped in scenarios/ with their one-line descriptions (no TensorFlow)."""

import sys

from lab import registry
from lab.errors import LabError
from lab.paths import scenarios_dir
from lab.runs import find_runs
from lab.scenario import SCENARIO_MAX_BYTES, load_yaml, read_text_limited


def add_arguments(p):
    p.add_argument("--tasks", action="store_true", help="list the tasks a scenario can name, with the "
                   "strategies, precisions and XLA rule each supports")
    p.add_argument("--runs", metavar="DIR", nargs="?", const="runs",
                   help="list the run folders under DIR (default runs/)")


def main(args) -> int:
    if args.tasks:
        return _tasks()
    if args.runs:
        return _runs(args.runs)
    return _scenarios()


def _tasks() -> int:
    width = max(len(n) for n in registry.task_names())
    for name in registry.task_names():
        print(f"{name:<{width}}  {registry.spec(name).summary}")
        print(f"{'':<{width}}  supports: {registry.config_model(name).supports.describe()}")
    return 0


def _runs(folder: str) -> int:
    runs = find_runs(folder)
    if not runs:
        print(f"no runs under {folder}/")
    damaged = 0
    for run in runs:
        try:  # one damaged run must not hide the others
            m = run.marker()
        except LabError as exc:
            damaged += 1
            print(f"{run.path}  {'?':<14} corrupt: {exc}")
            continue
        print(f"{run.path}  {str(m.get('task', '?')):<14} {m.get('status', '?')}")
    if damaged:
        print(f"{damaged} run folder{'s' if damaged > 1 else ''} with a damaged run.json (marked corrupt "
              f"above)",
              file=sys.stderr)
    return 0


def _scenarios() -> int:
    folder = scenarios_dir()
    rows = []
    for path in sorted(folder.glob("*.yaml")):
        try:  # the bounded reader and loader of `lab validate`: no file or alias bomb stops the listing
            data = load_yaml(read_text_limited(path, SCENARIO_MAX_BYTES, "scenario file"), str(path))[0] or {}
        except LabError:
            data = {"description": "(cannot be read: run `lab validate` on it)"}
        if not isinstance(data, dict):
            data = {}
        rows.append((path.stem, str(data.get("task", "?")), str(data.get("description", "")).strip()))
    if not rows:
        print(f"no scenarios in {folder}")
        return 0
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    for stem, task, desc in rows:
        print(f"{stem:<{w1}}  {task:<{w2}}  {desc}")
    print(f"\n{len(rows)} scenarios in {folder}; run one with `lab run {rows[0][0]}`")
    return 0
