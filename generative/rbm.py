"""The restricted Boltzmann machine for collaborative filtering of Salakhutdinov, Mnih & Hinton (ICML 2007).

One RBM per user ("case"), all sharing weights: the visible units are the movies the user rated, each a
softmax over the K rating values; the hidden units are binary. Missing ratings are simply absent: a
mini-batch of cases is made dense as a (batch, items, K) one-hot tensor and a (batch, items) mask, so
memory grows with batch size x items, never with users x items, and unrated items get no visible unit
(they neither drive the hidden units nor receive a gradient).

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
  will watch as well as how they will rate them, which is what top-N ranking needs.

The class is a :class:`keras.Model` whose ``train_step`` computes the CD statistics and applies the
momentum update itself (CD is not the gradient of a loss, so there is no ``compute_loss``). All training
state (weights, velocities, learning rate, momentum, CD steps, the random seed state) lives in the
model's variables, so one ``.keras`` file is a complete checkpoint.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

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
        self.W = self.add_weight(shape=(mk, self.n_hidden), name="W",
                                 initializer=keras.initializers.RandomNormal(stddev=init_std, seed=seed))
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
        self.learning_rate = self.add_weight(shape=(), name="learning_rate", initializer="zeros", trainable=False)
        self.momentum = self.add_weight(shape=(), name="momentum", initializer="zeros", trainable=False)
        self.cd_steps = self.add_weight(shape=(), name="cd_steps", dtype="int32", trainable=False,
                                        initializer=keras.initializers.Constant(1))
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Keras does not save a SeedGenerator's state; this copy of it does, so a resumed run draws the same
        # random numbers as one that never stopped.
        self.rng_state = self.add_weight(shape=(2,), name="rng_state", dtype=self.seed_generator.state.dtype,
                                         trainable=False, initializer="zeros")
        self.value_vector = ops.convert_to_tensor(np.asarray(self.values, np.float32))
        self.recon_tracker = keras.metrics.Mean(name="recon_rmse")
        self.hidden_tracker = keras.metrics.Mean(name="hidden_prob")
        self.built = True

    def get_config(self):
        return {**super().get_config(), "n_visible": self.n_visible, "values": self.values, "n_hidden": self.n_hidden,
                "rated_vector": self.rated_vector, "init_std": self.init_std, "weight_decay": self.weight_decay,
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
    # Batches: sparse (case row, visible column, rating index) triples -> dense one-hot with a mask

    def dense_batch(self, batch):
        """``batch``: dict of int32 tensors ``n`` (cases), ``rows``, ``cols``, ``values`` (rating indices 0..K-1)
        and, with a rated vector, ``seen_rows``/``seen_cols``. Returns (v (n, M, K), mask (n, M), r (n, M) or None).
        """
        n = batch["n"]
        m = self.n_visible
        flat = batch["rows"] * m + batch["cols"]
        dense = ops.scatter(ops.expand_dims(flat, 1), batch["values"] + 1, ops.stack([n * m]))
        dense = ops.reshape(dense, (n, m))
        v = ops.one_hot(dense - 1, self.n_values, dtype="float32")
        mask = ops.cast(dense > 0, "float32")
        r = None
        if self.rated_vector != "none":
            sflat = batch["seen_rows"] * m + batch["seen_cols"]
            seen = ops.scatter(ops.expand_dims(sflat, 1), ops.ones_like(sflat, dtype="float32"), ops.stack([n * m]))
            r = ops.minimum(ops.reshape(seen, (n, m)) + mask, 1.0)
        return v, mask, r

    # ----------------------------------------------------------------------------------------------
    # Conditionals

    def hidden_input(self, v, r):
        n = ops.shape(v)[0]
        x = ops.matmul(ops.reshape(v, (n, -1)), self.W) + self.hbias
        if r is not None:
            x = x + ops.matmul(r, self.D)
        return x

    def hidden_probs(self, v, r):
        return ops.sigmoid(self.hidden_input(v, r))

    def visible_logits(self, h, cols=None):
        """Logits (n, M, K) of the visible softmaxes given hidden states (or of the columns ``cols`` only)."""
        n = ops.shape(h)[0]
        if cols is None:
            w, b, m = self.W, self.vbias, self.n_visible
        else:
            w3 = ops.take(ops.reshape(self.W, (self.n_visible, self.n_values, self.n_hidden)), cols, axis=0)
            w, b, m = ops.reshape(w3, (-1, self.n_hidden)), ops.take(self.vbias, cols, axis=0), ops.shape(cols)[0]
        return ops.reshape(ops.matmul(h, ops.transpose(w)), (n, m, self.n_values)) + b

    def seen_probs(self, h, cols=None):
        """p(r_i = 1 | h) of the joint model (which items the case will rate)."""
        d, e = (self.D, self.rbias) if cols is None else (ops.take(self.D, cols, axis=0), ops.take(self.rbias, cols, axis=0))
        return ops.sigmoid(ops.matmul(h, ops.transpose(d)) + e)

    def _bernoulli(self, p):
        return ops.cast(keras.random.uniform(ops.shape(p), seed=self.seed_generator) < p, "float32")

    def _sample_visible(self, logits, mask, rated):
        """One-hot samples of the rated items' softmaxes (zeros elsewhere); ``rated``: (nnz, 2) indices.

        Only the rated cells are sampled (a few percent of batch x items), by the Gumbel-max trick.
        """
        if self.reconstruction == "mean":
            return ops.softmax(logits, axis=-1) * mask[..., None]
        sel = tf.gather_nd(logits, rated)
        u = keras.random.uniform(ops.shape(sel), minval=1e-7, maxval=1.0 - 1e-7, seed=self.seed_generator)
        pick = ops.one_hot(ops.argmax(sel - ops.log(-ops.log(u)), axis=-1), self.n_values, dtype="float32")
        return tf.scatter_nd(rated, pick, tf.shape(logits, out_type=tf.int64))

    # ----------------------------------------------------------------------------------------------
    # Contrastive divergence

    def cd_statistics(self, v, mask, r, k):
        """CD-k estimates of the log-likelihood gradient (data term minus model term), averaged over cases.

        Returns (list of gradients matching ``self.params``, RMSE of the first reconstruction's expected
        rating on the rated items, mean hidden probability).
        """
        n = ops.shape(v)[0]
        nf = ops.cast(n, "float32")
        ph0 = self.hidden_probs(v, r)
        h = self._bernoulli(ph0)
        joint = self.rated_vector == "joint"
        logits = self.visible_logits(h)
        rated = tf.where(mask > 0)
        expected = ops.sum(ops.softmax(tf.gather_nd(logits, rated), axis=-1) * self.value_vector, axis=-1)
        truth = ops.sum(tf.gather_nd(v, rated) * self.value_vector, axis=-1)
        recon = ops.sqrt(ops.mean((expected - truth) ** 2))
        state = self._negative(h, logits, mask, r, rated)
        vs, rs, ph = ops.fori_loop(1, k, lambda _, s: self._step(s, mask, r, rated), state)
        v2, vs2 = ops.reshape(v, (n, -1)), ops.reshape(vs, (n, -1))
        grads = [  # data minus model statistics of W in one matmul: [v; vs]^T [ph0; -ph]
            ops.matmul(ops.transpose(ops.concatenate([v2, vs2], 0)), ops.concatenate([ph0, -ph], 0)) / nf,
            ops.sum(v - vs, axis=0) / nf,
            ops.mean(ph0 - ph, axis=0),
        ]
        if self.rated_vector != "none":
            if joint:
                grads.append((ops.matmul(ops.transpose(r), ph0) - ops.matmul(ops.transpose(rs), ph)) / nf)
                grads.append(ops.mean(r - rs, axis=0))
            else:
                grads.append(ops.matmul(ops.transpose(r), ph0 - ph) / nf)
        return grads, recon, ops.mean(ph0)

    def _negative(self, h, logits, mask, r, rated):
        """From hidden states and their visible logits: sampled V (and r), then p(h | V, r)."""
        vs = self._sample_visible(logits, mask, rated)
        if self.rated_vector == "joint":
            ps = ops.sigmoid(ops.matmul(h, ops.transpose(self.D)) + self.rbias)
            rs = ps if self.reconstruction == "mean" else self._bernoulli(ps)
        else:
            rs = r if r is not None else ops.zeros_like(mask)
        return vs, rs, self.hidden_probs(vs, rs if self.rated_vector != "none" else None)

    def _step(self, state, mask, r, rated):
        """One more Gibbs step h -> V (-> r) -> h of the negative chain."""
        h = self._bernoulli(state[2])
        return self._negative(h, self.visible_logits(h), mask, r, rated)

    def train_step(self, batch):
        """One CD-k update with momentum and weight decay; returns the tracked figures."""
        v, mask, r = self.dense_batch(batch)
        grads, recon, hmean = self.cd_statistics(v, mask, r, self.cd_steps)
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
        """Expected ratings (n, M) — or (n, len(cols)) — and, for the joint model, p(rated) of the same cells."""
        v, mask, r = self.dense_batch(batch)
        ph = self.hidden_probs(v, r)
        probs = ops.softmax(self.visible_logits(ph, cols), axis=-1)
        expected = ops.sum(probs * self.value_vector, axis=-1)
        seen = self.seen_probs(ph, cols) if self.rated_vector == "joint" else ops.ones_like(expected)
        return expected, probs, seen

    def predict_pairs(self, batch, rows, cols):
        """Expected ratings of single cells (case ``rows[p]`` of the batch, visible unit ``cols[p]``): only the
        needed softmaxes are computed, so scoring held-out pairs costs pairs x K x F, not batch x items x K."""
        v, _, r = self.dense_batch(batch)
        ph = ops.take(self.hidden_probs(v, r), rows, axis=0)
        w = ops.take(ops.reshape(self.W, (self.n_visible, self.n_values, self.n_hidden)), cols, axis=0)
        logits = ops.einsum("pkf,pf->pk", w, ph) + ops.take(self.vbias, cols, axis=0)
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
