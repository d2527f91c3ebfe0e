"""The restricted Boltzmann machine for collaborative filtering of Salakhutdinov, Mnih & Hinton (ICML 2007).

One RBM per user ("case"), all sharing weights: the visible units are the movies the user rated, each a
softmax over the K rating values; the hidden units are binary. Missing ratings are simply absent: a
mini-batch of cases arrives as its (case, item, rating) triples, a case's hidden input sums the weight
rows of its own ratings, and the visible softmaxes are computed (and sampled) at its rated cells only,
so an unrated item neither drives the hidden units nor receives a gradient, and the work of a CD step
grows with the ratings in the batch, not with batch x items. Only the joint model's which-rated units
are dense (batch x items), and full predictions (every item of a case, for ranking) are batch x items
x K; memory never grows with users x items.

Energy (rated items ``i`` with rating ``k``, hidden ``j``, optional "rated" vector ``r``)::

    E(V, h) = - sum_ijk W_ikj v_ik h_j - sum_ik b_ik v_ik - sum_j c_j h_j - sum_ij D_ij r_i h_j

- ``p(h_j = 1 | V) = sigmoid(c_j + sum_ik v_ik W_ikj + sum_i r_i D_ij)``
- ``p(v_ik = 1 | h) = softmax_k(b_ik + sum_j h_j W_ikj)``

Learning is contrastive divergence CD-k (``k`` set by the trainer and raised as training goes on: the
paper goes 1 -> 3 -> 5 -> 9) with momentum and weight decay on ``W`` and ``D``. Prediction is the
expected rating under the visible softmax given the hidden probabilities (the paper's mean-field step).

``rated_vector``:

- ``none``: the plain RBM of the paper's section 2;
- ``conditional``: the paper's conditional RBM (section 3): ``r`` (which movies the user rated, and
  optionally movies known to be seen but whose rating is unknown, like the Netflix qualifying pairs)
  shifts the hidden units through ``D``; ``r`` is given, not modelled;
- ``joint``: ``r`` is also modelled, as binary visible units over *all* items with biases ``e``:
  ``p(r_i = 1 | h) = sigmoid(e_i + sum_j D_ij h_j)``. The model then predicts which movies a person
  will watch as well as how they will rate them, which is what top-N ranking needs. Every item's
  r unit is present in every case, so ``D`` and ``e`` get dense gradients; they learn at
  ``seen_lr_scale`` times the learning rate (0.02 by default: at the full rate they swamp the hidden
  units and the model ranks worse than popularity).

The class is a :class:`keras.Model` whose ``train_step`` computes the CD statistics and applies the
momentum update itself (CD is not the gradient of a loss, so there is no ``compute_loss``). All training
state (weights, velocities, learning rate, momentum, CD steps, the random seed state) lives in the
model's variables, so one ``.keras`` file is a complete checkpoint.

Beside the RBM, the rest of the task's maths as plain NumPy, each checkable by hand: :class:`Cases` (ratings
grouped by case, the RBM's batches), the baselines :class:`Biases` (regularised user + item biases by ALS)
and :class:`Factors` (biased matrix factorisation, "SVD", by weighted-lambda ALS), :func:`rmse` and
:func:`mae`, the ranking figures precision@N, recall@N and nDCG@N (:class:`RankingTask`,
:func:`ranking_figures`) and the blend of the RBM with a baseline (:func:`fit_blend`, :func:`apply_blend`).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from lab.data.ratings import Ratings, Split
from lab.seeding import stream_seed

RATED_VECTOR = ("none", "conditional", "joint")


@keras.saving.register_keras_serializable(package="lab")
class RBM(keras.Model):
    """Softmax-visible, binary-hidden RBM over the items of one case (a user; or an item, turned round)."""

    def __init__(self, n_visible: int, values, n_hidden: int = 100, rated_vector: str = "none",
                 init_std: float = 0.01, weight_decay: float = 0.001, reconstruction: str = "sample",
                 seen_lr_scale: float = 0.02, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if rated_vector not in RATED_VECTOR:
            raise ValueError(f"rated_vector must be one of {RATED_VECTOR}, not {rated_vector!r}")
        if reconstruction not in ("sample", "mean"):
            raise ValueError(f"reconstruction must be 'sample' or 'mean', not {reconstruction!r}")
        self.n_visible = int(n_visible)
        self.values = [float(v) for v in values]
        self.n_values = len(self.values)
        self.n_hidden = int(n_hidden)
        self.rated_vector = rated_vector
        self.init_std = float(init_std)
        self.weight_decay = float(weight_decay)
        self.reconstruction = reconstruction
        self.seen_lr_scale = float(seen_lr_scale)
        self.seed = int(seed)
        mk = self.n_visible * self.n_values
        # the model's two random streams, named: the initial weights and the Gibbs sampling of CD
        init = keras.initializers.RandomNormal(stddev=init_std, seed=stream_seed(seed, "weights"))
        self.W = self.add_weight(shape=(mk, self.n_hidden), name="W", initializer=init)
        self.vbias = self.add_weight(shape=(self.n_visible, self.n_values), name="vbias", initializer="zeros")
        self.hbias = self.add_weight(shape=(self.n_hidden,), name="hbias", initializer="zeros")
        self.params = [self.W, self.vbias, self.hbias]
        if rated_vector != "none":
            self.D = self.add_weight(shape=(self.n_visible, self.n_hidden), name="D", initializer="zeros")
            self.params.append(self.D)
        if rated_vector == "joint":
            self.rbias = self.add_weight(shape=(self.n_visible,), name="rbias", initializer="zeros")
            self.params.append(self.rbias)
        self.velocities = [self.add_weight(shape=p.shape, name=f"velocity_{p.name}", initializer="zeros",
                                           trainable=False) for p in self.params]
        self.learning_rate = self.add_weight(shape=(), name="learning_rate", initializer="zeros",
                                             trainable=False)
        self.momentum = self.add_weight(shape=(), name="momentum", initializer="zeros", trainable=False)
        self.cd_steps = self.add_weight(shape=(), name="cd_steps", dtype="int32", trainable=False,
                                        initializer=keras.initializers.Constant(1))
        self.seed_generator = keras.random.SeedGenerator(stream_seed(seed, "gibbs"))
        # Keras does not save a SeedGenerator's state; this copy of it does, so a resumed run draws the same
        # random numbers as one that never stopped.
        self.rng_state = self.add_weight(shape=(2,), name="rng_state", dtype=self.seed_generator.state.dtype,
                                         trainable=False, initializer="zeros")
        self.value_vector = ops.convert_to_tensor(np.asarray(self.values, np.float32))
        self.recon_tracker = keras.metrics.Mean(name="recon_rmse")
        self.hidden_tracker = keras.metrics.Mean(name="hidden_prob")
        self.built = True

    def get_config(self):
        return {**super().get_config(), "n_visible": self.n_visible, "values": self.values,
                "n_hidden": self.n_hidden, "rated_vector": self.rated_vector, "init_std": self.init_std,
                "weight_decay": self.weight_decay,
                "reconstruction": self.reconstruction, "seen_lr_scale": self.seen_lr_scale, "seed": self.seed}

    def save_own_variables(self, store):
        self.rng_state.assign(self.seed_generator.state)
        super().save_own_variables(store)

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self.seed_generator.state.assign(self.rng_state)

    @property
    def metrics(self):
        return [self.recon_tracker, self.hidden_tracker]

    # ----------------------------------------------------------------------------------------------
    # Batches: a batch is sparse — int32 tensors ``n`` (cases), ``rows`` (case of each rating, 0..n-1),
    # ``cols`` (its visible unit), ``values`` (its rating index 0..K-1), and ``seen_rows``/``seen_cols``:
    # extra (case, item) pairs of the which-rated vector that are not among the ratings.

    def _rated_pairs(self, batch):
        """(rows, cols) of the which-rated vector: the rated items plus the extra seen ones."""
        return (ops.concatenate([batch["rows"], batch["seen_rows"]], 0),
                ops.concatenate([batch["cols"], batch["seen_cols"]], 0))

    def dense_rated(self, batch):
        """The which-rated vector r as a dense (n, M) 0/1 matrix (the joint model needs all its units)."""
        n, m = batch["n"], self.n_visible
        rows, cols = self._rated_pairs(batch)
        flat = ops.expand_dims(rows * m + cols, 1)
        r = ops.scatter(flat, ops.ones_like(rows, dtype="float32"), (n * m,))
        return ops.minimum(ops.reshape(r, (n, m)), 1.0)

    def dense_batch(self, batch):
        """(one-hot ratings (n, M, K), mask (n, M)): the dense view, for inspection and tests."""
        n, m = batch["n"], self.n_visible
        flat = ops.expand_dims(batch["rows"] * m + batch["cols"], 1)
        dense = ops.reshape(ops.scatter(flat, batch["values"] + 1, (n * m,)), (n, m))
        return ops.one_hot(dense - 1, self.n_values, dtype="float32"), ops.cast(dense > 0, "float32")

    # ----------------------------------------------------------------------------------------------
    # Conditionals. Only rated cells are touched on the visible side: a case's hidden input sums the
    # weight rows of its ratings, and the visible softmaxes are computed at its rated cells only.

    def _segment_sum(self, data, rows, n):
        return ops.segment_sum(data, rows, num_segments=n)

    def rating_input(self, n, rows, cols, values):
        """sum over a case's ratings of W[item, rating] (n, F); ``values`` int (nnz,) or soft (nnz, K)."""
        if len(values.shape) == 1:
            return self._segment_sum(ops.take(self.W, cols * self.n_values + values, axis=0), rows, n)
        w3 = ops.take(ops.reshape(self.W, (self.n_visible, self.n_values, self.n_hidden)), cols, axis=0)
        return self._segment_sum(ops.einsum("pk,pkf->pf", values, w3), rows, n)

    def rated_input(self, batch):
        """sum over the which-rated vector of D[item] (n, F) (zeros without a rated vector)."""
        if self.rated_vector == "none":
            return ops.zeros((batch["n"], self.n_hidden))
        rows, cols = self._rated_pairs(batch)
        return self._segment_sum(ops.take(self.D, cols, axis=0), rows, batch["n"])

    def hidden_probs(self, batch):
        """p(h = 1 | the batch's ratings and which-rated vector), (n, F)."""
        n = batch["n"]
        x = (self.hbias + self.rating_input(n, batch["rows"], batch["cols"], batch["values"]) +
             self.rated_input(batch))
        return ops.sigmoid(x)

    def pair_weights(self, cols):
        """The weights (p, K, F) and visible biases (p, K) of the units ``cols``."""
        w3 = ops.take(ops.reshape(self.W, (self.n_visible, self.n_values, self.n_hidden)), cols, axis=0)
        return w3, ops.take(self.vbias, cols, axis=0)

    def pair_logits(self, h, rows, cols, weights=None):
        """Visible logits (p, K) at single cells: case ``rows[p]`` (hidden state ``h[rows[p]]``), unit
        ``cols[p]``."""
        w3, b = weights if weights is not None else self.pair_weights(cols)
        return ops.einsum("pkf,pf->pk", w3, ops.take(h, rows, axis=0)) + b

    def visible_logits(self, h, cols=None):
        """Logits (n, M, K) of every visible softmax (or of the columns ``cols``) given hidden states."""
        n = ops.shape(h)[0]
        if cols is None:
            w, b, m = self.W, self.vbias, self.n_visible
        else:
            w3 = ops.take(ops.reshape(self.W, (self.n_visible, self.n_values, self.n_hidden)), cols, axis=0)
            w, b, m = (ops.reshape(w3, (-1, self.n_hidden)), ops.take(self.vbias, cols, axis=0),
                       ops.shape(cols)[0])
        return ops.reshape(ops.matmul(h, ops.transpose(w)), (n, m, self.n_values)) + b

    def seen_probs(self, h, cols=None):
        """p(r_i = 1 | h) of the joint model (which items the case will rate)."""
        d, e = ((self.D, self.rbias) if cols is None
                else (ops.take(self.D, cols, axis=0), ops.take(self.rbias, cols, axis=0)))
        return ops.sigmoid(ops.matmul(h, ops.transpose(d)) + e)

    def _bernoulli(self, p):
        return ops.cast(keras.random.uniform(ops.shape(p), seed=self.seed_generator) < p, "float32")

    def _sample_values(self, logits):
        """Rating indices sampled from softmax rows (Gumbel-max), or the softmax itself in mean-field mode."""
        if self.reconstruction == "mean":
            return ops.softmax(logits, axis=-1)
        u = keras.random.uniform(ops.shape(logits), minval=1e-7, maxval=1.0 - 1e-7, seed=self.seed_generator)
        return ops.cast(ops.argmax(logits - ops.log(-ops.log(u)), axis=-1), "int32")

    # ----------------------------------------------------------------------------------------------
    # Contrastive divergence

    def _reconstruction_error(self, logits, n, rows, values):
        """RMSE of the expected ratings of ``logits`` at the rated cells; entries of case ``n`` (the padding
        of a JAX batch, :mod:`generative.rbm.machine`) are left out."""
        expected = ops.sum(ops.softmax(logits, axis=-1) * self.value_vector, axis=-1)
        squares = ops.where(rows < n, (expected - ops.take(self.value_vector, values)) ** 2, 0.0)
        return ops.sqrt(ops.sum(squares) / ops.maximum(ops.sum(ops.cast(rows < n, "float32")), 1.0))

    def cd_statistics(self, batch, k):
        """CD-k estimates of the log-likelihood gradient (data term minus model term), averaged over cases.

        Returns (list of gradients matching ``self.params``, RMSE of the first reconstruction's expected
        rating on the rated items, mean hidden probability).
        """
        n, rows, cols, values = batch["n"], batch["rows"], batch["cols"], batch["values"]
        nf = ops.cast(n, "float32")
        joint = self.rated_vector == "joint"
        r_dense = self.dense_rated(batch) if joint else None
        fixed = self.hbias + (0.0 if joint else self.rated_input(batch))  # the given part of the hidden input
        x0 = (self.rating_input(n, rows, cols, values) +
              (self.hbias + self.rated_input(batch) if joint else fixed))
        ph0 = ops.sigmoid(x0)
        h = self._bernoulli(ph0)
        weights = self.pair_weights(cols)  # gathered once, used by every Gibbs step
        logits = self.pair_logits(h, rows, cols, weights)
        recon = self._reconstruction_error(logits, n, rows, values)

        def negative(h, logits):
            vs = self._sample_values(logits)
            if self.reconstruction == "mean":
                x = fixed + self._segment_sum(ops.einsum("pk,pkf->pf", vs, weights[0]), rows, n)
            else:
                x = fixed + self.rating_input(n, rows, cols, vs)
            rs = ops.zeros((0, self.n_visible))
            if joint:
                ps = ops.sigmoid(ops.matmul(h, ops.transpose(self.D)) + self.rbias)
                rs = ps if self.reconstruction == "mean" else self._bernoulli(ps)
                x = x + ops.matmul(rs, self.D)
            return vs, rs, ops.sigmoid(x)

        vs, rs, ph = negative(h, logits)
        for _ in range(1, int(k)):  # a Python loop: k is a number (a compiled step per k, see train_step)
            h = self._bernoulli(ph)
            vs, rs, ph = negative(h, self.pair_logits(h, rows, cols, weights))
        mk = self.n_visible * self.n_values
        data_idx = cols * self.n_values + values
        ph0_p, ph_p = ops.take(ph0, rows, axis=0), ops.take(ph, rows, axis=0)
        if self.reconstruction == "mean":
            grad_w = (self._segment_sum(ph0_p, data_idx, mk) - ops.reshape(self._segment_sum(
                ops.einsum("pk,pf->pkf", vs, ph_p), cols, self.n_visible), (mk, self.n_hidden))) / nf
            grad_b = (ops.reshape(self._segment_sum(ops.ones_like(ph0_p[:, 0]), data_idx, mk), (self.n_visible, self.n_values))  # noqa: E501
                      - self._segment_sum(vs, cols, self.n_visible)) / nf
        else:
            model_idx = cols * self.n_values + vs
            both = ops.concatenate([data_idx, model_idx], 0)
            grad_w = self._segment_sum(ops.concatenate([ph0_p, -ph_p], 0), both, mk) / nf
            signs = ops.concatenate([ops.ones_like(data_idx, dtype="float32"), -ops.ones_like(model_idx, dtype="float32")], 0)  # noqa: E501
            grad_b = ops.reshape(self._segment_sum(signs, both, mk), (self.n_visible, self.n_values)) / nf
        grads = [grad_w, grad_b, ops.mean(ph0 - ph, axis=0)]
        if joint:
            grads.append((ops.matmul(ops.transpose(r_dense), ph0) - ops.matmul(ops.transpose(rs), ph)) / nf)
            grads.append(ops.mean(r_dense - rs, axis=0))
        elif self.rated_vector == "conditional":
            r_rows, r_cols = self._rated_pairs(batch)
            grads.append(self._segment_sum(ops.take(ph0 - ph, r_rows, axis=0), r_cols, self.n_visible) / nf)
        return grads, recon, ops.mean(ph0)

    def train_step(self, batch, k: int | None = None):
        """One CD-k update with momentum and weight decay; returns the tracked figures. ``k`` is a number
        (default: the schedule's ``cd_steps``, read now); :class:`generative.rbm.machine.Machine` compiles a
        step for each k it meets: the chain is unrolled, which a JAX loop could not be, its sampler holding
        state."""
        k = int(ops.convert_to_numpy(self.cd_steps.value)) if k is None else k
        grads, recon, hmean = self.cd_statistics(batch, k)
        decayed = {id(self.W)}
        if self.rated_vector != "none":
            decayed.add(id(self.D))
        # In the joint model every item's which-rated unit is present in every case, so D and e get dense
        # gradients, ~1/density times larger per entry than W's: they take a smaller step.
        slow = {id(self.D), id(self.rbias)} if self.rated_vector == "joint" else set()
        for p, vel, g in zip(self.params, self.velocities, grads, strict=True):
            if id(p) in decayed:
                g = g - self.weight_decay * p
            if id(p) in slow:
                g = g * self.seen_lr_scale
            vel.assign(self.momentum * vel + self.learning_rate * g)
            p.assign_add(vel)
        self.recon_tracker.update_state(recon)
        self.hidden_tracker.update_state(hmean)
        return {m.name: m.result() for m in self.metrics}

    # ----------------------------------------------------------------------------------------------
    # Prediction

    def predict_batch(self, batch, cols=None):
        """Expected ratings (n, M) — or (n, len(cols)) — and, for the joint model, p(rated) of the same
        cells."""
        ph = self.hidden_probs(batch)
        probs = ops.softmax(self.visible_logits(ph, cols), axis=-1)
        expected = ops.sum(probs * self.value_vector, axis=-1)
        seen = self.seen_probs(ph, cols) if self.rated_vector == "joint" else ops.ones_like(expected)
        return expected, probs, seen

    def predict_pairs(self, batch, rows, cols):
        """Expected ratings of single cells (case ``rows[p]`` of the batch, visible unit ``cols[p]``): only
        the needed softmaxes are computed, so scoring held-out pairs costs pairs x K x F, not batch x items x
        K."""
        logits = self.pair_logits(self.hidden_probs(batch), rows, cols)
        return ops.sum(ops.softmax(logits, axis=-1) * self.value_vector, axis=-1)

    def call(self, batch):
        expected, _, _ = self.predict_batch(batch)
        return expected

    def set_schedule(self, learning_rate: float, momentum: float, cd_steps: int) -> None:
        self.learning_rate.assign(float(learning_rate))
        self.momentum.assign(float(momentum))
        self.cd_steps.assign(int(cd_steps))

    def init_visible_biases(self, counts: np.ndarray, seen_fraction: np.ndarray | None = None) -> None:
        """Start the visible biases at the log of each item's smoothed rating frequencies (Hinton's guide)."""
        freq = (counts + 1.0) / (counts.sum(axis=1, keepdims=True) + self.n_values)
        self.vbias.assign(np.log(freq).astype(np.float32))
        if self.rated_vector == "joint" and seen_fraction is not None:
            p = np.clip(seen_fraction, 1e-4, 1 - 1e-4)
            self.rbias.assign(np.log(p / (1 - p)).astype(np.float32))


