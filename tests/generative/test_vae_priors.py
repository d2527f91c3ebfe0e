"""Learned priors of the VAE (mixture of Gaussians, VampPrior): the mixture log-density against plain numpy,
sampling from the mixture, the Monte Carlo KL and the IW bound under the same prior, and the .keras round trip
with safe_mode=True."""

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from generative.vae import model as V
from generative.vae.config import VaeModelConfig


def model_cfg(prior, components=4, latent=3):
    return SimpleNamespace(kind="dense", latent_size=latent, hidden=[32], filters=[4, 8], activation="relu",
                           prior=prior, prior_components=components)


def rng(seed):
    return np.random.default_rng(seed)


def digits(n=40, seed=3):
    rng = np.random.default_rng(seed)
    proto = rng.random((4, 784)) < 0.3
    return (proto[rng.integers(0, 4, n)] ^ (rng.random((n, 784)) < 0.05)).astype(np.float32)


def numpy_log_mixture(z, means, log_vars, weights):
    """sum_k w_k prod_d N(z_d; m_kd, v_kd), in float64 with an explicit loop over components."""
    total = np.zeros(len(z))
    for m, lv, w in zip(means, log_vars, weights, strict=True):
        v = np.exp(lv)
        total += w * np.prod(np.exp(-0.5 * (z - m) ** 2 / v) / np.sqrt(2 * np.pi * v), axis=1)
    return np.log(total)


def test_log_mixture_is_the_explicit_density():
    rng = np.random.default_rng(0)
    means, log_vars = rng.normal(0, 1, (5, 3)), rng.normal(0, 0.5, (5, 3))
    weights = rng.dirichlet(np.ones(5))
    z = rng.normal(0, 1.5, (7, 3))
    got = keras.ops.convert_to_numpy(V.log_mixture(z, means, log_vars, np.log(weights)))
    assert np.allclose(got, numpy_log_mixture(z, means, log_vars, weights), rtol=1e-6, atol=1e-6)
    # One component of weight 1 is the plain Gaussian.
    one = keras.ops.convert_to_numpy(V.log_mixture(z, means[:1], log_vars[:1], np.zeros(1)))
    assert np.allclose(one, keras.ops.convert_to_numpy(V.log_normal(z, means[0], log_vars[0])), atol=1e-9)


def test_model_log_prior_uses_the_trained_mixture():
    model = V.build_vae(model_cfg("mog", components=6), seed=2)
    p = model.prior
    rng = np.random.default_rng(1)
    p.log_vars.assign(rng.normal(0, 0.3, (6, 3)).astype(np.float32))
    p.logits.assign(rng.normal(0, 1, 6).astype(np.float32))
    means, log_vars, logits = (keras.ops.convert_to_numpy(v).astype(np.float64)
                               for v in (p.means, p.log_vars, p.logits))
    weights = np.exp(logits) / np.exp(logits).sum()
    z = rng.normal(0, 1, (9, 3)).astype(np.float32)
    got = keras.ops.convert_to_numpy(model.log_prior(z))
    assert np.allclose(got, numpy_log_mixture(z, means, log_vars, weights), atol=1e-4)
    standard = V.build_vae(model_cfg("standard"), seed=2)
    expected = -0.5 * np.sum(np.log(2 * np.pi) + z.astype(np.float64) ** 2, axis=1)
    assert np.allclose(keras.ops.convert_to_numpy(standard.log_prior(z)), expected, atol=1e-4)


