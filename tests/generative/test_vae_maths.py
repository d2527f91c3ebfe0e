"""The VAE's maths: closed-form KL against Monte Carlo, the ELBO below the importance-weighted bound,
the likelihood terms, the KL warm-up, the Fréchet distance; and the .keras round trip (safe_mode)."""

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from generative.vae import model as V
from lab.errors import RunError
from lab.seeding import reseed_generators


def model_cfg(kind="dense", latent=3):
    return SimpleNamespace(kind=kind, latent_size=latent, hidden=[32], filters=[4, 8], activation="relu")


def test_closed_form_kl_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mean = rng.normal(0, 1.0, (4, 3)).astype(np.float32)
    log_var = rng.normal(0, 0.7, (4, 3)).astype(np.float32)
    closed = keras.ops.convert_to_numpy(V.kl_normal(mean, log_var))
    n = 200_000
    eps = rng.standard_normal((n, 4, 3)).astype(np.float32)
    z = mean + np.exp(0.5 * log_var) * eps
    log_q = keras.ops.convert_to_numpy(V.log_normal(z, mean, log_var))
    log_p = keras.ops.convert_to_numpy(V.log_normal(z, np.zeros_like(mean), np.zeros_like(log_var)))
    diff = log_q - log_p
    mc, se = diff.mean(0), diff.std(0) / np.sqrt(n)
    assert np.all(closed > 0)
    assert np.all(np.abs(mc - closed) < 4 * se + 1e-3), (mc, closed, se)


def test_kl_is_zero_for_the_prior_itself():
    zeros = np.zeros((2, 5), np.float32)
    assert np.allclose(keras.ops.convert_to_numpy(V.kl_normal(zeros, zeros)), 0.0)


def test_bernoulli_log_likelihood_is_the_explicit_formula():
    rng = np.random.default_rng(1)
    x = (rng.random((3, 10)) < 0.5).astype(np.float32)
    logits = rng.normal(0, 3, (3, 10)).astype(np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    explicit = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)
    got = keras.ops.convert_to_numpy(V.bernoulli_log_likelihood(x, logits))
    assert np.allclose(got, explicit, rtol=1e-4, atol=1e-4)


def test_kl_warmup_schedule():
    assert [V.kl_weight(e, 2.0, 4) for e in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert V.kl_weight(0, 0.7, 0) == 0.7


def test_elbo_never_exceeds_the_importance_weighted_bound_in_expectation():
    keras.utils.set_random_seed(3)
    model = V.build_vae(model_cfg(latent=4), seed=3)
    rng = np.random.default_rng(3)
    proto = rng.random((4, 784)) < 0.3
    x = (proto[rng.integers(0, 4, 40)] ^ (rng.random((40, 784)) < 0.05)).astype(np.float32)
    one = V.importance_weighted(model, x, 1, np.random.default_rng(0), batch_digits=20)
    many = V.importance_weighted(model, x, 64, np.random.default_rng(0), batch_digits=20)
    # IW with k=1 is the (Monte Carlo) ELBO, the same expectation as the ELBO estimate.
    assert abs(one["iw"].mean() - many["elbo"].mean()) < 0.05 * abs(many["elbo"].mean())
    # Jensen: E[log mean_k w] >= E[log w]; the bound tightens as k grows.
    mid = V.importance_weighted(model, x, 8, np.random.default_rng(1), batch_digits=20)
    assert many["elbo"].mean() < mid["iw"].mean() < many["iw"].mean()
    assert np.mean(many["iw"] >= many["elbo"]) > 0.9
    assert many["log_w"].shape == (64, 20)


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (4000, 3))
    b = rng.normal(0, 1, (4000, 3)) + np.array([1.0, -2.0, 0.0])
    assert V.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert V.frechet_distance(a, b) == pytest.approx(5.0, abs=0.3)
    c = rng.normal(0, 2.0, (4000, 3))  # same mean, sd 2: trace term 3 * (1 + 4 - 2 * 2) = 3
    assert V.frechet_distance(a, c) == pytest.approx(3.0, abs=0.4)


def test_quality_score_shares():
    probs = np.full((10, 10), 0.01)
    probs[np.arange(10), [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]] = 0.91
    probs[9] = 0.1  # unsure
    feats = np.random.default_rng(0).normal(size=(10, 2))
    s = V.score(probs, feats, feats, 0.9)
    assert s["confident_share"] == pytest.approx(0.9)
    assert s["class_share_max"] == pytest.approx(0.4) and s["class_share_min"] == 0.0  # the unsure row is a 0


def test_train_step_and_save_load_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    model = V.build_vae(model_cfg("dense"), beta=2.0, seed=5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.kl_weight.assign(0.5)
    x = (np.random.default_rng(0).random((64, 784)) < 0.3).astype(np.float32)
    h = model.fit(x, batch_size=32, epochs=1, verbose=0, shuffle=False).history
    assert set(h) == {"loss", "reconstruction", "kl", "elbo"}
    assert h["elbo"][0] == pytest.approx(-(h["reconstruction"][0] + h["kl"][0]), rel=1e-5)
    assert h["loss"][0] == pytest.approx(h["reconstruction"][0] + 0.5 * h["kl"][0], rel=1e-5)

    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = V.load_vae(path)  # safe_mode=True
    assert isinstance(loaded, V.VAE) and loaded.beta == 2.0 and loaded.latent_size == 3
    assert float(loaded.kl_weight.numpy()) == 0.5
    assert loaded.encoder.name == "encoder" and loaded.decoder.name == "decoder"
    assert np.array_equal(model.reconstruct(x[:8]), loaded.reconstruct(x[:8]))
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    # Training continues identically from the same random stream (what `lab run --resume` relies on).
    reseed_generators(model, 0, "test", 7)
    reseed_generators(loaded, 0, "test", 7)
    h1 = model.fit(x, batch_size=32, epochs=1, verbose=0, shuffle=False).history
    h2 = loaded.fit(x, batch_size=32, epochs=1, verbose=0, shuffle=False).history
    assert h1 == h2


def test_conv_vae_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    model = V.build_vae(model_cfg("conv", latent=2), seed=1)
    x = (np.random.default_rng(1).random((6, 784)) < 0.3).astype(np.float32)
    model.save(tmp_path / "conv.keras")
    loaded = V.load_vae(tmp_path / "conv.keras", compile=False)
    assert loaded.encoder.get_layer("conv_1").filters == 8
    assert np.array_equal(model.reconstruct(x), loaded.reconstruct(x))
    assert model.decode(np.zeros((2, 2))).shape == (2, 784)


def test_unsafe_lambda_is_refused(tmp_path):
    """safe_mode=True refuses a file whose model holds arbitrary code (a Lambda layer)."""
    inputs = keras.Input((784,))
    bad = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    bad.save(tmp_path / "bad.keras")
    with pytest.raises(RunError, match=r"bad\.keras: refused: .*Lambda layer.*safe_mode=True"):
        V.load_vae(tmp_path / "bad.keras")
