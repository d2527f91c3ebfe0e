"""The ``rbm`` task: ratings -> split -> baselines and the RBM -> honest evaluation -> a saved recommender.

For every split it fits, on the same training ratings, the global mean, regularised user + item biases
(ALS, like Surprise's BaselineOnly), an SVD (biased matrix factorisation by ALS, ``baselines.svd_factors``;
0 turns it off), popularity (ranking only) and the RBM of :mod:`generative.rbm.model`, and scores them all on
the same held-out ratings. With ``rbm.blend`` (``biases`` or ``svd``) the RBM trains on the training ratings
less a validation share (``rbm.blend_validation``), the blend ``w0 + w1 x RBM + w2 x partner`` is weighed
by least squares on that share, and both the RBM alone (``rmse``) and the blend (``blend_rmse``) are
reported; the RBM predicts from all the training ratings either way.

- RMSE and MAE of the predicted ratings (baseline predictions are clipped to the rating scale; the RBM's
  expected rating lies inside it by construction);
- precision@N, recall@N and nDCG@N of each user's top N among the items they did not rate in training,
  where relevant = a held-out rating >= ``evaluation.relevant`` (users without a relevant held-out item
  are skipped; at most ``evaluation.ranking_users`` users, a seeded sample). When no user is left, or
  ``top_k`` is not smaller than the number of items (the top N would be every item), the ranking
  figures are ``null`` in ``summary.json`` and "not measurable" in the report, never 0 or 1.

Checks: a split that leaves no held-out or no training rating is a DataError with the counts (one
rating, a hold-out fraction that rounds to nothing...); a final figure that is NaN or infinite is a
:class:`~lab.errors.TrainingError` (each epoch's are checked by the shared loop); duplicate ratings the
reader dropped are logged as a warning and said in the report.

The run's top-N lists come from the model that ranks best in it (highest nDCG@N, mean over the splits:
the RBM, popularity or the item biases); ``summary.json`` names it (``ranking_model``), the report says
why, and ``recommender.json`` tells ``lab recommend``.

Random streams (:mod:`lab.seeding`, all from the scenario's seed): ``ratings`` (the synthetic data),
``sample_users`` (``data.sample_users``), ``split``, and per split ``svd``, ``ranking_users``,
``blend_validation``, ``rbm`` (the model's initial weights and Gibbs sampling) and the loop's
``rbm/epoch`` (the order of the cases).

The RBM trains on the shared epoch loop and ``training:`` section (epochs, batch size, the learning rate
over epochs: :func:`lab.schedules.rate_of_epoch`, set once per epoch; checkpoints, time limit). The run
folder gets metrics.csv (per epoch: reconstruction RMSE, held-out RMSE, learning rate, k), a learning
curve PNG, a report table of model vs baselines (:mod:`generative.rbm.report`), a checkpoint per epoch
(``lab run --resume`` continues exactly), and ``artifacts/rbm.keras`` + ``artifacts/ratings.npz`` +
``artifacts/recommender.json`` + ``artifacts/baselines.npz`` which ``lab recommend`` loads (the model of the
first split, all the ratings it may condition on, and that split's biases and popularity).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from generative.rbm import report
from generative.rbm.machine import Machine
from generative.rbm.model import (
    RBM,
    Biases,
    Cases,
    Factors,
    RankingTask,
    apply_blend,
    best_ranker,
    fit_blend,
    mae,
    rank_static,
    ranking_figures,
    rmse,
)
from lab.data import ratings as ratings_mod
from lab.data.ratings import Ratings, Split
from lab.errors import DataError, RunError, TrainingError
from lab.loop import EpochLoop
from lab.runs import atomic_path, atomic_write_json
from lab.schedules import rate_of_epoch
from lab.seeding import stream, stream_seed

MODEL_FILE = "rbm.keras"  # artifacts/: the first split's model, which `lab recommend` loads
CHECKPOINT = "rbm"  # checkpoints/rbm.json: the shared loop's last checkpoint (its stage is the fold)
RATINGS_FILE = "ratings.npz"
META_FILE = "recommender.json"
BASELINES_FILE = "baselines.npz"  # artifacts/: the first split's biases and popularity (lab recommend)
BLEND_FILE = "blend.npz"  # artifacts/: the first split's blend weights and partner model (lab recommend)
STATE_FILE = "rbm_folds.json"  # checkpoints/: the figures of the finished folds
FIGURES = ("rmse", "mae", "global_mean_rmse", "global_mean_mae", "bias_rmse", "bias_mae")
OPTIONAL_FIGURES = ("svd_rmse", "svd_mae", "blend_rmse", "blend_mae")  # with baselines.svd_factors, rbm.blend


# --------------------------------------------------------------------------------------------------
# The runner


def run(cfg, ctx) -> dict:
    """The ratings, every split's baselines and RBM, the recommender of the first split, the report."""
    t0 = time.time()
    r = load_data(cfg)
    ctx.log(r.describe())
    for note in r.notes:
        ctx.log(f"warning: {note}")
    splits = make_splits(cfg, r)
    load_seconds = time.time() - t0
    done: list[dict] = finished_folds(ctx, cfg) if ctx.resume else []
    for fold, split in enumerate(splits):
        if fold < len(done):
            continue
        fitted = run_split(cfg, ctx, r, split, fold)
        if fold == 0:
            save_recommender(cfg, ctx, r, split, fitted)
        done.append(fitted.figures)
        ctx.save_state(STATE_FILE, {"done": done})
    if not (ctx.run.artifacts / MODEL_FILE).exists():
        raise DataError("no split was trained")
    summary = {**summarise(cfg, r, done), "load_seconds": load_seconds}
    record_models(ctx, summary)
    report.write(cfg, ctx, r, done, summary)
    atomic_write_json(ctx.artifact("folds.json"),
                      [{k: v for k, v in d.items() if k != "history"} for d in done])
    ctx.log(json.dumps({k: summary[k] for k in ("rmse", "baseline_rmse") if k in summary}))
    return summary


