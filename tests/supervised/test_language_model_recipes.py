"""Recipes as their papers wrote them: the loss summed over each window (Zaremba et al.) against Keras'
per-token mean, the uniform initialisation, and the shipped PTB scenarios."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lab.execute import execute
from lab.paths import shared_datasets
from lab.scenario import load_scenario, resolve_scenario_path
from supervised.language_model import model as lm
from supervised.language_model.config import LanguageModelConfig, LanguageTrainingConfig


def one_sgd_step(reduction: str, seq_len: int) -> list[np.ndarray]:
    """The change one plain SGD step at rate 1 (no clipping) makes to each weight of a small LSTM."""
    m = LanguageModelConfig(cell="lstm", layers=2, units=8, embedding=6, dropout=0.0)
    t = LanguageTrainingConfig(seq_len=seq_len, loss_reduction=reduction)
    keras.utils.set_random_seed(0)
    model = lm.build_model(m, 13, batch_size=4)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=lm.loss_of(t))
    rng = np.random.default_rng(1)
    x, y = (rng.integers(0, 13, (4, seq_len)).astype(np.int32) for _ in range(2))
    before = [np.array(w) for w in model.get_weights()]
    model.train_on_batch(x, y)
    return [np.array(w) - b for w, b in zip(model.get_weights(), before, strict=True)]


@pytest.mark.parametrize("seq_len", [5, 20])
def test_the_window_sum_gives_seq_len_times_the_token_mean_gradient(seq_len):
    token, window = one_sgd_step("token", seq_len), one_sgd_step("window", seq_len)
    flat_token = np.concatenate([d.ravel() for d in token])
    flat_window = np.concatenate([d.ravel() for d in window])
    assert np.abs(flat_token).max() > 0
    np.testing.assert_allclose(flat_window, seq_len * flat_token, rtol=2e-3, atol=1e-6)  # float32 deltas


def test_uniform_initialisation_as_zaremba_et_al():
    m = LanguageModelConfig(cell="lstm", layers=2, units=16, embedding=16, init_scale=0.05)
    keras.utils.set_random_seed(0)
    model = lm.build_model(m, 30, batch_size=2)
    weights = model.get_weights()
    assert len(weights) == 1 + 3 * 2 + 2  # embedding; kernel, recurrent, bias of each LSTM; dense + bias
    for w in weights:  # every weight, biases and the LSTM's forget bias included, in [-0.05, 0.05]
        assert np.abs(w).max() <= 0.05 and np.abs(w).max() > 0.04
    lstm = model.get_layer("lstm_1")
    assert lstm.unit_forget_bias is False


def stand_in(reduction: str, tmp_path, seed: int = 0) -> dict:
    """One epoch of the shipped ptb_word_lstm recipe (SGD 1.0, clipping at 5, windows of 20 in 20 streams)
    on the first 60,000 characters of the Shakespeare stand-in, with a narrower network to stay quick."""
    return execute("ptb_word_lstm", ["data.max_chars=60000", "model.units=64", "model.embedding=64",
                                     "training.epochs=1", f"training.loss_reduction={reduction}",
                                     f"seed={seed}", "generate.length=5", "generate.temperatures=[1.0]",
                                     "strategy=cpu"],
                   out=str(tmp_path / reduction), quiet=True).summary()


def test_zaremba_recipe_learns_as_the_paper_only_with_the_window_sum(tmp_path):
    """Same rate, same clipping: summed over the window, the first epoch reaches a far lower validation
    perplexity. One epoch is noisy, so the mean of seeds 0 and 1 (measured: TensorFlow 910 against 1,308,
    JAX 916 against 1,301; seed by seed, window 695-1,137 on JAX, 897-923 on TensorFlow)."""
    if not (shared_datasets() / "shakespeare.txt").is_file():
        pytest.skip("../shared/datasets/shakespeare.txt is absent (the Shakespeare word stand-in)")
    runs = {r: [stand_in(r, tmp_path / str(seed), seed) for seed in (0, 1)] for r in ("token", "window")}
    assert runs["token"][0]["vocabulary"] == runs["window"][0]["vocabulary"] > 2000
    token, window = (np.mean([s["valid_perplexity"] for s in runs[r]]) for r in ("token", "window"))
    assert window < 0.8 * token
    token, window = (np.mean([s["test_perplexity"] for s in runs[r]]) for r in ("token", "window"))
    assert window < token  # (measured: 0.80 of it on JAX, whose seed 0 learns least; TF seed 0: 0.76)


@pytest.mark.parametrize("name, units, reduction, init", [("ptb_word_lstm", 200, "window", 0.1),
                                                          ("ptb_word_lstm_medium", 650, "window", 0.05)])
def test_the_shipped_ptb_recipes_are_the_papers(name, units, reduction, init):
    cfg = load_scenario(resolve_scenario_path(name))
    assert cfg.model.units == units and cfg.model.layers == 2 and cfg.model.init_scale == init
    t = cfg.training
    assert (t.loss_reduction, t.optimizer, t.learning_rate, t.clipnorm, t.batch_size) == (
        reduction, "sgd", 1.0, 5.0, 20)
