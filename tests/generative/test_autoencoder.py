"""The autoencoder: PCA baseline maths, input corruption, config checks, and a tiny run on real digits that
is interrupted, resumed, and ends where an uninterrupted run ends."""

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lab import scenario
from lab.errors import ScenarioError

MNIST10K = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "mnist10k.npz"


def test_pca_recovers_data_in_a_subspace():
    from generative.autoencoder.model import mse, pca_fit, pca_reconstruct

    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 20))
    x = rng.normal(size=(200, 3)) @ basis + 5.0
    mean, comps, explained = pca_fit(x, 3)
    assert explained == pytest.approx(1.0)
    assert mse(x, pca_reconstruct(x, mean, comps)) < 1e-20
    _, _, part = pca_fit(x, 1)
    assert 0 < part < 1


def test_bce_and_mse():
    from generative.autoencoder.model import bce, mse

    x = np.array([[0.0, 1.0, 0.5]])
    assert mse(x, x) == 0
    assert bce(x, np.array([[0.0, 1.0, 0.5]])) == pytest.approx(np.log(2) / 3, rel=1e-5)
    assert np.isfinite(bce(x, np.array([[1.0, 0.0, 0.5]])))  # clipped, not infinite


def test_corruption():
    from generative.autoencoder.model import corrupt

    rng = np.random.default_rng(0)
    x = np.full((100, 784), 0.5, np.float32)
    masked = corrupt(x, "masking", 0.3, rng)
    assert np.mean(masked == 0) == pytest.approx(0.3, abs=0.01)
    noisy = corrupt(x, "gaussian", 0.2, rng)
    assert noisy.min() >= 0 and noisy.max() <= 1 and np.std(noisy - x) == pytest.approx(0.2, abs=0.01)
    assert corrupt(x, "none", 0.3, rng) is x


def test_config_checks():
    base = {"name": "ae", "task": "autoencoder"}
    cfg = scenario.validate(dict(base))
    assert cfg.model.hidden == [128] and cfg.model.code_size == 64 and cfg.data.path is None
    with pytest.raises(ScenarioError, match="loss bce needs output_activation sigmoid"):
        scenario.validate({**base, "model": {"output_activation": "linear"}})
    with pytest.raises(ScenarioError, match="did you mean `noise`"):
        scenario.validate({**base, "model": {"denoising": {"nosie": "gaussian"}}})
    with pytest.raises(ScenarioError, match="binarize"):
        scenario.validate({"name": "v", "task": "vae", "data": {"binarize": "sometimes"}})


def test_every_field_is_described():
    from generative.autoencoder.config import AutoencoderScenario
    from generative.vae.config import VaeScenario

    for model in (AutoencoderScenario, VaeScenario):
        missing = [path for path, desc, _ in scenario.field_docs(model) if not desc]
        assert not missing, missing


def test_shipped_scenarios_validate():
    for name in ("autoencoder_mnist", "vae_mnist_dense", "vae_mnist_conv"):
        cfg = scenario.load_scenario(scenario.scenarios_dir() / f"{name}.yaml")
        assert cfg.data.path is None
    dense = scenario.load_scenario(scenario.scenarios_dir() / "vae_mnist_dense.yaml")
    assert dense.model.hidden == [256, 128]


@pytest.mark.skipif(not MNIST10K.exists(), reason=f"{MNIST10K} is absent (the shared offline MNIST subset)")
def test_tiny_run_interrupted_and_resumed(tmp_path, killed_and_resumed):
    from lab.images import grid_size

    path = tmp_path / "ae.yaml"
    path.write_text(f"""name: ae_tiny
task: autoencoder
seed: 2
strategy: cpu
data: {{path: {MNIST10K}, train_limit: 600, test_limit: 100}}
model: {{hidden: [32], code_size: 8, denoising: {{noise: masking, amount: 0.2}}}}
training: {{epochs: 3, batch_size: 32, learning_rate: 0.003}}
pictures: {{strip_digits: 5, pairs: 6}}
""")
    full, resumed = killed_and_resumed(path, epoch=1)

    rows = list(csv.DictReader(open(resumed.metrics_path)))
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert float(rows[-1]["test_mse"]) < float(rows[0]["test_mse"])
    b = resumed.summary()
    assert b["pca_test_mse"] > 0 and b["epochs_run"] == 3 and b["samples_per_second"] > 0
    assert b["mse_ratio_vs_pca"] == pytest.approx(b["test_mse"] / b["pca_test_mse"])
    assert 0 < b["pca_explained_variance"] < 1 and b["code_size"] == 8
    for run in (full, resumed):
        with Image.open(run.artifacts / "training_strips.png") as im:
            assert (im.height, im.width) == grid_size(1 + 3, 5, 2)  # originals + one strip per epoch
        with Image.open(run.artifacts / "reconstructions.png") as im:
            assert (im.height, im.width) == grid_size(1, 6 * 3, 2)  # 6 triples: digit, autoencoder, PCA
    assert np.array_equal(np.asarray(Image.open(full.artifacts / "training_strips.png")),
                          np.asarray(Image.open(resumed.artifacts / "training_strips.png")))
    report = resumed.report_path.read_text()
    assert "PCA, 8 components" in report and "training_strips.png" in report
