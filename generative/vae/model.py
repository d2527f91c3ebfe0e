"""The VAE's model (the book's chapter 8, done with Keras idioms): its maths, layers, the importance-weighted
estimate of log p(x), and the small classifier that scores its samples.

Model: a named ``encoder`` (784 pixels -> the mean and log-variance of q(z|x)), a :class:`Sampling`
layer (the reparameterisation z = mean + exp(log_var / 2) * eps), a named ``decoder`` (z -> 784 Bernoulli
logits), a :class:`Prior` (N(0, I), a learned mixture of Gaussians, or the VampPrior) and :class:`VAE`, a
``keras.Model`` whose ``train_step`` minimises ``reconstruction + w * KL`` (``w`` follows the KL warm-up up
to ``beta``) and tracks the loss, the reconstruction term, the KL term and the ELBO with
``keras.metrics.Mean``. Two architectures: ``dense`` (the book's 784-256-128, latent 8, 128-256-784) and
``conv`` (two stride-2 convolutions and their transposes). Saved as ``.keras`` and loaded with
``safe_mode=True`` (:func:`load_vae`).

Evaluation: the importance-weighted estimate of log p(x) with k samples of q(z|x) (Burda et al., 2016),
beside the ELBO with the same draws, in nats per digit (:func:`importance_weighted`); the IW estimate is a
tighter lower bound than the ELBO and approaches log p(x) as k grows.

Sample quality: a small convolutional MNIST classifier (two convolutions of 32 and 64 filters, a 128-unit
``features`` layer, softmax over 10 digits), trained on the run's training digits, scores a set of images
(:func:`score`) by

- ``confident_share``: the share whose top class probability is at least a threshold (0.9);
- ``class_share_min`` / ``class_share_max``: the smallest and largest share of any predicted class (10% each
  for a perfectly balanced generator);
- ``frechet_distance``: the Fréchet distance between Gaussians fitted to the classifier's features of the
  images and of the real test digits (an FID computed with an MNIST network instead of Inception).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from lab.compiled import Compiled
from lab.errors import RunError
from lab.runs import KERAS_LOAD_ERRORS, reading
from lab.seeding import stream

LOG_2PI = math.log(2 * math.pi)
FEATURES_LAYER = "features"  # the scoring classifier's feature layer (the Fréchet distance's space)

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


def binarize(x: np.ndarray, mode: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Grey pixels in [0, 1] -> binary float32 pixels: a Bernoulli draw (dynamic/static) or x > 0.5
    (threshold)."""
    if mode == "threshold":
        return (x > 0.5).astype(np.float32)
    if rng is None:
        raise ValueError("a Bernoulli binarisation needs a random generator")
    return (rng.random(x.shape, dtype=np.float32) < x).astype(np.float32)


