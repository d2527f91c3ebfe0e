"""The ``classifier`` task's runner: images (:mod:`supervised.classifier.data`) -> one of the networks of
:mod:`supervised.classifier.model` -> the shared epoch loop (:mod:`lab.loop`) -> test figures, report and
the model ``lab predict`` reads.

Training: ``model.fit`` one epoch at a time on a permutation drawn from the loop's per-epoch generator
(under ``strategy: multi-worker`` the loop's custom loop, on the same permutation), cross-entropy with
optional label smoothing, Adam / AdamW / SGD (Nesterov) / RMSprop at the training section's learning-rate
schedule, early stopping on the validation loss with the best weights kept (always restored at the end
when there is a validation split), an optional time limit.

What the run writes: ``summary.json`` (test accuracy and loss, per-class accuracy range, parameters,
samples/s, the best epoch and the time to reach it), ``report.md`` with the per-class table, the
confusion matrix (``artifacts/confusion.png``), the most confident mistakes (``artifacts/mistakes.png``)
and the learning curves (``artifacts/learning_curves.png``); ``artifacts/classifier.keras`` and
``artifacts/classes.json`` for ``lab predict``; with ``report.book_outputs`` the book's ``artifacts/csv/``
and ``artifacts/images/``.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from lab.distributed import classify_terms
from lab.loop import EarlyStopping, EpochLoop
from lab.runs import atomic_write_json
from lab.schedules import current_rate
from supervised.classifier import report
from supervised.classifier.data import ImageData, load_images
from supervised.classifier.model import (
    build_model,
    channel_stats,
    cross_entropy,
    make_optimizer,
    one_hot,
    per_class_accuracy,
    predict_probs,
    with_test_flip,
)
from supervised.classifier.serve import CLASSES_FILE, MODEL_FILE

CHECKPOINT = "classifier"


def run(cfg, ctx) -> dict:
    """Train the classifier of a ``classifier`` scenario, test it, and write its report and artifacts."""
    data = load_images(cfg.data, cfg.seed)
    ctx.log(data.describe())
    for note in data.notes:
        ctx.log(f"note: {note}")
    t, k = cfg.training, len(data.class_names)
    x_train, y_train = data.x_train.astype(np.float32), one_hot(data.y_train, k)
    validation = (data.x_val.astype(np.float32), one_hot(data.y_val, k))
    validate = len(data.x_val) > 0
    loop = EpochLoop(ctx, CHECKPOINT, t, seed=cfg.seed, describe=f"{cfg.model.kind} epochs",
                     early_stopping=EarlyStopping("val_loss", patience=t.patience) if validate else None,
                     terms=classify_terms(t.label_smoothing))
    model = loop.restore(lambda: compiled_model(cfg, ctx, data))
    for epoch in loop:
        order = epoch.rng.permutation(len(x_train))
        rate = current_rate(model.optimizer)
        figures = loop.fit((x_train[order], y_train[order]), t.batch_size)
        figures["learning_rate"] = rate
        if validate:
            val = loop.evaluate(validation)
            figures.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        loop.end_epoch(figures, show=("loss", "val_accuracy") if validate else ("loss", "accuracy"))
    trained = loop.finish()
    if validate:  # of the weights kept (the best epoch's): what a study tunes on, the test digits unseen
        trained["val_accuracy"] = float(loop.evaluate(validation)["accuracy"])
    if not ctx.is_chief:  # another worker of a multi-worker run: the chief tests, reports and saves
        return {"task": "classifier", **trained}

    final = with_test_flip(model) if cfg.augment.test_flip else model
    probs = predict_probs(final, data.x_test)
    summary = {**summarise(cfg, data, model, probs), **trained}
    ctx.log(f"test accuracy {summary['test_accuracy']:.4f} ({summary['test_images']:,} images)")
    save_products(ctx, final, data, summary)
    report.write_report(cfg, ctx, data, probs, summary)
    if cfg.report.book_outputs:
        summary.update(report.write_book_outputs(ctx, data, probs, cfg.report))
    return summary


def compiled_model(cfg, ctx, data: ImageData) -> keras.Model:
    """A fresh network for the scenario, standardising by the training images' channels, compiled."""
    t = cfg.training
    mean, variance = channel_stats(data.x_train)
    model = build_model(cfg.model, cfg.augment, data.input_shape, len(data.class_names), mean, variance,
                        seed=cfg.seed)
    model.compile(optimizer=make_optimizer(t, math.ceil(len(data.x_train) / t.batch_size)),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=t.label_smoothing),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=ctx.jit_compile)
    return model


def summarise(cfg, data: ImageData, model, probs: np.ndarray) -> dict:
    """The summary's figures of the test images' class probabilities."""
    pred = probs.argmax(1)
    per_class = per_class_accuracy(pred, data.y_test, len(data.class_names))
    return {"task": "classifier", "dataset": data.dataset, "model": cfg.model.kind,
            "parameters": int(model.count_params()), "train_images": len(data.x_train),
            "validation_images": len(data.x_val), "test_images": len(data.x_test),
            "test_accuracy": float(np.mean(pred == data.y_test)),
            "test_loss": cross_entropy(probs, data.y_test),
            "class_accuracy_min": float(np.nanmin(per_class)),
            "class_accuracy_max": float(np.nanmax(per_class))}


def save_products(ctx, model, data: ImageData, summary: dict) -> None:
    """What ``lab predict`` reads: the model and ``classes.json``."""
    ctx.save_model(model, MODEL_FILE, where="artifacts")
    atomic_write_json(ctx.artifact(CLASSES_FILE), {
        "dataset": data.dataset, "classes": list(data.class_names), "input_shape": list(data.input_shape),
        "test_accuracy": summary["test_accuracy"]})
