"""`strategy: mirrored` trains data-parallel: over two logical CPU devices (LAB_LOGICAL_CPUS=2, the way CI
exercises multi-device code without GPUs) a classifier ends where one device ends at the same global
batch. The mirrored run is a `lab run` subprocess, because devices can be split only before TensorFlow
starts; the one-device reference runs in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_bar_digits

from lab.execute import execute

pytestmark = pytest.mark.tensorflow  # TensorFlow's tf.distribute: not in `make test-jax`

SCENARIO = """name: mirrored_mlp
task: classifier
seed: 4
data: {{dataset: mnist, path: {path}, validation: 0}}
model: {{kind: mlp, hidden: [32]}}
training: {{epochs: 2, batch_size: 64, learning_rate: 0.003}}
report: {{gallery: 0}}
"""


def lab(args, tmp_path, **env):
    full = {**os.environ, "SDL_VIDEODRIVER": "dummy", **env}
    done = subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, env=full,
                          cwd=tmp_path, timeout=300)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirrored")
    write_bar_digits(root / "mnist.npz", 512, 128, seed=0)
    path = root / "s.yaml"
    path.write_text(SCENARIO.format(path=root / "mnist.npz"))
    return path


def weights(run_dir):
    import keras

    model = keras.saving.load_model(os.path.join(run_dir, "artifacts", "classifier.keras"), safe_mode=True,
                                    compile=False)
    return model.get_weights()


def only_run(folder):
    (name,) = os.listdir(folder)
    return os.path.join(folder, name)


def test_mirrored_over_two_logical_cpus_equals_one_device(scenario, tmp_path):
    execute(str(scenario), ["strategy=cpu"], out=str(tmp_path / "one"), quiet=True)  # the reference, here
    code, _, err = lab(["run", str(scenario), "--set", "strategy=mirrored", "--out", str(tmp_path / "two"),
                        "--quiet"], tmp_path, LAB_LOGICAL_CPUS="2")
    assert code == 0, err
    one, two = only_run(tmp_path / "one"), only_run(tmp_path / "two")
    env = json.load(open(os.path.join(two, "env.json")))["strategy"]
    assert env["chosen"] == "mirrored" and env["num_replicas"] == 2 and env["devices"] == ["/cpu:0", "/cpu:1"]
    s1, s2 = (json.load(open(os.path.join(r, "summary.json"))) for r in (one, two))
    assert s1["test_accuracy"] > 0.5
    assert s2["test_loss"] == pytest.approx(s1["test_loss"], rel=1e-4, abs=1e-5)
    for a, b in zip(weights(one), weights(two), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_bad_logical_cpu_count_is_a_clear_error(scenario, tmp_path):
    code, _, err = lab(["run", str(scenario), "--set", "strategy=mirrored", "--out", str(tmp_path)], tmp_path,
                       LAB_LOGICAL_CPUS="two")
    assert code == 2 and "LAB_LOGICAL_CPUS='two'" in err and "Traceback" not in err
