"""Keras 3 on JAX, from the TensorFlow environment: the classifier task trains, saves and is read back under
KERAS_BACKEND=jax with strategy cpu/auto (what the GPU machine without TensorFlow runs), the TensorFlow-only
strategies are refused with a clear error, and `auto` picks the GPU JAX sees. Each run is a subprocess: the
backend is chosen when Keras is imported. (`make test-jax` runs the whole suite without TensorFlow.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import write_bar_digits

SCENARIO = """name: jax_mlp
task: classifier
seed: 2
strategy: {strategy}
data: {{dataset: mnist, path: {path}, validation: 0.1}}
model: {{kind: mlp, hidden: [32]}}
training: {{epochs: 2, batch_size: 64, learning_rate: 0.003}}
report: {{gallery: 2}}
"""


def lab(args, cwd):
    env = {**os.environ, "KERAS_BACKEND": "jax", "SDL_VIDEODRIVER": "dummy"}
    done = subprocess.run([sys.executable, "-m", "lab", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)
    return done.returncode, done.stdout, done.stderr


def scenario(tmp_path, strategy: str):
    write_bar_digits(tmp_path / "mnist.npz", 500, 100, seed=1)
    path = tmp_path / f"{strategy}.yaml"
    path.write_text(SCENARIO.format(strategy=strategy, path=tmp_path / "mnist.npz"))
    return path


def test_the_classifier_trains_and_predicts_on_jax(tmp_path):
    code, out, err = lab(["run", scenario(tmp_path, "cpu"), "--out", tmp_path / "runs", "--quiet"], tmp_path)
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    env = json.loads((run / "env.json").read_text())
    assert env["keras_backend"] == "jax" and env["strategy"]["chosen"] == "cpu"
    assert env["strategy"]["jit_compile"] is True and "jax compiles" in env["strategy"]["jit_reason"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.5 and summary["epochs_run"] == 2
    code, out, err = lab(["predict", run, "--test-index", 0, "--json"], tmp_path)
    assert code == 0, err
    top = json.loads(out)["predictions"][0]["top"]
    assert len(top) == 3
    # the .keras file written under JAX, read by this process's backend (TensorFlow in `make test`)
    model = keras.saving.load_model(run / "artifacts" / "classifier.keras", safe_mode=True)
    with np.load(tmp_path / "mnist.npz") as data:
        probabilities = np.asarray(model.predict(data["x_test"][:1, ..., None].astype("float32"), verbose=0))
    assert probabilities[0].argmax() == top[0]["class"]
    assert probabilities[0].max() == pytest.approx(top[0]["probability"], abs=1e-4)


def test_tensorflow_only_strategies_are_refused_on_jax(tmp_path):
    code, _, err = lab(["run", scenario(tmp_path, "mirrored"), "--out", tmp_path / "runs"], tmp_path)
    assert code == 2 and "KERAS_BACKEND=jax" in err and "Traceback" not in err


def test_auto_on_jax_picks_the_gpu_jax_sees_and_says_why(monkeypatch):
    """`strategy: auto` under JAX: the first GPU JAX lists, else the CPU; env.json records the reason."""
    from lab import strategy

    monkeypatch.setattr(strategy, "keras_backend", lambda: "jax")
    monkeypatch.setattr(strategy, "devices", lambda: ["gpu:0", "gpu:1", "cpu:0"])
    info = strategy._select_other_backend("auto", "float32", "auto")
    assert info.chosen == "gpu" and info.devices == ["gpu:0"] and "2 GPU(s) visible" in info.reason
    assert info.jit_compile is True
    monkeypatch.setattr(strategy, "devices", lambda: ["cpu:0"])
    info = strategy._select_other_backend("auto", "float32", "auto")
    assert info.chosen == "cpu" and info.reason == "jax backend: no GPU visible"