@dataclass
class Fitted:
    """What one split leaves: its figures (``checkpoints/rbm_folds.json``, the summary and the report) and,
    for the recommender of the first split, its models."""

    figures: dict
    model: RBM
    biases: Biases
    svd: Factors | None
    blend_weights: np.ndarray | None  # rbm.blend: the blend's (intercept, RBM, partner) weights


def run_split(cfg, ctx, r: Ratings, split: Split, fold: int) -> Fitted:
    """Fit the baselines and the RBM on one split (the RBM on the shared epoch loop, whose checkpoint stage
    is the fold) and score them on its held-out ratings."""
    truth = r.rating[split.test].astype(np.float64)
    figures = {"split": split.name, "n_train": len(split.train), "n_test": len(split.test)}
    t0 = time.time()
    biases, svd, ranking = fit_baselines(cfg, ctx, r, split, fold, truth, figures)
    figures["baseline_seconds"] = time.time() - t0
    cases = SplitCases.build(cfg, r, split, fold)
    machine, history, train_seconds = train_rbm(cfg, ctx, cases, split, fold, truth)
    pred = predict_pairs(machine, cases.predict_from, cases.test_case, cases.test_col,
                         cfg.evaluation.batch_size)
    figures.update(errors("", pred, truth))
    weights = None
    if len(cases.val_idx):  # rbm.blend
        weights = blend(cfg, r, split, fold, cases, machine, pred, (biases, svd), truth, figures)
    t2 = time.time()
    figures.update(rbm_ranking(machine, cases.predict_from, ranking, cfg.rbm.orientation,
                               cfg.evaluation.top_k, cfg.evaluation.batch_size))
    figures["ranking_seconds"] = time.time() - t2
    check_finite(figures, f"rbm {split.name}", [k for k in figures if k not in ("split", "blend_weights")])
    figures.update(train_seconds=train_seconds, history=history)
    return Fitted(figures, machine.model, biases, svd, weights)


# --------------------------------------------------------------------------------------------------
# Data


