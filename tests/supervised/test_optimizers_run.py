"""optimizers end to end through the driver (ranking, resume, validation) and its descents."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from lab.errors import ScenarioError
from lab.execute import execute, is_timing_key
from lab.scenario import load_scenario
from supervised.optimizers.config import KERAS_OPTIMIZERS
from supervised.optimizers.model import SURFACES, beale, descend, rank, surface_values

ROOT = Path(__file__).resolve().parent.parent.parent


def scenario(root, name):
    return str(root / "scenarios" / f"{name}.yaml")


def png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"



def small_optimizers_file(root, folder, keep=("gd", "adam"), **sections):
    """The shipped scenario (its tuned learning rates) with fewer optimizers and smaller budgets."""
    data = yaml.safe_load((root / "scenarios" / "optimizers.yaml").read_text())
    data["optimizers"] = [o for o in data["optimizers"] if o["name"] in keep]
    data["strategy"] = "cpu"
    data["surfaces"].update(steps=300, functions=["rosenbrock"])
    data["network"].update(samples=64, epochs=20, hidden=[8])
    for key, value in sections.items():
        data[key].update(value)
    path = folder / "optimizers.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def optimizers_run(tmp_path_factory):
    """gd and adam (the shipped learning rates), 300 steps on Rosenbrock, a tiny network: run once."""
    folder = tmp_path_factory.mktemp("optimizers")
    path = small_optimizers_file(ROOT, folder)
    return path, execute(path, out=str(folder / "runs"), quiet=True)


def test_adam_beats_gradient_descent_on_rosenbrock_within_the_same_budget(optimizers_run):
    _, run = optimizers_run
    s = run.summary()
    assert s["rosenbrock_final_adam"] < s["rosenbrock_final_gd"]
    assert s["best_rosenbrock"] == "adam" and s["ranking_rosenbrock"] == "adam,gd"
    for key in ("network_loss_gd", "network_loss_adam", "network_accuracy_adam"):
        assert np.isfinite(s[key])
    assert s["best_network"] in ("gd", "adam") and "beale_final_gd" not in s
    for name in ("rosenbrock.png", "network_loss.png"):
        assert png(run.artifacts / name)
    header = run.metrics_path.read_text().splitlines()[0].split(",")
    assert {"rosenbrock_gd", "rosenbrock_adam", "network_loss_gd", "network_loss_adam"} <= set(header)
    assert "Trajectories on rosenbrock" in run.report_path.read_text()


def test_optimizers_resume_skips_finished_ones(optimizers_run, tmp_path, monkeypatch):
    from lab.runs import RunDir
    from supervised.optimizers import train

    path, first = optimizers_run
    calls = []
    real = train.compare_one

    def interrupted(spec, *args):
        calls.append(spec.name)
        if spec.name == "adam" and len(calls) == 2:
            raise KeyboardInterrupt
        yield from real(spec, *args)

    monkeypatch.setattr(train, "compare_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        execute(path, out=str(tmp_path), quiet=True)
    (folder,) = tmp_path.iterdir()
    assert RunDir(folder).status == "interrupted"
    resumed = execute(None, resume=str(folder), quiet=True).summary()
    assert calls == ["gd", "adam", "adam"]  # gd was not run again
    same = {k: v for k, v in first.summary().items() if not is_timing_key(k)}
    assert {k: v for k, v in resumed.items() if not is_timing_key(k)} == same


def test_beale_descent_reaches_its_minimum():
    import keras

    path = descend(keras.optimizers.Adam(0.05), beale, (1.0, 1.5), 1500)
    assert path.shape == (1501, 2) and beale(path[0]) == pytest.approx(41.25)
    np.testing.assert_allclose(path[-1], SURFACES["beale"][1], atol=1e-2)


def test_unknown_optimizer_is_a_validation_error(root, tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario(root, "optimizers"), ["optimizers.1.optimizer=Adamm"])
    text = str(info.value)
    assert "optimizers.1.optimizer" in text and "did you mean `Adam`?" in text and "RMSprop" in text
    cfg = load_scenario(scenario(root, "optimizers"), ["optimizers.1.optimizer=nadam"])
    assert cfg.optimizers[1].optimizer == "Nadam"
    with pytest.raises(ScenarioError, match="appear twice"):
        load_scenario(scenario(root, "optimizers"), ["optimizers.1.name=gd"])
    with pytest.raises(ScenarioError, match="set learning_rate"):
        load_scenario(scenario(root, "optimizers"), ["optimizers.0.options={learning_rate: 0.1}"])


def test_bad_optimizer_options_fail_at_run_start(root, tmp_path):
    with pytest.raises(ScenarioError, match=r"optimizers\.0\.options: SGD rejects .*momentm"):
        execute(small_optimizers_file(root, tmp_path), ["optimizers.0.options={momentm: 0.9}"],
                out=str(tmp_path / "runs"), quiet=True)


def test_static_optimizer_list_matches_keras():
    import inspect

    import keras

    classes = {n for n, c in vars(keras.optimizers).items()
               if inspect.isclass(c) and issubclass(c, keras.optimizers.Optimizer)}
    assert set(KERAS_OPTIMIZERS) == classes - {"Optimizer", "LossScaleOptimizer", "MultiOptimizer"}
    for name in KERAS_OPTIMIZERS:
        getattr(keras.optimizers, name)(learning_rate=0.01)


def test_diverged_runs_rank_last_without_warnings():
    import warnings

    assert rank({"a": None, "b": 2.0, "c": 1.0}) == ["c", "b", "a"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(surface_values("rosenbrock", [1e200, -1e200]))
        assert surface_values("beale", [[3.0, 0.5], [0.0, 0.0]]) == pytest.approx([0.0, 14.203125])
