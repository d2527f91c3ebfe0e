"""The language-model task's transformer: causal (and banded) attention, windowed scoring and sampling, a
tiny run end to end with `lab generate`, and kill-and-resume."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from lab.cli import main as lab_main
from lab.execute import execute
from lab.scenario import validate
from supervised.language_model import model as lm
from supervised.language_model import transformer as tr
from supervised.language_model.serve import TextModel

TEXT = "".join(f"{w} sees {o}.\n" for w in ("the cat", "a dog", "my friend", "the king") for o in
               ("the mat", "a bird", "the sea", "his horse", "her crown")) * 12


def scenario(tmp_path, model: str = "{cell: transformer, layers: 2, units: 16, heads: 2, dropout: 0.1}",
             training: str = "{epochs: 2, batch_size: 4, seq_len: 16, learning_rate: 0.01}"):
    (tmp_path / "text.txt").write_text(TEXT, encoding="utf-8")
    path = tmp_path / "t.yaml"
    path.write_text(f"name: tiny_tf\ntask: language-model\nseed: 2\nstrategy: cpu\n"
                    f"data: {{path: {tmp_path / 'text.txt'}}}\nmodel: {model}\ntraining: {training}\n"
                    f"generate: {{prompt: 'the ', length: 24}}\n")
    return path


def network(context=None, window: int = 12, vocab: int = 9, batch: int = 2):
    model = {"cell": "transformer", "units": 8, "heads": 2, "layers": 2, "context": context}
    cfg = validate({"name": "x", "task": "language-model", "training": {"seq_len": window}, "model": model})
    keras.utils.set_random_seed(0)
    return lm.build_model(cfg.model, vocab, batch, window=window)


def test_attention_never_reads_the_future_nor_past_its_band():
    ids = np.random.default_rng(0).integers(0, 9, (2, 12)).astype(np.int32)
    changed = ids.copy()
    changed[:, 7:] = (changed[:, 7:] + 1) % 9  # the future of position 6
    plain = network()
    a, b = (np.asarray(plain.predict_on_batch(x)) for x in (ids, changed))
    np.testing.assert_allclose(a[:, :7], b[:, :7], atol=1e-5)
    assert np.abs(a[:, 7:] - b[:, 7:]).max() > 1e-3
    banded = network(context=3)  # each block: a position sees itself and the 2 before it
    early = ids.copy()
    early[:, :2] = (early[:, :2] + 1) % 9  # positions 0 and 1 change
    a, b = (np.asarray(banded.predict_on_batch(x)) for x in (ids, early))
    np.testing.assert_allclose(a[:, 6:], b[:, 6:], atol=1e-5)  # two blocks: position 6 reads 2 ... 6 only
    assert np.abs(a[:, 5] - b[:, 5]).max() > 1e-3  # position 5 reads 1 ... 5


@pytest.mark.parametrize("n, window", [(5, 8), (8, 8), (9, 8), (40, 8), (41, 7), (100, 2)])
def test_reading_windows_score_each_token_once_with_half_a_window_before_it(n, window):
    scored = []
    for start, end, first in tr.reading_windows(n, window):
        assert 0 <= start <= first < end <= n and end - start <= window
        assert first == 0 or first - start >= window // 2  # context before each scored token
        scored += range(first, end)
    assert scored == list(range(n))


def test_windowed_scoring_equals_reading_each_window_whole():
    model = network(window=8, batch=3)
    ids = np.random.default_rng(1).integers(0, 9, 61).astype(np.int32)
    nats = lm.score_tokens(model, ids, seq_len=8).reshape(3, -1)
    x, y = lm.scoring_streams(ids, 3, "test")
    for start, end, first in tr.reading_windows(x.shape[1], 8):
        logits = np.asarray(model.predict_on_batch(x[:, start:end]), np.float64)
        lp = lm.log_softmax(logits)[:, first - start:]
        expected = -np.take_along_axis(lp, y[:, first:end, None], -1)[..., 0]
        np.testing.assert_allclose(nats[:, first:end], expected, atol=1e-5)


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf")
    return execute(str(scenario(root)), out=str(root / "runs"), quiet=True)


def test_a_transformer_run_is_scored_beside_the_ngrams(transformer_run):
    s = transformer_run.summary()
    assert s["cell"] == "transformer" and s["epochs_run"] == 2 and s["kn_order"] == 5
    assert s["test_nats"] < s["unigram_nats"]
    env = json.loads(transformer_run.env_path.read_text())["language_model"]
    assert env["cell"] == "transformer" and env["cudnn_used"] is False
    report = transformer_run.report_path.read_text()
    assert "transformer 2x16" in report and "in windows of 16 tokens moving on by 8" in report


def test_generate_carries_the_window_as_the_state(transformer_run, capsys):
    model = TextModel.open(transformer_run.path)
    assert model.sampler.window.window == 16
    straight = model.write("the ", length=40, temperature=0.8, seed=3)
    # two texts interleaved token by token through snapshot/restore (as lab serve does) give the same text
    sampler = model.sampler
    first, second = model.stream("the ", 40, 0.8, seed=3), model.stream("a ", 40, 0.8, seed=4)
    saved = {}
    texts = {1: [], 2: []}
    for _ in range(40):
        for key, it in ((1, first), (2, second)):
            if key in saved:
                sampler.restore(saved[key])
            texts[key].append(next(it)["text"])
            saved[key] = sampler.snapshot()
    assert "".join(texts[1]) == straight["text"]
    assert len(sampler.window.tokens) == 16  # the last 16 tokens only
    code = lab_main(["generate", str(transformer_run.path), "--length", "10", "--seed", "3"])
    assert code == 0 and capsys.readouterr().out.startswith("the ")


def test_a_transformer_run_is_interrupted_and_resumed_exactly(tmp_path, killed_and_resumed):
    """Attention and residual dropout masks, window offsets and the schedule come back on resume."""
    path = scenario(tmp_path, training="{epochs: 2, batch_size: 16, seq_len: 16, learning_rate: 0.01, "
                                       "schedule: cosine, warmup_epochs: 1}")
    full, resumed = killed_and_resumed(path, epoch=1)
    assert resumed.summary()["epochs_run"] == 2


def lm_cells():
    """benchmarks/lm_cells.py as a module."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "lm_cells.py"
    spec = importlib.util.spec_from_file_location("lm_cells", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cell, units, layers", [("rnn", 40, 1), ("gru", 24, 1), ("lstm", 16, 1),
                                                 ("transformer", 32, 3)])
def test_the_cell_benchmark_counts_the_parameters_the_networks_have(cell, units, layers):
    """benchmarks/lm_cells.py gives every cell the width of the same parameter budget by this count."""
    settings = {"cell": cell, "units": units, "layers": layers}
    settings.update({"heads": 4} if cell == "transformer" else {"embedding": 8})
    cfg = validate({"name": "x", "task": "language-model", "model": settings, "training": {"seq_len": 20}})
    model = lm.build_model(cfg.model, 30, 2, window=20)
    assert lm_cells().parameters(cell, units, 8, 30, layers, window=20) == model.count_params()