# --------------------------------------------------------------------------------------------------
# Ratings grouped by case


@dataclass
class Cases:
    """Training ratings grouped by case (user, or item when turned round) in CSR form, plus extra 'seen'
    pairs."""

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
    def gather(indptr, cases):
        """(row in the chunk, position in ``cols``) of every entry of the cases ``cases``."""
        lens = indptr[cases + 1] - indptr[cases]
        total = int(lens.sum())
        rows = np.repeat(np.arange(len(cases), dtype=np.int32), lens)
        offsets = np.repeat(indptr[cases] - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
        return rows, offsets + np.arange(total)

    def batch(self, cases: np.ndarray) -> dict:
        cases = np.asarray(cases, np.int64)
        rows, idx = self.gather(self.indptr, cases)
        srows, sidx = self.gather(self.seen_indptr, cases)
        return {"n": np.int32(len(cases)), "rows": rows, "cols": self.cols[idx], "values": self.vals[idx],
                "seen_rows": srows, "seen_cols": self.seen_cols[sidx]}


# --------------------------------------------------------------------------------------------------
# Baselines


@dataclass
class Biases:
    """``mu + b_user + b_item`` fitted by alternating least squares with separate regularisation."""

    mu: float
    user: np.ndarray
    item: np.ndarray

    @classmethod
    def fit(cls, users, items, values, n_users, n_items, user_reg=15.0, item_reg=10.0,
            iterations=10) -> Biases:
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
    (weighted-lambda ALS), started from the ALS biases and factors drawn from ``rng`` (the same generator
    state gives the same fit)."""

    mu: float
    user: np.ndarray
    item: np.ndarray
    P: np.ndarray
    Q: np.ndarray

    @classmethod
    def fit(cls, users, items, values, n_users, n_items, factors=20, reg=0.1, bias_reg=(15.0, 10.0),
            iterations=12, *, rng: np.random.Generator) -> Factors:
        base = Biases.fit(users, items, values, n_users, n_items, bias_reg[0], bias_reg[1])
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
        return (self.mu + self.user[users] + self.item[items] +
                np.einsum("nf,nf->n", self.P[users], self.Q[items]))


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
    return (float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2))) if len(truth)
            else float("nan"))


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
    def build(cls, r: Ratings, split: Split, relevant: float, max_users: int | None,
              rng: np.random.Generator) -> RankingTask:
        """The users with a relevant held-out rating (at most ``max_users`` of them, drawn with ``rng``)."""
        tr, te = split.train, split.test
        train = Cases.build(r.user[tr], r.item[tr], np.zeros(len(tr), np.int32), r.n_users, r.n_items)
        rel = te[r.rating[te] >= relevant]
        relc = Cases.build(r.user[rel], r.item[rel], np.zeros(len(rel), np.int32), r.n_users, r.n_items)
        users = np.flatnonzero(np.diff(relc.indptr) > 0)
        if max_users and len(users) > max_users:
            users = np.sort(rng.choice(users, max_users, replace=False))
        return cls(users, train, relc)

    def score(self, chunk: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
        """Sums of (precision, recall, nDCG) at k over the users ``chunk`` given their scores (n, items)."""
        scores = np.array(scores, np.float64, copy=True)
        rows, idx = Cases.gather(self.train.indptr, chunk)
        scores[rows, self.train.cols[idx]] = -np.inf
        k = min(k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable"),
                                 1)
        rel = np.zeros(scores.shape, bool)
        rrows, ridx = Cases.gather(self.relevant.indptr, chunk)
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
    return ranking_figures(total, len(task.users), k)


def ranking_figures(total: np.ndarray, n: int, k: int) -> dict:
    """Means over the ``n`` ranked users; ``None`` for every figure when there were none (not measurable:
    a mean over no user is not 0, and certainly not 1)."""
    keys = (f"precision_at_{k}", f"recall_at_{k}", f"ndcg_at_{k}")
    if n <= 0:
        return dict.fromkeys(keys)
    return {key: float(v) / n for key, v in zip(keys, total, strict=True)}


RANKERS = ("rbm", "popularity", "bias")  # the rankings a run compares; its top-N lists come from the best


def best_ranker(summary: dict, k: int) -> tuple[str, dict]:
    """The model whose mean nDCG@k is highest in a run's figures (the RBM on a tie or when nothing is
    measurable), and every candidate's figure."""
    figures = {name: summary.get(f"{'' if name == 'rbm' else name + '_'}ndcg_at_{k}") for name in RANKERS}
    measured = {name: v for name, v in figures.items() if v is not None}
    if not measured:
        return "rbm", figures
    best = max(measured.values())
    return next(name for name in RANKERS if measured.get(name) == best), figures


# --------------------------------------------------------------------------------------------------
# The blend


def fit_blend(rbm_pred, partner_pred, truth) -> np.ndarray:
    """Least-squares weights (intercept, RBM, partner) of the blend on validation ratings, with a small ridge
    pulling the RBM's and the partner's weights towards 1/2 each (stable when the two nearly coincide)."""
    x = np.column_stack([np.ones(len(truth)), rbm_pred, partner_pred]).astype(np.float64)
    y = np.asarray(truth, np.float64)
    ridge = 1e-3 * len(y) * np.diag([0.0, 1.0, 1.0])
    prior = np.array([0.0, 0.5, 0.5])
    return np.linalg.solve(x.T @ x + ridge, x.T @ y + ridge @ prior)


def apply_blend(weights, rbm_pred, partner_pred) -> np.ndarray:
    return (weights[0] + weights[1] * np.asarray(rbm_pred, np.float64) +
            weights[2] * np.asarray(partner_pred, np.float64))
