"""A worked `lab sweep` study: tune a shipped scenario, then check the best trial against the shipped
default on seeds the study never used, and say whether the better settings hold.

    .venv/bin/python benchmarks/worked_study.py [--scenario mnist_mlp_book] [--trials 16] [--seeds 1 2]

The study maximises the validation accuracy of the weights each trial keeps (the test digits stay unseen
while tuning; not the validation loss, which counts label smoothing's own loss and so favours less
smoothing whatever the accuracy), every trial with the scenario's own training budget; the check
compares test accuracy on two other seeds. Prints a Markdown table for docs/benchmarks.md, with the
wall-clock time and the trials finished and pruned.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPACE = ["training.learning_rate=loguniform:0.0003:0.01", "model.dropout=float:0:0.5",
         "training.batch_size=choice:128,256,512", "training.label_smoothing=float:0:0.2"]
SAME = ["--set", "report.book_outputs=false"]  # the book's csv/images outputs: no part of the training budget


def lab(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "lab", *argv], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"lab {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="mnist_mlp_book")
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--seeds", type=int, nargs=2, default=[1, 2])
    p.add_argument("--out", default="runs/worked-study")
    args = p.parse_args()
    t0 = time.time()
    params = [x for s in SPACE for x in ("--param", s)]
    summary = json.loads(lab("sweep", args.scenario, *params, *SAME, "--metric", "val_accuracy",
                             "--trials", str(args.trials), "--out", args.out, "--json", "--quiet"))
    sweep_seconds = time.time() - t0
    rows = []
    for label, target in (("shipped default", args.scenario), ("best trial", summary["best_scenario"])):
        for seed in args.seeds:
            out = lab("run", target, *SAME, "--set", f"seed={seed}", "--out", args.out, "--quiet")
            run = Path(ROOT / out.strip().splitlines()[-1].removeprefix("run: "))
            s = json.loads((run / "summary.json").read_text())
            rows.append((label, seed, s["test_accuracy"], s["val_accuracy"], s["train_seconds"]))
    print(f"sweep: {summary['folder']}: {summary['trials_finished']} trials finished "
          f"({summary['trials_complete']} complete, {summary['trials_pruned']} pruned) "
          f"in {sweep_seconds:.0f} s")
    print(f"best trial {summary['best']['trial']}: {summary['best']['params']}")
    print("\n| settings | seed | test accuracy | val accuracy | train s |\n|---|---|---|---|---|")
    for label, seed, acc, val, secs in rows:
        print(f"| {label} | {seed} | {acc:.4f} | {val:.4f} | {secs:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
