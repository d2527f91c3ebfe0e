"""The RBM's maths: CD-k against the exact log-likelihood gradient of a tiny RBM (all hidden states
enumerated), masks that make unrated items absent, and save/load."""

import itertools

import keras
import numpy as np
import pytest

from generative.rbm.model import RBM

M, K, F = 4, 3, 3  # items, rating values, hidden units


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x):
    z = np.exp(x - x.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def exact_gradient(model, cases):
    """d log p(V [, r]) / d params averaged over cases, by enumerating the 2^F hidden states.

    ``cases``: list of (rated items, their rating indices, which-rated vector r over all items). A case's
    RBM has visible units only for its rated items; the joint model also has the r units over all items.
    """
    W = model.W.numpy().reshape(M, K, F).astype(np.float64)
    b, c = model.vbias.numpy().astype(np.float64), model.hbias.numpy().astype(np.float64)
    D = model.D.numpy().astype(np.float64) if model.rated_vector != "none" else np.zeros((M, F))
    e = model.rbias.numpy().astype(np.float64) if model.rated_vector == "joint" else None
    H = np.array(list(itertools.product([0, 1], repeat=F)), np.float64)  # (2^F, F)
    g = {"W": np.zeros((M, K, F)), "b": np.zeros((M, K)), "c": np.zeros(F), "D": np.zeros((M, F)),
         "e": np.zeros(M)}
    for items, kidx, r in cases:
        v = np.zeros((M, K))
        v[items, kidx] = 1
        given_r = r if model.rated_vector != "none" else np.zeros(M)
        ph = sigmoid(c + np.einsum("mk,mkf->f", v, W) + given_r @ D)  # data term: exact E[h | V, r]
        g["W"] += v[:, :, None] * ph
        g["b"] += v
        g["c"] += ph
        if model.rated_vector != "none":
            g["D"] += given_r[:, None] * ph
        if e is not None:
            g["e"] += r
        # model term: log p(h) up to a constant, summing out the visible units of this case
        logits = b[items][None] + np.einsum("mkf,hf->hmk", W[items], H)  # (2^F, rated, K)
        log_ph = H @ c + np.log(np.exp(logits).sum(-1)).sum(-1)
        if model.rated_vector == "conditional":
            log_ph += H @ (r @ D)
        if e is not None:
            log_ph += np.log1p(np.exp(e[None] + H @ D.T)).sum(-1)
        p = np.exp(log_ph - log_ph.max())
        p /= p.sum()
        pv = softmax(logits)  # p(v_ik = 1 | h)
        vm = np.zeros((len(H), M, K))
        vm[:, items] = pv
        g["W"] -= np.einsum("h,hmk,hf->mkf", p, vm, H)
        g["b"] -= np.einsum("h,hmk->mk", p, vm)
        g["c"] -= p @ H
        if model.rated_vector == "conditional":
            g["D"] -= r[:, None] * (p @ H)[None, :]
        if e is not None:
            pr = sigmoid(e[None] + H @ D.T)  # (2^F, M)
            g["D"] -= np.einsum("h,hm,hf->mf", p, pr, H)
            g["e"] -= p @ pr
    return {k: v / len(cases) for k, v in g.items()}


def random_model(rated_vector, seed=0):
    model = RBM(M, [1, 2, 3], n_hidden=F, rated_vector=rated_vector, seed=seed)
    rng = np.random.default_rng(seed)
    model.W.assign(rng.normal(0, 0.6, (M * K, F)).astype(np.float32))
    model.vbias.assign(rng.normal(0, 0.5, (M, K)).astype(np.float32))
    model.hbias.assign(rng.normal(0, 0.5, F).astype(np.float32))
    if rated_vector != "none":
        model.D.assign(rng.normal(0, 0.6, (M, F)).astype(np.float32))
    if rated_vector == "joint":
        model.rbias.assign(rng.normal(0, 0.5, M).astype(np.float32))
    return model


CASES = [
    (np.array([0, 2]), np.array([2, 0]), np.array([1.0, 0, 1, 1])),  # item 3 seen but not rated
    (np.array([1, 2, 3]), np.array([1, 1, 2]), np.array([0.0, 1, 1, 1])),
]


def batch_of(cases, copies):
    rows, cols, vals, srows, scols = [], [], [], [], []
    n = 0
    for _ in range(copies):
        for items, kidx, r in cases:
            rows += [n] * len(items)
            cols += list(items)
            vals += list(kidx)
            extra = [i for i in np.flatnonzero(r) if i not in items]
            srows += [n] * len(extra)
            scols += extra
            n += 1
    a = lambda x: np.asarray(x, np.int32)  # noqa: E731
    return {"n": np.int32(n), "rows": a(rows), "cols": a(cols), "values": a(vals), "seen_rows": a(srows),
            "seen_cols": a(scols)}


@pytest.mark.parametrize("rated_vector", ["none", "conditional", "joint"])
def test_long_cd_chains_match_the_exact_gradient(rated_vector):
    model = random_model(rated_vector)
    exact = exact_gradient(model, CASES)
    grads, _, _ = model.cd_statistics(batch_of(CASES, 2000), 20)
    got = [np.asarray(g) for g in grads]
    names = (["W", "b", "c"] + (["D"] if rated_vector != "none" else []) +
             (["e"] if rated_vector == "joint" else []))
    for name, g in zip(names, got, strict=True):
        want = exact[name].reshape(g.shape)
        assert np.abs(g - want).max() < 0.03, (name, np.abs(g - want).max())
    # and the estimate is not trivially right: the gradient is far from zero
    assert np.abs(exact["W"]).max() > 0.1


def test_cd1_is_biased_where_long_chains_are_not():
    model = random_model("none", seed=1)
    model.W.assign(np.random.default_rng(5).normal(0, 1.0, (M * K, F)).astype(np.float32))  # slower mixing
    exact = exact_gradient(model, CASES)["W"].reshape(-1, F)
    batch = batch_of(CASES, 2000)
    err = [np.abs(np.asarray(model.cd_statistics(batch, k)[0][0]) - exact).max() for k in (1, 20)]
    assert err[1] < 0.03 and err[0] > 0.06


def test_unrated_items_are_absent():
    """An unrated item changes nothing: not the hidden units, not its own gradient."""
    model = random_model("none", seed=2)
    b1 = batch_of([(np.array([0, 1]), np.array([2, 1]), np.zeros(M))], 1)
    v, mask = model.dense_batch(b1)
    assert np.array_equal(np.asarray(mask)[0], [1, 1, 0, 0]) and np.asarray(v)[0, 2:].sum() == 0
    grads, _, _ = model.cd_statistics(b1, 3)
    gW = np.asarray(grads[0]).reshape(M, K, F)
    assert np.all(gW[2:] == 0) and np.all(np.asarray(grads[1])[2:] == 0)
    # the hidden probabilities are those of the dense one-hot ratings...
    W = model.W.numpy().reshape(M, K, F)
    dense = sigmoid(model.hbias.numpy() + np.einsum("mk,mkf->f", np.asarray(v)[0], W))
    before = np.asarray(model.hidden_probs(b1))
    assert np.allclose(before[0], dense, atol=1e-6)
    # ...and changing the weights of unrated items does not move them
    W[2:] += 5.0
    model.W.assign(W.reshape(M * K, F))
    assert np.allclose(np.asarray(model.hidden_probs(b1)), before)


def test_mean_field_reconstruction_runs_and_differs_from_sampling():
    sampled = random_model("conditional", seed=4)
    mean = RBM(M, [1, 2, 3], n_hidden=F, rated_vector="conditional", reconstruction="mean", seed=4)
    mean.set_weights(sampled.get_weights())
    batch = batch_of(CASES, 50)
    g_s = [np.asarray(g) for g in sampled.cd_statistics(batch, 1)[0]]
    g_m = [np.asarray(g) for g in mean.cd_statistics(batch, 1)[0]]
    assert all(a.shape == b.shape for a, b in zip(g_s, g_m, strict=True))
    assert all(np.isfinite(g).all() for g in g_m) and not np.allclose(g_s[0], g_m[0])
    # the data term is the same: the visible-bias gradients differ only by the model term, which sums
    # to the number of rated cells either way
    assert np.isclose(g_s[1].sum(), g_m[1].sum(), atol=1e-4)


def test_save_and_load_give_the_same_predictions(tmp_path):
    model = random_model("joint", seed=3)
    model.set_schedule(0.05, 0.9, 3)
    batch = batch_of(CASES, 2)
    model.train_step(batch)
    expected, probs, seen = model.predict_batch(batch)
    path = tmp_path / "rbm.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.rated_vector == "joint" and loaded.values == [1.0, 2.0, 3.0] and int(loaded.cd_steps) == 3
    e2, p2, s2 = loaded.predict_batch(batch)
    assert np.allclose(expected, e2) and np.allclose(probs, p2) and np.allclose(seen, s2)
    rows, cols = np.array([0, 0, 1, 3], np.int32), np.array([3, 0, 2, 1], np.int32)
    assert np.allclose(loaded.predict_pairs(batch, rows, cols), np.asarray(expected)[rows, cols], atol=1e-6)
    # the training state travels too: the next update is the same
    model.train_step(batch)
    loaded.train_step(batch)
    assert np.allclose(model.W.numpy(), loaded.W.numpy(), atol=1e-6)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="rated_vector"):
        RBM(3, [1, 2], rated_vector="maybe")
    with pytest.raises(ValueError, match="reconstruction"):
        RBM(3, [1, 2], reconstruction="guess")
