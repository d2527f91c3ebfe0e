"""Train several classifier settings on CIFAR-10 for a fixed number of epochs and print their test accuracy.

A tuning aid, not a figure of record: it uses the classifier task's own network, optimizer and schedule
code (``supervised.classifier.model``) without the run machinery, so it runs on any Keras backend — on a GPU
machine that has JAX but no TensorFlow, too::

    KERAS_BACKEND=jax python benchmarks/cifar_sweep.py --data ../shared/datasets/cifar10-subset \\
        --sweep resnet_sizes --out sweep.json

``--throughput`` instead measures training images/s of each setting (warm-up excluded) without
training to the end: that is what decides how many epochs fit a time budget on a given machine.
Settings differ from the shipped ``cifar10_resnet`` scenario only in what each sweep names.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BASE = {
    "model": {"kind": "resnet", "filters": [32, 64, 128], "blocks": 1},
    "augment": {"flip": True, "crop_padding": 4},
    "training": {"epochs": 40, "batch_size": 64, "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9,
                 "weight_decay": 0.0005, "schedule": "one_cycle", "warmup_epochs": 8, "label_smoothing": 0.1},
}

SWEEPS = {
    "resnet_sizes": [
        {"model": {"filters": [16, 32, 64], "blocks": 3}},
        {"model": {"filters": [32, 64, 128], "blocks": 1}},
        {"model": {"filters": [32, 64, 128], "blocks": 2}},
        {"model": {"filters": [48, 96, 192], "blocks": 1}},
        {"model": {"filters": [64, 128, 256], "blocks": 1}},
        {"model": {"filters": [32, 64, 128, 256], "blocks": 1}},
    ],
    "resnet_epochs": [{"training": {"epochs": e, "warmup_epochs": round(e / 5)}} for e in (20, 40, 80, 120)],
    "resnet_optim": [
        {"training": {"learning_rate": 0.05}},
        {"training": {"learning_rate": 0.2}},
        {"training": {"batch_size": 128, "learning_rate": 0.2}},
        {"training": {"label_smoothing": 0.0}},
        {"training": {"label_smoothing": 0.2}},
        {"training": {"weight_decay": 0.001}},
        {"training": {"optimizer": "adamw", "learning_rate": 0.003, "weight_decay": 0.05}},
    ],
    "keras_recipe": [
        {"model": {"kind": "convnet", "filters": [32, 64], "convs_per_block": 2, "hidden": [512],
                   "dropout": 0.5, "conv_dropout": 0.25},
         "augment": {"flip": False, "crop_padding": 0},
         "training": {"optimizer": "rmsprop", "learning_rate": 0.0001, "batch_size": 32,
                      "schedule": "constant",
                      "warmup_epochs": 0, "label_smoothing": 0.0, "weight_decay": 0.0}},
    ],
}


def merged(change: dict) -> dict:
    out = {k: dict(v) for k, v in BASE.items()}
    for section, values in change.items():
        out.setdefault(section, {}).update(values)
    return out


def describe(change: dict) -> str:
    return "; ".join(f"{s}.{k}={v}" for s, values in change.items() for k, v in values.items()) or "base"


def train_one(setting: dict, data, seed: int, throughput_only: bool = False) -> dict:
    import keras
    import numpy as np

    from supervised.classifier.config import AugmentConfig, ClassifierModelConfig, ClassifierTrainingConfig
    from supervised.classifier.model import build_model, channel_stats, make_optimizer, one_hot, predict_probs

    keras.utils.set_random_seed(seed)
    m, a, t = (ClassifierModelConfig(**setting["model"]), AugmentConfig(**setting["augment"]),
               ClassifierTrainingConfig(**setting["training"]))
    x, y, xt, yt = data
    steps = math.ceil(len(x) / t.batch_size)
    mean, var = channel_stats(x)
    model = build_model(m, a, x.shape[1:], 10, mean, var, seed=seed)
    model.compile(optimizer=make_optimizer(t, steps), loss=keras.losses.CategoricalCrossentropy(
        label_smoothing=t.label_smoothing), metrics=["accuracy"])
    xf, y1 = x.astype(np.float32), one_hot(y, 10)
    rng = np.random.default_rng(seed)
    if throughput_only:
        model.fit(xf[:t.batch_size * 4], y1[:t.batch_size * 4], batch_size=t.batch_size, epochs=1, verbose=0)
        n = min(len(xf), t.batch_size * 40)
        t0 = time.perf_counter()
        model.fit(xf[:n], y1[:n], batch_size=t.batch_size, epochs=1, verbose=0, shuffle=False)
        return {"images_per_second": n / (time.perf_counter() - t0), "parameters": model.count_params()}
    t0 = time.perf_counter()
    curve = []
    for epoch in range(t.epochs):
        order = rng.permutation(len(xf))
        model.fit(xf[order], y1[order], batch_size=t.batch_size, epochs=1, verbose=0, shuffle=False)
        if (epoch + 1) % 10 == 0 or epoch + 1 == t.epochs:
            curve.append(round(float(np.mean(predict_probs(model, xt).argmax(1) == yt)), 4))
    seconds = time.perf_counter() - t0
    probs = predict_probs(model, xt)
    flipped = predict_probs(model, xt[:, :, ::-1])
    return {"test_accuracy": float(np.mean(probs.argmax(1) == yt)),
            "test_accuracy_flip_tta": float(np.mean((probs + flipped).argmax(1) == yt)),
            "curve_every_10": curve, "train_seconds": round(seconds, 1), "parameters": model.count_params()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="CIFAR-10 binary folder or tarball")
    p.add_argument("--sweep", action="append", choices=sorted(SWEEPS), required=True)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--epochs", type=int, help="override every setting's epochs (warm-up scaled)")
    p.add_argument("--throughput", action="store_true", help="only measure training images/s")
    p.add_argument("--out", help="write the results as JSON here too")
    args = p.parse_args(argv)

    import keras

    from lab.data.cifar10 import load_cifar10

    d = load_cifar10(args.data)
    data = (d.x_train, d.y_train, d.x_test, d.y_test)
    print(f"backend {keras.backend.backend()}, {len(d.x_train)} train / {len(d.x_test)} test images from "
          f"{d.source}",
          flush=True)
    results = []
    for sweep in args.sweep:
        for change in SWEEPS[sweep]:
            setting = merged(change)
            if args.epochs:
                setting["training"].update(epochs=args.epochs, warmup_epochs=round(args.epochs / 5))
            for seed in range(args.seeds):
                out = train_one(setting, data, seed, args.throughput)
                row = {"sweep": sweep, "setting": describe(change), "seed": seed, **out}
                results.append(row)
                print(json.dumps(row), flush=True)
                if args.out:
                    Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    raise SystemExit(main())
