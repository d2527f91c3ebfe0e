"""Variational autoencoder on binarised MNIST (the book's chapter 8, done with Keras idioms).

Model: a named ``encoder`` (784 pixels -> the mean and log-variance of q(z|x)), a :class:`Sampling`
layer (the reparameterisation z = mean + exp(log_var / 2) * eps), a named ``decoder`` (z -> 784 Bernoulli
logits) and :class:`VAE`, a ``keras.Model`` whose ``train_step`` minimises ``reconstruction + w * KL``
(``w`` follows the KL warm-up up to ``beta``) and tracks the loss, the reconstruction term, the KL term
and the ELBO with ``keras.metrics.Mean``. Two architectures: ``dense`` (the book's 784-256-128, latent 8,
128-256-784) and ``conv`` (two stride-2 convolutions and their transposes).

Evaluation: the test ELBO (closed-form KL, Monte Carlo reconstruction term) and the importance-weighted
estimate of log p(x) with k samples of q(z|x) (Burda et al., 2016), both in nats per digit, on the
binarised test digits; the IW estimate is a tighter lower bound than the ELBO and approaches log p(x) as
k grows. Samples from the prior are scored by a classifier (:mod:`generative.quality`).

Run folder: the shared loop's checkpoint after every epoch (``checkpoints/vae.json`` names it: the model
with its optimizer state, loaded with ``safe_mode=True``, and the data path ``lab sample`` needs),
``checkpoints/classifier.keras``; ``artifacts/samples.png``,
``artifacts/reconstructions.png``, ``artifacts/training_curves.png``. ``lab sample RUN`` explores it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from generative import images as img
from generative import quality
from generative.data import absolute_data_path, binarize, epoch_rng, flat, load_digits
from lab.checkpoints import NOT_RESUMABLE
from lab.errors import RunError, TrainingError
from lab.loop import EpochLoop
from lab.schedules import current_rate, learning_rate

LOG_2PI = math.log(2 * math.pi)
CHECKPOINT = "vae"  # checkpoints/vae.json names the last checkpoint (lab.checkpoints)
FINAL_MODEL = "vae.keras"  # artifacts/: the trained model, what `lab sample` draws from
CLASSIFIER_FILE = "classifier.keras"


# --------------------------------------------------------------------------------------------------
# The maths, as plain functions (keras.ops: they work on numpy arrays and tensors alike)


def kl_normal(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per row, in closed form."""
    return 0.5 * ops.sum(ops.square(z_mean) + ops.exp(z_log_var) - 1.0 - z_log_var, axis=-1)


def bernoulli_log_likelihood(x, logits):
    """log p(x | logits) per row for binary x: sum of x * l - softplus(l)."""
    return ops.sum(x * logits - ops.softplus(logits), axis=-1)


def log_normal(z, mean, log_var):
    """log N(z; mean, exp(log_var)) per row (diagonal covariance)."""
    return -0.5 * ops.sum(LOG_2PI + log_var + ops.square(z - mean) / ops.exp(log_var), axis=-1)


def log_mixture(z, means, log_vars, log_weights):
    """log sum_k w_k N(z; mean_k, exp(log_var_k)) per row of z (B, L); components (K, L), log weights (K,)."""
    per = log_normal(z[:, None, :], means[None], log_vars[None]) + log_weights[None]  # (B, K)
    return ops.logsumexp(per, axis=-1)


def kl_weight(epoch: int, beta: float, warmup_epochs: int) -> float:
    """The KL weight during ``epoch`` (0-based): rises linearly to ``beta`` over ``warmup_epochs`` epochs."""
    if warmup_epochs <= 0:
        return float(beta)
    return float(beta) * min(1.0, (epoch + 1) / warmup_epochs)


# --------------------------------------------------------------------------------------------------
# Layers and models


