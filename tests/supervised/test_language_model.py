"""The language-model task: tiny runs on text written here (a few seconds each), the scoring maths, the
schedules, sampling, validation, and `lab generate`."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest

from lab.cli import main as lab_main
from lab.data.text import Vocabulary
from lab.errors import ScenarioError
from lab.execute import execute
from lab.scenario import validate
from supervised.language_model import model as lm
from supervised.language_model.config import LanguageModelConfig
from supervised.language_model.serve import TextSampler

SUBJECTS = ["the cat", "a dog", "my friend", "the king", "our queen"]
VERBS = ["sees", "likes", "finds", "calls", "hears"]
OBJECTS = ["the mat", "a bird", "the sea", "his horse", "her crown"]


def sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{SUBJECTS[rng.integers(5)]} {VERBS[rng.integers(5)]} {OBJECTS[rng.integers(5)]} ."
            for _ in range(n)]


def scenario_text(data: str, model: str = "{cell: lstm, units: 24, embedding: 8}",
                  training: str = "{epochs: 2, batch_size: 4, seq_len: 16, learning_rate: 0.01}",
                  extra: str = "") -> str:
    return (f"name: tiny_lm\ntask: language-model\nseed: 3\nstrategy: cpu\ndata: {data}\nmodel: {model}\n"
            f"training: {training}\ngenerate: {{prompt: 'the ', length: 20}}\n{extra}")


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    """One tiny character LSTM run, shared by the tests that read a finished run."""
    root = tmp_path_factory.mktemp("lm")
    (root / "text.txt").write_text("\n".join(sentences(400, 0)) + "\n", encoding="utf-8")
    path = root / "s.yaml"
    path.write_text(scenario_text(f"{{path: {root / 'text.txt'}}}"))
    return execute(str(path), out=str(root / "runs"), quiet=True)


def test_char_run_figures_files_and_report(char_run):
    s = char_run.summary()
    assert s["level"] == "chars" and s["cell"] == "lstm" and s["kn_order"] == 5 and s["epochs_run"] == 2
    assert s["test_bits_per_char"] == pytest.approx(s["test_nats"] / math.log(2))
    assert s["ratio_to_kn"] == pytest.approx(s["test_nats"] / s["kn_nats"])
    # it learnt something: better than the unigram, which is better than uniform over the vocabulary
    assert s["test_nats"] < s["unigram_nats"] < math.log(s["vocabulary"])
    assert 0 < s["scored_test_tokens"] < s["test_tokens"] and s["tokens_per_second"] > 0
    assert s["oov_train"] == 0
    for name in ("language_model.keras", "language_model.json", "vocabulary.json", "curves.png"):
        assert (char_run.artifacts / name).exists(), name
    report = char_run.report_path.read_text()
    for part in ("interpolated Kneser-Ney, order 5", "**temperature 0.5**", "**temperature 1**", "Vocabulary",
                 "artifacts/curves.png"):
        assert part in report, part
    env = json.loads(char_run.env_path.read_text())["language_model"]
    assert env["cudnn_eligible"] is True and env["cudnn_used"] is False


def test_char_run_is_interrupted_and_resumed_exactly(tmp_path, killed_and_resumed):
    """Random window offsets, dropout and the schedule's step all come back on resume."""
    (tmp_path / "text.txt").write_text("\n".join(sentences(80, 1)) + "\n", encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(scenario_text(
        f"{{path: {tmp_path / 'text.txt'}}}", "{cell: gru, layers: 2, units: 16, embedding: 8, dropout: 0.1, "
        "input_dropout: 0.1, output_dropout: 0.1}",
        "{epochs: 3, batch_size: 8, seq_len: 12, learning_rate: 0.01, schedule: cosine, warmup_epochs: 1}"))
    full, resumed = killed_and_resumed(path, epoch=1)
    assert resumed.summary()["epochs_run"] == 3


def test_word_model_on_a_ptb_folder_with_tied_weights(tmp_path, capsys):
    folder = tmp_path / "ptb"
    folder.mkdir()
    for name, seed, n in (("train", 0, 600), ("valid", 1, 60), ("test", 2, 60)):
        lines = sentences(n, seed)
        if name == "test":
            lines[0] = "the dragon sees <unk> ."  # an unseen word and PTB's own <unk>
        (folder / f"ptb.{name}.txt").write_text("\n".join(" " + line + " " for line in lines) + "\n")
    path = tmp_path / "s.yaml"
    path.write_text(scenario_text(f"{{path: {folder}, level: words}}",
                                  "{cell: gru, units: 16, embedding: 16, tie_weights: true}",
                                  "{epochs: 2, batch_size: 4, seq_len: 8, learning_rate: 0.02, schedule: "
                                  "step, decay_after: 1}"))
    run = execute(str(path), out=str(tmp_path / "runs"), quiet=True)
    s = run.summary()
    assert s["level"] == "words" and s["kn_order"] == 3
    assert s["test_perplexity"] == pytest.approx(math.exp(s["test_nats"]))
    assert s["perplexity_ratio_to_kn"] == pytest.approx(math.exp(s["test_nats"] - s["kn_nats"]))
    assert s["test_perplexity"] < s["unigram_perplexity"]
    assert s["oov_test"] == pytest.approx(2 / s["test_tokens"])
    vocab = json.loads((run.artifacts / "vocabulary.json").read_text())
    assert "<eos>" in json.dumps(vocab)
    model = keras.saving.load_model(run.artifacts / "language_model.keras", safe_mode=True)
    assert isinstance(model.get_layer("embedding"), lm.TiedEmbedding)
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    code, out, err = generate(capsys, run.path, "--prompt", "the dragon", "--length", 6)
    assert code == 0 and "read as <unk>: dragon" in err
    assert out.startswith("the dragon") and out.endswith("\n") and " \n" not in out
    sampled = out[len("the dragon"):-1]  # words are printed as " word", <eos> as a new line
    assert len(sampled.split()) + sampled.count("\n") == 6


def test_scoring_in_streams_equals_reading_token_by_token():
    """The carried state is the text before each token: scoring 3 streams in windows of 5 gives, for each
    stream, what feeding its tokens one at a time to a one-stream copy gives (TensorFlow and JAX: `make
    test-jax` runs this too)."""
    m = LanguageModelConfig(cell="lstm", units=8, embedding=4)
    keras.utils.set_random_seed(0)
    model = lm.build_model(m, 7, batch_size=3)
    ids = np.random.default_rng(0).integers(0, 7, 40).astype(np.int32)
    nats = lm.score_tokens(model, ids, seq_len=5).reshape(3, -1)
    single = lm.copy_for_batch(model, m, 7, 1)
    x, y = lm.scoring_streams(ids, 3, "test")
    for row in range(3):
        lm.reset_states(single)
        for j in range(x.shape[1]):
            # the network called eagerly: its stateful layers carry the state on every backend
            logits = np.asarray(single(x[row:row + 1, j:j + 1], training=False), np.float64)[0, 0]
            assert nats[row, j] == pytest.approx(-lm.log_softmax(logits)[y[row, j]], abs=1e-5)
    assert list(lm.target_positions(ids, 3)) == list(range(1, 3 * 13 + 1))


def test_word_prompts_are_read_as_the_training_text_was():
    vocab = Vocabulary.build(["the", "night", ";", "<eos>"])
    sampler = TextSampler(None, vocab, "words", lowercase=True, split_punctuation=True)
    assert sampler.tokens_of("The NIGHT;\nthe") == (["the", "night", ";", "<eos>", "the"], [])
    plain = TextSampler(None, vocab, "words")
    assert plain.tokens_of("The night;") == (["The", "night;"], ["The", "night;"])


def test_sampling_temperature_and_top_k():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    assert {lm.sample_token(logits, 0.01, None, rng) for _ in range(50)} == {0}
    assert {lm.sample_token(logits, 1.0, 2, rng) for _ in range(300)} == {0, 1}
    draws = np.array([lm.sample_token(logits, 1.0, None, rng) for _ in range(4000)])
    assert np.bincount(draws, minlength=4) / 4000 == pytest.approx([0.5, 0.3, 0.15, 0.05], abs=0.03)


def test_config_refuses_inconsistent_settings():
    base = {"name": "x", "task": "language-model"}
    for bad, words in [({"model": {"tie_weights": True, "units": 64, "embedding": 32}},
                        "must equal model.units"),
                       ({"model": {"dropout": 0.2}}, "between recurrent layers"),
                       ({"data": {"fractions": [0.9, 0.1, 0.0]}}, "above 0"),
                       ({"data": {"fractions": [0.5, 0.2, 0.2]}}, "summing to 1"),
                       ({"strategy": "mirrored"}, "mirrored"),
                       ({"data": {"lowercase": True}}, "shape words"),
                       ({"model": {"cell": "attention"}}, "cell"),
                       ({"model": {"cell": "transformer", "units": 96, "heads": 5}}, "heads: 4"),
                       ({"model": {"cell": "transformer", "context": 101}}, r"model.context <= 100"),
                       ({"model": {"cell": "lstm", "context": 32}}, "transformer setting"),
                       ({"model": {"cell": "transformer", "units": 64, "embedding": 32}}, "must equal"),
                       ({"model": {"cell": "transformer", "tie_weights": False}}, "always its embedding")]:
        with pytest.raises(ScenarioError, match=words):
            validate({**base, **bad})
    assert validate({**base, "data": {"level": "words"}}).ngram_order == 3
    assert validate(base).ngram_order == 5


def test_text_too_short_for_a_batch_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("tiny text\n" * 3)
    path = tmp_path / "s.yaml"
    path.write_text(scenario_text(f"{{path: {tmp_path / 't.txt'}}}"))
    assert lab_main(["run", str(path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "one batch needs" in err and "Traceback" not in err


# lab generate ---------------------------------------------------------------------------------------


def generate(capsys, *argv) -> tuple[int, str, str]:
    code = lab_main(["generate", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_streams_the_same_text_for_the_same_seed(char_run, capsys):
    code, first, _ = generate(capsys, char_run.path, "--prompt", "the ", "--length", 30, "--seed", 5)
    assert code == 0 and first.startswith("the ") and len(first) == len("the ") + 30 + 1
    _, again, _ = generate(capsys, char_run.path, "--prompt", "the ", "--length", 30, "--seed", 5)
    _, other, _ = generate(capsys, char_run.path, "--prompt", "the ", "--length", 30, "--seed", 6)
    assert again == first and other != first


def test_generate_json_has_each_tokens_logprob(char_run, capsys):
    code, out, _ = generate(capsys, char_run.path, "--length", 12, "--top-k", 3, "--temperature", 0.5,
                            "--json")
    data = json.loads(out)
    assert code == 0 and data["prompt"] == "the " and len(data["tokens"]) == 12
    assert data["text"] == "".join(t["token"] for t in data["tokens"])
    assert all(t["logprob"] <= 0 for t in data["tokens"])
    assert data["mean_logprob"] == pytest.approx(np.mean([t["logprob"] for t in data["tokens"]]), abs=1e-5)


def test_serve_streams_plain_data_and_writes_what_the_report_sampled(char_run):
    """What `lab generate` and a web service call: registry.serve("language-model"), plain data in and out;
    seed 1 gives the report's samples again."""
    from lab import registry

    serve = registry.serve("language-model")
    model = serve.TextModel.open(char_run.path)
    assert model.prompt(None) == {"text": "the ", "ids": model.prompt("the ")["ids"], "notes": []}
    pieces = list(model.stream("the ", length=20, temperature=0.5, seed=1))
    assert len(pieces) == 20 and all(set(p) == {"text", "token", "logprob"} for p in pieces)
    sample = "the " + "".join(p["text"] for p in pieces)
    assert f"```text\n{sample}\n```" in char_run.report_path.read_text()
    answer = model.write("the ", length=20, temperature=0.5, top_k=10**6, seed=1)
    assert json.loads(json.dumps(answer)) == answer and answer["text"] == sample[len("the "):]
    assert answer["top_k"] == len(model.sampler.vocab) and answer["run"] == str(char_run.path)
    for settings, setting in [({"length": 0}, "length"), ({"temperature": float("nan")}, "temperature"),
                              ({"top_k": 0}, "top-k"), ({"seed": -1}, "seed")]:
        with pytest.raises(serve.GenerateError) as info:
            model.write("the ", **settings)
        assert info.value.setting == setting
    with pytest.raises(serve.GenerateError, match="never saw in training: 'Z'") as info:
        model.prompt("Zz")
    assert info.value.setting == "prompt"


@pytest.mark.parametrize("argv, words", [
    (["--prompt", "Zébra∑"], "never saw in training: 'Z', 'é', '∑'"),
    (["--temperature", "0"], "--temperature 0"),
    (["--top-k", "0"], "--top-k 0"),
    (["--length", "0"], "--length 0"),
])
def test_generate_refuses_bad_input_without_a_traceback(char_run, capsys, argv, words):
    code, _, err = generate(capsys, char_run.path, *argv)
    assert code == 2 and words in err and "Traceback" not in err


def test_generate_needs_a_finished_language_model_run(char_run, tmp_path, capsys):
    code, _, err = generate(capsys, tmp_path)
    assert code == 2 and "error:" in err
    damaged = tmp_path / "copy"
    import shutil

    shutil.copytree(char_run.path, damaged)
    (damaged / "artifacts" / "language_model.keras").write_bytes(b"not a zip")
    code, _, err = generate(capsys, damaged)
    assert code == 2 and "cannot load the model" in err
    (damaged / "artifacts" / "language_model.json").write_text("[1, 2]")
    code, _, err = generate(capsys, damaged)
    assert code == 2 and "corrupt language-model description" in err
