"""Every cheap shipped scenario on Keras' TensorFlow and JAX backends, two seeds each: the final figures
side by side with their seed-to-seed spread, and the time per epoch (or env steps per second).

Each run is a `lab run` subprocess of the Python of each backend's environment (`.venv` has TensorFlow,
`.venv-jax` is `make test-jax`'s, without it), one after the other (never two at once: the times are
compared). The runs' summaries go into a JSON file; the table is printed from it (again with --table).

    python benchmarks/backends.py --out /tmp/backends            # ~45 min on 2 cores
    python benchmarks/backends.py --table /tmp/backends/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = {"tensorflow": ROOT / ".venv" / "bin" / "python", "jax": ROOT / ".venv-jax" / "bin" / "python"}
MNIST10K = f"data.path={ROOT.parent / 'shared' / 'datasets' / 'mnist10k.npz'}"  # as their earlier figures
# scenario -> (overrides, the figures compared, the speed figure)
SCENARIOS = {
    "first_network": ([], ["epochs", "final_loss"], "wall_seconds"),
    "graph_basics": ([], ["affine_0", "grad_w_0"], "wall_seconds"),
    "optimizers": ([], ["network_loss_adam", "network_accuracy_adam", "network_loss_gd"], "wall_seconds"),
    "maze_dqn_small": ([], ["eval_success_rate", "env_steps"], "env_steps_per_second"),
    "maze_dqn_random": ([], ["test_success_rate", "test_path_ratio", "env_steps"], "env_steps_per_second"),
    "autoencoder_mnist": ([MNIST10K], ["test_mse", "mse_ratio_vs_pca"], "seconds_per_epoch"),
    "vae_mnist_dense": ([MNIST10K], ["test_elbo", "test_log_likelihood_iw"], "seconds_per_epoch"),
    "rbm_synthetic": ([], ["rmse", "precision_at_10"], "train_seconds"),
    "mnist_mlp_book": ([], ["test_accuracy"], "seconds_per_epoch"),
    "shakespeare_char_lstm": (["training.epochs=1"], ["test_bits_per_char"],
                              "seconds_per_epoch"),
}
SEEDS = (0, 1)


def run_one(backend: str, name: str, seed: int, out: Path) -> dict:
    overrides = [*SCENARIOS[name][0], f"seed={seed}"]
    folder = f"{name}-{backend}-{seed}"
    shutil.rmtree(out / folder, ignore_errors=True)  # (a failed or changed run is measured again)
    env = {**os.environ, "KERAS_BACKEND": backend, "SDL_VIDEODRIVER": "dummy", "MPLBACKEND": "Agg"}
    args = [str(PYTHONS[backend]), "-m", "lab", "run", name, *[a for o in overrides for a in ("--set", o)],
            "--out", str(out), "--folder", folder, "--quiet"]
    start = time.time()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:], "wall": time.time() - start}
    summary = json.loads((out / folder / "summary.json").read_text())
    numbers = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if summary.get("epochs_run") and summary.get("train_seconds"):
        numbers["seconds_per_epoch"] = summary["train_seconds"] / summary["epochs_run"]
    return numbers


def measure(out: Path, names: list[str]) -> dict:
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in names:
        for seed in SEEDS:
            for backend in PYTHONS:
                key = f"{name}/{backend}/{seed}"
                if key in results and "error" not in results[key]:
                    continue  # resumable: a finished run is not repeated
                results[key] = run_one(backend, name, seed, out)
                results_path.write_text(json.dumps(results, indent=1))
                print(key, {k: results[key].get(k) for k in [*SCENARIOS[name][1], SCENARIOS[name][2]]},
                      flush=True)
    return results


def cell(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return " / ".join(f"{v:.4g}" for v in values)


def table(results: dict) -> str:
    lines = ["| scenario | figure | TensorFlow (seed 0 / 1) | JAX (seed 0 / 1) |", "|---|---|---|---|"]
    for name, (_, figures, speed) in SCENARIOS.items():
        for figure in [*figures, speed]:
            row = [cell([results.get(f"{name}/{b}/{s}", {}).get(figure) for s in SEEDS]) for b in PYTHONS]
            if any(r != "-" for r in row):
                lines.append(f"| {name} | {figure} | {row[0]} | {row[1]} |")
        for backend in PYTHONS:
            for seed in SEEDS:
                error = results.get(f"{name}/{backend}/{seed}", {}).get("error")
                if error:
                    last = error.strip().splitlines()[-1][:80] if error.strip() else "?"
                    lines.append(f"| {name} | FAILED on {backend}, seed {seed} | {last} | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/backends"))
    parser.add_argument("--only", nargs="*", default=list(SCENARIOS), help="scenarios (default: all)")
    parser.add_argument("--table", type=Path, help="print the table of a results.json and stop")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return 0
    missing = [str(p) for p in PYTHONS.values() if not p.exists()]
    if missing:
        raise SystemExit(f"error: no {', '.join(missing)}: run `make test` and `make test-jax` first")
    args.out.mkdir(parents=True, exist_ok=True)
    print(table(measure(args.out, args.only)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