def load_data(cfg) -> Ratings:
    """The ratings a scenario asks for (``cfg.data``), filtered and sampled as configured."""
    d = cfg.data
    if d.source == "synthetic":
        r = synthetic_data(d.synthetic, stream_seed(cfg.seed, "ratings"))
    else:
        r = ratings_mod.load_ratings(d.path, d.source, d.download, d.cache, d.max_files)
    if d.min_user_ratings > 1:
        counts = np.bincount(r.user, minlength=r.n_users)
        r = r.subset(counts[r.user] >= d.min_user_ratings)
    if d.sample_users and d.sample_users < r.n_users:
        keep = stream(cfg.seed, "sample_users").choice(r.n_users, d.sample_users, replace=False)
        chosen = np.zeros(r.n_users, bool)
        chosen[keep] = True
        r = r.subset(chosen[r.user])
    if len(r) == 0:
        raise DataError(f"{r.name}: no ratings left after filtering (data.min_user_ratings / "
                        f"data.sample_users)")
    return r


def synthetic_data(s, seed: int) -> Ratings:
    """The generated ratings of ``data.synthetic`` (its preset's generator)."""
    if s.preset == "movielens100k":
        return ratings_mod.movielens_like(n_users=s.users, n_items=s.items, mean_ratings=s.mean_ratings,
                                          min_ratings=s.min_ratings, factors=s.factors, noise=s.noise,
                                          taste_strength=s.taste_strength, seed=seed)
    return ratings_mod.synthetic(s.users, s.items, s.mean_ratings, s.min_ratings, s.tastes, s.noise,
                                 s.taste_strength, s.popularity_exponent, seed=seed)


def make_splits(cfg, r: Ratings) -> list[Split]:
    """The splits to run (``split.run_folds`` of them), each checked to leave ratings on both sides."""
    s = cfg.split
    splits = ratings_mod.make_splits(r, s.method, s.folds, s.own, s.n, None if s.n else s.fraction,
                                     stream(cfg.seed, "split"))
    splits = splits[: s.run_folds] if s.run_folds else splits
    for split in splits:
        check_split(r, split, s.method)
    return splits


def check_split(r: Ratings, split: Split, method: str) -> None:
    """A split that holds out nothing, or keeps nothing to train on, is a DataError with the counts (its
    figures would be NaN, or a precision over no user)."""
    if len(split.train) and len(split.test):
        return
    why = {
        "holdout": "a hold-out split holds out split.n, or round(split.fraction x n), of each user's n "
                   "ratings and keeps at least one of them for training",
        "temporal": "a temporal split holds out split.n, or round(split.fraction x n), of each user's n "
                    "latest ratings and keeps at least one of them for training",
        "kfold": "k-fold needs at least as many ratings as folds",
        "own": "the dataset's own split does not fit these ratings",
    }.get(method, "")
    raise DataError(f"{r.name}: the split {split.name} leaves {len(split.train):,} training and "
                    f"{len(split.test):,} held-out ratings: too few ratings ({len(r):,} by {r.n_users:,} "
                    f"user(s) of {r.n_items:,} item(s)) for split.method {method}" +
                    (f"; {why}" if why else ""),
                    ["give more ratings (data.path, data.min_user_ratings, data.sample_users), or another "
                     "split"])


def orient(r: Ratings, idx: np.ndarray, orientation: str):
    """(case, column) coordinates of ratings ``idx``: (user, item) or, turned round, (item, user)."""
    if orientation == "user":
        return r.user[idx], r.item[idx], r.n_users, r.n_items
    return r.item[idx], r.user[idx], r.n_items, r.n_users


@dataclass
class SplitCases:
    """One split's ratings as the RBM sees them: grouped by case (user, or movie when turned round)."""

    fit_idx: np.ndarray  # the training ratings the RBM trains on (less the blend's validation share)
    val_idx: np.ndarray  # the blend's validation ratings (none without rbm.blend)
    cases: Cases  # fit_idx by case: what the RBM trains on
    predict_from: Cases  # all the training ratings by case: what the RBM predicts from
    test_case: np.ndarray  # the held-out ratings' cases and columns
    test_col: np.ndarray
    scale: np.ndarray  # the rating values

    @classmethod
    def build(cls, cfg, r: Ratings, split: Split, fold: int) -> SplitCases:
        rc, tr = cfg.rbm, split.train
        fit_idx, val_idx = ((tr, tr[:0]) if rc.blend == "none" else
                            blend_split(tr, rc.blend_validation, stream(cfg.seed, "blend_validation", fold)))
        test_case, test_col, n_cases, n_visible = orient(r, split.test, rc.orientation)
        seen = (test_case, test_col) if rc.rated_vector != "none" and rc.seen_includes_test else (None, None)

        def by_case(idx):
            case, col, _, _ = orient(r, idx, rc.orientation)
            return Cases.build(case, col, r.rating_index()[idx], n_cases, n_visible, *seen)

        cases = by_case(fit_idx)
        return cls(fit_idx, val_idx, cases, by_case(tr) if len(val_idx) else cases, test_case, test_col,
                   r.scale)


