"""The book's first tasks end to end through the driver: graph-basics, first-network, optimizers."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lab.dot import parse_dot
from lab.errors import ScenarioError
from lab.execute import execute, is_timing_key
from lab.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def scenario(root, name):
    return str(root / "scenarios" / f"{name}.yaml")


def png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------------
# graph-basics


def test_graph_basics_results_and_graphs(root, tmp_path, capsys):
    run = execute(scenario(root, "graph_basics"), ["strategy=cpu"], out=str(tmp_path), quiet=True)
    s = run.summary()
    assert s["add_result"] == pytest.approx(4.5, abs=1e-12)
    assert [s["matvec_0"], s["matvec_1"]] == pytest.approx([9.4, 3.4], abs=1e-12)
    assert [s["affine_0"], s["affine_1"]] == pytest.approx([12.4, 6.4], abs=1e-12)
    # d/dW sum(W.x + b) = [x; x], d/dx = column sums of W, d/db = number of rows
    assert [s[f"grad_w_{i}"] for i in range(4)] == pytest.approx([5, 7, 5, 7])
    assert [s["grad_x_0"], s["grad_x_1"]] == pytest.approx([1.3, 0.9])
    assert s["grad_b"] == pytest.approx(2.0)
    assert [s["dense_0"], s["dense_1"]] == pytest.approx([12.4, 6.4], abs=1e-5) and s["dense_matches_graph"] is True

    for stem in ("add", "matvec", "affine", "gradients", "dense"):
        nodes, edges = parse_dot((run.artifacts / f"{stem}.dot").read_text())
        assert nodes and edges
    affine = (run.artifacts / "affine.dot").read_text()
    assert "= [12.4, 6.4]" in affine and "= [9.4, 3.4]" in affine
    report = run.report_path.read_text()
    assert "[12.4, 6.4]" in report and "4.5" in report and "artifacts/affine" in report

    # the saved Dense layer is what `lab graph` draws
    from lab.cli import main

    assert main(["graph", str(run.path), "--format", "dot"]) == 0
    drawn = capsys.readouterr().out.split()
    assert drawn == [str(run.artifacts / "graph-affine_dense.dot")]
    nodes, _ = parse_dot((run.artifacts / "graph-affine_dense.dot").read_text())
    assert any("affine: Dense" in a["label"] for a in nodes.values())


def test_graph_basics_other_values_and_bad_shapes(root, tmp_path):
    run = execute(scenario(root, "graph_basics"),
                  ["strategy=cpu", "graph.weights=[[1, 2, 3]]", "graph.vector=[1, 1, 2]", "graph.bias=-1",
                   "graph.x=1.25", "graph.y=-4"], out=str(tmp_path), quiet=True)
    s = run.summary()
    assert s["add_result"] == pytest.approx(-2.75) and s["matvec_0"] == pytest.approx(9.0)
    assert s["affine_0"] == pytest.approx(8.0) and "affine_1" not in s
    with pytest.raises(ScenarioError, match=r"as many entries in vector \(2\) as columns in weights \(3\)"):
        execute(scenario(root, "graph_basics"), ["graph.weights=[[1, 2, 3]]"], out=str(tmp_path / "x"), quiet=True)
    assert not (tmp_path / "x").exists()  # validated before any run folder is made


# --------------------------------------------------------------------------------------------------
# first-network


def test_first_network_learns_the_book_table(root, tmp_path):
    import keras

    run = execute(scenario(root, "first_network"), ["strategy=cpu"], out=str(tmp_path), quiet=True)
    s = run.summary()
    y = [0, 0, 1, 1]
    assert s["rounded_equal_y"] is True and s["learned"] is True
    assert [round(s[f"prediction_{i}"]) for i in range(4)] == y
    assert s["final_loss"] < 0.01 and 1 <= s["epochs"] < 10000
    assert png(run.artifacts / "learning_curve.png") and png(run.artifacts / "activations.png")
    rows = [json.loads(json.dumps(r)) for r in __import__("csv").DictReader(run.metrics_path.open())]
    losses = [float(r["loss"]) for r in rows if r.get("loss")]
    assert losses[0] > losses[-1] and len(losses) >= 2

    model = keras.saving.load_model(run.checkpoints / "first_network.keras", safe_mode=True)
    x = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype="float32")
    pred = model.predict(x, verbose=0).ravel()
    np.testing.assert_allclose(pred, [s[f"prediction_{i}"] for i in range(4)], rtol=1e-5)
    assert "![Activation gallery](artifacts/activations.png)" in run.report_path.read_text()


def test_first_network_reports_honestly_when_out_of_budget(root, tmp_path):
    run = execute(scenario(root, "first_network"),
                  ["strategy=cpu", "training.max_epochs=3", "activations.functions=[relu]"], out=str(tmp_path), quiet=True)
    s = run.summary()
    assert s["epochs"] == 3 and s["learned"] is False and s["final_loss"] > 0.01


def test_activation_derivatives_match_finite_differences():
    from supervised.basics import activation_curves

    names = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "softmax", "selu", "swish"]
    x = np.linspace(-3, 3, 61) + 0.013  # off the kinks at 0
    curves = activation_curves(names, x)
    h = 1e-2
    for name in names:
        value, deriv = curves[name]
        up, _ = activation_curves([name], x + h)[name]
        down, _ = activation_curves([name], x - h)[name]
        np.testing.assert_allclose(deriv, (up - down) / (2 * h), atol=2e-3, err_msg=name)
    sig, dsig = curves["sigmoid"]
    np.testing.assert_allclose(curves["softmax"][0], sig, atol=1e-6)  # softmax of (x, 0) is sigmoid(x)
    zero = activation_curves(["sigmoid", "tanh", "leaky_relu"], np.array([0.0, -2.0]))
    assert zero["sigmoid"][1][0] == pytest.approx(0.25) and zero["tanh"][1][0] == pytest.approx(1.0)
    assert zero["leaky_relu"][1][1] == pytest.approx(0.2)


# --------------------------------------------------------------------------------------------------
# optimizers


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
    from supervised import basics

    path, first = optimizers_run
    calls = []
    real = basics.compare_one

    def interrupted(spec, *args):
        calls.append(spec.name)
        if spec.name == "adam" and len(calls) == 2:
            raise KeyboardInterrupt
        yield from real(spec, *args)

    monkeypatch.setattr(basics, "compare_one", interrupted)
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

    from supervised.basics import SURFACES, beale, descend

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

    from supervised.config import KERAS_OPTIMIZERS

    classes = {n for n in dir(keras.optimizers)
               if inspect.isclass(getattr(keras.optimizers, n)) and issubclass(getattr(keras.optimizers, n), keras.optimizers.Optimizer)}
    assert set(KERAS_OPTIMIZERS) == classes - {"Optimizer", "LossScaleOptimizer", "MultiOptimizer"}
    for name in KERAS_OPTIMIZERS:
        getattr(keras.optimizers, name)(learning_rate=0.01)


def test_diverged_runs_rank_last_without_warnings():
    import warnings

    from supervised.basics import _rank, surface_values

    assert _rank({"a": None, "b": 2.0, "c": 1.0}) == ["c", "b", "a"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(surface_values("rosenbrock", [1e200, -1e200]))
        assert surface_values("beale", [[3.0, 0.5], [0.0, 0.0]]) == pytest.approx([0.0, 14.203125])
