"""Does the MovieLens-100K-shaped synthetic set rank the RBM's settings as the real MovieLens 100K does?

On the real data (issue 15, measured by its author, 5-fold; first fold where said) the item-oriented RBM
beats the run's own user + item biases and the user-oriented one does not:

    user-oriented, the old rbm_movielens100k defaults           0.957   (biases 0.944)
    item-oriented, otherwise the old defaults (first fold)       0.927
    item-oriented, mean-field reconstruction, 60 epochs          0.917 first fold, 0.920 over 5 folds

This script runs the same three settings (``scenarios/rbm_movielens100k.yaml`` with ``--set`` lines) on
``data.synthetic.preset: movielens100k`` in one process, through ``lab run``'s driver, on the same folds,
and prints each RMSE beside the biases' and the SVD's of the same run, its ratio to the biases, the real
figure, and whether the order item < biases < user holds. The new defaults also blend the RBM with the
SVD (``rbm.blend: svd``); the blend is printed beside the RBM alone.

    python benchmarks/rbm_synthetic_vs_real.py                # first fold, seed 0 (about 3 minutes on 2 cores)
    python benchmarks/rbm_synthetic_vs_real.py --folds 5      # all five folds (about 15 minutes)
    python benchmarks/rbm_synthetic_vs_real.py --seeds 0 1 2  # other synthetic sets

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

SETTINGS = {  # name: (--set lines on top of the scenario, the real figure of issue 15)
    "user-oriented, old defaults": (["rbm.orientation=user", "rbm.reconstruction=sample", "rbm.epochs=30",
                                     "rbm.blend=none"], 0.957),
    "item-oriented, old defaults": (["rbm.orientation=item", "rbm.reconstruction=sample", "rbm.epochs=30",
                                     "rbm.blend=none"], 0.927),
    "item-oriented, mean field, 60 epochs (new defaults)": ([], 0.920),
}
REAL_BIASES = 0.944
SCENARIO = ROOT / "scenarios" / "rbm_movielens100k.yaml"


def run_setting(extra: list[str], folds: int, seed: int, out: Path) -> dict:
    from lab.execute import execute

    overrides = ["data.source=synthetic", "data.download=false", "data.synthetic.preset=movielens100k",
                 "split.method=kfold", "split.folds=5", f"split.run_folds={folds}", f"seed={seed}", "strategy=cpu",
                 *extra]
    load0, t0 = os.getloadavg(), time.time()
    run = execute(str(SCENARIO), overrides, out=str(out), quiet=True)
    s = run.summary()
    keep = ("rmse", "blend_rmse", "bias_rmse", "svd_rmse", "global_mean_rmse", "ndcg_at_10", "popularity_ndcg_at_10",
            "train_seconds", "ranking_model", "folds", "n_ratings")
    res = {k: (round(s[k], 4) if isinstance(s.get(k), float) else s.get(k)) for k in keep if k in s}
    res["train_seconds_per_fold"] = round(s["train_seconds"] / s["folds"], 1)
    res["wall_seconds"] = round(time.time() - t0, 1)
    res["load_before_after"] = [round(load0[0], 2), round(os.getloadavg()[0], 2)]
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folds", type=int, default=1, help="run the first N of the 5 folds (default 1)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="synthetic sets (the scenario's seed)")
    p.add_argument("--json", action="store_true", help="one JSON line per run instead of the table")
    args = p.parse_args(argv)
    print(f"cpus: {os.cpu_count()}; load average now: {os.getloadavg()[0]:.2f}", flush=True)
    held = []
    for seed in args.seeds:
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, (extra, _) in SETTINGS.items():
                results[name] = run_setting(extra, args.folds, seed, Path(tmp))
                if args.json:
                    print(json.dumps({"seed": seed, "setting": name, **results[name]}), flush=True)
        first = next(iter(results.values()))
        bias = first["bias_rmse"]
        if not args.json:
            print(f"\nseed {seed}, {first['folds']} fold(s) of 5, {first['n_ratings']:,} ratings: biases {bias:.4f}, "
                  f"SVD {first.get('svd_rmse', float('nan')):.4f} (real: biases {REAL_BIASES})")
            print(f"  {'setting':<52} {'RBM':>7} {'/biases':>8} {'blend':>7} {'real':>6} {'real/b':>7} {'train s/fold':>12}"
                  f"  load")
            for name, (_, real) in SETTINGS.items():
                res = results[name]
                blend = f"{res['blend_rmse']:.4f}" if "blend_rmse" in res else "—"
                print(f"  {name:<52} {res['rmse']:>7.4f} {res['rmse'] / bias:>8.3f} {blend:>7} {real:>6.3f} "
                      f"{real / REAL_BIASES:>7.3f} {res['train_seconds_per_fold']:>12.1f}  {res['load_before_after']}")
        rmse = [results[n]["rmse"] for n in SETTINGS]
        order = rmse[2] < bias < rmse[0] and rmse[1] < bias
        held.append(order)
        print(f"  order item-oriented < biases < user-oriented (as on the real data): {'holds' if order else 'DOES NOT hold'}",
              flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}; the order held for {sum(held)} of {len(held)} seed(s)")
    return 0 if all(held) else 1


if __name__ == "__main__":
    sys.exit(main())