def test_mixture_samples_follow_the_components():
    model = V.build_vae(model_cfg("mog", components=2, latent=2), seed=0)
    p = model.prior
    p.means.assign(np.array([[-4.0, 0.0], [4.0, 1.0]], np.float32))
    p.log_vars.assign(np.log(np.array([[0.25, 0.25], [1.0, 4.0]], np.float32)))
    p.logits.assign(np.log(np.array([0.2, 0.8], np.float32)))
    z = model.sample_latent(20_000, rng(1))
    assert z.shape == (20_000, 2) and z.dtype == np.float32
    right = z[:, 0] > 0
    assert right.mean() == pytest.approx(0.8, abs=0.015)
    assert z[right].mean(0) == pytest.approx([4.0, 1.0], abs=0.05)
    assert z[right].std(0) == pytest.approx([1.0, 2.0], rel=0.03)
    assert z[~right].std(0) == pytest.approx([0.5, 0.5], rel=0.05)
    cold = model.sample_latent(20_000, rng(1), temperature=0.5)  # each component's spread halves
    assert cold[cold[:, 0] > 0].std(0) == pytest.approx([0.5, 1.0], rel=0.03)
    assert np.array_equal(model.sample_latent(10, rng(5)), model.sample_latent(10, rng(5)))
    assert model.sample(6, rng(5)).shape == (6, 784)


def test_vamp_prior_is_the_encoder_at_the_pseudo_inputs():
    model = V.build_vae(model_cfg("vamp", components=5), seed=4)
    means, log_vars, log_w = (keras.ops.convert_to_numpy(a) for a in model.prior_parameters())
    u = 1 / (1 + np.exp(-keras.ops.convert_to_numpy(model.prior.pseudo_logits)))
    assert u.shape == (5, 784) and np.all((u > 0) & (u < 1))
    m, lv = model.encode(u)
    assert np.allclose(means, m, atol=1e-5) and np.allclose(log_vars, lv, atol=1e-5)
    assert np.allclose(np.exp(log_w), 0.2)
    assert model.sample(4, np.random.default_rng(0)).shape == (4, 784)


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_monte_carlo_kl_and_elbo_below_the_iw_bound(prior):
    keras.utils.set_random_seed(3)
    model = V.build_vae(model_cfg(prior, components=4, latent=4), seed=3)
    x = digits()
    # The training KL term is log q(z|x) - log p(z) at one draw: its mean over many draws is the evaluation's
    # KL.
    draws = np.stack([keras.ops.convert_to_numpy(model.terms(x)[1]) for _ in range(300)])
    many = V.importance_weighted(model, x, 256, np.random.default_rng(0), batch_digits=20)
    se = draws.std(0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(0) - many["kl"]) < 4 * se + 0.05)
    assert np.all(many["kl"] > 0)  # KL(q || p) of an untrained encoder against the mixture
    one = V.importance_weighted(model, x, 1, np.random.default_rng(0), batch_digits=20)
    assert abs(one["iw"].mean() - many["elbo"].mean()) < 0.05 * abs(many["elbo"].mean())
    mid = V.importance_weighted(model, x, 8, np.random.default_rng(1), batch_digits=20)
    assert many["elbo"].mean() < mid["iw"].mean() < many["iw"].mean()


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_learned_prior_trains_and_round_trips_with_safe_mode(prior, tmp_path):
    keras.utils.set_random_seed(0)
    model = V.build_vae(model_cfg(prior, components=3), seed=5)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.prior.trainable_weights]
    x = digits(64, seed=0)
    h = model.fit(x, batch_size=32, epochs=2, verbose=0, shuffle=False).history
    assert h["elbo"][-1] > h["elbo"][0]
    after = [keras.ops.convert_to_numpy(w) for w in model.prior.trainable_weights]
    # the prior learns
    assert before and all(not np.allclose(a, b) for a, b in zip(before, after, strict=True))

    model.save(tmp_path / "vae.keras")
    loaded = V.load_vae(tmp_path / "vae.keras")  # safe_mode=True
    assert loaded.prior_kind == prior and loaded.prior_components == 3
    for a, b in zip(model.prior.weights, loaded.prior.weights, strict=True):
        assert np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert np.array_equal(model.sample(8, rng(1)), loaded.sample(8, rng(1)))
    z = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    assert np.array_equal(keras.ops.convert_to_numpy(model.log_prior(z)),
                          keras.ops.convert_to_numpy(loaded.log_prior(z)))


def test_prior_option_in_the_scenario():
    assert VaeModelConfig().prior == "standard"
    assert VaeModelConfig(prior="mog", prior_components=20).prior_components == 20
    with pytest.raises(ValueError, match="prior"):
        VaeModelConfig(prior="flow")
