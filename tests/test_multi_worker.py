"""`strategy: multi-worker` on TensorFlow's own runtime, through `lab launch`: 2 local workers on 127.0.0.1
end with the weights of one process at the same global batch; a worker that dies stops the other with a
clear error; `lab launch --resume` continues from the chief's checkpoint and ends where an uninterrupted
run ends. Plus the custom loop itself, in-process on one device, against Keras fit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_bar_digits

from lab.execute import execute

pytestmark = pytest.mark.tensorflow  # TensorFlow's tf.distribute: not in `make test-jax`

SCENARIO = """name: mw_mlp
task: classifier
seed: 3
data: {{dataset: mnist, path: {path}, validation: 0.1}}
model: {{kind: mlp, hidden: [32, 16], dropout: 0}}
augment: {{crop_padding: 0}}
training: {{epochs: 3, batch_size: 50, learning_rate: 0.003, schedule: cosine}}
report: {{gallery: 0}}
"""


def lab(args, cwd, timeout=240, **env):
    full = {**os.environ, "SDL_VIDEODRIVER": "dummy", **env}
    done = subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, env=full,
                          cwd=cwd, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_worker")
    write_bar_digits(root / "mnist.npz", 630, 100, seed=1)  # 567 training images: the last batch is partial
    path = root / "s.yaml"
    path.write_text(SCENARIO.format(path=root / "mnist.npz"))
    return path


@pytest.fixture(scope="module")
def one_process(scenario, tmp_path_factory):
    """The reference: the same scenario in one process (Keras fit, strategy cpu)."""
    out = tmp_path_factory.mktemp("one")
    return str(execute(str(scenario), ["strategy=cpu"], out=str(out), quiet=True).path)


def weights(run_dir):
    import keras

    model = keras.saving.load_model(os.path.join(run_dir, "artifacts", "classifier.keras"), safe_mode=True,
                                     compile=False)
    return model.get_weights()


def assert_same_weights(a, b, atol=2e-5):
    for x, y in zip(weights(a), weights(b), strict=True):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


def assert_same_predictions(a, b, digits, margin=1e-3):
    """Both runs' classifiers predict the same class for every test image whose two best classes are more
    than ``margin`` apart (weights equal to float rounding may order a near-tie either way on another CPU)."""
    import keras

    with np.load(digits) as f:
        x = f["x_test"][..., None].astype(np.float32)
    probs = [keras.saving.load_model(os.path.join(r, "artifacts", "classifier.keras"), safe_mode=True,
                                     compile=False).predict(x, verbose=0) for r in (a, b)]
    top2 = np.sort(probs[1], axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > margin
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(probs[0].argmax(1)[clear], probs[1].argmax(1)[clear])


def test_two_workers_end_with_the_weights_of_one_process(scenario, one_process, tmp_path):
    code, stdout, err = lab(["launch", "--workers", "2", str(scenario), "--out", str(tmp_path)], tmp_path)
    assert code == 0, err
    run = os.path.join(tmp_path, stdout.strip().splitlines()[-1].removeprefix("run: "))
    assert "[worker 0]" in err and "[worker 1]" in err
    assert_same_weights(run, one_process)
    assert_same_predictions(run, one_process, scenario.parent / "mnist.npz")
    summary = json.load(open(os.path.join(run, "summary.json")))
    assert summary["samples_per_second"] > 0 and summary["epochs_run"] == 3
    env = json.load(open(os.path.join(run, "env.json")))
    assert env["strategy"]["chosen"] == "multi-worker" and env["strategy"]["num_replicas"] == 2
    logs = sorted(os.listdir(os.path.join(run, "logs")))
    assert logs == ["worker-0.log", "worker-1.log", "workers.json"]
    assert "done (a multi-worker run's files are the chief's to write)" in open(
        os.path.join(run, "logs", "worker-1.log")).read()
    # metrics.csv is the chief's alone: one row per epoch
    assert len(open(os.path.join(run, "metrics.csv")).read().strip().splitlines()) == 1 + 3


def test_a_dead_worker_stops_the_other_and_the_run_resumes_from_the_chiefs_checkpoint(scenario, one_process,
                                                                                       tmp_path):
    code, stdout, err = lab(["launch", "--workers", "2", str(scenario), "--out", str(tmp_path), "--grace",
                             "5"],
                            tmp_path, LAB_FAULT_EXIT_AFTER_EPOCH="1:2")  # worker 1 exits after epoch 2
    assert code == 2, err
    assert "worker 1 exited with code 17" in err and "--resume" in err
    (name,) = os.listdir(tmp_path)
    run = os.path.join(tmp_path, name)
    assert json.load(open(os.path.join(run, "run.json")))["status"] == "failed"
    manifest = json.load(open(os.path.join(run, "checkpoints", "classifier.json")))
    assert manifest["state"]["epoch"] >= 2  # the chief checkpointed epoch 2 before it waited for worker 1
    assert not os.path.exists(os.path.join(run, "summary.json"))

    code, stdout, err = lab(["launch", "--workers", "2", "--resume", run], tmp_path)
    assert code == 0, err
    assert "resuming after epoch 2 of 3" in err
    assert_same_weights(run, one_process)
    assert len(open(os.path.join(run, "metrics.csv")).read().strip().splitlines()) == 1 + 3


def test_a_task_without_the_custom_loop_is_refused(tmp_path, root):
    code, _, err = lab(["launch", "--workers", "2", str(root / "scenarios" / "autoencoder_mnist.yaml"),
                        "--out", str(tmp_path)], tmp_path, timeout=60)
    assert code == 2 and "multi-worker" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_the_vae_trains_on_two_workers(tmp_path, mnist10k):
    code, stdout, err = lab(["launch", "--workers", "2", "vae_mnist_dense", "--out", str(tmp_path), "--quiet",
                             "--set", f"data.path={mnist10k}", "--set", "data.train_limit=400",
                             "--set", "data.test_limit=100", "--set", "training.epochs=1",
                             "--set", "model.prior_components=4", "--set", "evaluation.iw_samples=4",
                             "--set", "quality.enabled=false"], tmp_path)
    assert code == 0, err
    run = os.path.join(tmp_path, stdout.strip().splitlines()[-1].removeprefix("run: "))
    summary = json.load(open(os.path.join(run, "summary.json")))
    assert np.isfinite(summary["test_elbo"]) and summary["test_elbo"] < 0
    assert os.path.exists(os.path.join(run, "artifacts", "samples.png"))


# --------------------------------------------------------------------------------------------------
# The custom loop in this process (one device): the same update as Keras fit


def test_replica_trainer_matches_fit_on_one_device():
    import keras
    import tensorflow as tf

    from lab.distributed import ReplicaTrainer, Role, classify_terms

    rng = np.random.default_rng(0)
    x = rng.normal(size=(103, 6)).astype("float32")  # 103 = 3 batches of 32 and one of 7
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 103)]

    def build():
        keras.utils.set_random_seed(5)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(0.01),
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"])
        return model

    fitted = build()
    hist = fitted.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        custom = build()
    trainer = ReplicaTrainer(strategy, custom, classify_terms(0.1), Role())
    for _ in range(2):
        figures = trainer.train_epoch((x, y), 32)
    for a, b in zip(fitted.get_weights(), custom.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert figures["loss"] == pytest.approx(hist.history["loss"][-1], rel=1e-4)
    # weights equal to float rounding: at most one of the 103 predictions may fall the other way of a near-tie
    assert figures["accuracy"] == pytest.approx(hist.history["accuracy"][-1], abs=1.01 / 103)
    evaluated = trainer.evaluate((x, y), batch_size=40)
    reference = fitted.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)
    assert evaluated["loss"] == pytest.approx(reference["loss"], rel=1e-4)


def test_roles_from_tf_config():
    from lab.distributed import role
    from lab.errors import StrategyError

    two = {"cluster": {"worker": ["a:1", "b:2"]}}
    assert role("").is_chief and role("").workers == 1  # no TF_CONFIG: one process
    first = role(json.dumps({**two, "task": {"type": "worker", "index": 0}}))
    second = role(json.dumps({**two, "task": {"type": "worker", "index": 1}}))
    assert (first.is_chief, first.rank, first.workers) == (True, 0, 2)
    assert (second.is_chief, second.rank, second.name) == (False, 1, "worker 1")
    with_chief = {"cluster": {"chief": ["c:1"], "worker": ["a:1", "b:2"]}}
    chief = role(json.dumps({**with_chief, "task": {"type": "chief", "index": 0}}))
    worker0 = role(json.dumps({**with_chief, "task": {"type": "worker", "index": 0}}))
    assert (chief.is_chief, chief.workers) == (True, 3)
    assert (worker0.is_chief, worker0.rank) == (False, 1)
    with pytest.raises(StrategyError, match="task.index 2 is out of range"):
        role(json.dumps({**two, "task": {"type": "worker", "index": 2}}))


def test_workers_of_a_cluster_started_by_hand_must_share_the_scenario(scenario, tmp_path):
    """The path of a real cluster (each worker a `lab run` with its own TF_CONFIG, no launcher): a worker
    whose settings differ from the chief's stops with the difference named; the chief, left alone, stops
    with a clear error instead of waiting for ever."""
    from lab.launch import free_ports, tf_config

    addresses = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index, extra in ((0, []), (1, ["--set", "training.epochs=5"])):
        env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "TF_CONFIG": tf_config(addresses, index)}
        procs.append(subprocess.Popen([sys.executable, "-m", "lab", "run", str(scenario), "--set",
                                       "strategy=multi-worker", "--out", str(tmp_path), *extra],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                      cwd=tmp_path))
    results = [p.communicate(timeout=180) for p in procs]
    assert procs[1].returncode == 2, results[1][1]
    assert "worker 1: this worker's scenario is not the chief's: epochs 5 (the chief's: 3)" in results[1][1]
    assert procs[0].returncode == 2, results[0][1]
    assert "worker 0: the cluster lost a worker" in results[0][1] and "Traceback" not in results[0][1]
    (name,) = os.listdir(tmp_path)  # the chief's folder only; worker 1 wrote nothing here
    assert json.load(open(os.path.join(tmp_path, name, "run.json")))["status"] == "failed"


def test_a_worker_whose_port_is_taken_says_so(scenario, tmp_path):
    """What `lab launch` retries on: TensorFlow cannot listen on the worker's port (held open here)."""
    with socket.socket() as held, socket.socket() as other:
        held.bind(("127.0.0.1", 0))
        held.listen()
        other.bind(("127.0.0.1", 0))
        cluster = [f"127.0.0.1:{held.getsockname()[1]}", f"127.0.0.1:{other.getsockname()[1]}"]
        tf_config = json.dumps({"cluster": {"worker": cluster}, "task": {"type": "worker", "index": 0}})
        code, _, err = lab(["run", str(scenario), "--set", "strategy=multi-worker", "--out", str(tmp_path)],
                           tmp_path, timeout=120, TF_CONFIG=tf_config)
    assert code == 2 and "Traceback" not in err, err
    assert f"could not start its gRPC server at {cluster[0]}" in err
