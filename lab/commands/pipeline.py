"""``lab pipeline SCENARIO... [--out dvc.yaml] [--runs DIR]``: DVC stages for scenarios (no TensorFlow)."""

import sys
from pathlib import Path

from lab import pipeline
from lab.runs import atomic_write_text, writing

DESCRIPTION = """Write a DVC pipeline (dvc.yaml) that runs the scenarios: per scenario a stage `train-NAME`
(`lab run` into RUNS/NAME; deps: the scenario file and its data files; params: every field of the
scenario and the lab's version) and a stage `report-NAME` (the run's final figures as DVC metrics,
RUNS/NAME.json), plus a tiny `lab-version` stage that notices a new lab. `dvc repro` then re-runs only
what changed; `dvc params diff` and `dvc metrics show` show settings and figures.

The scenario files must lie inside the folder of dvc.yaml (DVC reads parameters from its repository only).
Needs `pip install 'the-lab[pipeline]'` (DVC) and `git init && dvc init` once, for running it.

Examples:
  lab pipeline scenarios/mnist_mlp_book.yaml scenarios/vae_mnist_dense.yaml > dvc.yaml
  lab pipeline scenarios/*.yaml --out dvc.yaml --runs runs && dvc repro"""


def add_arguments(p):
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files inside this repository")
    p.add_argument("--out", metavar="FILE", help="write dvc.yaml here (default: print it); paths in it are "
                                                  "relative to this file's folder")
    p.add_argument("--runs", default="runs", metavar="DIR",
                   help="folder of the stages' run folders, relative to dvc.yaml's folder (default runs)")


def main(args) -> int:
    base = Path(args.out).parent if args.out else Path.cwd()
    stages = pipeline.stages(args.scenarios, base, args.runs.rstrip("/") or "runs")
    runs = ["--runs", args.runs] if args.runs != "runs" else []
    command = " ".join(["lab pipeline", *args.scenarios, *runs])
    text = pipeline.dump(stages, command)
    if args.out:
        with writing(Path(args.out), "pipeline file"):
            atomic_write_text(Path(args.out), text)
        print(f"wrote {args.out}: {len(stages['stages'])} stages; run them with `dvc repro`", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