def blend_split(train: np.ndarray, fraction: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(ratings the RBM trains on, the validation ratings that weigh the blend): a random share."""
    n_val = max(1, int(round(fraction * len(train))))
    val = np.zeros(len(train), bool)
    val[rng.choice(len(train), min(n_val, len(train) - 1), replace=False)] = True
    return train[~val], train[val]


# --------------------------------------------------------------------------------------------------
# Baselines and the blend


def errors(prefix: str, pred, truth) -> dict:
    """``<prefix>rmse`` and ``<prefix>mae`` of predictions against the held-out ratings."""
    return {f"{prefix}rmse": rmse(pred, truth), f"{prefix}mae": mae(pred, truth)}


def fit_baselines(cfg, ctx, r: Ratings, split: Split, fold: int, truth: np.ndarray,
                  figures: dict) -> tuple[Biases, Factors | None, RankingTask]:
    """The global mean, the biases, the SVD and popularity fitted on the split's training ratings, their
    figures added to ``figures``; returns the biases, the SVD and the users the split ranks for."""
    tr, te = split.train, split.test
    lo, hi = float(r.scale[0]), float(r.scale[-1])
    figures.update(errors("global_mean_", np.full(len(te), float(r.rating[tr].mean())), truth))
    biases = fit_biases(cfg, r, tr)
    figures.update(errors("bias_", np.clip(biases.predict(r.user[te], r.item[te]), lo, hi), truth))
    svd = fit_svd(cfg, r, tr, fold) if cfg.baselines.svd_factors else None
    if svd is not None:
        figures.update(errors("svd_", np.clip(svd.predict(r.user[te], r.item[te]), lo, hi), truth))
    ec = cfg.evaluation
    task = RankingTask.build(r, split, ec.relevant, ec.ranking_users, stream(cfg.seed, "ranking_users", fold))
    note = ranking_note(len(task.users), r.n_items, ec.top_k, ec.relevant)
    if note:
        task.users = task.users[:0]
        ctx.log(f"{split.name}: {note}")
    figures["ranking_users"] = len(task.users)
    popularity = np.bincount(r.item[tr], minlength=r.n_items).astype(np.float64)
    figures.update({f"popularity_{key}": v for key, v in rank_static(task, popularity, ec.top_k).items()})
    figures.update({f"bias_{key}": v for key, v in rank_static(task, biases.item, ec.top_k).items()})
    return biases, svd, task


def fit_biases(cfg, r: Ratings, idx: np.ndarray) -> Biases:
    b = cfg.baselines
    return Biases.fit(r.user[idx], r.item[idx], r.rating[idx].astype(np.float64), r.n_users, r.n_items,
                      b.user_reg, b.item_reg, b.iterations)


def fit_svd(cfg, r: Ratings, idx: np.ndarray, fold: int) -> Factors:
    b = cfg.baselines
    return Factors.fit(r.user[idx], r.item[idx], r.rating[idx].astype(np.float64), r.n_users, r.n_items,
                       b.svd_factors, b.svd_reg, (b.user_reg, b.item_reg), b.svd_iterations,
                       rng=stream(cfg.seed, "svd", fold))


def blend(cfg, r: Ratings, split: Split, fold: int, cases: SplitCases, machine: Machine, pred: np.ndarray,
          baselines: tuple[Biases, Factors | None], truth: np.ndarray, figures: dict) -> np.ndarray:
    """Weigh the blend of the RBM and its partner (``rbm.blend``) on the validation ratings, add its figures
    on the held-out ratings to ``figures``; returns its weights. The partner's validation predictions come
    from a fit on the same ratings as the RBM's, its held-out predictions from the baseline fitted on all the
    training ratings."""
    t0, rc, te, v = time.time(), cfg.rbm, split.test, cases.val_idx
    partner_fit = (fit_biases(cfg, r, cases.fit_idx) if rc.blend == "biases"
                   else fit_svd(cfg, r, cases.fit_idx, fold))
    partner_all = baselines[0] if rc.blend == "biases" else baselines[1]
    v_case, v_col, _, _ = orient(r, v, rc.orientation)
    weights = fit_blend(predict_pairs(machine, cases.cases, v_case, v_col, cfg.evaluation.batch_size),
                        partner_fit.predict(r.user[v], r.item[v]), r.rating[v])
    blended = np.clip(apply_blend(weights, pred, partner_all.predict(r.user[te], r.item[te])),
                      float(r.scale[0]), float(r.scale[-1]))
    figures.update(errors("blend_", blended, truth))
    figures.update(blend_weights=[float(w) for w in weights], blend_validation_ratings=len(v),
                   blend_seconds=time.time() - t0)
    return weights


# --------------------------------------------------------------------------------------------------
# The RBM: schedules, compiled steps, training, evaluation


def schedule(cfg, epoch: int) -> tuple[float, float, int]:
    """(learning rate, momentum, CD steps) of an epoch (0-based)."""
    rc = cfg.rbm
    momentum = rc.initial_momentum if epoch < rc.momentum_epochs else rc.momentum
    k = [k for start, k in rc.cd_schedule if start <= epoch][-1]
    return rate_of_epoch(cfg.training, epoch), momentum, k


def build_model(cfg, split_cases: SplitCases, fold: int) -> RBM:
    """A new RBM for a split's cases, its visible biases started at the ratings' frequencies."""
    c, cases, scale = cfg.rbm, split_cases.cases, split_cases.scale
    model = RBM(cases.n_visible, scale, n_hidden=c.hidden, rated_vector=c.rated_vector, init_std=c.init_std,
                weight_decay=c.weight_decay, reconstruction=c.reconstruction, seen_lr_scale=c.seen_lr_scale,
                seed=stream_seed(cfg.seed, "rbm", fold), name="rbm")
    counts = np.zeros((cases.n_visible, len(scale)))
    np.add.at(counts, (cases.cols, cases.vals), 1)
    model.init_visible_biases(counts,
                              np.bincount(cases.cols, minlength=cases.n_visible) / max(1, cases.n_cases))
    return model


def train_rbm(cfg, ctx, cases: SplitCases, split: Split, fold: int,
              truth: np.ndarray) -> tuple[Machine, list[dict], float]:
    """Train the split's RBM on the shared epoch loop; returns it compiled, its history and its training
    time."""
    t, ec = cfg.training, cfg.evaluation
    loop = EpochLoop(ctx, CHECKPOINT, t, seed=cfg.seed, stage=f"fold{fold}", rng_key=(fold,),
                     step_offset=fold * t.epochs, describe=f"rbm {split.name}", reseed=False)
    model = loop.restore(lambda: build_model(cfg, cases, fold))
    machine = Machine(model, ctx.jit_compile, cfg.rbm.rank_kind, ec.relevant)
    history = loop.extra.setdefault("history", [])
    for epoch in loop:
        row = {"fold": fold, **train_epoch(cfg, loop, machine, cases.cases, epoch)}
        if epoch.number % ec.every == 0 or epoch.number == t.epochs:
            row["test_rmse"] = rmse(predict_pairs(machine, cases.predict_from, cases.test_case,
                                                  cases.test_col, ec.batch_size), truth)
        history.append(row)
        loop.end_epoch(row, show=("recon_rmse", "test_rmse", "cd_k"))
    return machine, history, loop.state.train_seconds


def train_epoch(cfg, loop: EpochLoop, machine: Machine, cases: Cases, epoch) -> dict:
    """One pass of CD updates over the cases, in the epoch's random order; the epoch's figures."""
    lr, momentum, cd = schedule(cfg, epoch.index)
    model, bs = machine.model, cfg.training.batch_size
    model.set_schedule(lr, momentum, cd)
    for m in model.metrics:
        m.reset_state()
    order = epoch.rng.permutation(cases.n_cases)
    with loop.timed(samples=cases.n_cases):
        for s in range(0, cases.n_cases, bs):
            out = machine.train_step(cases.batch(order[s:s + bs]))
    return {"epoch": epoch.number, "recon_rmse": float(out["recon_rmse"]),
            "hidden_prob": float(out["hidden_prob"]), "learning_rate": lr, "cd_k": cd}


def predict_pairs(machine: Machine, cases: Cases, case: np.ndarray, col: np.ndarray,
                  batch_size: int) -> np.ndarray:
    """Expected ratings of (case, column) pairs."""
    out = np.zeros(len(case), np.float32)
    if not len(case):
        return out
    order = np.argsort(case, kind="stable")
    sc, scol = case[order], col[order]
    uniq, first = np.unique(sc, return_index=True)
    bounds = np.append(first, len(sc))
    for lo in range(0, len(uniq), batch_size):
        chunk = uniq[lo:lo + batch_size]
        a, b = bounds[lo], bounds[min(lo + batch_size, len(uniq))]
        local = np.searchsorted(chunk, sc[a:b])
        out[order[a:b]] = machine.predict_pairs(cases.batch(chunk), local, scol[a:b])
    return out


def rbm_ranking(machine: Machine, cases: Cases, task: RankingTask, orientation: str, k: int,
                batch_size: int) -> dict:
    """The RBM's ranking figures (its top-N score, every user's unrated items)."""
    total = np.zeros(3)
    if orientation == "user":
        for lo in range(0, len(task.users), batch_size):
            users = task.users[lo:lo + batch_size]
            _, score = machine.predict(cases.batch(users))
            total += task.score(users, score, k)
    else:  # cases are items: score columns of a chunk of users for every item
        chunk = max(1, min(len(task.users), 4096))
        for lo in range(0, len(task.users), chunk):
            users = task.users[lo:lo + chunk]
            cols = np.empty((cases.n_cases, len(users)), np.float32)
            for s in range(0, cases.n_cases, batch_size):
                items = np.arange(s, min(cases.n_cases, s + batch_size))
                cols[items] = machine.predict(cases.batch(items), users)[1]
            total += task.score(users, cols.T, k)
    return ranking_figures(total, len(task.users), k)


def ranking_note(task_users: int, n_items: int, k: int, relevant: float) -> str:
    """Why the ranking figures of a split are not measurable ("" when they are)."""
    if n_items <= k:
        return (f"ranking not measurable: top {k} of {n_items} item(s) takes every item (evaluation.top_k "
                f"must be smaller than the number of items)")
    if task_users == 0:
        return (f"ranking not measurable: no user has a held-out rating >= {relevant:g} "
                f"(evaluation.relevant) among the items left to rank")
    return ""


def check_finite(figures: dict, describe: str, keys) -> None:
    """The final figures must be numbers: a NaN or infinite one is a TrainingError naming it."""
    bad = {k: figures[k] for k in keys if isinstance(figures.get(k), float) and not np.isfinite(figures[k])}
    if bad:
        raise TrainingError(f"{describe}: {', '.join(f'{k} = {v}' for k, v in bad.items())} after training: "
                            f"the model diverged. Lower the learning rate (training.learning_rate) and start "
                            f"again")


# --------------------------------------------------------------------------------------------------
# The run's figures and what `lab recommend` loads


def finished_folds(ctx, cfg) -> list[dict]:
    """The figures of the folds a resumed run finished (``checkpoints/rbm_folds.json``); a RunError naming
    the file when it is not what :func:`run` writes."""
    state = ctx.load_state(STATE_FILE) or {}
    done = state.get("done", []) if isinstance(state, dict) else None
    k = cfg.evaluation.top_k
    need = set(FIGURES) | {f"{p}_at_{k}" for p in ("precision", "recall", "ndcg")} | {
        "split", "history", "train_seconds", "ranking_seconds", "baseline_seconds", "ranking_users"}
    if not isinstance(done, list) or not all(isinstance(d, dict) and need <= set(d) for d in done):
        raise RunError(f"{ctx.run.checkpoints / STATE_FILE}: corrupt fold figures (not what the rbm task "
                       f"writes); this run cannot be resumed (start it again)")
    return done


def summarise(cfg, r: Ratings, done: list[dict]) -> dict:
    """The figures of summary.json: each split's, averaged (with their spread where there are several)."""
    k = cfg.evaluation.top_k
    rank_keys = [f"{p}_at_{k}" for p in ("precision", "recall", "ndcg")]
    keys = list(FIGURES) + rank_keys + [f"{m}_{key}" for m in ("popularity", "bias") for key in rank_keys]
    keys += [key for key in OPTIONAL_FIGURES if all(key in d for d in done)]
    out: dict = {}
    for key in keys:
        vals = [d[key] for d in done]
        if any(v is None for v in vals):  # a ranking figure not measurable in some split
            out[key] = None
            continue
        out[key] = float(np.mean(vals))
        if len(done) > 1 and key in ("rmse", "mae", "blend_rmse", *rank_keys):
            out[f"{key}_std"] = float(np.std(vals))
    out["baseline_rmse"], out["baseline_mae"] = out["bias_rmse"], out["bias_mae"]
    if "blend_rmse" in out:
        out["blend"] = cfg.rbm.blend
        out["blend_weights"] = [d["blend_weights"] for d in done]
    for key in ("train_seconds", "ranking_seconds", "baseline_seconds"):
        out[key] = float(sum(d[key] for d in done))
    out.update(folds=len(done), top_k=k, n_ratings=len(r), n_users=r.n_users, n_items=r.n_items)
    return out


