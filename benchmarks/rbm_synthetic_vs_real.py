"""Does the MovieLens-100K-shaped synthetic set rank the RBM's settings as the real MovieLens 100K does?

On the real data (issue 15, measured by its author, 5-fold; first fold where said) the item-oriented RBM
beats the run's own user + item biases and the user-oriented one does not:

    user-oriented, the old rbm_movielens100k defaults           0.957   (biases 0.944)
    item-oriented, otherwise the old defaults (first fold)       0.927
    item-oriented, mean-field reconstruction, 60 epochs          0.917 first fold, 0.920 over 5 folds

This script runs the same three settings, and the shipped one (the third with the learning rate 0.03 that
``--grid`` chose: tuned on the preset, checked on the real data), as ``scenarios/rbm_movielens100k.yaml``
with ``--set`` lines, on
``data.synthetic.preset: movielens100k`` in one process, through ``lab run``'s driver, on the same folds,
and prints each RMSE beside the biases' and the SVD's of the same run, its ratio to the biases, the real
figure, and whether the order item < biases < user holds. The new defaults also blend the RBM with the
SVD (``rbm.blend: svd``); the blend is printed beside the RBM alone.

    python benchmarks/rbm_synthetic_vs_real.py                # first fold, seed 0 (about 3 minutes
                                                              # on 2 cores)
    python benchmarks/rbm_synthetic_vs_real.py --folds 5      # all five folds (about 15 minutes)
    python benchmarks/rbm_synthetic_vs_real.py --seeds 0 1 2  # other synthetic sets
    python benchmarks/rbm_synthetic_vs_real.py --real /data/ml-100k   # the same settings on the real data too
    python benchmarks/rbm_synthetic_vs_real.py --real /data/ml-100k --grid   # would tuning on the preset
                                                    # pick what tuning on the real data picks?
                                                    # (rank correlation)

With ``--real`` the three settings also run on a real MovieLens 100K folder (``data.path``; never shipped),
on the same folds, and the synthetic order is compared with the one measured there.

Timings depend on what else runs on the machine: the load average is printed before and after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OLD_RATE = "training.learning_rate=0.1"  # the learning rate of issue 15's measurements, before it was tuned
SETTINGS = {  # name: (--set lines on top of the scenario, the real figure: issue 15's, or measured here)
    "user-oriented, old defaults": (["rbm.orientation=user", "rbm.reconstruction=sample",
                                     "training.epochs=30", "rbm.blend=none", OLD_RATE], 0.957),
    "item-oriented, old defaults": (["rbm.orientation=item", "rbm.reconstruction=sample",
                                     "training.epochs=30", "rbm.blend=none", OLD_RATE], 0.927),
    "item-oriented, mean field, 60 epochs": ([OLD_RATE], 0.920),
    "the same, learning rate 0.03 (shipped)": ([], 0.920),
}
GRID = {  # --grid: tuning moves, the RBM alone (no blend), first fold by default; docs/rbm-real-data.md
    "rate 0.1 (before)": [OLD_RATE],
    "rate 0.1, hidden 50": [OLD_RATE, "rbm.hidden=50"],
    "rate 0.1, hidden 200": [OLD_RATE, "rbm.hidden=200"],
    "rate 0.1, decay 0.003": [OLD_RATE, "rbm.weight_decay=0.003"],
    "rate 0.1, decay 0.03": [OLD_RATE, "rbm.weight_decay=0.03"],
    "rate 0.1, 30 epochs": [OLD_RATE, "training.epochs=30"],
    "rate 0.1, 100 epochs": [OLD_RATE, "training.epochs=100"],
    "rate 0.05": ["training.learning_rate=0.05"],
    "rate 0.03 (now shipped)": ["training.learning_rate=0.03"],
    "rate 0.02": ["training.learning_rate=0.02"],
    "rate 0.01": ["training.learning_rate=0.01"],
}
REAL_BIASES = 0.944
SCENARIO = ROOT / "scenarios" / "rbm_movielens100k.yaml"


def run_setting(extra: list[str], folds: int, seed: int, out: Path, real: str | None = None) -> dict:
    from lab.execute import execute

    data = (["data.source=movielens-100k", f"data.path={real}"] if real else
            ["data.source=synthetic", "data.synthetic.preset=movielens100k"])
    overrides = [*data, "data.download=false", "split.method=kfold", "split.folds=5",
                 f"split.run_folds={folds}", f"seed={seed}", "strategy=cpu", *extra]
    load0, t0 = os.getloadavg(), time.time()
    run = execute(str(SCENARIO), overrides, out=str(out), quiet=True)
    s = run.summary()
    keep = ("rmse", "blend_rmse", "bias_rmse", "svd_rmse", "global_mean_rmse", "ndcg_at_10",
            "popularity_ndcg_at_10", "train_seconds", "ranking_model", "folds", "n_ratings")
    res = {k: (round(s[k], 4) if isinstance(s.get(k), float) else s.get(k)) for k in keep if k in s}
    res["train_seconds_per_fold"] = round(s["train_seconds"] / s["folds"], 1)
    res["wall_seconds"] = round(time.time() - t0, 1)
    res["load_before_after"] = [round(load0[0], 2), round(os.getloadavg()[0], 2)]
    return res


def order_holds(results: dict) -> bool:
    """item-oriented (every such setting) < biases < user-oriented, as on the real data."""
    rmse = [results[n]["rmse"] for n in SETTINGS]
    bias = next(iter(results.values()))["bias_rmse"]
    return bias < rmse[0] and max(rmse[1:]) < bias


def print_table(label: str, results: dict, real: dict | None) -> None:
    first = next(iter(results.values()))
    bias = first["bias_rmse"]
    print(f"\n{label}, {first['folds']} fold(s) of 5, {first['n_ratings']:,} ratings: biases {bias:.4f}, "
          f"SVD {first.get('svd_rmse', float('nan')):.4f} (real: biases "
          f"{real and next(iter(real.values()))['bias_rmse'] or REAL_BIASES})")
    print(f"  {'setting':<52} {'RBM':>7} {'/biases':>8} {'blend':>7} {'real':>6} {'real/b':>7} "
          f"{'train s/fold':>12}  load")
    for name, (_, quoted) in SETTINGS.items():
        res = results[name]
        real_rmse, real_bias = ((real[name]["rmse"], real[name]["bias_rmse"]) if real
                                else (quoted, REAL_BIASES))
        blend = f"{res['blend_rmse']:.4f}" if "blend_rmse" in res else "—"
        print(f"  {name:<52} {res['rmse']:>7.4f} {res['rmse'] / bias:>8.3f} {blend:>7} {real_rmse:>6.4f} "
              f"{real_rmse / real_bias:>7.3f} {res['train_seconds_per_fold']:>12.1f}  "
              f"{res['load_before_after']}")
    print(f"  order item-oriented < biases < user-oriented (as on the real data): "
          f"{'holds' if order_holds(results) else 'DOES NOT hold'}", flush=True)


def run_all(args, seed: int, real: str | None = None) -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (extra, _) in SETTINGS.items():
            results[name] = run_setting(extra, args.folds, seed, Path(tmp), real)
            if args.json:
                print(json.dumps({"seed": seed, "data": "real" if real else "synthetic", "setting": name,
                                  **results[name]}), flush=True)
    return results


def average_ranks(values) -> list[float]:
    """1 for the smallest; tied values share the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a, b) -> float:
    """Spearman's rank correlation, ties given their average rank."""
    import numpy as np

    return float(np.corrcoef(average_ranks(a), average_ranks(b))[0, 1])


