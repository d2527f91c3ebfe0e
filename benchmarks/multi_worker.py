"""One process against TensorFlow's multi-worker runtime on the book's MNIST network.

    python benchmarks/multi_worker.py                      # 3 epochs of mnist_mlp_book on the full MNIST
    python benchmarks/multi_worker.py --epochs 2 --batch-size 1024 --workers 2 4

Three kinds of run of the same scenario (seed, data, global batch), one after the other in this shell, so
they share the machine's load:

- ``fit``: ``lab run --set strategy=cpu`` — Keras fit in one process, the reference;
- ``launch 1``: ``lab launch --workers 1`` — the multi-worker custom loop (lab.distributed) on one worker:
  what the loop itself costs against fit;
- ``launch N``: ``lab launch --workers N`` on 127.0.0.1 — N processes sharing this machine's cores, each
  computing its share of every global batch, the gradients all-reduced over gRPC after every step.

For each: the training samples/s the chief's summary.json reports (time inside the epochs only), the wall
time of the command (TensorFlow starting in every process, the cluster forming, testing, the report), the
test accuracy, and the ratio of samples/s against ``fit``. On one machine N workers cannot be N times
faster: they share its cores (the launcher gives each cores/N threads), every step waits for an all-reduce
of all the gradients, and small steps are dominated by that fixed cost; the table says what it costs.
The speed-up multi-worker is for needs several machines. Results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], out: Path) -> dict:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lab", *args, "--out", str(out), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if done.returncode:
        sys.exit(f"failed: lab {' '.join(args)}\n{done.stderr[-3000:]}")
    path = done.stdout.strip().splitlines()[-1].removeprefix("run: ")
    summary = json.loads((Path(ROOT, path) if not os.path.isabs(path) else Path(path))
                         .joinpath("summary.json").read_text())
    return {"wall": wall, **summary}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="mnist_mlp_book")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=None, help="global batch (default: the scenario's)")
    p.add_argument("--workers", type=int, nargs="+", default=[2])
    p.add_argument("--out", default=None, help="where the run folders go (default: a temporary folder)")
    a = p.parse_args(argv)
    overrides = ["--set", f"training.epochs={a.epochs}", "--set", "report.book_outputs=false"]
    if a.batch_size:
        overrides += ["--set", f"training.batch_size={a.batch_size}"]
    out = Path(a.out or tempfile.mkdtemp(prefix="lab-bench-mw-"))
    rows = [("fit (1 process)", run(["run", a.scenario, "--set", "strategy=cpu", *overrides], out))]
    for n in [1, *a.workers]:
        rows.append(
            (f"launch --workers {n}", run(["launch", "--workers", str(n), a.scenario, *overrides], out)))
    base = rows[0][1]["samples_per_second"]
    print(f"{a.scenario}, {a.epochs} epochs, global batch {a.batch_size or 'as the scenario'}, "
          f"{os.cpu_count()} cores; run folders in {out}")
    print(f"{'run':<22} {'samples/s':>10} {'vs fit':>7} {'train s':>8} {'wall s':>7} {'test acc':>9}")
    for name, s in rows:
        print(f"{name:<22} {s['samples_per_second']:>10.0f} {s['samples_per_second'] / base:>7.2f} "
              f"{s['train_seconds']:>8.1f} {s['wall']:>7.1f} {s['test_accuracy']:>9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