@keras.saving.register_keras_serializable(package="lab")
class Sampling(layers.Layer):
    """z = mean + exp(log_var / 2) * eps with eps ~ N(0, I): the reparameterisation trick."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


PRIORS = ("standard", "mog", "vamp")


@keras.saving.register_keras_serializable(package="lab")
class Prior(layers.Layer):
    """The weights of p(z). ``standard``: N(0, I), no weights. ``mog``: a mixture of ``components`` diagonal
    Gaussians with trainable means, log-variances and mixing logits. ``vamp``: the VampPrior (Tomczak and
    Welling, 2018), the equally weighted mixture of the encoder's posteriors q(z|u_k) at ``components``
    trainable pseudo-inputs u_k = sigmoid(pseudo_logits_k) in (0, 1)^784 (the VAE computes those posteriors)."""

    def __init__(self, kind: str = "standard", components: int = 1, latent_size: int = 1,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if kind not in PRIORS:
            raise ValueError(f"prior kind must be one of {PRIORS} (got {kind!r})")
        self.kind, self.components, self.latent_size, self.seed = kind, int(components), int(latent_size), seed
        k, lat = self.components, self.latent_size
        if kind == "mog":
            self.means = self.add_weight((k, lat), keras.initializers.RandomNormal(0.0, 1.0, seed=seed), name="means")
            self.log_vars = self.add_weight((k, lat), "zeros", name="log_vars")
            self.logits = self.add_weight((k,), "zeros", name="logits")
        elif kind == "vamp":
            self.pseudo_logits = self.add_weight(
                (k, 784), keras.initializers.RandomNormal(-1.0, 1.0, seed=seed), name="pseudo_logits")
        self.built = True

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "components": self.components,
                "latent_size": self.latent_size, "seed": self.seed}


def build_encoder(kind: str, latent_size: int, hidden: list[int], filters: list[int], activation: str = "relu"):
    inputs = keras.Input((784,), name="pixels")
    h = inputs
    if kind == "dense":
        for i, width in enumerate(hidden):
            h = layers.Dense(width, activation=activation, name=f"dense_{i}")(h)
    else:
        h = layers.Reshape((28, 28, 1))(h)
        h = layers.Conv2D(filters[0], 3, strides=2, padding="same", activation=activation, name="conv_0")(h)
        h = layers.Conv2D(filters[1], 3, strides=2, padding="same", activation=activation, name="conv_1")(h)
        h = layers.Flatten()(h)
        h = layers.Dense(hidden[0], activation=activation, name="dense_0")(h)
    z_mean = layers.Dense(latent_size, name="z_mean")(h)
    z_log_var = layers.Dense(latent_size, name="z_log_var")(h)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_decoder(kind: str, latent_size: int, hidden: list[int], filters: list[int], activation: str = "relu"):
    inputs = keras.Input((latent_size,), name="z")
    h = inputs
    if kind == "dense":
        for i, width in enumerate(reversed(hidden)):
            h = layers.Dense(width, activation=activation, name=f"dense_{i}")(h)
        logits = layers.Dense(784, name="logits")(h)
    else:
        h = layers.Dense(hidden[0], activation=activation, name="dense_0")(h)
        h = layers.Dense(7 * 7 * filters[1], activation=activation, name="dense_1")(h)
        h = layers.Reshape((7, 7, filters[1]))(h)
        h = layers.Conv2DTranspose(filters[0], 3, strides=2, padding="same", activation=activation, name="deconv_0")(h)
        h = layers.Conv2DTranspose(1, 3, strides=2, padding="same", name="deconv_1")(h)
        logits = layers.Flatten(name="logits")(h)
    return keras.Model(inputs, logits, name="decoder")


@keras.saving.register_keras_serializable(package="lab")
class VAE(keras.Model):
    """Encoder + Sampling + decoder with a Bernoulli likelihood; trains on binary (N, 784) pixels."""

    def __init__(self, encoder, decoder, beta: float = 1.0, seed: int | None = None,
                 prior: str = "standard", prior_components: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.seed = seed
        self.prior_kind = prior
        self.prior_components = int(prior_components) if prior != "standard" else 1
        latent = int(decoder.inputs[0].shape[-1])
        self.prior = Prior(prior, self.prior_components, latent, seed=seed, name="prior")
        self.sampling = Sampling(seed=seed, name="sampling")
        self.kl_weight = keras.Variable(float(beta), trainable=False, name="kl_weight", dtype="float32")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.elbo_tracker = keras.metrics.Mean(name="elbo")

    def build(self, input_shape=None):
        # The encoder and decoder are functional models, built when they were made; Sampling has no weights.
        self.built = True

    @property
    def latent_size(self) -> int:
        return int(self.decoder.inputs[0].shape[-1])

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker, self.elbo_tracker]

    def call(self, inputs, training=False):
        """Bernoulli logits of the reconstruction (through a sampled z when training, the mean otherwise)."""
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sampling([z_mean, z_log_var]) if training else z_mean
        return self.decoder(z, training=training)

    def prior_parameters(self, training=False):
        """(means (K, L), log-variances (K, L), log weights (K,)) of a mixture prior; None for ``standard``."""
        p = self.prior
        if p.kind == "mog":
            return p.means, p.log_vars, ops.log_softmax(p.logits)
        if p.kind == "vamp":
            means, log_vars = self.encoder(ops.sigmoid(p.pseudo_logits), training=training)
            return means, log_vars, ops.full((p.components,), -math.log(p.components), dtype=means.dtype)
        return None

    def log_prior(self, z, training=False):
        """log p(z) per row of z (B, L)."""
        params = self.prior_parameters(training=training)
        if params is None:
            return -0.5 * ops.sum(LOG_2PI + ops.square(z), axis=-1)
        return log_mixture(z, *params)

    def terms(self, x, training=False):
        """Per-digit (reconstruction = -log p(x|z) for one sampled z, KL): the KL in closed form for the
        standard prior, else its one-sample Monte Carlo estimate log q(z|x) - log p(z) at the same z."""
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder(z, training=training)
        if self.prior_kind == "standard":
            kl = kl_normal(z_mean, z_log_var)
        else:
            kl = log_normal(z, z_mean, z_log_var) - self.log_prior(z, training=training)
        return -bernoulli_log_likelihood(x, logits), kl

    def _update(self, loss, reconstruction, kl):
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        self.elbo_tracker.update_state(-(reconstruction + kl))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf

        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            reconstruction, kl = self.terms(x, training=True)
            loss = ops.mean(reconstruction + ops.cast(self.kl_weight, kl.dtype) * kl)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self._update(loss, ops.mean(reconstruction), ops.mean(kl))

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        reconstruction, kl = self.terms(x, training=False)
        loss = ops.mean(reconstruction + ops.cast(self.kl_weight, kl.dtype) * kl)
        return self._update(loss, ops.mean(reconstruction), ops.mean(kl))

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "seed": self.seed,
            "prior": self.prior_kind,
            "prior_components": self.prior_components,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)

    # numpy helpers -------------------------------------------------------------------------------
    def encode(self, x, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """(mean, log_var) of q(z|x) for flat pixels x, as numpy."""
        means, log_vars = [], []
        for i in range(0, len(x), batch_size):
            m, lv = self.encoder(np.asarray(x[i:i + batch_size], dtype=np.float32), training=False)
            means.append(ops.convert_to_numpy(m))
            log_vars.append(ops.convert_to_numpy(lv))
        return np.concatenate(means), np.concatenate(log_vars)

    def decode(self, z, batch_size: int = 1000) -> np.ndarray:
        """Pixel probabilities (N, 784) of latent codes z, as numpy."""
        out = []
        for i in range(0, len(z), batch_size):
            logits = self.decoder(np.asarray(z[i:i + batch_size], dtype=np.float32), training=False)
            out.append(ops.convert_to_numpy(ops.sigmoid(logits)))
        return np.concatenate(out) if out else np.zeros((0, 784), np.float32)

    def reconstruct(self, x) -> np.ndarray:
        """Pixel probabilities of the reconstruction through the mean of q(z|x)."""
        return self.decode(self.encode(x)[0])

    def sample_latent(self, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """``n`` codes z from the prior with its standard deviations scaled by ``temperature``: N(0, T^2 I)
        for ``standard``; for a mixture, a component k drawn by its weight, then z ~ N(mean_k, T^2 var_k)."""
        rng = np.random.default_rng(seed)
        eps = rng.standard_normal((n, self.latent_size)).astype(np.float32) * temperature
        params = self.prior_parameters()
        if params is None:
            return eps
        means, log_vars, log_weights = (ops.convert_to_numpy(a).astype(np.float64) for a in params)
        w = np.exp(log_weights - log_weights.max())
        k = rng.choice(len(w), size=n, p=w / w.sum())
        return (means[k] + np.exp(0.5 * log_vars[k]) * eps).astype(np.float32)

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """``n`` digits decoded from codes of the prior (:meth:`sample_latent`), as pixel probabilities."""
        return self.decode(self.sample_latent(n, seed, temperature))


def build_vae(model_cfg, beta: float = 1.0, seed: int | None = None) -> VAE:
    args = (model_cfg.kind, model_cfg.latent_size, list(model_cfg.hidden), list(model_cfg.filters), model_cfg.activation)
    prior = getattr(model_cfg, "prior", "standard")
    components = getattr(model_cfg, "prior_components", 1)
    model = VAE(build_encoder(*args), build_decoder(*args), beta=beta, seed=seed, prior=prior,
                prior_components=components, name=f"vae_{model_cfg.kind}")
    model(np.zeros((1, 784), np.float32))  # builds the model, so that a saved file records its input shape
    return model


def load_vae(path, compile: bool = True, hint: str = "the file is damaged or not what `lab run` writes") -> VAE:
    """A saved VAE (``.keras``), loaded with ``safe_mode=True`` (``compile``: with its optimizer state).

    A missing, truncated or damaged file, or one that holds another kind of model, is a RunError naming it
    (``hint`` appended).
    """
    import zipfile

    from lab.runs import KERAS_LOAD_ERRORS, reading

    path = Path(path)
    with reading(path, "VAE model", hint=hint, catch=KERAS_LOAD_ERRORS):
        if not zipfile.is_zipfile(path):  # (Keras says "file not found" of a truncated one)
            raise RunError(f"{path}: corrupt VAE model (not a .keras zip archive: truncated or damaged); {hint}")
        try:
            model = keras.models.load_model(path, safe_mode=True, compile=compile,
                                            custom_objects={"lab>VAE": VAE, "lab>Sampling": Sampling,
                                                            "lab>Prior": Prior})
        except ValueError as exc:
            if "safe_mode" not in str(exc):
                raise
            raise RunError(f"{path}: refused: the model holds Python code (e.g. a Lambda layer) that loading with "
                           f"safe_mode=True does not run; {hint}") from None
    if not isinstance(model, VAE):
        raise RunError(f"{path}: a {type(model).__name__}, not the VAE a vae run saves; {hint}")
    return model


# --------------------------------------------------------------------------------------------------
# Evaluation


def importance_weighted(model: VAE, x_bin: np.ndarray, k: int, seed: int = 0, batch_digits: int = 50) -> dict:
    """Per-digit ELBO and importance-weighted log p(x) estimates (nats) on binary digits, under the model's prior.

    For each digit, k draws z_i ~ q(z|x): ``log p(x) ~= logsumexp_i(log p(x|z_i) + log p(z_i) - log q(z_i|x)) - log k``.
    The ELBO uses the same draws for its reconstruction term; its KL is the closed form for the standard prior
    and the mean of log q(z_i|x) - log p(z_i) over the k draws for a mixture prior. Returns arrays ``elbo``,
    ``iw``, ``kl`` (all (N,)), and ``log_w`` of the last batch (for tests).
    """
    import tensorflow as tf

    latent = model.latent_size
    decoder = model.decoder
    standard = model.prior_kind == "standard"

    @tf.function(reduce_retracing=True)
    def batch_terms(x, z_mean, z_log_var, eps):
        # eps: (k, B, L); z: (k, B, L)
        z = z_mean[None] + tf.exp(0.5 * z_log_var)[None] * eps
        kk, b = tf.shape(eps)[0], tf.shape(eps)[1]
        flat_z = tf.reshape(z, (-1, latent))
        logits = tf.reshape(decoder(flat_z, training=False), (kk, b, 784))
        log_px_z = tf.reduce_sum(x[None] * logits - tf.nn.softplus(logits), axis=-1)
        log_pz = tf.reshape(model.log_prior(flat_z), (kk, b))
        log_qz = -0.5 * tf.reduce_sum(LOG_2PI + z_log_var[None] + tf.square(eps), axis=-1)
        log_w = log_px_z + log_pz - log_qz
        iw = tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(tf.cast(kk, log_w.dtype))
        if standard:
            kl = 0.5 * tf.reduce_sum(tf.square(z_mean) + tf.exp(z_log_var) - 1.0 - z_log_var, axis=-1)
        else:
            kl = tf.reduce_mean(log_qz - log_pz, axis=0)
        elbo = tf.reduce_mean(log_px_z, axis=0) - kl
        return elbo, iw, kl, log_w

    rng = np.random.default_rng([seed, 4242])
    elbos, iws, kls, log_w = [], [], [], None
    for i in range(0, len(x_bin), batch_digits):
        xb = np.asarray(x_bin[i:i + batch_digits], dtype=np.float32)
        z_mean, z_log_var = model.encode(xb)
        eps = rng.standard_normal((k, len(xb), latent)).astype(np.float32)
        e, w, kl, log_w = batch_terms(tf.constant(xb), tf.constant(z_mean), tf.constant(z_log_var), tf.constant(eps))
        elbos.append(e.numpy())
        iws.append(w.numpy())
        kls.append(kl.numpy())
    return {"elbo": np.concatenate(elbos), "iw": np.concatenate(iws), "kl": np.concatenate(kls),
            "log_w": None if log_w is None else log_w.numpy()}


# --------------------------------------------------------------------------------------------------
# The runner


def encoder_inputs(x_test: np.ndarray, mode: str, seed: int) -> np.ndarray:
    """The binary test digits the run evaluates on (one seeded draw, or the threshold)."""
    return binarize(x_test, mode, epoch_rng(seed, 0, purpose=2))


def vae_terms(model: VAE, batch, training: bool) -> dict:
    """Per-digit terms for :class:`lab.distributed.ReplicaTrainer` (what ``train_step`` / ``test_step`` average)."""
    (x,) = batch
    reconstruction, kl = model.terms(x, training=training)
    return {"loss": reconstruction + ops.cast(model.kl_weight, kl.dtype) * kl, "reconstruction": reconstruction,
            "kl": kl, "elbo": -(reconstruction + kl)}


def run(cfg, ctx) -> dict:
    """Train the VAE of a ``vae`` scenario, evaluate it, sample from it and score the samples."""
    data = load_digits(cfg.data)
    ctx.log(f"data: {data}")
    for note in data.notes:
        ctx.log(f"note: {note}")
    x_train, x_test = flat(data.x_train), flat(data.x_test)
    x_test_bin = encoder_inputs(x_test, cfg.data.binarize, cfg.seed)
    static_train = binarize(x_train, cfg.data.binarize, epoch_rng(cfg.seed, 0, purpose=1)) \
        if cfg.data.binarize != "dynamic" else None

    t = cfg.training

    def build():
        model = build_vae(cfg.model, beta=t.beta, seed=cfg.seed)
        steps_per_epoch = math.ceil(len(x_train) / t.batch_size)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate(t, steps_per_epoch)), jit_compile=ctx.jit_compile)
        return model

    loop = EpochLoop(ctx, CHECKPOINT, t, seed=cfg.seed, describe="vae epochs", terms=vae_terms)
    model = loop.restore(build, load=lambda path: load_vae(path, hint=NOT_RESUMABLE))
    loop.extra["data_path"] = absolute_data_path(cfg.data.path)  # `lab sample` finds the digits from anywhere
    for epoch in loop:
        x_epoch = static_train if static_train is not None else binarize(x_train, cfg.data.binarize, epoch.rng)
        x_epoch = x_epoch[epoch.rng.permutation(len(x_epoch))]
        model.kl_weight.assign(kl_weight(epoch.index, t.beta, t.kl_warmup_epochs))
        rate = current_rate(model.optimizer)
        train = loop.fit((x_epoch,), t.batch_size)
        test = loop.evaluate((x_test_bin,), 1000)
        loop.end_epoch({"loss": train["loss"], "elbo": train["elbo"], "reconstruction": train["reconstruction"],
                        "kl": train["kl"], "kl_weight": kl_weight(epoch.index, t.beta, t.kl_warmup_epochs),
                        "test_elbo": test["elbo"], "learning_rate": rate}, show=("elbo", "test_elbo"))
    if not ctx.is_chief:  # another worker of a multi-worker run: the chief evaluates, samples and saves
        return {"task": "vae", **loop.figures()}

    summary = {"task": "vae", "model": cfg.model.kind, "latent_size": cfg.model.latent_size,
               "prior": cfg.model.prior, "prior_components": model.prior_components, "epochs": t.epochs,
               "binarize": cfg.data.binarize,
               "train_digits": len(x_train), "test_digits": len(x_test)}
    summary.update(evaluate(model, x_test_bin, cfg, ctx))
    x_samples = model.sample(cfg.sampling.grid, seed=cfg.seed, temperature=cfg.sampling.temperature)
    img.save_grid(x_samples, ctx.artifact("samples.png"))
    pairs = min(32, len(x_test))
    rec = model.reconstruct(x_test_bin[:pairs])
    both = np.stack([x_test[:pairs], rec], 1).reshape(-1, 784)
    rows = math.ceil(pairs / 8)
    img.save_png(img.tile(both, rows, 16, scale=2), ctx.artifact("reconstructions.png"))
    img.plot_curves(ctx, {"elbo": "train ELBO", "test_elbo": "test ELBO"}, "nats per digit", "training_curves.png")

    ctx.report.table("Likelihood (binarised test digits, nats per digit)", [
        {"estimate": "ELBO", "value": summary["test_elbo"]},
        {"estimate": f"log p(x), importance weighted (k={cfg.evaluation.iw_samples})",
         "value": summary["test_log_likelihood_iw"]},
        {"estimate": "reconstruction term -E[log p(x|z)]", "value": summary["test_reconstruction"]},
        {"estimate": "KL(q(z|x) || p(z))", "value": summary["test_kl"]},
    ], note="The IW estimate is a tighter lower bound on log p(x) than the ELBO. On full MNIST a "
            "one-stochastic-layer VAE reaches about -86 to -89 nats (IWAE paper); figures on a subset are not comparable.")
    ctx.report.image("Samples from the prior", "artifacts/samples.png",
                     f"{cfg.sampling.grid} digits decoded from codes drawn from the {prior_text(cfg.model)} "
                     f"(standard deviations scaled by T={cfg.sampling.temperature:g}; pixel probabilities).")
    if cfg.quality.enabled:
        summary.update(sample_quality(model, data, x_train, x_test, x_test_bin, cfg, ctx))
    ctx.report.image("Reconstructions", "artifacts/reconstructions.png",
                     "Test digits (left of each pair) and their reconstructions through the mean of q(z|x).")
    ctx.report.image("Training", "artifacts/training_curves.png", "ELBO per epoch (train and test, nats).")
    summary.update(loop.figures())
    ctx.save_model(model, FINAL_MODEL, where="artifacts")
    return summary


def run_model(run) -> tuple[Path | None, dict]:
    """``(path of the model to explore, the recorded loop state's extra)`` of a VAE run folder: the
    trained model (``artifacts/vae.keras``) of a finished run, else the last checkpoint's of one still
    training or interrupted; ``(None, {})`` before the first checkpoint."""
    from lab.checkpoints import CheckpointStore
    from lab.loop import MODEL_PART

    checkpoint = CheckpointStore(run.checkpoints, CHECKPOINT).load()
    extra = checkpoint[0].get("extra") if checkpoint else {}
    if not isinstance(extra, dict) or not isinstance(extra.get("data_path", ""), (str, type(None))):
        raise RunError(f"{CheckpointStore(run.checkpoints, CHECKPOINT).manifest}: corrupt checkpoint manifest (its "
                       "loop state's extra is not what a vae run writes)")
    extra = dict(extra or {})
    final = run.artifacts / FINAL_MODEL
    if final.exists():
        return final, extra
    return (checkpoint[1].get(MODEL_PART) if checkpoint else None), extra


def prior_text(model_cfg) -> str:
    if model_cfg.prior == "mog":
        return f"learned mixture-of-{model_cfg.prior_components}-Gaussians prior"
    if model_cfg.prior == "vamp":
        return f"VampPrior ({model_cfg.prior_components} pseudo-inputs)"
    return "standard normal prior N(0, I)"


def evaluate(model: VAE, x_test_bin: np.ndarray, cfg, ctx) -> dict:
    ev = cfg.evaluation
    x = x_test_bin[:ev.iw_digits]
    t0 = time.perf_counter()
    est = importance_weighted(model, x, ev.iw_samples, seed=cfg.seed, batch_digits=ev.batch_digits)
    z_mean, _ = model.encode(x)
    kl = float(est["kl"].mean())
    elbo = float(est["elbo"].mean())
    out = {
        "test_elbo": elbo,
        "test_reconstruction": -elbo - kl,
        "test_kl": kl,
        "test_log_likelihood_iw": float(est["iw"].mean()),
        "iw_samples": ev.iw_samples,
        "iw_digits": len(x),
        # Active units (Burda et al., 2016): dimensions whose posterior mean varies across digits (any prior).
        "active_latent_dims": int(np.sum(np.var(z_mean, axis=0) > 0.01)),
        "evaluation_seconds": round(time.perf_counter() - t0, 3),
    }
    bad = {k: out[k] for k in ("test_elbo", "test_reconstruction", "test_kl", "test_log_likelihood_iw")
           if not math.isfinite(out[k])}
    if bad:
        raise TrainingError(f"vae evaluation: {', '.join(f'{k} = {v}' for k, v in bad.items())} on the {len(x)} test "
                            f"digits after training: the model gives them no finite likelihood (it diverged). Lower "
                            "training.learning_rate and start again")
    ctx.log(f"test ELBO {out['test_elbo']:.2f} nats, IW log p(x) {out['test_log_likelihood_iw']:.2f} nats (k={ev.iw_samples})")
    return out


def sample_quality(model: VAE, data, x_train, x_test, x_test_bin, cfg, ctx) -> dict:
    q = cfg.quality
    path = ctx.run.checkpoints / CLASSIFIER_FILE
    t0 = time.perf_counter()
    if path.exists():
        from lab.runs import load_run_model

        classifier = load_run_model(path)
    else:
        ctx.log("training the scoring classifier")
        classifier = quality.train_classifier(x_train, data.y_train, q.classifier_epochs, cfg.seed)
        ctx.save_model(classifier, CLASSIFIER_FILE)
    classifier_seconds = time.perf_counter() - t0
    p_test, f_test = quality.predict(classifier, x_test)
    _, f_train = quality.predict(classifier, x_train[:len(x_test)])
    samples = model.sample(q.samples, seed=cfg.seed + 1, temperature=cfg.sampling.temperature)
    p_s, f_s = quality.predict(classifier, samples)
    s = quality.score(p_s, f_s, f_test, q.confidence)
    ref = quality.score(p_test, f_train, f_test, q.confidence)
    p_rec, f_rec = quality.predict(classifier, model.reconstruct(x_test_bin))
    rec = quality.score(p_rec, f_rec, f_test, q.confidence)
    out = {
        "sample_confident_share": s["confident_share"],
        "sample_class_share_min": s["class_share_min"],
        "sample_class_share_max": s["class_share_max"],
        "sample_frechet_distance": s["frechet_distance"],
        "classifier_test_accuracy": float(np.mean(p_test.argmax(1) == data.y_test)),
        "test_confident_share": ref["confident_share"],
        "reconstruction_confident_share": rec["confident_share"],
        "train_test_frechet_distance": ref["frechet_distance"],
        "classifier_seconds": round(classifier_seconds, 3),
    }
    ctx.report.table("Sample quality", [
        {"images": f"{q.samples} prior samples ({cfg.model.prior}, T={cfg.sampling.temperature:g})",
         f"confidence >= {q.confidence:g}": s["confident_share"], "smallest class": s["class_share_min"],
         "largest class": s["class_share_max"], "Fréchet distance to test digits": s["frechet_distance"]},
        {"images": f"{len(x_test)} real test digits (reference)", f"confidence >= {q.confidence:g}": ref["confident_share"],
         "smallest class": ref["class_share_min"], "largest class": ref["class_share_max"],
         "Fréchet distance to test digits": f"{ref['frechet_distance']:.4g} (training digits)"},
        {"images": f"reconstructions of the {len(x_test)} test digits", f"confidence >= {q.confidence:g}":
         rec["confident_share"], "smallest class": rec["class_share_min"], "largest class": rec["class_share_max"],
         "Fréchet distance to test digits": rec["frechet_distance"]},
    ], note=f"Scored by a small convolutional MNIST classifier trained in this run (test accuracy "
            f"{out['classifier_test_accuracy']:.3f}). Targets: at least 85% of the samples confident, every class "
            "between 5% and 15%. Samples that fall short while reconstructions pass point at regions of the prior "
            "that no training digit's posterior covers. Class shares of the samples: "
            + ", ".join(f"{d}: {v:.3f}" for d, v in enumerate(s["class_shares"])) + ".")
    return out