def binary_test_digits(x_test: np.ndarray, mode: str, seed: int) -> np.ndarray:
    """The binary test digits a run of seed ``seed`` evaluates on (and ``lab sample`` encodes): one draw of
    the stream ``test-binarisation`` (any mode but threshold)."""
    return binarize(x_test, mode, stream(seed, "test-binarisation"))


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
    trainable pseudo-inputs u_k = sigmoid(pseudo_logits_k) in (0, 1)^784 (the VAE computes those
    posteriors)."""

    def __init__(self, kind: str = "standard", components: int = 1, latent_size: int = 1,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if kind not in PRIORS:
            raise ValueError(f"prior kind must be one of {PRIORS} (got {kind!r})")
        self.kind, self.components, self.latent_size = kind, int(components), int(latent_size)
        self.seed = seed
        k, lat = self.components, self.latent_size
        if kind == "mog":
            self.means = self.add_weight((k, lat), keras.initializers.RandomNormal(0.0, 1.0, seed=seed),
                                         name="means")
            self.log_vars = self.add_weight((k, lat), "zeros", name="log_vars")
            self.logits = self.add_weight((k,), "zeros", name="logits")
        elif kind == "vamp":
            self.pseudo_logits = self.add_weight(
                (k, 784), keras.initializers.RandomNormal(-1.0, 1.0, seed=seed), name="pseudo_logits")
        self.built = True

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "components": self.components,
                "latent_size": self.latent_size, "seed": self.seed}


def build_encoder(kind: str, latent_size: int, hidden: list[int], filters: list[int],
                  activation: str = "relu"):
    """The ``encoder``: 784 pixels -> (z_mean, z_log_var)."""
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


def build_decoder(kind: str, latent_size: int, hidden: list[int], filters: list[int],
                  activation: str = "relu"):
    """The ``decoder``: z -> 784 Bernoulli logits."""
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
        h = layers.Conv2DTranspose(filters[0], 3, strides=2, padding="same", activation=activation,
                                   name="deconv_0")(h)
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
        """Bernoulli logits of the reconstruction through the mean of q(z|x); when training, through a
        sampled z, with ``(z_mean, z_log_var, z)`` after them for :meth:`compute_loss` (Keras' own train
        step, the same on every backend, calls this and then that)."""
        z_mean, z_log_var = self.encoder(inputs, training=training)
        if not training:
            return self.decoder(z_mean, training=False)
        z = self.sampling([z_mean, z_log_var])
        return self.decoder(z, training=True), z_mean, z_log_var, z

    def prior_parameters(self, training=False):
        """(means (K, L), log-variances (K, L), log weights (K,)) of a mixture prior; None for
        ``standard``."""
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
        return self._terms_of(x, self.decoder(z, training=training), z_mean, z_log_var, z, training)

    def _terms_of(self, x, logits, z_mean, z_log_var, z, training):
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

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The negative ELBO (with ``kl_weight``) of the batch, the trackers updated: Keras' train and test
        steps call this on every backend. Training passes the sampled z of :meth:`call`; evaluation samples
        its own (its ``call`` reads the mean)."""
        if isinstance(y_pred, (tuple, list)):
            reconstruction, kl = self._terms_of(x, *y_pred, training)
        else:
            reconstruction, kl = self.terms(x, training=training)
        loss = ops.mean(reconstruction + ops.cast(self.kl_weight, kl.dtype) * kl)
        self._update(loss, ops.mean(reconstruction), ops.mean(kl))
        return loss

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

    def sample_latent(self, n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
        """``n`` codes z from the prior with its standard deviations scaled by ``temperature``: N(0, T^2 I)
        for ``standard``; for a mixture, a component k drawn by its weight, then z ~ N(mean_k, T^2 var_k).
        The noise (and the components) are drawn from ``rng``."""
        eps = rng.standard_normal((n, self.latent_size)).astype(np.float32) * temperature
        params = self.prior_parameters()
        if params is None:
            return eps
        means, log_vars, log_weights = (ops.convert_to_numpy(a).astype(np.float64) for a in params)
        w = np.exp(log_weights - log_weights.max())
        k = rng.choice(len(w), size=n, p=w / w.sum())
        return (means[k] + np.exp(0.5 * log_vars[k]) * eps).astype(np.float32)

    def sample(self, n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
        """``n`` digits decoded from codes of the prior (:meth:`sample_latent`), as pixel probabilities."""
        return self.decode(self.sample_latent(n, rng, temperature))


def build_vae(model_cfg, beta: float = 1.0, seed: int | None = None) -> VAE:
    args = (model_cfg.kind, model_cfg.latent_size, list(model_cfg.hidden), list(model_cfg.filters),
            model_cfg.activation)
    prior = getattr(model_cfg, "prior", "standard")
    components = getattr(model_cfg, "prior_components", 1)
    model = VAE(build_encoder(*args), build_decoder(*args), beta=beta, seed=seed, prior=prior,
                prior_components=components, name=f"vae_{model_cfg.kind}")
    model(np.zeros((1, 784), np.float32))  # builds the model, so that a saved file records its input shape
    return model


def load_vae(path, compile: bool = True,
             hint: str = "the file is damaged or not what `lab run` writes") -> VAE:
    """A saved VAE (``.keras``), loaded with ``safe_mode=True`` (``compile``: with its optimizer state).

    A missing, truncated or damaged file, or one that holds another kind of model, is a RunError naming it
    (``hint`` appended).
    """
    path = Path(path)
    with reading(path, "VAE model", hint=hint, catch=KERAS_LOAD_ERRORS):
        if not zipfile.is_zipfile(path):  # (Keras says "file not found" of a truncated one)
            raise RunError(f"{path}: corrupt VAE model (not a .keras zip archive: truncated or damaged); "
                           f"{hint}")
        try:
            model = keras.models.load_model(path, safe_mode=True, compile=compile,
                                            custom_objects={"lab>VAE": VAE, "lab>Sampling": Sampling,
                                                            "lab>Prior": Prior})
        except ValueError as exc:
            if "safe_mode" not in str(exc):
                raise
            raise RunError(f"{path}: refused: the model holds Python code (e.g. a Lambda layer) that loading "
                           f"with safe_mode=True does not run; {hint}") from None
    if not isinstance(model, VAE):
        raise RunError(f"{path}: a {type(model).__name__}, not the VAE a vae run saves; {hint}")
    return model


# --------------------------------------------------------------------------------------------------
# Evaluation


def importance_weighted(model: VAE, x_bin: np.ndarray, k: int, rng: np.random.Generator,
                        batch_digits: int = 50) -> dict:
    """Per-digit ELBO and importance-weighted log p(x) estimates (nats) on binary digits, under the model's
    prior.

    For each digit, k draws z_i ~ q(z|x) (the noise from ``rng``):
    ``log p(x) ~= logsumexp_i(log p(x|z_i) + log p(z_i) - log q(z_i|x)) - log k``.
    The ELBO uses the same draws for its reconstruction term; its KL is the closed form for the standard prior
    and the mean of log q(z_i|x) - log p(z_i) over the k draws for a mixture prior. Returns arrays ``elbo``,
    ``iw``, ``kl`` (all (N,)), and ``log_w`` of the last batch (for tests).
    """
    latent = model.latent_size
    standard = model.prior_kind == "standard"

    def batch_terms(x, z_mean, z_log_var, eps):
        # eps: (k, B, L); z: (k, B, L)
        z = z_mean[None] + ops.exp(0.5 * z_log_var)[None] * eps
        kk, b = eps.shape[0], eps.shape[1]
        flat_z = ops.reshape(z, (-1, latent))
        logits = ops.reshape(model.decoder(flat_z, training=False), (kk, b, 784))
        log_px_z = ops.sum(x[None] * logits - ops.softplus(logits), axis=-1)
        log_pz = ops.reshape(model.log_prior(flat_z), (kk, b))
        log_qz = -0.5 * ops.sum(LOG_2PI + z_log_var[None] + ops.square(eps), axis=-1)
        log_w = log_px_z + log_pz - log_qz
        iw = ops.logsumexp(log_w, axis=0) - math.log(kk)
        if standard:
            kl = 0.5 * ops.sum(ops.square(z_mean) + ops.exp(z_log_var) - 1.0 - z_log_var, axis=-1)
        else:
            kl = ops.mean(log_qz - log_pz, axis=0)
        return ops.mean(log_px_z, axis=0) - kl, iw, kl, log_w

    step = Compiled(batch_terms, model.variables)
    elbos, iws, kls, log_w = [], [], [], None
    for i in range(0, len(x_bin), batch_digits):
        xb = np.asarray(x_bin[i:i + batch_digits], dtype=np.float32)
        z_mean, z_log_var = model.encode(xb)
        eps = rng.standard_normal((k, len(xb), latent)).astype(np.float32)
        e, w, kl, log_w = step(xb, z_mean, z_log_var, eps)
        elbos.append(e)
        iws.append(w)
        kls.append(kl)
    return {"elbo": np.concatenate(elbos), "iw": np.concatenate(iws), "kl": np.concatenate(kls),
            "log_w": log_w}


def vae_terms(model: VAE, batch, training: bool) -> dict:
    """Per-digit terms for the epoch loop's multi-worker training (:class:`lab.distributed.ReplicaTrainer`):
    what ``train_step`` / ``test_step`` average."""
    (x,) = batch
    reconstruction, kl = model.terms(x, training=training)
    return {"loss": reconstruction + ops.cast(model.kl_weight, kl.dtype) * kl,
            "reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl)}


# --------------------------------------------------------------------------------------------------
# The classifier that scores samples, and the Fréchet distance


def build_classifier():
    """The scoring classifier, compiled (Adam 1e-3, sparse categorical cross-entropy)."""
    inputs = keras.Input((784,), name="pixels")
    h = layers.Reshape((28, 28, 1))(inputs)
    h = layers.Conv2D(32, 3, activation="relu")(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(64, 3, activation="relu")(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dense(128, activation="relu", name=FEATURES_LAYER)(h)
    h = layers.Dropout(0.3)(h)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(h)
    model = keras.Model(inputs, outputs, name="mnist_classifier")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def train_classifier(x: np.ndarray, y: np.ndarray, epochs: int, rng: np.random.Generator,
                     batch_size: int = 64):
    """Train the scoring classifier on flat grey digits ``x`` (N, 784) with labels ``y`` (shuffled by
    ``rng``)."""
    order = rng.permutation(len(x))
    model = build_classifier()
    model.fit(x[order], y[order], batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    return model


def predict(classifier, x: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, 10), features (N, 128)) of flat images in [0, 1]."""
    both = keras.Model(classifier.input, [classifier.output, classifier.get_layer(FEATURES_LAYER).output])
    probs, feats = [], []
    for i in range(0, len(x), batch_size):
        p, f = both(x[i:i + batch_size], training=False)
        probs.append(keras.ops.convert_to_numpy(p))
        feats.append(keras.ops.convert_to_numpy(f))
    return np.concatenate(probs), np.concatenate(feats).astype(np.float64)


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples).

    ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)``; numpy only (symmetric square roots).
    """
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    r1 = _sqrtm_psd(s1)
    cross = np.linalg.eigvalsh((r1 @ s2 @ r1 + (r1 @ s2 @ r1).T) / 2)
    value = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                  - 2 * np.sum(np.sqrt(np.clip(cross, 0, None))))
    return max(value, 0.0)


def score(probs: np.ndarray, feats: np.ndarray, reference_feats: np.ndarray, confidence: float = 0.9) -> dict:
    """The three quality figures of a set of images (see the module docstring), plus the class shares."""
    shares = np.bincount(probs.argmax(1), minlength=10) / len(probs)
    return {
        "confident_share": float(np.mean(probs.max(1) >= confidence)),
        "class_share_min": float(shares.min()),
        "class_share_max": float(shares.max()),
        "frechet_distance": frechet_distance(feats, reference_feats),
        "class_shares": shares.tolist(),
    }
