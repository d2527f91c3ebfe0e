"""The ``rbm`` task: ratings -> split -> baselines and the RBM -> honest evaluation -> a saved recommender.

For every split it fits, on the same training ratings, the global mean, regularised user + item biases
(ALS, like Surprise's BaselineOnly), an SVD (biased matrix factorisation by ALS, ``baselines.svd_factors``;
0 turns it off), popularity (ranking only) and the RBM of :mod:`generative.rbm`, and scores them all on the
same held-out ratings. With ``rbm.blend`` (``biases`` or ``svd``) the RBM trains on the training ratings
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
:class:`~lab.loop.TrainingError` (each epoch's are checked by the shared loop); duplicate ratings the
reader dropped are logged as a warning and said in the report.

The run's top-N lists come from the model that ranks best in it (highest nDCG@N, mean over the splits:
the RBM, popularity or the item biases); ``summary.json`` names it (``ranking_model``), the report says
why, and ``recommender.json`` tells ``lab recommend``.

The run folder gets metrics.csv (per epoch: reconstruction RMSE, held-out RMSE, learning rate, k), a
learning curve PNG, a report table of model vs baselines, a checkpoint per epoch (``lab run --resume``
continues exactly), and ``artifacts/rbm.keras`` + ``artifacts/ratings.npz`` + ``artifacts/recommender.json``
+ ``artifacts/baselines.npz`` which ``lab recommend`` loads (the model of the first split, all the ratings
it may condition on, and that split's biases and popularity).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from lab.data import ratings as ratings_mod
from lab.data.ratings import Ratings, Split
from lab.errors import DataError, RunError, TrainingError
from lab.loop import EpochLoop

MODEL_FILE = "rbm.keras"  # artifacts/: the first split's model, which `lab recommend` loads
CHECKPOINT = "rbm"  # checkpoints/rbm.json: the shared loop's last checkpoint (its stage is the fold)
RATINGS_FILE = "ratings.npz"
META_FILE = "recommender.json"
BASELINES_FILE = "baselines.npz"  # artifacts/: the first split's biases and popularity (lab recommend)
BLEND_FILE = "blend.npz"  # artifacts/: the first split's blend weights and partner model (lab recommend)
RANKERS = ("rbm", "popularity", "bias")  # the rankings a run compares; its top-N lists come from the best
STATE_FILE = "rbm_folds.json"  # checkpoints/: the figures of the finished folds


# --------------------------------------------------------------------------------------------------
# Data


def load_data(cfg) -> Ratings:
    """The ratings a scenario asks for (``cfg.data``), filtered and sampled as configured."""
    d = cfg.data
    if d.source == "synthetic":
        s = d.synthetic
        if s.preset == "movielens100k":
            r = ratings_mod.movielens_like(n_users=s.users, n_items=s.items, mean_ratings=s.mean_ratings,
                                           min_ratings=s.min_ratings, factors=s.factors, noise=s.noise,
                                           taste_strength=s.taste_strength, seed=cfg.seed)
        else:
            r = ratings_mod.synthetic(s.users, s.items, s.mean_ratings, s.min_ratings, s.tastes, s.noise,
                                      s.taste_strength, s.popularity_exponent, seed=cfg.seed)
    else:
        r = ratings_mod.load_ratings(d.path, d.source, d.download, d.cache, d.max_files)
    if d.min_user_ratings > 1:
        counts = np.bincount(r.user, minlength=r.n_users)
        r = r.subset(counts[r.user] >= d.min_user_ratings)
    if d.sample_users and d.sample_users < r.n_users:
        keep = np.random.default_rng([cfg.seed, 7]).choice(r.n_users, d.sample_users, replace=False)
        chosen = np.zeros(r.n_users, bool)
        chosen[keep] = True
        r = r.subset(chosen[r.user])
    if len(r) == 0:
        raise DataError(f"{r.name}: no ratings left after filtering (data.min_user_ratings / data.sample_users)")
    return r


def check_split(r: Ratings, split: Split, method: str) -> None:
    """A split that holds out nothing, or keeps nothing to train on, is a DataError with the counts (its
    figures would be NaN, or a precision over no user)."""
    if len(split.train) and len(split.test):
        return
    why = {
        "holdout": "a hold-out split holds out split.n, or round(split.fraction x n), of each user's n ratings "
                   "and keeps at least one of them for training",
        "temporal": "a temporal split holds out split.n, or round(split.fraction x n), of each user's n latest "
                    "ratings and keeps at least one of them for training",
        "kfold": "k-fold needs at least as many ratings as folds",
        "own": "the dataset's own split does not fit these ratings",
    }.get(method, "")
    raise DataError(f"{r.name}: the split {split.name} leaves {len(split.train):,} training and {len(split.test):,} "
                    f"held-out ratings: too few ratings ({len(r):,} by {r.n_users:,} user(s) of {r.n_items:,} "
                    f"item(s)) for split.method {method}" + (f"; {why}" if why else ""),
                    ["give more ratings (data.path, data.min_user_ratings, data.sample_users), or another split"])


def ranking_note(task_users: int, n_items: int, k: int, relevant: float) -> str:
    """Why the ranking figures of a split are not measurable ("" when they are)."""
    if n_items <= k:
        return (f"ranking not measurable: top {k} of {n_items} item(s) takes every item (evaluation.top_k must be "
                "smaller than the number of items)")
    if task_users == 0:
        return (f"ranking not measurable: no user has a held-out rating >= {relevant:g} (evaluation.relevant) "
                "among the items left to rank")
    return ""


def check_finite(figures: dict, describe: str, keys) -> None:
    """The final figures must be numbers: a NaN or infinite one is a TrainingError naming it."""
    bad = {k: figures[k] for k in keys if isinstance(figures.get(k), float) and not np.isfinite(figures[k])}
    if bad:
        raise TrainingError(f"{describe}: {', '.join(f'{k} = {v}' for k, v in bad.items())} after training: the "
                            "model diverged. Lower the learning rate (rbm.learning_rate) and start again")


@dataclass
class Cases:
    """Training ratings grouped by case (user, or item when turned round) in CSR form, plus extra 'seen' pairs."""

    n_cases: int
    n_visible: int
    indptr: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    seen_indptr: np.ndarray
    seen_cols: np.ndarray

    @classmethod
    def build(cls, case, col, vals, n_cases, n_visible, seen_case=None, seen_col=None) -> Cases:
        order = np.argsort(case, kind="stable")
        indptr = np.concatenate(([0], np.cumsum(np.bincount(case, minlength=n_cases)))).astype(np.int64)
        if seen_case is None:
            seen_case = np.zeros(0, np.int32)
            seen_col = np.zeros(0, np.int32)
        else:  # the which-rated vector counts each (case, item) once: drop seen pairs that are ratings
            keep = ~np.isin(seen_case.astype(np.int64) * n_visible + seen_col,
                            case.astype(np.int64) * n_visible + col)
            seen_case, seen_col = seen_case[keep], seen_col[keep]
        sorder = np.argsort(seen_case, kind="stable")
        sindptr = np.concatenate(([0], np.cumsum(np.bincount(seen_case, minlength=n_cases)))).astype(np.int64)
        return cls(n_cases, n_visible, indptr, col[order].astype(np.int32), vals[order].astype(np.int32),
                   sindptr, seen_col[sorder].astype(np.int32))

    @staticmethod
    def _gather(indptr, cases):
        lens = indptr[cases + 1] - indptr[cases]
        total = int(lens.sum())
        rows = np.repeat(np.arange(len(cases), dtype=np.int32), lens)
        offsets = np.repeat(indptr[cases] - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
        return rows, offsets + np.arange(total)

    def batch(self, cases: np.ndarray) -> dict:
        cases = np.asarray(cases, np.int64)
        rows, idx = self._gather(self.indptr, cases)
        srows, sidx = self._gather(self.seen_indptr, cases)
        return {"n": np.int32(len(cases)), "rows": rows, "cols": self.cols[idx], "values": self.vals[idx],
                "seen_rows": srows, "seen_cols": self.seen_cols[sidx]}

    def case_items(self, c: int) -> np.ndarray:
        return self.cols[self.indptr[c]:self.indptr[c + 1]]


def orient(r: Ratings, idx: np.ndarray, orientation: str):
    """(case, column) coordinates of ratings ``idx``: (user, item) or, turned round, (item, user)."""
    if orientation == "user":
        return r.user[idx], r.item[idx], r.n_users, r.n_items
    return r.item[idx], r.user[idx], r.n_items, r.n_users


# --------------------------------------------------------------------------------------------------
# Baselines


@dataclass
class Biases:
    """``mu + b_user + b_item`` fitted by alternating least squares with separate regularisation."""

    mu: float
    user: np.ndarray
    item: np.ndarray

    @classmethod
    def fit(cls, users, items, values, n_users, n_items, user_reg=15.0, item_reg=10.0, iterations=10) -> Biases:
        mu = float(values.mean())
        bu = np.zeros(n_users)
        bi = np.zeros(n_items)
        nu = np.bincount(users, minlength=n_users)
        ni = np.bincount(items, minlength=n_items)
        for _ in range(iterations):
            bi = np.bincount(items, values - mu - bu[users], n_items) / (ni + item_reg)
            bu = np.bincount(users, values - mu - bi[items], n_users) / (nu + user_reg)
        return cls(mu, bu, bi)

    def predict(self, users, items) -> np.ndarray:
        return self.mu + self.user[users] + self.item[items]


@dataclass
class Factors:
    """``mu + b_user + b_item + p_user . q_item`` (biased matrix factorisation, "SVD" in Surprise's sense),
    fitted by alternating ridge regressions with the penalty growing with each user's and item's count
    (weighted-lambda ALS), started from the ALS biases. Deterministic for a seed."""

    mu: float
    user: np.ndarray
    item: np.ndarray
    P: np.ndarray
    Q: np.ndarray

    @classmethod
    def fit(cls, users, items, values, n_users, n_items, factors=20, reg=0.1, bias_reg=(15.0, 10.0),
            iterations=12, seed=0) -> Factors:
        base = Biases.fit(users, items, values, n_users, n_items, bias_reg[0], bias_reg[1])
        rng = np.random.default_rng([seed, 31])
        P = rng.normal(0, 0.1, (n_users, factors))
        Q = rng.normal(0, 0.1, (n_items, factors))
        bu, bi = base.user.copy(), base.item.copy()
        by_user = Cases.build(users, items, np.zeros(len(users), np.int32), n_users, n_items)
        by_item = Cases.build(items, users, np.zeros(len(users), np.int32), n_items, n_users)
        resid_u = _grouped(users, values - base.mu)
        resid_i = _grouped(items, values - base.mu)
        for _ in range(iterations):
            P, bu = _ridge_side(by_user, resid_u, Q, bi, reg, bias_reg[0])
            Q, bi = _ridge_side(by_item, resid_i, P, bu, reg, bias_reg[1])
        return cls(base.mu, bu, bi, P, Q)

    def predict(self, users, items) -> np.ndarray:
        return self.mu + self.user[users] + self.item[items] + np.einsum("nf,nf->n", self.P[users], self.Q[items])


def _grouped(case, values) -> np.ndarray:
    """``values`` in the order of :meth:`Cases.build` (sorted by case, stable)."""
    return np.asarray(values, np.float64)[np.argsort(case, kind="stable")]


def _ridge_side(cases: Cases, resid: np.ndarray, other: np.ndarray, other_bias: np.ndarray, reg: float,
                bias_reg: float) -> tuple[np.ndarray, np.ndarray]:
    """One ALS half-step: for every case, the factors and bias that best fit ``resid - other_bias`` from the
    other side's factors, ridge penalties ``reg x n`` on the factors and ``bias_reg`` on the bias."""
    f = other.shape[1]
    out, bias = np.zeros((cases.n_cases, f)), np.zeros(cases.n_cases)
    eye = np.eye(f + 1)
    for c in range(cases.n_cases):
        lo, hi = cases.indptr[c], cases.indptr[c + 1]
        if hi == lo:
            continue
        cols = cases.cols[lo:hi]
        x = np.hstack([other[cols], np.ones((hi - lo, 1))])
        penalty = reg * (hi - lo) * eye
        penalty[f, f] = bias_reg
        sol = np.linalg.solve(x.T @ x + penalty, x.T @ (resid[lo:hi] - other_bias[cols]))
        out[c], bias[c] = sol[:f], sol[f]
    return out, bias


def rmse(pred, truth) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2))) if len(truth) else float("nan")