def save_recommender(cfg, ctx, r: Ratings, split: Split, fitted: Fitted) -> None:
    """What `lab recommend` loads, from the first split: the RBM, the ratings, the biases and popularity
    (``baselines.npz``), with ``rbm.blend`` the blend's weights and its partner fitted on the split's
    training ratings (``blend.npz``), and the run's settings (``recommender.json``)."""
    ctx.save_model(fitted.model, MODEL_FILE, where="artifacts")
    r.save_npz(ctx.artifact(RATINGS_FILE))
    bias, b = fitted.biases, cfg.baselines
    # a movie's general appeal, the rankings
    with atomic_path(ctx.artifact(BASELINES_FILE), suffix=".npz") as tmp:
        np.savez_compressed(tmp, mu=np.float64(bias.mu), user_bias=bias.user, item_bias=bias.item,
                            popularity=np.bincount(r.item[split.train], minlength=r.n_items),
                            user_reg=np.float64(b.user_reg))
    meta = {
        "orientation": cfg.rbm.orientation, "rated_vector": cfg.rbm.rated_vector,
        "rank_by": cfg.rbm.rank_kind, "relevant": cfg.evaluation.relevant, "split": split.name,
        "trained_on": len(split.train), "dataset": r.name, "source": r.source,
    }
    if fitted.blend_weights is not None:
        kind = cfg.rbm.blend
        partner = fitted.biases if kind == "biases" else fitted.svd
        arrays = {"mu": np.float64(partner.mu), "item_bias": partner.item, "user_reg": np.float64(b.user_reg)}
        if kind == "svd":
            arrays.update(item_factors=partner.Q, factor_reg=np.float64(b.svd_reg))
        with atomic_path(ctx.artifact(BLEND_FILE), suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        meta["blend"] = {"partner": kind, "weights": [float(w) for w in fitted.blend_weights]}
    atomic_write_json(ctx.artifact(META_FILE), meta)


def record_models(ctx, summary: dict) -> None:
    """Say in the summary, and in recommender.json for `lab recommend`, which models the run stands behind:
    for top-N lists the one that ranked best in it (nDCG@k, mean over its splits), for predicted ratings the
    blend where the run blends and the blend's RMSE is below the RBM's, else the RBM."""
    k = summary["top_k"]
    name, figures = best_ranker(summary, k)
    summary["ranking_model"] = name
    blended = summary.get("blend_rmse") is not None and summary["blend_rmse"] < summary["rmse"]
    summary["prediction_model"] = "blend" if blended else "rbm"
    path = ctx.artifact(META_FILE)
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(meta, dict):
        meta.update({"ranking_model": name, f"ranking_ndcg_at_{k}": figures,
                     "prediction_model": summary["prediction_model"]})
        atomic_write_json(path, meta)
