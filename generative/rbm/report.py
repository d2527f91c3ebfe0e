"""The ``rbm`` task's report: the table of the RBM against its baselines, the per-split figures, which
models ``lab recommend`` uses and why, the settings, and the learning curve."""

from __future__ import annotations

from generative.rbm.model import best_ranker
from lab.data.ratings import Ratings
from lab.plots import pyplot


def write(cfg, ctx, r: Ratings, done: list[dict], summary: dict) -> None:
    """Every section of ``report.md`` (``done``: the figures of each split, ``summary``: their means)."""
    k = cfg.evaluation.top_k
    ctx.report.table("Model vs baselines", model_rows(cfg, summary), note=data_note(cfg, r, done))
    if len(done) > 1:
        ctx.report.table("Per split", [
            {"split": d["split"], "RBM RMSE": d["rmse"], "bias RMSE": d["bias_rmse"],
             **({"blend RMSE": d["blend_rmse"]} if "blend_rmse" in d else {}),
             f"RBM nDCG@{k}": _shown(d[f"ndcg_at_{k}"])} for d in done])
    ctx.report.text("Top-N lists", top_n_words(cfg, summary))
    ctx.report.text("Settings", settings_words(cfg, summary))
    learning_curve(ctx, r, done, summary)


def data_note(cfg, r: Ratings, done: list[dict]) -> str:
    """The data, the splits and what the ranking figures measure."""
    return (f"{r.describe()}. Split: {cfg.split.method}, {len(done)} split(s) "
            f"({', '.join(d['split'] for d in done)}); figures are means over them. Ranking: top "
            f"{cfg.evaluation.top_k} among items not rated in training; relevant = held-out rating >= "
            f"{cfg.evaluation.relevant:g}; {done[0]['ranking_users']} users in the first split." +
            "".join(f" Warning: {n}." for n in r.notes))


def _shown(value):
    return "not measurable" if value is None else value


def model_rows(cfg, summary: dict) -> list[dict]:
    """One row per model: RMSE and MAE where it predicts ratings, the ranking figures where it ranks."""
    k, rc = cfg.evaluation.top_k, cfg.rbm

    def row(name, prefix, rating=True, ranking=True):
        d = {"model": name, "RMSE": summary[f"{prefix}rmse"] if rating else "—",
             "MAE": summary[f"{prefix}mae"] if rating else "—"}
        for p, label in (("precision", "P"), ("recall", "R"), ("ndcg", "nDCG")):
            d[f"{label}@{k}"] = _shown(summary.get(f"{prefix}{p}_at_{k}")) if ranking else "—"
        return d

    rows = [row(f"RBM ({rc.orientation}, {rc.hidden} hidden, {rc.rated_vector})", "")]
    if "blend_rmse" in summary:
        partner = "biases" if rc.blend == "biases" else "SVD"
        rows.append(row(f"blend: RBM + {partner} (weighed on {rc.blend_validation:.0%} of the training "
                        f"ratings)",
                        "blend_", ranking=False))
    rows.append(row("user + item biases (ALS)", "bias_"))
    if "svd_rmse" in summary:
        rows.append(row(f"SVD ({cfg.baselines.svd_factors} factors, ALS)", "svd_", ranking=False))
    return (rows +
            [row("global mean", "global_mean_", ranking=False),
             row("popularity", "popularity_", rating=False)])


def top_n_words(cfg, summary: dict) -> str:
    """Which model's top-N lists and whose predicted ratings `lab recommend` shows, and why."""
    k, rc = cfg.evaluation.top_k, cfg.rbm
    ranker, ndcgs = best_ranker(summary, k)
    labels = {"rbm": f"the RBM (top-N score: {rc.rank_kind.replace('_', ' ')})", "popularity": "popularity",
              "bias": "the item biases"}
    shown = ", ".join(f"{labels[n].split(' (')[0]} {v:.4f}" for n, v in ndcgs.items() if v is not None)
    return (f"`lab recommend` ranks with {labels[ranker]}: the best nDCG@{k} in this run "
            f"({shown or 'none measurable'}; summary.json: ranking_model). {prediction_words(rc, summary)}")


def prediction_words(rc, summary: dict) -> str:
    """The sentence on whose predicted ratings `lab recommend` shows (summary.json: prediction_model)."""
    if summary.get("prediction_model") == "blend":
        partner = "biases" if rc.blend == "biases" else "SVD"
        return (f"Its predicted ratings are the blend of the RBM and the {partner} (RMSE "
                f"{summary['blend_rmse']:.4f} against the RBM's {summary['rmse']:.4f}; summary.json: "
                f"prediction_model).")
    if summary.get("blend_rmse") is not None:
        return (f"Its predicted ratings are the RBM's: the blend did not beat it here (RMSE "
                f"{summary['blend_rmse']:.4f} against {summary['rmse']:.4f}).")
    return "Its predicted ratings are the RBM's."


def rate_words(t) -> str:
    """The learning rate over epochs of a ``training`` section, in words."""
    if t.schedule == "constant":
        return f"learning rate {t.learning_rate:g}"
    if t.schedule == "step":
        if t.decay_after <= 1:
            return f"learning rate {t.learning_rate:g} x {t.decay_factor:g}^epoch"
        return (f"learning rate {t.learning_rate:g} for {t.decay_after} epochs, then x {t.decay_factor:g} "
                f"each epoch")
    return f"learning rate {t.learning_rate:g} ({t.schedule.replace('_', ' ')} schedule over epochs)"


def settings_words(cfg, summary: dict) -> str:
    rc, t = cfg.rbm, cfg.training
    return (f"{t.epochs} epochs of CD-k (k by epoch: "
            f"{', '.join(f'{k} from {s}' for s, k in rc.cd_schedule)}), batches of {t.batch_size} "
            f"{rc.orientation}s, {rate_words(t)}, momentum {rc.initial_momentum:g} then {rc.momentum:g}, "
            f"weight decay {rc.weight_decay:g}, visible negative phase: {rc.reconstruction}; top-N score: "
            f"{rc.rank_kind}. RBM training took {summary['train_seconds']:.1f} s in all.")


def learning_curve(ctx, r: Ratings, done: list[dict], summary: dict) -> None:
    """Held-out and reconstruction RMSE per epoch of every split, with the baselines' held-out RMSE."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for d in done:
        hist = [h for h in d["history"] if "test_rmse" in h]
        ax.plot([h["epoch"] for h in hist], [h["test_rmse"] for h in hist], marker="o", ms=3,
                label=f"RBM held-out ({d['split']})")
        ax.plot([h["epoch"] for h in d["history"]], [h["recon_rmse"] for h in d["history"]], ls=":",
                alpha=0.7, label=f"RBM reconstruction ({d['split']})")
    ax.axhline(summary["bias_rmse"], color="k", ls="--", lw=1, label=f"biases {summary['bias_rmse']:.4f}")
    ax.axhline(summary["global_mean_rmse"], color="grey", ls="-.", lw=1,
               label=f"global mean {summary['global_mean_rmse']:.4f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE")
    ax.set_title(f"RBM on {r.name}")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ctx.save_figure(fig, "learning_curve.png")
    ctx.report.image("Learning curve", "artifacts/learning_curve.png",
                     "Held-out RMSE per epoch (solid) and reconstruction RMSE on training cases (dotted), "
                     "with the baselines' held-out RMSE.")