def mae(pred, truth) -> float:
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - truth))) if len(truth) else float("nan")


# --------------------------------------------------------------------------------------------------
# Ranking


@dataclass
class RankingTask:
    """Per evaluated user: the training items (excluded) and the relevant held-out items."""

    users: np.ndarray
    train: Cases  # by user, over items
    relevant: Cases  # by user, over items

    @classmethod
    def build(cls, r: Ratings, split: Split, relevant: float, max_users: int | None, seed: int) -> RankingTask:
        tr, te = split.train, split.test
        train = Cases.build(r.user[tr], r.item[tr], np.zeros(len(tr), np.int32), r.n_users, r.n_items)
        rel = te[r.rating[te] >= relevant]
        relc = Cases.build(r.user[rel], r.item[rel], np.zeros(len(rel), np.int32), r.n_users, r.n_items)
        users = np.flatnonzero(np.diff(relc.indptr) > 0)
        if max_users and len(users) > max_users:
            users = np.sort(np.random.default_rng([seed, 11]).choice(users, max_users, replace=False))
        return cls(users, train, relc)

    def score(self, chunk: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
        """Sums of (precision, recall, nDCG) at k over the users ``chunk`` given their scores (n, items)."""
        scores = np.array(scores, np.float64, copy=True)
        rows, idx = Cases._gather(self.train.indptr, chunk)
        scores[rows, self.train.cols[idx]] = -np.inf
        k = min(k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable"), 1)
        rel = np.zeros(scores.shape, bool)
        rrows, ridx = Cases._gather(self.relevant.indptr, chunk)
        rel[rrows, self.relevant.cols[ridx]] = True
        hits = np.take_along_axis(rel, top, 1)
        n_rel = rel.sum(1)
        discount = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (hits * discount).sum(1)
        idcg = np.cumsum(discount)[np.minimum(n_rel, k) - 1]
        return np.array([(hits.sum(1) / k).sum(), (hits.sum(1) / n_rel).sum(), (dcg / idcg).sum()])


def rank_static(task: RankingTask, item_scores: np.ndarray, k: int, chunk: int = 512) -> dict:
    """Ranking figures of a score that is the same for every user (popularity, item bias)."""
    total = np.zeros(3)
    for lo in range(0, len(task.users), chunk):
        users = task.users[lo:lo + chunk]
        total += task.score(users, np.broadcast_to(item_scores, (len(users), len(item_scores))), k)
    return _ranking_dict(total, len(task.users), k)


def _ranking_dict(total: np.ndarray, n: int, k: int) -> dict:
    """Means over the ``n`` ranked users; ``None`` for every figure when there were none (not measurable:
    a mean over no user is not 0, and certainly not 1)."""
    keys = (f"precision_at_{k}", f"recall_at_{k}", f"ndcg_at_{k}")
    if n <= 0:
        return dict.fromkeys(keys)
    return {key: float(v) / n for key, v in zip(keys, total, strict=True)}


# --------------------------------------------------------------------------------------------------
# The RBM: schedules, compiled steps, evaluation


def schedule(rbm_cfg, epoch: int) -> tuple[float, float, int]:
    """(learning rate, momentum, CD steps) of an epoch (0-based)."""
    lr = rbm_cfg.learning_rate * rbm_cfg.lr_decay ** epoch
    momentum = rbm_cfg.initial_momentum if epoch < rbm_cfg.momentum_epochs else rbm_cfg.momentum
    k = [k for start, k in rbm_cfg.cd_schedule if start <= epoch][-1]
    return lr, momentum, k


def rank_kind(rbm_cfg) -> str:
    if rbm_cfg.rank_by == "auto":
        return "seen_and_liked" if rbm_cfg.rated_vector == "joint" else "expected_rating"
    return rbm_cfg.rank_by


class Machine:
    """An RBM with its compiled training and prediction steps."""

    def __init__(self, model, jit_compile=False, rank_by: str = "expected_rating", relevant: float = 4.0):
        import tensorflow as tf

        self.model = model
        self.rank_by = rank_by
        spec = {"n": tf.TensorSpec([], tf.int32),
                **{k: tf.TensorSpec([None], tf.int32) for k in ("rows", "cols", "values", "seen_rows", "seen_cols")}}
        jit = bool(jit_compile) if jit_compile != "auto" else False
        self.train_step = tf.function(model.train_step, input_signature=[spec], jit_compile=jit, autograph=False)
        liked = np.asarray(model.values) >= relevant

        def predict(batch, cols):
            expected, probs, seen = model.predict_batch(batch, cols)
            if rank_by == "seen_and_liked":
                score = seen * tf.reduce_sum(tf.boolean_mask(probs, liked, axis=2), axis=-1)
            else:
                score = expected
            return expected, score

        self._predict_all = tf.function(lambda b: predict(b, None), input_signature=[spec], autograph=False)
        pair = tf.TensorSpec([None], tf.int32)
        self._predict_pairs = tf.function(model.predict_pairs, input_signature=[spec, pair, pair], autograph=False)
        self._predict_cols = tf.function(predict, input_signature=[spec, tf.TensorSpec([None], tf.int32)],
                                         autograph=False)

    def predict_pairs(self, batch, rows, cols) -> np.ndarray:
        return self._predict_pairs(batch, np.asarray(rows, np.int32), np.asarray(cols, np.int32)).numpy()

    def predict(self, batch, cols=None):
        out = self._predict_all(batch) if cols is None else self._predict_cols(batch, np.asarray(cols, np.int32))
        return out[0].numpy(), out[1].numpy()


def predict_pairs(machine: Machine, cases: Cases, case: np.ndarray, col: np.ndarray, batch_size: int) -> np.ndarray:
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
    return _ranking_dict(total, len(task.users), k)


def build_model(cfg, n_visible: int, values):
    from generative.rbm import RBM

    c = cfg.rbm
    return RBM(n_visible, values, n_hidden=c.hidden, rated_vector=c.rated_vector, init_std=c.init_std,
               weight_decay=c.weight_decay, reconstruction=c.reconstruction, seen_lr_scale=c.seen_lr_scale,
               seed=cfg.seed, name="rbm")


# --------------------------------------------------------------------------------------------------
# One split


def run_split(cfg, ctx, r: Ratings, split: Split, fold: int) -> dict:
    """Fit baselines and the RBM on one split (on the shared epoch loop, whose checkpoint stage is the
    fold); returns its figures."""
    ec, rc = cfg.evaluation, cfg.rbm
    k = ec.top_k
    tr, te = split.train, split.test
    truth = r.rating[te].astype(np.float64)
    lo_, hi_ = float(r.scale[0]), float(r.scale[-1])
    res: dict = {"split": split.name, "n_train": len(tr), "n_test": len(te)}

    # baselines
    t0 = time.time()
    bc = cfg.baselines
    mean = float(r.rating[tr].mean())
    res["global_mean_rmse"], res["global_mean_mae"] = rmse(np.full(len(te), mean), truth), mae(np.full(len(te), mean), truth)
    bias = fit_biases(cfg, r, tr)
    bp = np.clip(bias.predict(r.user[te], r.item[te]), lo_, hi_)
    res["bias_rmse"], res["bias_mae"] = rmse(bp, truth), mae(bp, truth)
    svd = fit_svd(cfg, r, tr, fold) if bc.svd_factors else None
    if svd is not None:
        sp = np.clip(svd.predict(r.user[te], r.item[te]), lo_, hi_)
        res["svd_rmse"], res["svd_mae"] = rmse(sp, truth), mae(sp, truth)
    task = RankingTask.build(r, split, ec.relevant, ec.ranking_users, cfg.seed + fold)
    note = ranking_note(len(task.users), r.n_items, k, ec.relevant)
    if note:
        task.users = task.users[:0]
        ctx.log(f"{split.name}: {note}")
    res["ranking_users"] = len(task.users)
    popularity = np.bincount(r.item[tr], minlength=r.n_items).astype(np.float64)
    res.update({f"popularity_{key}": v for key, v in rank_static(task, popularity, k).items()})
    res.update({f"bias_{key}": v for key, v in rank_static(task, bias.item, k).items()})
    res["baseline_seconds"] = time.time() - t0

    # the RBM: trained on the training ratings (less the blend's validation share, when it blends); it
    # predicts from all the training ratings
    fit_idx, val_idx = blend_split(tr, rc.blend_validation, [cfg.seed, fold, 13]) if rc.blend != "none" else (tr, tr[:0])
    case, col, n_cases, n_visible = orient(r, fit_idx, rc.orientation)
    vals = r.rating_index()[fit_idx]
    seen_case = seen_col = None
    if rc.rated_vector != "none" and rc.seen_includes_test:
        seen_case, seen_col, _, _ = orient(r, te, rc.orientation)
    cases = Cases.build(case, col, vals, n_cases, n_visible, seen_case, seen_col)
    if len(val_idx):
        all_case, all_col, _, _ = orient(r, tr, rc.orientation)
        pred_cases = Cases.build(all_case, all_col, r.rating_index()[tr], n_cases, n_visible, seen_case, seen_col)
    else:
        pred_cases = cases

    def build():
        model = build_model(cfg, n_visible, r.scale)
        counts = np.zeros((n_visible, len(r.scale)))
        np.add.at(counts, (col, vals), 1)
        model.init_visible_biases(counts, np.bincount(col, minlength=n_visible) / max(1, n_cases))
        return model

    epochs = SimpleNamespace(epochs=rc.epochs, checkpoint_every=1, time_limit_seconds=None)  # until rbm moves to training:
    loop = EpochLoop(ctx, CHECKPOINT, epochs, seed=cfg.seed, stage=f"fold{fold}", rng_key=(fold,),
                     step_offset=fold * rc.epochs, describe=f"rbm {split.name}", reseed=False)
    model = loop.restore(build)
    machine = Machine(model, ctx.jit_compile, rank_kind(rc), ec.relevant)
    te_case, te_col, _, _ = orient(r, te, rc.orientation)
    history = loop.extra.setdefault("history", [])
    for epoch in loop:
        lr, momentum, cd = schedule(rc, epoch.index)
        model.set_schedule(lr, momentum, cd)
        for m in model.metrics:
            m.reset_state()
        order = epoch.rng.permutation(n_cases)
        with loop.timed(samples=n_cases):
            for s in range(0, n_cases, rc.batch_size):
                out = machine.train_step(cases.batch(order[s:s + rc.batch_size]))
        row = {"fold": fold, "epoch": epoch.number, "recon_rmse": float(out["recon_rmse"]),
               "hidden_prob": float(out["hidden_prob"]), "learning_rate": lr, "cd_k": cd}
        if epoch.number % ec.every == 0 or epoch.number == rc.epochs:
            row["test_rmse"] = rmse(predict_pairs(machine, pred_cases, te_case, te_col, ec.batch_size), truth)
        history.append(row)
        loop.end_epoch(row, show=("recon_rmse", "test_rmse", "cd_k"))
    pred = predict_pairs(machine, pred_cases, te_case, te_col, ec.batch_size)
    res["rmse"], res["mae"] = rmse(pred, truth), mae(pred, truth)
    if len(val_idx):
        t1 = time.time()
        # the partner's validation predictions come from a fit on the same ratings as the RBM's; its test
        # predictions from the baseline fitted on all the training ratings
        partner_fit = fit_biases(cfg, r, fit_idx) if rc.blend == "biases" else fit_svd(cfg, r, fit_idx, fold)
        partner_all = bias if rc.blend == "biases" else svd
        v_case, v_col, _, _ = orient(r, val_idx, rc.orientation)
        weights = fit_blend(predict_pairs(machine, cases, v_case, v_col, ec.batch_size),
                            partner_fit.predict(r.user[val_idx], r.item[val_idx]), r.rating[val_idx])
        blended = np.clip(apply_blend(weights, pred, partner_all.predict(r.user[te], r.item[te])), lo_, hi_)
        res["blend_rmse"], res["blend_mae"] = rmse(blended, truth), mae(blended, truth)
        res["blend_weights"] = [float(w) for w in weights]
        res["blend_validation_ratings"] = len(val_idx)
        res["blend_seconds"] = time.time() - t1
    t2 = time.time()
    res.update(rbm_ranking(machine, pred_cases, task, rc.orientation, k, ec.batch_size))
    res["ranking_seconds"] = time.time() - t2
    check_finite(res, f"rbm {split.name}", [key for key in res if key not in ("split", "history", "blend_weights")])
    res["train_seconds"] = loop.state.train_seconds
    res["history"] = history
    res["_model"] = model
    res["_baselines"] = (bias, svd)
    if len(val_idx):
        res["_blend"] = (rc.blend, res["blend_weights"])
    return res


def fit_biases(cfg, r: Ratings, idx: np.ndarray) -> Biases:
    b = cfg.baselines
    return Biases.fit(r.user[idx], r.item[idx], r.rating[idx].astype(np.float64), r.n_users, r.n_items,
                      b.user_reg, b.item_reg, b.iterations)


def fit_svd(cfg, r: Ratings, idx: np.ndarray, fold: int) -> Factors:
    b = cfg.baselines
    return Factors.fit(r.user[idx], r.item[idx], r.rating[idx].astype(np.float64), r.n_users, r.n_items,
                       b.svd_factors, b.svd_reg, (b.user_reg, b.item_reg), b.svd_iterations, seed=cfg.seed + fold)


def blend_split(train: np.ndarray, fraction: float, seed) -> tuple[np.ndarray, np.ndarray]:
    """(ratings the RBM trains on, the validation ratings that weigh the blend): a seeded random share."""
    n_val = max(1, int(round(fraction * len(train))))
    val = np.zeros(len(train), bool)
    val[np.random.default_rng(seed).choice(len(train), min(n_val, len(train) - 1), replace=False)] = True
    return train[~val], train[val]


def fit_blend(rbm_pred, partner_pred, truth) -> np.ndarray:
    """Least-squares weights (intercept, RBM, partner) of the blend on validation ratings, with a small ridge
    pulling the RBM's and the partner's weights towards 1/2 each (stable when the two nearly coincide)."""
    x = np.column_stack([np.ones(len(truth)), rbm_pred, partner_pred]).astype(np.float64)
    y = np.asarray(truth, np.float64)
    ridge = 1e-3 * len(y) * np.diag([0.0, 1.0, 1.0])
    prior = np.array([0.0, 0.5, 0.5])
    return np.linalg.solve(x.T @ x + ridge, x.T @ y + ridge @ prior)


def apply_blend(weights, rbm_pred, partner_pred) -> np.ndarray:
    return weights[0] + weights[1] * np.asarray(rbm_pred, np.float64) + weights[2] * np.asarray(partner_pred, np.float64)


# --------------------------------------------------------------------------------------------------
# The runner


def run(cfg, ctx) -> dict:
    import json

    from lab.runs import atomic_write_json

    t0 = time.time()
    r = load_data(cfg)
    ctx.log(r.describe())
    for note in r.notes:
        ctx.log(f"warning: {note}")
    s = cfg.split
    splits = ratings_mod.make_splits(r, s.method, s.folds, s.own, s.n, None if s.n else s.fraction, cfg.seed)
    if s.run_folds:
        splits = splits[: s.run_folds]
    for split in splits:
        check_split(r, split, s.method)
    done: list[dict] = _finished_folds(ctx, cfg) if ctx.resume else []
    load_seconds = time.time() - t0
    first_model = None
    for fold, split in enumerate(splits):
        if fold < len(done):
            continue
        res = run_split(cfg, ctx, r, split, fold)
        model = res.pop("_model")
        baselines = res.pop("_baselines", None)
        blend = res.pop("_blend", None)
        if fold == 0:
            first_model = model
            _save_recommender(cfg, ctx, r, split, model, baselines, blend)
        done.append(res)
        ctx.save_state(STATE_FILE, {"done": done})
    if first_model is None and not (ctx.run.artifacts / MODEL_FILE).exists():
        raise DataError("no split was trained")
    summary = _summarise(cfg, r, done)
    summary["load_seconds"] = load_seconds
    _record_ranking_model(ctx, summary)
    _report(cfg, ctx, r, done, summary)
    atomic_write_json(ctx.artifact("folds.json"), [{k: v for k, v in d.items() if k != "history"} for d in done])
    ctx.log(json.dumps({k: summary[k] for k in ("rmse", "baseline_rmse") if k in summary}))
    return summary


def _finished_folds(ctx, cfg) -> list[dict]:
    """The figures of the folds a resumed run finished (``checkpoints/rbm_folds.json``); a RunError naming
    the file when it is not what :func:`run` writes."""
    state = ctx.load_state(STATE_FILE) or {}
    done = state.get("done", []) if isinstance(state, dict) else None
    k = cfg.evaluation.top_k
    need = set(FIGURES) | {f"{p}_at_{k}" for p in ("precision", "recall", "ndcg")} | {
        "split", "history", "train_seconds", "ranking_seconds", "baseline_seconds", "ranking_users"}
    if not isinstance(done, list) or not all(isinstance(d, dict) and need <= set(d) for d in done):
        raise RunError(f"{ctx.run.checkpoints / STATE_FILE}: corrupt fold figures (not what the rbm task writes); "
                       "this run cannot be resumed (start it again)")
    return done


def _save_recommender(cfg, ctx, r: Ratings, split: Split, model, baselines=None, blend=None) -> None:
    """What `lab recommend` loads, from the first split: the RBM, the ratings, the biases and popularity
    (``baselines.npz``), with ``rbm.blend`` the blend's weights and its partner fitted on the split's
    training ratings (``blend.npz``), and the run's settings (``recommender.json``)."""
    from lab.runs import atomic_path, atomic_write_json

    ctx.save_model(model, MODEL_FILE, where="artifacts")
    r.save_npz(ctx.artifact(RATINGS_FILE))
    if baselines is not None:  # what `lab recommend` calls a movie's general appeal, and the other rankings
        bias = baselines[0]
        with atomic_path(ctx.artifact(BASELINES_FILE), suffix=".npz") as tmp:
            np.savez_compressed(tmp, mu=np.float64(bias.mu), user_bias=bias.user, item_bias=bias.item,
                                popularity=np.bincount(r.item[split.train], minlength=r.n_items),
                                user_reg=np.float64(cfg.baselines.user_reg))
    meta = {
        "orientation": cfg.rbm.orientation, "rated_vector": cfg.rbm.rated_vector, "rank_by": rank_kind(cfg.rbm),
        "relevant": cfg.evaluation.relevant, "split": split.name, "trained_on": len(split.train),
        "dataset": r.name, "source": r.source,
    }
    if blend is not None and baselines is not None:
        kind, weights = blend
        partner = baselines[0] if kind == "biases" else baselines[1]
        b = cfg.baselines
        arrays = {"mu": np.float64(partner.mu), "item_bias": partner.item, "user_reg": np.float64(b.user_reg)}
        if kind == "svd":
            arrays.update(item_factors=partner.Q, factor_reg=np.float64(b.svd_reg))
        with atomic_path(ctx.artifact(BLEND_FILE), suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        meta["blend"] = {"partner": kind, "weights": [float(w) for w in weights]}
    atomic_write_json(ctx.artifact(META_FILE), meta)


def best_ranker(summary: dict, k: int) -> tuple[str, dict]:
    """The model whose mean nDCG@k is highest in the run (the RBM on a tie or when nothing is measurable),
    and every candidate's figure."""
    figures = {name: summary.get(f"{'' if name == 'rbm' else name + '_'}ndcg_at_{k}") for name in RANKERS}
    measured = {name: v for name, v in figures.items() if v is not None}
    if not measured:
        return "rbm", figures
    best = max(measured.values())
    return next(name for name in RANKERS if measured.get(name) == best), figures


def _record_ranking_model(ctx, summary: dict) -> None:
    """Say in the summary, and in recommender.json for `lab recommend`, which models the run stands behind:
    for top-N lists the one that ranked best in it (nDCG@k, mean over its splits), for predicted ratings the
    blend where the run blends and the blend's RMSE is below the RBM's, else the RBM."""
    from lab.runs import atomic_write_json

    k = summary["top_k"]
    name, figures = best_ranker(summary, k)
    summary["ranking_model"] = name
    blended = summary.get("blend_rmse") is not None and summary["blend_rmse"] < summary["rmse"]
    summary["prediction_model"] = "blend" if blended else "rbm"
    path = ctx.artifact(META_FILE)
    meta = read_meta_file(path) if path.exists() else None
    if meta is not None:
        meta.update({"ranking_model": name, f"ranking_ndcg_at_{k}": figures,
                     "prediction_model": summary["prediction_model"]})
        atomic_write_json(path, meta)


def _prediction_words(rc, summary: dict) -> str:
    """The report's sentence on whose predicted ratings `lab recommend` shows (summary.json: prediction_model)."""
    if summary.get("prediction_model") == "blend":
        partner = "biases" if rc.blend == "biases" else "SVD"
        return (f"Its predicted ratings are the blend of the RBM and the {partner} (RMSE {summary['blend_rmse']:.4f} "
                f"against the RBM's {summary['rmse']:.4f}; summary.json: prediction_model).")
    if summary.get("blend_rmse") is not None:
        return (f"Its predicted ratings are the RBM's: the blend did not beat it here (RMSE "
                f"{summary['blend_rmse']:.4f} against {summary['rmse']:.4f}).")
    return "Its predicted ratings are the RBM's."


def read_meta_file(path) -> dict | None:
    import json

    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


FIGURES = ("rmse", "mae", "global_mean_rmse", "global_mean_mae", "bias_rmse", "bias_mae")
OPTIONAL_FIGURES = ("svd_rmse", "svd_mae", "blend_rmse", "blend_mae")  # with baselines.svd_factors, rbm.blend


def _summarise(cfg, r: Ratings, done: list[dict]) -> dict:
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
    out["baseline_rmse"] = out["bias_rmse"]
    out["baseline_mae"] = out["bias_mae"]
    if "blend_rmse" in out:
        out["blend"] = cfg.rbm.blend
        out["blend_weights"] = [d["blend_weights"] for d in done]
    out["train_seconds"] = float(sum(d["train_seconds"] for d in done))
    out["ranking_seconds"] = float(sum(d["ranking_seconds"] for d in done))
    out["baseline_seconds"] = float(sum(d["baseline_seconds"] for d in done))
    out["folds"] = len(done)
    out["top_k"] = k
    out["n_ratings"], out["n_users"], out["n_items"] = len(r), r.n_users, r.n_items
    return out


def _report(cfg, ctx, r: Ratings, done: list[dict], summary: dict) -> None:
    from lab.plots import pyplot

    plt = pyplot()

    k = cfg.evaluation.top_k
    folds = len(done)
    note = (f"{r.describe()}. Split: {cfg.split.method}, {folds} "
            f"split(s) ({', '.join(d['split'] for d in done)}); figures are means over them. Ranking: top {k} among "
            f"items not rated in training; relevant = held-out rating >= {cfg.evaluation.relevant:g}; "
            f"{done[0]['ranking_users']} users in the first split."
            + "".join(f" Warning: {n}." for n in r.notes))

    def row(name, prefix, rating=True, ranking=True):
        d = {"model": name}
        d["RMSE"] = summary[f"{prefix}rmse"] if rating else "—"
        d["MAE"] = summary[f"{prefix}mae"] if rating else "—"
        for p, label in (("precision", "P"), ("recall", "R"), ("ndcg", "nDCG")):
            value = summary.get(f"{prefix}{p}_at_{k}")
            d[f"{label}@{k}"] = ("not measurable" if value is None else value) if ranking else "—"
        return d

    rc = cfg.rbm
    name = f"RBM ({rc.orientation}, {rc.hidden} hidden, {rc.rated_vector})"
    ranker, ndcgs = best_ranker(summary, k)
    rows = [row(name, "")]
    if "blend_rmse" in summary:
        partner = "biases" if rc.blend == "biases" else "SVD"
        rows.append(row(f"blend: RBM + {partner} (weighed on {rc.blend_validation:.0%} of the training ratings)",
                        "blend_", ranking=False))
    rows += [row("user + item biases (ALS)", "bias_")]
    if "svd_rmse" in summary:
        rows.append(row(f"SVD ({cfg.baselines.svd_factors} factors, ALS)", "svd_", ranking=False))
    rows += [row("global mean", "global_mean_", ranking=False), row("popularity", "popularity_", rating=False)]
    ctx.report.table("Model vs baselines", rows, note=note)
    if folds > 1:
        ctx.report.table("Per split", [{"split": d["split"], "RBM RMSE": d["rmse"], "bias RMSE": d["bias_rmse"],
                                        **({"blend RMSE": d["blend_rmse"]} if "blend_rmse" in d else {}),
                                        f"RBM nDCG@{k}": "not measurable" if d[f"ndcg_at_{k}"] is None
                                        else d[f"ndcg_at_{k}"]} for d in done])
    labels = {"rbm": f"the RBM (top-N score: {rank_kind(rc).replace('_', ' ')})", "popularity": "popularity",
              "bias": "the item biases"}
    shown = ", ".join(f"{labels[n].split(' (')[0]} {v:.4f}" for n, v in ndcgs.items() if v is not None)
    ctx.report.text("Top-N lists", (
        f"`lab recommend` ranks with {labels[ranker]}: the best nDCG@{k} in this run ({shown or 'none measurable'}; "
        f"summary.json: ranking_model). {_prediction_words(rc, summary)}"))
    ctx.report.text("Settings", (
        f"{rc.epochs} epochs of CD-k (k by epoch: {', '.join(f'{k_} from {s}' for s, k_ in rc.cd_schedule)}), "
        f"batches of {rc.batch_size} {rc.orientation}s, learning rate {rc.learning_rate:g} x {rc.lr_decay:g}^epoch, "
        f"momentum {rc.initial_momentum:g} then {rc.momentum:g}, weight decay {rc.weight_decay:g}, "
        f"visible negative phase: {rc.reconstruction}; top-N score: {rank_kind(rc)}. "
        f"RBM training took {summary['train_seconds']:.1f} s in all."))
    fig, ax = plt.subplots(figsize=(7, 4))
    for d in done:
        hist = [h for h in d["history"] if "test_rmse" in h]
        ax.plot([h["epoch"] for h in hist], [h["test_rmse"] for h in hist], marker="o", ms=3,
                label=f"RBM held-out ({d['split']})")
        ax.plot([h["epoch"] for h in d["history"]], [h["recon_rmse"] for h in d["history"]], ls=":", alpha=0.7,
                label=f"RBM reconstruction ({d['split']})")
    ax.axhline(summary["bias_rmse"], color="k", ls="--", lw=1, label=f"biases {summary['bias_rmse']:.4f}")
    ax.axhline(summary["global_mean_rmse"], color="grey", ls="-.", lw=1, label=f"global mean {summary['global_mean_rmse']:.4f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE")
    ax.set_title(f"RBM on {r.name}")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ctx.save_figure(fig, "learning_curve.png")
    ctx.report.image("Learning curve", "artifacts/learning_curve.png",
                     "Held-out RMSE per epoch (solid) and reconstruction RMSE on training cases (dotted), with the "
                     "baselines' held-out RMSE.")
