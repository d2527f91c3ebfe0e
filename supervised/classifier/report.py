"""What a classifier run shows besides its figures: per-class accuracy, the confusion matrix, the most
confident mistakes, learning curves, and the book's csv/ and images/ outputs."""

from __future__ import annotations

import csv
import io

import numpy as np
from PIL import Image

from lab.plots import pyplot
from lab.runs import atomic_path, atomic_write_text
from supervised.classifier.model import confident_mistakes, confusion_matrix, per_class_accuracy


def _show(ax, image: np.ndarray) -> None:
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray_r" if image.mean() < 128 else "gray", vmin=0, vmax=255)
    else:
        ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])


def write_report(cfg, ctx, data, probs: np.ndarray, summary: dict) -> None:
    """The report's sections: the test figures, accuracy per class, the confusion matrix, the most confident
    mistakes and the learning curves."""
    tables(ctx, data, probs, summary)
    confusion(ctx, data, probs)
    mistakes(ctx, data, probs, cfg.report.gallery)
    learning_curves(ctx)


def tables(ctx, data, probs: np.ndarray, summary: dict) -> None:
    k, names, y = len(data.class_names), data.class_names, data.y_test
    per_class = per_class_accuracy(probs.argmax(1), y, k)
    counts = np.bincount(y, minlength=k)
    ctx.report.table("Test", [
        {"figure": "accuracy",
         "value": f"{summary['test_accuracy']:.4f} on {summary['test_images']:,} images"},
        {"figure": "cross-entropy (nats)", "value": f"{summary['test_loss']:.4f}"},
        {"figure": "parameters", "value": f"{summary['parameters']:,}"},
        {"figure": "training", "value": f"{summary['epochs_run']} epochs, {summary['train_seconds']:.1f} s "
                                        f"({summary.get('samples_per_second', 0):,.0f} images/s)"},
        *([{"figure": "best epoch (validation loss)", "value": f"{summary['best_epoch']}, after "
            f"{summary['best_epoch_train_seconds']:.1f} s of training"}] if "best_epoch" in summary else []),
    ], note=f"{data.describe()}. The weights kept are the best epoch's on the validation images"
            if len(data.x_val) else data.describe())
    ctx.report.table("Accuracy per class", [
        {"class": f"{c} {names[c]}" if names[c] != str(c) else str(c), "test images": int(counts[c]),
         "accuracy": per_class[c]} for c in range(k)])


def confusion(ctx, data, probs: np.ndarray) -> None:
    plt = pyplot()
    k, names = len(data.class_names), data.class_names
    m = confusion_matrix(data.y_test, probs.argmax(1), k)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    share = m / np.maximum(1, m.sum(1, keepdims=True))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (test images; colour: share of the true class)")
    ctx.save_figure(fig, "confusion.png")
    ctx.report.image("Confusion matrix", "artifacts/confusion.png",
                     "Rows: true class, columns: predicted class; the numbers are test images.")


def mistakes(ctx, data, probs: np.ndarray, n: int) -> None:
    gallery = confident_mistakes(probs, data.y_test, n)
    if not len(gallery):
        return
    plt = pyplot()
    names, y, pred = data.class_names, data.y_test, probs.argmax(1)
    cols = min(8, len(gallery))
    rows = -(-len(gallery) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.75 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, gallery, strict=False):
        ax.axis("on")
        _show(ax, data.x_test[i])
        ax.set_title(f"#{i} {names[y[i]]}\n-> {names[pred[i]]} {probs[i, pred[i]]:.0%}", fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, "mistakes.png")
    ctx.report.image("The most confident mistakes", "artifacts/mistakes.png",
                     "Test image number, its true class, and -> the predicted class with its probability; "
                     "`lab predict RUN --test-index N` shows any of them.")


def learning_curves(ctx) -> None:
    rows_ = ctx.metrics.rows()
    if not rows_:
        return
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    for key, ax, label in (("loss", a1, "train"), ("val_loss", a1, "validation"),
                           ("accuracy", a2, "train"), ("val_accuracy", a2, "validation")):
        pts = [(int(float(r["step"])), float(r[key])) for r in rows_ if r.get(key, "") != ""]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker=".", label=label)
    a1.set_title("loss (cross-entropy)")
    a2.set_title("accuracy")
    for ax in (a1, a2):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    ctx.save_figure(fig, "learning_curves.png")
    ctx.report.image("Learning curves", "artifacts/learning_curves.png",
                     "Training figures are averages over each epoch (with augmentation and dropout on); "
                     "validation figures are measured after it.")


def write_book_outputs(ctx, data, probs: np.ndarray, report_cfg) -> dict:
    """The book's outputs: ``artifacts/csv/batch_<b>.csv`` (each test image's label, prediction and class
    probabilities) and ``artifacts/images/<batch>_<index>_<label>_<prediction>.png`` for the first
    ``book_images`` test images."""
    size = report_cfg.book_batch_size
    pred = probs.argmax(1)
    folder = ctx.run.artifacts / "csv"
    folder.mkdir(parents=True, exist_ok=True)
    header = ["index", "label", "prediction", *(f"p_{c}" for c in data.class_names)]
    n_batches = -(-len(probs) // size)
    for b in range(n_batches):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for i in range(b * size, min(len(probs), (b + 1) * size)):
            writer.writerow(
                [i - b * size, int(data.y_test[i]), int(pred[i]), *(f"{p:.6f}" for p in probs[i])])
        atomic_write_text(folder / f"batch_{b:04d}.csv", buf.getvalue())
    images = ctx.run.artifacts / "images"
    images.mkdir(parents=True, exist_ok=True)
    n_images = min(report_cfg.book_images, len(probs))
    for i in range(n_images):
        b, j = divmod(i, size)
        image = data.x_test[i]
        pic = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        with atomic_path(images / f"{b}_{j}_{int(data.y_test[i])}_{int(pred[i])}.png") as tmp:
            pic.save(tmp, format="PNG")
    ctx.report.text("The book's outputs", f"`artifacts/csv/`: {n_batches} files of up to {size} test images "
                    f"(index in the batch, label, prediction, the {len(data.class_names)} class "
                    f"probabilities); `artifacts/images/`: the first {n_images} test images as "
                    f"`<batch>_<index>_<label>_<prediction>.png` (report.book_images bounds them).")
    return {"book_csv_files": n_batches, "book_images": n_images}
