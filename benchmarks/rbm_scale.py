"""How fast and how big the RBM recommender goes on this machine.

1. **MovieLens-100K-sized fit**: ``scenarios/rbm_movielens100k.yaml`` (its settings: item-oriented, mean
   field, 60 epochs, blended with an SVD) on the synthetic ``movielens100k`` preset (943 users x 1,682
   movies, 100,000 ratings shaped like MovieLens 100K), its first 5-fold split, run end to end with
   ``lab run``'s driver. Target: under 60 s of RBM training on 2 CPU cores.
2. **Netflix-style scale**: a synthetic set of ~10M ratings (48,000 users x 17,770 movies, ~208 ratings
   a user like the Netflix Prize), optionally written in the Netflix layout and read back with the
   chunked reader, then RBM training streamed in user batches (batch x 17,770 x 5 dense one-hot per
   step). Reports peak memory (``ru_maxrss``) and the time per epoch (measured over ``--steps`` batches
   and extrapolated when that is less than an epoch).

    python benchmarks/rbm_scale.py                   # both parts
    python benchmarks/rbm_scale.py --part small
    python benchmarks/rbm_scale.py --part large --steps 40 --netflix-io

Timings depend on what else runs on the machine: say so when you quote them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def small(out: Path) -> dict:
    from lab.execute import execute

    overrides = ["data.source=synthetic", "data.download=false", "data.synthetic.preset=movielens100k",
                 "split.run_folds=1", "strategy=cpu"]
    t0, c0 = time.time(), time.process_time()
    run = execute(str(ROOT / "scenarios" / "rbm_movielens100k.yaml"), overrides, out=str(out), quiet=True)
    s = run.summary()
    return {"part": "MovieLens-100K-sized fit", "ratings": s["n_ratings"], "users": s["n_users"],
            "items": s["n_items"], "rbm_train_seconds": round(s["train_seconds"], 1),
            "run_wall_seconds": round(time.time() - t0, 1),
            "process_cpu_seconds": round(time.process_time() - c0, 1), "rmse": round(s["rmse"], 4),
            "blend_rmse": round(s["blend_rmse"], 4) if "blend_rmse" in s else None,
            "svd_rmse": round(s["svd_rmse"], 4) if "svd_rmse" in s else None,
            "bias_rmse": round(s["baseline_rmse"], 4), "ndcg_at_10": round(s["ndcg_at_10"], 4),
            "popularity_ndcg_at_10": round(s["popularity_ndcg_at_10"], 4), "peak_rss_mb": round(peak_mb())}


def large(users: int, items: int, mean: float, steps: int | None, batch: int, netflix_io: bool) -> dict:
    from lab.data import ratings as R

    res: dict = {"part": "Netflix-style scale"}
    t0 = time.time()
    r = R.synthetic(users, items, mean_ratings=mean, seed=0)
    res.update(ratings=len(r), users=r.n_users, items=r.n_items, generate_seconds=round(time.time() - t0, 1),
               peak_rss_mb_after_generation=round(peak_mb()))
    if netflix_io:
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.time()
            R.write_netflix(r, tmp, n_files=4)
            res["write_netflix_seconds"] = round(time.time() - t1, 1)
            res["netflix_text_mb"] = round(sum(f.stat().st_size for f in Path(tmp).glob("*")) / 2**20)
            del r
            t1 = time.time()
            r = R.read_netflix(tmp)
            res["read_netflix_seconds"] = round(time.time() - t1, 1)
            res["read_ratings_per_second"] = round(len(r) / (time.time() - t1))
            res["peak_rss_mb_after_reading"] = round(peak_mb())
    from generative.rbm import machine as rbm_machine
    from generative.rbm import train as rbm_train
    from generative.rbm.model import RBM, Cases, rmse

    split = R.holdout(r, fraction=0.1, seed=0)
    vals = r.rating_index()[split.train]
    cases = Cases.build(r.user[split.train], r.item[split.train], vals, r.n_users, r.n_items)
    model = RBM(r.n_items, r.scale, n_hidden=100, rated_vector="conditional", seed=0)
    counts = np.zeros((r.n_items, len(r.scale)))
    np.add.at(counts, (r.item[split.train], vals), 1)
    model.init_visible_biases(counts)
    machine = rbm_machine.Machine(model, False)
    model.set_schedule(0.1, 0.5, 1)
    order = np.random.default_rng(0).permutation(r.n_users)
    n_batches = -(-r.n_users // batch)
    todo = n_batches if not steps else min(steps, n_batches)
    machine.train_step(cases.batch(order[:batch]))  # trace once, outside the timing
    t1, c1 = time.time(), time.process_time()
    for s in range(todo):
        machine.train_step(cases.batch(order[s * batch:(s + 1) * batch]))
    dt, dc = time.time() - t1, time.process_time() - c1
    res.update(batch_users=batch, batches_timed=todo, batches_per_epoch=n_batches,
               seconds_per_batch=round(dt / todo, 3), epoch_seconds=round(dt / todo * n_batches, 1),
               epoch_cpu_seconds=round(dc / todo * n_batches, 1),
               epoch_extrapolated=todo < n_batches)
    t2 = time.time()
    te = split.test[:200_000]
    pred = rbm_train.predict_pairs(machine, cases, r.user[te], r.item[te], 256)
    res["predict_pairs_per_second"] = round(len(te) / (time.time() - t2))
    res["rmse_after_timed_batches"] = round(rmse(pred, r.rating[te]), 4)
    res["peak_rss_mb"] = round(peak_mb())
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["small", "large", "both"], default="both")
    p.add_argument("--users", type=int, default=48_000, help="users of the large set")
    p.add_argument("--items", type=int, default=17_770, help="movies of the large set")
    p.add_argument("--mean", type=float, default=208.0, help="mean ratings per user of the large set")
    p.add_argument("--batch", type=int, default=200, help="users per training batch (large set)")
    p.add_argument("--steps", type=int, default=None,
                   help="time only this many batches (default: a full epoch)")
    p.add_argument("--netflix-io", action="store_true",
                   help="also write and read the large set as Netflix files")
    p.add_argument("--out", default=None,
                   help="run folder parent for the small fit (default: a temporary folder)")
    args = p.parse_args(argv)
    print(f"cpus: {os.cpu_count()}; load average now: {os.getloadavg()[0]:.1f}", flush=True)
    if args.part in ("small", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(small(Path(args.out or tmp))), flush=True)
    if args.part in ("large", "both"):
        print(json.dumps(large(args.users, args.items, args.mean, args.steps, args.batch, args.netflix_io)),
              flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
