"""What a language-model run shows besides its figures: the comparison with the n-gram baselines, the
out-of-vocabulary rates, learning curves, and samples at several temperatures from a fixed prompt."""

from __future__ import annotations

import math

from lab.plots import pyplot
from supervised.language_model.serve import TextSampler, sample

SAMPLE_SEED = 1  # `lab generate RUN --seed 1` writes the report's samples again


def _unit(level: str) -> str:
    return "bits/char" if level == "chars" else "perplexity"


def _value(summary: dict, prefix: str, level: str) -> str:
    nats = summary[f"{prefix}_nats"]
    if level == "chars":
        return f"{nats / math.log(2):.3f}"
    return f"{math.exp(nats):.1f}"


def comparison_rows(summary: dict) -> list[dict]:
    level = summary["level"]
    rows = []
    for prefix, name in (("test", f"{summary['cell']} {summary['layers']}x{summary['units']} "
                                  f"({summary['parameters']:,} parameters)"),
                         ("kn", f"interpolated Kneser-Ney, order {summary['kn_order']}"),
                         ("unigram", "unigram")):
        rows.append({"model": name, "test nats/token": f"{summary[f'{prefix}_nats']:.4f}",
                     _unit(level): _value(summary, prefix, level),
                     "ratio to KN": f"{summary[f'{prefix}_nats'] / summary['kn_nats']:.3f}"})
    return rows


def curves(ctx, level: str):
    """Training and validation loss per epoch from metrics.csv (nats/token)."""
    plt = pyplot()
    rows = ctx.metrics.rows()
    epochs = [int(r["step"]) for r in rows if r.get("loss")]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(epochs, [float(r["loss"]) for r in rows if r.get("loss")], marker="o",
            label="training (dropout on)")
    ax.plot(epochs, [float(r["val_nats"]) for r in rows if r.get("val_nats")], marker="o", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"learning curves ({'characters' if level == 'chars' else 'words'})")
    return ctx.save_figure(fig, "curves.png")


def samples(single, data, cfg) -> list[tuple[float, str]]:
    """``(temperature, text)`` for each of the scenario's temperatures, from its prompt, seed SAMPLE_SEED."""
    sampler = TextSampler(single, data.vocab, data.level, cfg.data.lowercase, cfg.data.split_punctuation)
    tokens, _ = sampler.tokens_of(cfg.generate.prompt)
    ids = data.vocab.encode(tokens)
    out = []
    for temperature in cfg.generate.temperatures:
        text = "".join(piece for piece, _, _ in sample(sampler, cfg.generate.prompt, ids, cfg.generate.length,
                                                        temperature, None, SAMPLE_SEED))
        out.append((temperature, text))
    return out


def _how_read(cfg) -> str:
    if cfg.model.recurrent:
        return "its state carried through each"
    window, step = cfg.training.seq_len, max(1, cfg.training.seq_len // 2)
    return (f"each in windows of {window} tokens moving on by {step}: a token is read with up to "
            f"{window - 1} before it, at least {step} past its stream's first {step}")


def write_report(cfg, ctx, data, summary: dict, single) -> None:
    ctx.report.table("Test", comparison_rows(summary), note=(
        f"{data.describe()}. The same {summary['scored_test_tokens']:,} test tokens are scored by every "
        f"model (the network reads the test text in {cfg.training.eval_batch_size} streams, "
        f"{_how_read(cfg)}). Training: {summary['epochs_run']} epochs, {summary['train_seconds']:.0f} s, "
        f"{summary['tokens_per_second']:,.0f} tokens/s"
        + (f"; best epoch {summary['best_epoch']} (validation loss), its weights kept"
           if "best_epoch" in summary
           else "")))
    ctx.report.table("Vocabulary", [
        {"split": name, "tokens": f"{summary[f'{name}_tokens']:,}",
         "out of vocabulary": f"{summary[f'oov_{name}']:.4%}"}
        for name in ("train", "valid", "test")],
        note=f"{len(data.vocab):,} tokens built from the training split (<unk> included), saved as "
             f"artifacts/vocabulary.json. A literal <unk> in the text counts as out of vocabulary.")
    curves(ctx, data.level)
    ctx.report.image("Learning curves", "artifacts/curves.png")
    lines = ctx.report.section("Samples")
    prompt = cfg.generate.prompt
    lines += [f"Prompt {prompt!r}, {cfg.generate.length} tokens, seed {SAMPLE_SEED}; `lab generate "
              f"{ctx.run.path} --prompt ... --temperature T` writes more.", ""]
    for temperature, text in samples(single, data, cfg):
        lines += [f"**temperature {temperature:g}**", "", "```text", prompt + text, "```", ""]
