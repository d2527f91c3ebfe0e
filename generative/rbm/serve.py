"""Recommendations from a finished ``rbm`` run: for a known user, or for a new person from a few ratings.

:class:`Recommender` loads ``artifacts/rbm.keras`` (``safe_mode=True``), the ratings the run used and the
run's settings, and does the rest in NumPy from the model's weights (one person at a time needs no
compiled graph):

- **user-oriented RBM**: the person's ratings set the hidden probabilities
  ``p = sigmoid(c + sum_i W[i, k_i] + sum_i D_i)``; every movie's rating distribution is the softmax of
  ``b_q + W_q p``; the pick is ranked by expected rating (or p(rated) x p(liked) for the joint model).
  A rating's effect on a pick: how much the pick's expected rating drops when that one rating is left
  out (exact leave-one-out through the hidden units).
- **item-oriented RBM**: each movie's hidden probabilities come from everyone's ratings of it; the
  person's visible unit (weights learnt from their ratings) turns them into a rating distribution. A
  rating's effect: how much the pick's expected rating drops when that rating is left out of the fit of
  the person's weights, to first order (:meth:`Recommender.item_oriented_effects`). A new person has no
  unit in this model, so recommending from a new person's ratings needs a user-oriented run.

**Which list.** The run names the model that ranked best in it (``ranking_model`` in recommender.json:
the RBM, popularity or the item biases); the list is that model's top N. **Whose prediction.** Where the
run blends the RBM with a partner (``rbm.blend``: an SVD or the biases) and the blend's RMSE was below the
RBM's (``prediction_model: blend``), the predicted rating is the blend's (:class:`Partner`, weights and
partner of the first split, ``artifacts/blend.npz``), else the RBM's expected rating, whichever model
ranked. **What a prediction is made of.** Each pick's predicted rating is split into the movie's general
appeal (the run's average rating plus the movie's bias, ``artifacts/baselines.npz``) and the rest, which comes
from the person's ratings; a rating is named ("because you rated") only when its effect is at least
:data:`VISIBLE` (0.1 star), otherwise the line says whether the pick is mostly general appeal. With the
blend a rating's effect is the blend's weights applied to its effects on the RBM and on the partner (the
prediction before it is held to the rating scale).

Movies the person rated are never recommended. A person or ratings the run cannot take (an unknown user
id, a title that matches no movie or several, a rating off the scale) raise :class:`RecommendError`;
``lab recommend`` reports it against the option it came from.

What ``lab recommend`` (and a web service) calls: :func:`check_request` (cheap checks before a run is
opened), :func:`open_run`, then :func:`recommend_for_user` or :func:`recommend_for_ratings` (ratings as
``"Title=stars, ..."`` text or a title -> stars mapping), which answer in plain data: the person, which
models rank and predict, and each pick with its predicted rating, its parts and its explanation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import keras
import numpy as np

from generative.rbm.model import RANKERS, RBM, apply_blend
from generative.rbm.titles import (
    RecommendError,
    TitleIndex,
    check_rate_length,
    parse_rate,
    rating_of,
    short_text,
)
from generative.rbm.train import BASELINES_FILE, BLEND_FILE, META_FILE, MODEL_FILE, RATINGS_FILE
from lab.data.ratings import Ratings
from lab.errors import RunError
from lab.runs import RunDir
from lab.scenario import read_text_limited

MAX_USER_CHARS = 40  # a user id given as text is at most this long


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x, axis=-1):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------------------------------
# The recommender

META_MAX_BYTES = 2**20
ORIENTATIONS = ("user", "item")
RANKINGS = ("expected_rating", "seen_and_liked")
PREDICTORS = ("rbm", "blend")  # whose predicted ratings `lab recommend` shows (the run's better RMSE)
PARTNERS = ("biases", "svd")  # what the RBM is blended with (rbm.blend)
VISIBLE = 0.1
"""A rating is named in "because you rated" only when it moves the pick's predicted rating by at least this
many stars (leaving it out lowers the prediction by 0.1 star or more)."""


def read_meta(path) -> dict:
    """``artifacts/recommender.json``: what the run's model is (orientation, ranking, the relevant rating).

    Read with a size limit (1 MiB); a file that is not JSON, not a mapping or holds values the run could not
    have written is a RunError naming it.
    """
    text = read_text_limited(path, META_MAX_BYTES, "recommender file", error=RunError)
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = (f" (line {exc.lineno}, column {exc.colno}: {exc.msg})"
                 if isinstance(exc, json.JSONDecodeError) else "")
        raise RunError(f"{path}: damaged: not JSON{where}; train the run again to rewrite it") from None
    if not isinstance(meta, dict):
        raise RunError(f"{path}: damaged: a JSON {type(meta).__name__}, not the mapping the run writes; "
                       "train the run again to rewrite it")
    problems = []
    if meta.get("orientation", "user") not in ORIENTATIONS:
        problems.append(f"orientation is {meta.get('orientation')!r}, not one of {', '.join(ORIENTATIONS)}")
    if meta.get("rank_by", "expected_rating") not in RANKINGS:
        problems.append(f"rank_by is {meta.get('rank_by')!r}, not one of {', '.join(RANKINGS)}")
    if meta.get("ranking_model", "rbm") not in RANKERS:
        problems.append(f"ranking_model is {meta.get('ranking_model')!r}, not one of {', '.join(RANKERS)}")
    if meta.get("prediction_model", "rbm") not in PREDICTORS:
        problems.append(f"prediction_model is {meta.get('prediction_model')!r}, not one of "
                        f"{', '.join(PREDICTORS)}")
    elif meta.get("prediction_model") == "blend":
        blend = meta.get("blend")
        weights = blend.get("weights") if isinstance(blend, dict) else None
        if not isinstance(blend, dict) or blend.get("partner") not in PARTNERS:
            problems.append(f"blend is {short_text(repr(blend))}, not a partner ({', '.join(PARTNERS)}) and "
                            f"weights")
        elif not (isinstance(weights, list) and len(weights) == 3 and all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and np.isfinite(w) for w in weights)):
            problems.append(f"blend weights are {short_text(repr(weights))}, not three finite numbers")
    relevant = meta.get("relevant", 4.0)
    if isinstance(relevant, bool) or not isinstance(relevant, (int, float)) or not np.isfinite(relevant):
        problems.append(f"relevant is {relevant!r}, not a finite number")
    if problems:
        raise RunError(f"{path}: damaged: " + "; ".join(problems) + "; train the run again to rewrite it")
    return meta



@dataclass
class Pick:
    """One recommended movie. ``predicted = appeal + you``: ``appeal`` is the movie's general appeal (the
    average rating plus the movie's bias, fitted on the run's training ratings), ``you`` the rest, which
    comes from this person's ratings. ``because``: the person's ratings that each move ``predicted`` by at
    least :data:`VISIBLE` stars, as (item, the person's rating, stars it adds), largest first."""

    item: int
    predicted: float
    score: float
    because: list[tuple[int, float, float]]
    appeal: float = float("nan")
    you: float = float("nan")
    leniency: float = 0.0  # the person's own bias: how far above the average they rate (part of ``you``)


def explain_text(p: Pick, title) -> str:
    """What a pick's prediction is made of, in words, by the rule of :data:`VISIBLE` (``title(item)`` names
    a movie): the ratings that move it visibly, else whether it is mostly the movie's general appeal."""
    if p.because:
        return "because you rated " + "; ".join(f"{title(i)} {v:g} (+{e:.2f})" for i, v, e in p.because)
    you = round(p.you, 3)  # as the table shows it (rows: from_your_ratings)
    if abs(you) < VISIBLE:
        return "mostly the movie's general appeal"
    lenient = f" (you rate {abs(p.leniency):.2f} {'above' if p.leniency > 0 else 'below'} average)" if abs(
        p.leniency) >= VISIBLE else ""
    return f"your ratings together {you:+.2f}{lenient}, no single one {VISIBLE:g} star or more"


class Partner:
    """The model the run blends the RBM with (``rbm.blend``), as `lab recommend` uses it for one person:
    ``mu + b_item + x_item . theta`` with ``x_item = (q_item, 1)`` (the SVD's movie factors and a 1; for the
    biases only the 1). The person's ``theta`` (their factors and bias) is fitted on their ratings by the
    ridge regression the run's ALS ends its user steps with, on the run's movie factors and biases (for the
    run's users one more half-step of the same fit; for the biases exactly the run's last step).

    A rating's effect on a pick is exact for that fit: the change of the pick's prediction when the rating is
    left out (the leave-one-out formula of ridge regression, with the penalty as fitted)."""

    def __init__(self, kind: str, weights, mu: float, item_bias: np.ndarray, item_factors: np.ndarray | None,
                 user_reg: float, factor_reg: float):
        self.kind, self.weights = kind, np.asarray(weights, np.float64)
        self.mu, self.item_bias, self.user_reg, self.factor_reg = mu, item_bias, user_reg, factor_reg
        n = len(item_bias)
        q = item_factors if item_factors is not None else np.zeros((n, 0))
        self.X = np.hstack([q, np.ones((n, 1))])  # (movies, factors + 1)

    @classmethod
    def load(cls, path, blend: dict, n_items: int) -> Partner:
        if not path.exists():
            raise RunError(f"{path}: missing (the run's recommender.json says it blends); train the run "
                           f"again to rewrite it")
        try:
            with np.load(path, allow_pickle=False) as z:
                mu, item_bias = float(z["mu"]), np.asarray(z["item_bias"], np.float64)
                user_reg = float(z["user_reg"])
                q = np.asarray(z["item_factors"], np.float64) if blend["partner"] == "svd" else None
                factor_reg = float(z["factor_reg"]) if q is not None else 0.0
        except Exception as exc:  # a damaged file: say which
            raise RunError(f"{path}: damaged ({type(exc).__name__}: {exc}); train the run again to rewrite "
                           f"it") from None
        ok = item_bias.shape == (n_items,) and (q is None or (q.ndim == 2 and q.shape[0] == n_items))
        values = [mu, user_reg, factor_reg, item_bias] + ([q] if q is not None else [])
        if not ok or not all(np.isfinite(v).all() for v in values) or user_reg < 0 or factor_reg < 0:
            raise RunError(f"{path}: damaged (its arrays do not fit the run's {n_items:,} movies or are not "
                           f"finite); train the run again to rewrite it")
        return cls(blend["partner"], blend["weights"], mu, item_bias, q, user_reg, factor_reg)

    def _system(self, items, values):
        x = self.X[items]
        penalty = np.full(x.shape[1], self.factor_reg * len(items))
        penalty[-1] = self.user_reg
        a = x.T @ x + np.diag(penalty)
        return x, a, values - self.mu - self.item_bias[items]

    def fit_person(self, items, values) -> np.ndarray:
        """The person's factors and bias (``theta``) from their ratings."""
        x, a, y = self._system(items, values)
        return np.linalg.solve(a, x.T @ y)

    def predict(self, theta) -> np.ndarray:
        """The partner's predicted rating of every movie for a person with these factors and bias."""
        return self.mu + self.item_bias + self.X @ theta

    def effects(self, items, values, theta, picks) -> np.ndarray:
        """(ratings, picks): how much each rating adds to each pick's prediction (leave-one-out, exact)."""
        x, a, y = self._system(items, values)
        solved = np.linalg.solve(a, x.T)  # A^-1 x_j, (factors + 1, ratings)
        leverage = np.einsum("jf,fj->j", x, solved)
        resid = y - x @ theta
        return (resid / np.maximum(1.0 - leverage, 1e-12))[:, None] * (self.X[picks] @ solved).T

    def blend(self, rbm_pred, partner_pred):
        return apply_blend(self.weights, rbm_pred, partner_pred)  # the run's own formula


class Recommender:
    """A finished run's recommender: its RBM's weights as NumPy arrays, its ratings, baselines and blend."""

    def __init__(self, run: RunDir, model, ratings: Ratings, meta: dict):
        self.run = run
        self.ratings = ratings
        self.meta = meta
        self.orientation = meta.get("orientation", "user")
        self.rank_by = meta.get("rank_by", "expected_rating")
        self.relevant = float(meta.get("relevant", 4.0))
        self.values = np.asarray(model.values, np.float64)
        self.rated_vector = model.rated_vector
        k, f = len(self.values), model.n_hidden
        self.W = np.asarray(model.W.numpy(), np.float64).reshape(model.n_visible, k, f)
        self.vbias = np.asarray(model.vbias.numpy(), np.float64)
        self.hbias = np.asarray(model.hbias.numpy(), np.float64)
        self.D = np.asarray(model.D.numpy(), np.float64) if self.rated_vector != "none" else None
        self.rbias = np.asarray(model.rbias.numpy(), np.float64) if self.rated_vector == "joint" else None
        self.ranking_model = meta.get("ranking_model", "rbm")
        self.titles = TitleIndex(ratings)
        self.mu, self.item_bias, self.popularity, self.user_bias, self.user_reg = self._baselines()
        self._by_user = np.argsort(ratings.user, kind="stable")
        self._user_ptr = np.concatenate(
            ([0], np.cumsum(np.bincount(ratings.user, minlength=ratings.n_users))))
        self._item_hidden = None
        self.prediction_model = meta.get("prediction_model", "rbm")
        self.partner = (Partner.load(run.artifacts / BLEND_FILE, meta["blend"], ratings.n_items)
                        if self.prediction_model == "blend" else None)

    @classmethod
    def open(cls, path) -> Recommender:
        run = RunDir.open(path)
        run.require_task("rbm", command="lab recommend")
        art = run.artifacts
        missing = [n for n in (MODEL_FILE, RATINGS_FILE, META_FILE, BASELINES_FILE) if not (art / n).exists()]
        if missing:
            raise RunError(f"{run.path}: no fitted recommender yet ({', '.join(missing)} missing from "
                           f"artifacts/; run status: {run.status or 'unknown'}); finish it with `lab run "
                           f"--resume {run.path}`")
        try:
            model = keras.models.load_model(art / MODEL_FILE, safe_mode=True)
        except Exception as exc:  # a damaged file: say which, not a traceback
            raise RunError(f"{art / MODEL_FILE}: cannot be loaded ({type(exc).__name__}: {exc})") from None
        if not isinstance(model, RBM):
            raise RunError(f"{art / MODEL_FILE}: a {type(model).__name__}, not the run's RBM; train the run "
                           f"again")
        meta = read_meta(art / META_FILE)
        return cls(run, model, Ratings.load_npz(art / RATINGS_FILE), meta)

    def _baselines(self):
        """(average rating, each movie's bias, each movie's number of training ratings, each user's bias, the
        users' regularisation) of the run's first split (``artifacts/baselines.npz``)."""
        r = self.ratings
        path = self.run.artifacts / BASELINES_FILE
        try:
            with np.load(path, allow_pickle=False) as z:
                mu, item_bias, popularity = (float(z["mu"]), np.asarray(z["item_bias"], np.float64),
                                             np.asarray(z["popularity"], np.float64))
                user_bias, user_reg = np.asarray(z["user_bias"], np.float64), float(z["user_reg"])
        except Exception as exc:  # a damaged file: say which
            raise RunError(f"{path}: damaged ({type(exc).__name__}: {exc}); train the run again to rewrite "
                           "it") from None
        if (item_bias.shape != (r.n_items,) or popularity.shape != (r.n_items,)
                or user_bias.shape != (r.n_users,) or not np.isfinite(mu)):
            raise RunError(f"{path}: damaged (its arrays do not fit the run's {r.n_items:,} movies); train "
                           f"the run again to rewrite it")
        return mu, item_bias, popularity, user_bias, user_reg

    # people -------------------------------------------------------------------------------------
    def user_index(self, user_id: int | str) -> int:
        """The row of the user with this id in the run's data (an id given as text is read as a number)."""
        r = self.ratings
        text = str(user_id).strip()
        if not re.fullmatch(r"[+-]?\d{1,30}", text):
            kind = "too long" if re.fullmatch(r"[+-]?\d+", text) else "not a whole number"
            raise RecommendError(f"user ids in this run are whole numbers "
                                 f"({r.user_ids[0]}..{r.user_ids[-1]}); {short_text(text)} is {kind}")
        uid = int(text)
        u = r.user_index(uid) if -2**63 <= uid < 2**63 else None
        if u is None:
            # (the distance is taken to the id clipped into the data's range: no int64 overflow for a huge id)
            key = min(max(uid, int(r.user_ids[0])), int(r.user_ids[-1]))
            near = r.user_ids[np.argsort(np.abs(r.user_ids - key), kind="stable")[:3]]
            raise RecommendError(f"user {uid} is not in this run's data ({r.n_users:,} users, ids "
                                 f"{r.user_ids[0]}..{r.user_ids[-1]}); nearest ids: "
                                 f"{', '.join(str(int(x)) for x in sorted(near))}")
        return u

    def user_ratings(self, u: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self._by_user[self._user_ptr[u]:self._user_ptr[u + 1]]
        return self.ratings.item[idx].astype(np.int64), self.ratings.rating[idx].astype(np.float64)

    def parse_person(self, rated: str | Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """(movies, ratings) of a new person, from ``"Title=stars, ..."`` text or a title -> stars mapping."""
        if self.orientation != "user":
            raise RecommendError("this run's RBM is item-oriented (one RBM per movie over users): a new "
                                 "person has no visible unit in it, so their ratings need a run with "
                                 "rbm.orientation: user; recommend for one of the run's users instead")
        if isinstance(rated, str):
            pairs = parse_rate(rated, self.values)
        else:
            pairs = [(str(title), rating_of(str(title), value, self.values))
                     for title, value in rated.items()]
            if not pairs:
                raise RecommendError("no ratings given: rate at least one movie")
        items, values = [], []
        for title, value in pairs:
            i = self.titles.find(title)
            if i in items:
                raise RecommendError(f"{self.ratings.display_title(i)} is rated twice")
            items.append(i)
            values.append(value)
        return np.asarray(items, np.int64), np.asarray(values, np.float64)

    # scoring ------------------------------------------------------------------------------------
    def _value_index(self, values: np.ndarray) -> np.ndarray:
        return np.abs(self.values[None, :] - values[:, None]).argmin(1)

    def _hidden_input(self, items, kidx):
        x = self.hbias + self.W[items, kidx].sum(0)
        if self.D is not None:
            x = x + self.D[items].sum(0)
        return x

    def _scores(self, probs, seen):
        expected = probs @ self.values
        if self.rank_by == "seen_and_liked":
            return expected, seen * probs[..., self.values >= self.relevant].sum(-1)
        return expected, expected

    def predict_user_oriented(self, items, values):
        """Expected rating and ranking score of every movie for a person with these ratings."""
        kidx = self._value_index(values)
        p = _sigmoid(self._hidden_input(items, kidx))
        probs = _softmax(self.vbias + np.einsum("mkf,f->mk", self.W, p))
        seen = _sigmoid(self.rbias + self.D @ p) if self.rbias is not None else 1.0
        return self._scores(probs, seen)

    def item_hidden(self) -> np.ndarray:
        """Hidden probabilities of every movie (item-oriented model) from all the ratings it has."""
        if self._item_hidden is None:
            r = self.ratings
            kidx = self._value_index(r.rating.astype(np.float64))
            x = np.tile(self.hbias, (r.n_items, 1))
            np.add.at(x, r.item, self.W[r.user, kidx])
            if self.D is not None:
                np.add.at(x, r.item, self.D[r.user])
            self._item_hidden = _sigmoid(x)
        return self._item_hidden

    def predict_item_oriented(self, u: int):
        P = self.item_hidden()
        probs = _softmax(self.vbias[u] + P @ self.W[u].T)
        seen = _sigmoid(self.rbias[u] + P @ self.D[u]) if self.rbias is not None else 1.0
        return self._scores(probs, seen)

    def user_oriented_effects(self, items, values, picks) -> np.ndarray:
        """How much each of the person's ratings adds to each pick's expected rating, in stars: (ratings,
        picks), exact: the prediction with and without that rating in the RBM's input (a low rating can raise
        a pick too)."""
        kidx = self._value_index(values)
        x = self._hidden_input(items, kidx)
        drop = self.W[items, kidx]
        if self.D is not None:
            drop = drop + self.D[items]
        p_without = _sigmoid(x[None, :] - drop)  # (ratings, F)
        p_all = _sigmoid(x)
        wq = self.W[picks]  # (picks, K, F)
        full = _softmax(self.vbias[picks] + np.einsum("qkf,f->qk", wq, p_all)) @ self.values
        without = _softmax(self.vbias[picks][None] + np.einsum("qkf,lf->lqk", wq, p_without)) @ self.values
        return full[None, :] - without

    def item_oriented_effects(self, u, items, values, picks, ridge: float = 1.0) -> np.ndarray:
        """How much each of the person's ratings adds to each pick's expected rating, in stars: (ratings,
        picks).

        In an item-oriented RBM a person is a visible unit: their weights ``W[u]`` and biases ``b[u]`` turn a
        movie's hidden probabilities into a rating distribution, and they were learnt from the person's own
        ratings. So a rating acts through the fit of those weights, not through the prediction itself: the
        effect of rating ``j`` is the change of the pick's prediction when ``j`` is left out of that fit, to
        first order (the influence function of the person's softmax regression on the movies' hidden
        probabilities, with a ridge ``ridge`` on the weights). Exact leave-one-out would retrain the RBM."""
        P = self.item_hidden()
        k = len(self.values)
        x = np.hstack([P[items], np.ones((len(items), 1))])  # (n, F+1)
        theta = np.hstack([self.W[u], self.vbias[u][:, None]])  # (K, F+1)
        prob = _softmax(x @ theta.T)  # (n, K)
        d = x.shape[1]
        cov = prob[:, :, None] * (np.eye(k)[None] - prob[:, None, :])  # diag(p) - p p^T, (n, K, K)
        hess = np.einsum("nab,nc,ne->acbe", cov, x, x).reshape(k * d, k * d) + ridge * np.eye(k * d)
        onehot = np.eye(k)[self._value_index(values)]
        # d log p(r_j) / d theta
        grads = ((onehot - prob)[:, :, None] * x[:, None, :]).reshape(len(items), k * d)
        xq = np.hstack([P[picks], np.ones((len(picks), 1))])
        pq = _softmax(xq @ theta.T)
        eq = pq @ self.values
        dpred = ((pq * (self.values[None, :] - eq[:, None]))[:, :, None] *
                 xq[:, None, :]).reshape(len(picks), k * d)
        return grads @ np.linalg.solve(hess, dpred.T)

    @staticmethod
    def _top_reasons(items, values, effect, n, least: float = VISIBLE):
        """For each pick, the (at most n) rated movies that raise it most, each by at least ``least``
        stars."""
        out = []
        for q in range(effect.shape[1]):
            order = np.argsort(-effect[:, q], kind="stable")[:n]
            out.append(
                [(int(items[j]), float(values[j]), float(effect[j, q]))
                 for j in order if effect[j, q] >= least])
        return out

    # the public entry points --------------------------------------------------------------------
    def recommend(self, items: np.ndarray, values: np.ndarray, top: int = 10,
                  user: int | None = None) -> list[Pick]:
        if self.orientation == "user":
            expected, score = self.predict_user_oriented(items, values)
        else:
            expected, score = self.predict_item_oriented(user)
        if self.ranking_model == "popularity":
            score = self.popularity.astype(np.float64)
        elif self.ranking_model == "bias":
            score = self.item_bias.astype(np.float64)
        score = np.array(score, np.float64, copy=True)
        score[items] = -np.inf  # never recommend what the person has rated
        top = max(0, min(top, int(np.isfinite(score).sum())))
        picks = np.argsort(-score, kind="stable")[:top]
        if not len(picks):
            return []
        if self.orientation == "user":
            effect = self.user_oriented_effects(items, values, picks)
        else:
            effect = self.item_oriented_effects(user, items, values, picks)
        predicted = expected
        if self.partner is not None:  # the run's better predictor: the RBM blended with its partner
            theta = self.partner.fit_person(items, values)
            lo, hi = float(self.ratings.scale[0]), float(self.ratings.scale[-1])
            predicted = np.clip(self.partner.blend(expected, self.partner.predict(theta)), lo, hi)
            w = self.partner.weights
            effect = w[1] * effect + w[2] * self.partner.effects(items, values, theta, picks)
        reasons = self._top_reasons(items, values, effect, 2, least=VISIBLE)
        appeal = self.mu + self.item_bias
        if user is not None:
            leniency = float(self.user_bias[user])
        else:  # a new person: one step of the biases' fit on their ratings
            leniency = float((values - self.mu - self.item_bias[items]).sum() / (len(values) + self.user_reg))
        return [Pick(int(q), float(predicted[q]), float(score[q]), why, float(appeal[q]),
                     float(predicted[q] - appeal[q]), leniency)
                for q, why in zip(picks, reasons, strict=True)]

    def for_user(self, user_id: int | str, top: int = 10) -> tuple[int, list[Pick]]:
        u = self.user_index(user_id)
        items, values = self.user_ratings(u)
        return u, self.recommend(items, values, top, user=u)

    def for_ratings(self, rated: str | Mapping[str, float],
                    top: int = 10) -> tuple[tuple[np.ndarray, np.ndarray], list[Pick]]:
        items, values = self.parse_person(rated)
        return (items, values), self.recommend(items, values, top)

    def rows(self, picks: list[Pick]) -> list[dict]:
        r = self.ratings
        return [{
            "rank": n + 1, "item_id": int(r.item_ids[p.item]), "title": str(r.titles[p.item]),
            "year": int(r.years[p.item]) or None, "genres": r.item_genres(p.item),
            "predicted_rating": round(p.predicted, 3), "score": round(p.score, 4),
            "general_appeal": round(p.appeal, 3), "from_your_ratings": round(p.you, 3),
            "your_bias": round(p.leniency, 3),
            "why": explain_text(p, r.display_title),
            "because": [{"item_id": int(r.item_ids[i]), "title": r.display_title(i), "rating": v,
                         "effect": round(e, 4)} for i, v, e in p.because],
        } for n, p in enumerate(picks)]

    def answer(self, person: dict, picks: list[Pick]) -> dict:
        """The plain-data answer for ``person``: which models rank and predict, and the picks."""
        return {**person, "dataset": self.meta.get("dataset", self.ratings.name),
                "orientation": self.orientation, "rank_by": self.rank_by, "ranking_model": self.ranking_model,
                "prediction_model": self.prediction_model,
                **({"blend": self.meta["blend"]} if self.partner is not None else {}),
                "average_rating": round(self.mu, 4), "visible_effect": VISIBLE, "picks": self.rows(picks)}


# --------------------------------------------------------------------------------------------------
# What `lab recommend` and a web service call


def check_request(user: str | None = None, rate: str | None = None) -> None:
    """The checks that need no run (a RecommendError): a user id of at most 40 characters, ``rate`` text of at
    most :data:`MAX_RATE_CHARS`."""
    if user is not None and len(user) > MAX_USER_CHARS:
        raise RecommendError(f"{len(user):,} characters; a user id is a whole number of the run's data")
    if rate is not None:
        check_rate_length(rate)


def open_run(path) -> Recommender:
    """The recommender of a finished ``rbm`` run folder (a RunError when the folder has none)."""
    return Recommender.open(path)


def recommend_for_user(rec: Recommender, user_id: int | str, top: int = 10) -> dict:
    """The top ``top`` movies for a user of the run's data: ``user``, ``n_ratings`` and
    :meth:`Recommender.answer`."""
    u, picks = rec.for_user(user_id, top)
    items, _ = rec.user_ratings(u)
    return rec.answer({"user": int(rec.ratings.user_ids[u]), "n_ratings": int(len(items))}, picks)


def recommend_for_ratings(rec: Recommender, rated: str | Mapping[str, float], top: int = 10) -> dict:
    """The top ``top`` movies for a new person who rated these titles (``"Title=stars, ..."`` or a mapping):
    ``rated`` (the movies matched, with their ratings) and :meth:`Recommender.answer`."""
    (items, values), picks = rec.for_ratings(rated, top)
    r = rec.ratings
    rated_rows = [{"item_id": int(r.item_ids[i]), "title": r.display_title(i), "rating": float(v)}
                  for i, v in zip(items, values, strict=True)]
    return rec.answer({"rated": rated_rows}, picks)
