"""A tiny VAE run on real digits (lowers the loss, resumes exactly, writes its report), then `lab sample`:
every mode writes a PNG of the expected size, and every bad input is an error without a traceback."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import same_figures
from PIL import Image

from generative.vae.config import VaeModelConfig
from generative.vae.model import build_vae, importance_weighted, predict
from generative.vae.serve import load_model, load_test_digits
from lab import cli
from lab.execute import execute
from lab.runs import RunDir, atomic_write_text, load_run_model
from lab.seeding import stream

MNIST10K = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "mnist10k.npz"
LATENT = 2
QUALITY = "quality: {samples: 100, classifier_epochs: 1}"

pytestmark = pytest.mark.skipif(not MNIST10K.exists(),
                                reason=f"{MNIST10K} is absent (the shared offline MNIST subset)")


def scenario(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "vae_tiny.yaml"
    p.write_text(f"""name: vae_tiny
task: vae
seed: 3
strategy: cpu
data: {{path: {MNIST10K}, train_limit: 600, test_limit: 120}}
model: {{kind: dense, latent_size: {LATENT}, hidden: [64]}}
training: {{epochs: 3, batch_size: 50, learning_rate: 0.003, kl_warmup_epochs: 2}}
evaluation: {{iw_samples: 16, batch_digits: 60}}
sampling: {{grid: 16}}
quality: {{samples: 100, classifier_epochs: 1}}
{extra}""")
    return p


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> RunDir:
    tmp = tmp_path_factory.mktemp("vae")
    return execute(str(scenario(tmp)), out=str(tmp / "runs"), quiet=True)


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.height, im.width


def grid(rows, cols, scale=2):
    from lab.images import grid_size

    return grid_size(rows, cols, scale)


def assert_sample_shares_recomputed(run, s):
    """The sample class shares are what the run's own classifier says of the run's samples, redrawn here.
    (A 3-epoch run on 600 digits draws mostly one or two classes: share max 0.8-1.0 over seeds 3-7; sample
    diversity is a benchmark figure, 8-13% per class for vae_mnist_dense in docs/benchmarks.md.)"""
    classifier = load_run_model(run.checkpoints / "classifier.keras")
    probs, _ = predict(classifier, load_model(run).sample(100, stream(3, "quality-samples")))
    shares = np.bincount(probs.argmax(1), minlength=10) / len(probs)
    assert s["sample_class_share_max"] == pytest.approx(shares.max(), abs=0.011)  # one sample of 100
    assert s["sample_class_share_min"] == pytest.approx(shares.min(), abs=0.011)
    assert s["sample_confident_share"] == pytest.approx(np.mean(probs.max(1) >= 0.9), abs=0.011)


def test_training_lowers_the_loss_on_real_digits(vae_run):
    rows = list(csv.DictReader(open(vae_run.metrics_path)))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    loss = [float(r["loss"]) for r in rows]
    test_elbo = [float(r["test_elbo"]) for r in rows]
    assert loss[-1] < loss[0] and test_elbo[-1] > test_elbo[0]
    assert [float(r["kl_weight"]) for r in rows] == [0.5, 1.0, 1.0]
    s = vae_run.summary()
    # the reference: the same model untrained, scored by the same estimator on the same digits (about -543
    # nats; 3 epochs reach -233 to -241 over seeds 3-7, so 150 nats is far from any rounding)
    untrained = importance_weighted(build_vae(VaeModelConfig(kind="dense", latent_size=LATENT, hidden=[64]),
                                              seed=3),
                                    load_test_digits(vae_run).encoded[:120], 16, stream(3, "iw-estimate"))
    assert s["test_elbo"] > float(untrained["elbo"].mean()) + 150
    assert s["test_log_likelihood_iw"] >= s["test_elbo"]
    assert s["test_reconstruction"] + s["test_kl"] == pytest.approx(-s["test_elbo"], rel=1e-6)
    for key in ("sample_confident_share", "sample_class_share_min", "sample_class_share_max",
                "sample_frechet_distance",
                "classifier_test_accuracy", "train_seconds", "iw_samples"):
        assert key in s
    assert_sample_shares_recomputed(vae_run, s)
    assert s["iw_samples"] == 16 and s["iw_digits"] == 120
    report = vae_run.report_path.read_text()
    assert "Sample quality" in report and "artifacts/samples.png" in report
    assert "importance weighted" in report
    assert png_size(vae_run.artifacts / "samples.png") == grid(4, 4)
    assert (vae_run.checkpoints / "classifier.keras").exists()


def test_cosine_schedule_and_time_limit(tmp_path):
    """The learning rate of every epoch is in metrics.csv; a time limit stops before the epoch that would pass
    it."""
    path = scenario(tmp_path, "")
    text = path.read_text().replace("kl_warmup_epochs: 2}", "kl_warmup_epochs: 2, schedule: cosine, "
                                    "final_learning_rate_fraction: 0.1, time_limit_seconds: 0.001}")
    path.write_text(text.replace(QUALITY, "quality: {enabled: false}"))
    run = execute(str(path), out=str(tmp_path / "runs"), quiet=True)
    rows = list(csv.DictReader(open(run.metrics_path)))
    assert len(rows) == 1 and float(rows[0]["learning_rate"]) == pytest.approx(0.003)
    s = run.summary()
    assert s["epochs_run"] == 1 and "time limit" in s["stop_reason"] and s["binarize"] == "dynamic"


def test_resume_continues_exactly(vae_run, tmp_path, interrupt_after):
    """Interrupted after epoch 2, resumed: the same model as the run that never stopped."""
    path = scenario(tmp_path, "")
    text = path.read_text().replace(QUALITY, "quality: {enabled: false}")
    path.write_text(text)
    interrupt_after(2)
    with pytest.raises(KeyboardInterrupt):
        execute(str(path), out=str(tmp_path / "runs"), quiet=True)
    interrupt_after.disarm()
    (folder,) = list((tmp_path / "runs").iterdir())
    assert RunDir(folder).status == "interrupted"
    resumed = execute(None, resume=str(folder), quiet=True)
    assert [r["step"] for r in csv.DictReader(open(resumed.metrics_path))] == ["1", "2", "3"]
    a, b = vae_run.summary(), resumed.summary()
    assert b["test_elbo"] == a["test_elbo"] and b["test_log_likelihood_iw"] == a["test_log_likelihood_iw"]
    assert "sample_confident_share" not in b
    # a also has the sample-quality figures
    assert {k: v for k, v in same_figures(a, b).items() if k in b} == {}


# --------------------------------------------------------------------------------------------------
# lab sample


def sample(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["sample", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err


@pytest.mark.parametrize("args, shape", [
    (["-n", "10", "--seed", "4", "--temperature", "0.8"], grid(3, 4)),
    (["-n", "64"], grid(8, 8)),
    (["--interpolate", "3", "c8", "--steps", "7"], grid(1, 7)),
    (["--interpolate", "c1", "c7"], grid(1, 10)),
    (["--traverse", "--steps", "5", "--scale", "1"], grid(LATENT, 5, 1)),
    (["--manifold", "--steps", "6"], grid(6, 6)),
    (["--manifold", "--dims", "1", "0", "--steps", "4"], grid(4, 4)),
    (["--reconstruct", "-n", "12"], grid(2, 16)),
    (["--reconstruct", "-n", "3"], grid(1, 6)),
    (["--scatter"], (600, 600)),
])
def test_each_mode_writes_an_image_of_the_expected_size(vae_run, capsys, args, shape):
    code, out, err = sample(capsys, vae_run.path, *args)
    assert code == 0, err
    path = Path(out)
    assert path.is_file() and path.parent == vae_run.artifacts / "samples"
    assert png_size(path) == shape


def test_out_option_and_seeded_samples(vae_run, capsys, tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    for target, seed in ((a, 1), (b, 1), (c, 2)):
        code, out, _ = sample(capsys, vae_run.path, "-n", "9", "--seed", seed, "--out", target)
        assert code == 0 and out == str(target)
    pix = [np.asarray(Image.open(p)) for p in (a, b, c)]
    assert np.array_equal(pix[0], pix[1]) and not np.array_equal(pix[0], pix[2])


def test_the_run_seed_draws_the_runs_samples(vae_run, capsys, tmp_path):
    """samples.png and `lab sample --seed <the run's seed>` draw from the same stream ("prior-samples")."""
    target = tmp_path / "again.png"
    code, _, _ = sample(capsys, vae_run.path, "-n", "16", "--seed", "3", "--out", target)
    assert code == 0
    assert np.array_equal(np.asarray(Image.open(target)),
                          np.asarray(Image.open(vae_run.artifacts / "samples.png")))


def test_serve_answers_with_arrays(vae_run):
    """What a web service would call: plain arrays of pixel probabilities and coordinates."""
    from generative.vae import serve

    run = RunDir.open(vae_run.path)
    model, test = serve.load_model(run), serve.load_test_digits(run)
    assert len(test.grey) == len(test.encoded) == len(test.labels) == 120
    assert set(np.unique(test.encoded)) <= {0.0, 1.0}
    prior = serve.prior_samples(model, 5, seed=7, temperature=0.5)
    assert prior.shape == (5, 784) and np.all((prior >= 0) & (prior <= 1))
    assert np.array_equal(prior, serve.prior_samples(model, 5, seed=7, temperature=0.5))
    assert serve.traversal(model, 4, 2.0).shape == (LATENT, 4, 784)
    assert serve.manifold(model, (0, 1), 3).shape == (3, 3, 784)
    line = serve.interpolation(model, test, [("index", 0), ("class", 7)], 6)
    assert line.shape == (6, 784)
    assert np.allclose(line[0], model.decode(model.encode(test.encoded[:1])[0])[0], atol=1e-6)
    pairs = serve.reconstructions(model, test, 4)
    assert pairs.shape == (4, 2, 784) and np.array_equal(pairs[:, 0], test.grey[:4])
    coords, labels, what = serve.latent_scatter(model, test)
    assert coords.shape == (120, 2) and np.array_equal(labels, test.labels) and what == "z[0] / z[1]"


@pytest.mark.parametrize("args, message", [
    (["--interpolate", "3", "120"],
     "--interpolate: test index 120 is out of range: the run's test set has 120 digits (0 ... 119)"),
    (["--interpolate", "x3", "4"], "give a test-digit index (e.g. 17) or a digit class (c0 ... c9)"),
    (["--interpolate", "c12", "4"], "digit classes are c0 ... c9"),
    (["--manifold", "--dims", "0", "2"], "--dims: dimension 2 is out of range"),
    (["--manifold", "--dims", "1", "1"], "choose two different dimensions"),
    (["--traverse", "--dims", "0", "1"], "--dims only applies to --manifold"),
    (["-n", "0"], "-n must be between 1 and 10000"),
    (["--temperature", "0"], "--temperature must be positive"),
    (["--steps", "1", "--traverse"], "--steps must be between 2 and 100"),
    (["--out", "picture.jpg"], "give a path ending in .png"),
])
def test_bad_arguments_are_errors_without_traceback(vae_run, capsys, args, message):
    code, out, err = sample(capsys, vae_run.path, *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_manifold_on_a_latent_of_size_one(vae_run, capsys, tmp_path):
    import keras

    from generative.vae import model as V
    from generative.vae.config import VaeModelConfig

    folder = tmp_path / "one"
    shutil.copytree(vae_run.path, folder)
    keras.utils.set_random_seed(0)
    V.build_vae(VaeModelConfig(latent_size=1, hidden=[16])).save(folder / "artifacts" / "vae.keras")
    code, _, err = sample(capsys, folder, "--manifold")
    assert code == 2
    assert "--manifold: needs a latent of at least 2 dimensions; this model's latent has 1" in err
    # a 1-D latent still has a scatter (z against the class)
    code, out, _ = sample(capsys, folder, "--scatter")
    assert code == 0 and png_size(out) == (600, 600)


def test_not_a_vae_run_and_not_a_run(capsys, tmp_path):
    other = RunDir.create(tmp_path / "runs", "ae", "autoencoder")
    atomic_write_text(other.scenario_path, "name: ae\ntask: autoencoder\n")
    code, _, err = sample(capsys, other.path)
    assert code == 2 and "a autoencoder run, but lab sample needs a run of vae" in err
    code, _, err = sample(capsys, tmp_path)
    assert code == 2 and "not a run folder" in err


def test_run_without_a_model_yet(vae_run, capsys, tmp_path):
    folder = tmp_path / "early"
    shutil.copytree(vae_run.path, folder)
    # the trained model: a run still in its first epoch has none
    (folder / "artifacts" / "vae.keras").unlink()
    shutil.rmtree(folder / "checkpoints")  # ... nor any checkpoint
    code, _, err = sample(capsys, folder)
    assert code == 2 and "no model yet" in err and "--resume" in err


def test_missing_test_data_is_a_data_error(vae_run, capsys, tmp_path):
    folder = tmp_path / "moved"
    shutil.copytree(vae_run.path, folder)
    text = (folder / "scenario.yaml").read_text().replace(str(MNIST10K), str(tmp_path / "gone.npz"))
    (folder / "scenario.yaml").write_text(text)
    manifest = json.loads((folder / "checkpoints" / "vae.json").read_text())
    manifest["state"]["extra"]["data_path"] = None
    (folder / "checkpoints" / "vae.json").write_text(json.dumps(manifest))
    code, _, err = sample(capsys, folder, "--reconstruct")
    assert code == 2 and "the test digits of" in err and "no such file or folder" in err
