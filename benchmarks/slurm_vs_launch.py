"""A 2-task Slurm job (`lab deploy slurm`) against one process and `lab launch` on the same scenario.

    python benchmarks/slurm_vs_launch.py                  # as root, with slurm-wlm and munge installed
    python benchmarks/slurm_vs_launch.py --epochs 1 --train-limit 10000

Starts a one-node Slurm cluster on this machine (tests/slurm_cluster.py: munged, slurmctld and slurmd,
stopped afterwards by their process ids) and runs, one after the other so they share the machine's load,
the book's MNIST network with the same seed, data and global batch, without dropout or random shifts
(so data-parallel workers compute the update of one process):

- ``1 process``: ``lab run --set strategy=cpu`` (Keras fit), the reference;
- ``lab launch 2``: two local workers with TF_CONFIG set by the launcher;
- ``slurm 2``: ``lab deploy slurm --workers 2 --cpus-per-worker 1`` submitted with sbatch: two tasks that
  derive the cluster from Slurm's variables.

Prints the training samples/s of each (the chief's summary.json), the wall time, the test accuracy and
the largest difference of any final weight from the 1-process run's. Results go to docs/benchmarks.md
by hand.
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import slurm_cluster  # noqa: E402  (tests/slurm_cluster.py: the same cluster the CI test starts)


def lab(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, cwd=cwd,
                          env=env)
    if done.returncode:
        sys.exit(f"failed: lab {' '.join(args)}\n{done.stderr[-3000:]}")
    return done


def last_run(stdout: str, cwd: Path) -> Path:
    path = Path(stdout.strip().splitlines()[-1].removeprefix("run: "))
    return path if path.is_absolute() else cwd / path


def slurm_run(overrides: list[str], out: Path, env: dict) -> Path:
    script = lab(["deploy", "slurm", "mnist_mlp_book", "--workers", "2", "--cpus-per-worker", "1",
                  "--out", str(out), *overrides], out).stdout
    (out / "job.sbatch").write_text(script)
    job = subprocess.run(["sbatch", "--parsable", "job.sbatch"], capture_output=True, text=True, cwd=out,
                         env=env, check=True).stdout.strip().split(";")[0]
    state = slurm_cluster.wait_for_job(job, env, seconds=3600)
    log = (out / f"lab-mnist-mlp-book-{job}.out").read_text(errors="replace")
    if state != "COMPLETED":
        sys.exit(f"slurm job {job} ended {state}:\n{log[-3000:]}")
    return out / f"lab-mnist-mlp-book-{job}"


def weights(run: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(run / "artifacts" / "classifier.keras", compile=False).get_weights()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256, help="the global batch")
    p.add_argument("--train-limit", type=int, default=None, help="training images (default: all)")
    a = p.parse_args(argv)
    why = slurm_cluster.missing()
    if why:
        sys.exit(f"Slurm cannot start here: {why}")
    out = Path(tempfile.mkdtemp(prefix="lab-bench-slurm-"))
    overrides = [f"training.epochs={a.epochs}", f"training.batch_size={a.batch_size}", "model.dropout=0",
                 "augment.crop_padding=0", "report.book_outputs=false", "report.gallery=0"]
    if a.train_limit:
        overrides.append(f"data.train_limit={a.train_limit}")
    sets = [w for o in overrides for w in ("--set", o)]
    rows, t0 = [], time.perf_counter()
    done = lab(["run", "mnist_mlp_book", "--set", "strategy=cpu", *sets, "--out", str(out), "--quiet"], out)
    rows.append(("1 process (fit)", last_run(done.stdout, out), time.perf_counter() - t0))
    t0 = time.perf_counter()
    done = lab(["launch", "--workers", "2", "mnist_mlp_book", *sets, "--out", str(out), "--quiet"], out)
    rows.append(("lab launch 2", last_run(done.stdout, out), time.perf_counter() - t0))
    with slurm_cluster.local_slurm(out / "slurm") as env:
        t0 = time.perf_counter()
        rows.append(("slurm 2 (sbatch)", slurm_run(sets, out, env), time.perf_counter() - t0))
    report(rows, a, out)
    return 0


def report(rows, a, out: Path) -> None:
    one, launched = weights(rows[0][1]), weights(rows[1][1])
    print(f"mnist_mlp_book, {a.epochs} epochs, global batch {a.batch_size}, {os.cpu_count()} cores; "
          f"run folders in {out}")
    print(f"{'run':<18} {'samples/s':>10} {'vs 1 proc':>9} {'wall s':>7} {'test acc':>9} "
          f"{'max |dw| vs 1 proc':>19} {'(relative)':>10} {'max |dw| vs launch':>19}")
    base = None
    for name, run, wall in rows:
        s = json.loads((run / "summary.json").read_text())
        base = base or s["samples_per_second"]
        w = weights(run)
        print(f"{name:<18} {s['samples_per_second']:>10.0f} {s['samples_per_second'] / base:>9.2f} "
              f"{wall:>7.1f} {s['test_accuracy']:>9.4f} {max_diff(w, one):>19.2e} {relative(w, one):>10.2e} "
              f"{max_diff(w, launched):>19.2e}")


def max_diff(a, b) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))


def relative(a, b) -> float:
    """The norm of the difference over the norm of ``b``, all weights together."""
    num = sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b, strict=True))
    return float(np.sqrt(num / sum(float(np.sum(y ** 2)) for y in b)))


if __name__ == "__main__":
    sys.exit(main())
