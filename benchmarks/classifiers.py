"""The image classifiers' figures: the shipped scenarios as a user runs them, and the CIFAR race.

    python benchmarks/classifiers.py mnist_mlp_book mnist_convnet --seeds 0 1
    python benchmarks/classifiers.py --race  # cifar10_resnet, then Keras' cifar10_cnn recipe for as long

``--race`` trains ``cifar10_resnet`` as shipped, then the Keras cifar10_cnn recipe
(``scenarios/cifar10_keras_recipe.yaml``: RMSprop 1e-4, batch 32, no augmentation) on the same images
for the same training time (its ``training.time_limit_seconds`` set to the resnet's training time),
in the same process, one after the other, and prints both test accuracies and the gap. Each run is a
normal run folder under ``--out`` (default ``runs/bench``). Results go to docs/benchmarks.md by hand,
with the date, the machine and the load.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FIGURES = ("test_accuracy", "test_loss", "epochs_run", "train_seconds", "samples_per_second", "best_epoch",
           "best_epoch_train_seconds", "parameters")


def run(name: str, overrides: list[str], out: str) -> dict:
    from lab.execute import execute

    folder = execute(name, overrides, out=out, quiet=True)
    summary = folder.summary()
    row = {"scenario": name, **{k: summary.get(k) for k in FIGURES}, "run": str(folder.path)}
    print(" | ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
          flush=True)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenarios", nargs="*", help="shipped scenario names or files")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--set", dest="overrides", action="append", default=[], help="override for every run")
    p.add_argument("--race", action="store_true",
                   help="cifar10_resnet against the Keras recipe for the same time")
    p.add_argument("--out", default="runs/bench")
    args = p.parse_args(argv)
    if not args.scenarios and not args.race:
        p.error("name scenarios, or --race")
    for name in args.scenarios:
        for seed in args.seeds:
            run(name, [f"seed={seed}", *args.overrides], args.out)
    if args.race:
        for seed in args.seeds:
            resnet = run("cifar10_resnet", [f"seed={seed}", *args.overrides], args.out)
            budget = resnet["train_seconds"]
            recipe = run("cifar10_keras_recipe", [f"seed={seed}", f"training.time_limit_seconds={budget}",
                                                  *args.overrides], args.out)
            gap = 100 * (resnet["test_accuracy"] - recipe["test_accuracy"])
            print(f"race (seed {seed}): resnet {resnet['test_accuracy']:.1%} in {budget:.0f} s, Keras recipe "
                  f"{recipe['test_accuracy']:.1%} in {recipe['train_seconds']:.0f} s ({recipe['epochs_run']} "
                  f"epochs): {gap:+.1f} points", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    raise SystemExit(main())
