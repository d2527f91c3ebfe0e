"""The final figures of the cheap shipped scenarios, for before/after comparisons of a change.

    python benchmarks/shipped_figures.py run OUT [--seeds 0 1] [--tree PATH]   # run them into OUT
    python benchmarks/shipped_figures.py table BEFORE AFTER                    # a markdown table of both

``run`` runs each scenario with each seed (``--set seed=S --set strategy=cpu``, MNIST scenarios on
``../shared/datasets/mnist10k.npz``, the language model for one epoch), one at a time, with the code of
``--tree`` (default: this checkout; give a worktree of an older commit for the "before" column).
``table`` prints the figures that matter for each scenario side by side. Used for issue 21
(docs/benchmarks.md, "One shape for every task").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MNIST10K = ROOT.parent / "shared" / "datasets" / "mnist10k.npz"
SCENARIOS = {  # scenario: (extra --set overrides, [(figure, format)])
    "first_network": ([], [("epochs", "d"), ("final_loss", ".4f")]),
    "graph_basics": ([], [("affine_0", "g"), ("grad_x_0", "g"), ("dense_matches_graph", "")]),
    "optimizers": ([], [("ranking_rosenbrock", ""), ("ranking_network", ""), ("network_loss_adam", ".4f")]),
    "maze_dqn_small": ([], [("eval_success_rate", ".3f"), ("eval_path_ratio", ".3f"), ("env_steps", ",")]),
    "maze_dqn_random": ([], [("test_success_rate", ".3f"), ("test_path_ratio", ".3f"), ("env_steps", ",")]),
    "autoencoder_mnist": ([f"data.path={MNIST10K}"], [("test_mse", ".5f"), ("mse_ratio_vs_pca", ".4f")]),
    "vae_mnist_dense": ([f"data.path={MNIST10K}"], [("test_elbo", ".2f"), ("test_log_likelihood_iw", ".2f"),
                                                    ("sample_confident_share", ".3f")]),
    "rbm_synthetic": ([], [("rmse", ".4f"), ("ndcg_at_10", ".4f")]),
    "mnist_mlp_book": ([f"data.path={MNIST10K}"], [("test_accuracy", ".4f"), ("test_loss", ".4f")]),
    "shakespeare_char_lstm": (["training.epochs=1"], [("test_nats", ".4f")]),
}


def run_all(out: Path, seeds: list[int], tree: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree), "SDL_VIDEODRIVER": "dummy", "MPLBACKEND": "Agg"}
    for seed in seeds:
        for name, (extra, _) in SCENARIOS.items():
            sets = [f"seed={seed}", "strategy=cpu", *extra]
            cmd = [sys.executable, "-m", "lab", "run", str(tree / "scenarios" / f"{name}.yaml"), "--quiet",
                   "--out", str(out / f"runs-{name}-s{seed}"), *(a for s in sets for a in ("--set", s))]
            t0 = time.time()
            done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
            print(f"{name} seed {seed}: exit {done.returncode} in {time.time() - t0:.0f} s", flush=True)
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)


def figures(folder: Path, name: str, seed: int) -> str:
    paths = sorted(folder.glob(f"runs-{name}-s{seed}/*/summary.json"))
    if not paths:
        return "-"
    summary = json.loads(paths[0].read_text())
    return " / ".join(format(summary[k], f) if k in summary else "-" for k, f in SCENARIOS[name][1])


def table(before: Path, after: Path, seeds: list[int]) -> None:
    heads = [f"{side}, seed {s}" for side in ("before", "after") for s in seeds]
    print("| scenario | figures | " + " | ".join(heads) + " |")
    print("|---|---|" + "---|" * len(heads))
    for name, (_, keys) in SCENARIOS.items():
        cells = [figures(d, name, s) for d in (before, after) for s in seeds]
        print(f"| {name} | {' / '.join(k for k, _ in keys)} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    r.add_argument("--tree", type=Path, default=ROOT)
    t = sub.add_parser("table")
    t.add_argument("before", type=Path)
    t.add_argument("after", type=Path)
    t.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    if args.what == "run":
        run_all(args.out.resolve(), args.seeds, args.tree.resolve())
    else:
        table(args.before, args.after, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