def grid(args) -> int:
    """The GRID settings (RBM alone) on the preset and on the real data, ranked on each."""
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in GRID.items():
            extra = ["rbm.blend=none", *extra]
            syn = run_setting(extra, args.folds, args.seeds[0], Path(tmp))
            real = run_setting(extra, args.folds, 0, Path(tmp), args.real)
            rows[name] = (syn, real)
            if args.json:
                print(json.dumps({"setting": name, "synthetic": syn, "real": real}), flush=True)
    names = list(rows)
    syn = [rows[n][0]["rmse"] for n in names]
    real = [rows[n][1]["rmse"] for n in names]
    print(f"\ntuning grid, RBM alone, {args.folds} fold(s) of 5; synthetic preset seed {args.seeds[0]} "
          f"against real")
    print(f"  {'setting':<24} {'synthetic':>9} {'rank':>4} {'real':>7} {'rank':>4} "
          f"{'train s/fold (real)':>19}  load")
    rs, rr = average_ranks(syn), average_ranks(real)
    for n, a, ra, b, rb in zip(names, syn, rs, real, rr, strict=True):
        print(f"  {n:<24} {a:>9.4f} {ra:>4g} {b:>7.4f} {rb:>4g} "
              f"{rows[n][1]['train_seconds_per_fold']:>19.1f}  {rows[n][1]['load_before_after']}")
    best_syn, best_real = names[syn.index(min(syn))], names[real.index(min(real))]
    print(f"  Spearman rank correlation {spearman(syn, real):.2f}; best on the preset: {best_syn}; best on "
          f"the real data: {best_real} (its real RMSE {min(real):.4f}; the preset's pick gives "
          f"{real[syn.index(min(syn))]:.4f})")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folds", type=int, default=1, help="run the first N of the 5 folds (default 1)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="synthetic sets (the scenario's seed)")
    p.add_argument("--real", metavar="PATH", help="a MovieLens 100K folder: run the settings on it too")
    p.add_argument("--grid", action="store_true", help="with --real: rank a tuning grid on both data sets")
    p.add_argument("--json", action="store_true", help="one JSON line per run instead of the table")
    args = p.parse_args(argv)
    print(f"cpus: {os.cpu_count()}; load average now: {os.getloadavg()[0]:.2f}", flush=True)
    if args.grid:
        if not args.real:
            p.error("--grid compares with the real data: give --real PATH")
        return grid(args)
    real = run_all(args, 0, args.real) if args.real else None
    if real is not None and not args.json:
        print_table("real MovieLens 100K", real, real)
    held = []
    for seed in args.seeds:
        results = run_all(args, seed)
        if not args.json:
            print_table(f"synthetic preset, seed {seed}", results, real)
        held.append(order_holds(results))
    if real is not None:
        print(f"order on the real data: {'holds' if order_holds(real) else 'DOES NOT hold'}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}; the order held for {sum(held)} of {len(held)} "
          f"seed(s)")
    return 0 if all(held) else 1


if __name__ == "__main__":
    sys.exit(main())
