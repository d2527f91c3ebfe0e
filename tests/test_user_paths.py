"""The paths users take that nothing else runs: `lab watch SCENARIO` headless (the `make demo` path),
mixed-precision training, `deterministic: true`, `lab show --json`, `lab predict --invert`,
`lab bench --device` and `lab graph --format png|svg` with the real Graphviz (Ctrl-C: test_ctrl_c.py)."""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from conftest import bars_scenario
from PIL import Image

from envs.maze.config import env_config
from envs.maze.mazes import build_maze
from lab.cli import main as lab_main
from lab.commands.watch import trained_line
from lab.execute import execute
from lab.runs import RunDir

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope="module")
def bars_run(tmp_path_factory) -> RunDir:
    tmp = tmp_path_factory.mktemp("bars")
    return execute(str(bars_scenario(tmp)), out=str(tmp / "runs"), quiet=True)


# --------------------------------------------------------------------------------------------------
# lab show --json, lab predict --invert, lab graph --format png|svg


def test_show_json_prints_the_summary_and_nothing_else(bars_run, capsys):
    assert lab_main(["show", str(bars_run.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == bars_run.summary()


def predict_json(run: RunDir, picture: Path, invert: str, capsys) -> dict:
    argv = ["predict", str(run.path), str(picture), "--json", "--invert", invert, "--top", "10"]
    assert lab_main(argv) == 0
    (item,) = json.loads(capsys.readouterr().out)["predictions"]
    return item


def probabilities(item: dict) -> dict:
    return {row["class"]: row["probability"] for row in item["top"]}


@pytest.mark.parametrize("background", ["light", "dark"])
def test_predict_invert_auto_follows_the_background_and_yes_no_are_obeyed(bars_run, tmp_path, capsys,
                                                                          background):
    """A light picture (a dark bar on white) is inverted by auto as by yes; a dark one is kept by auto as by
    no; the flag forced the other way gives other probabilities and says so."""
    pixels = np.zeros((28, 28), np.uint8)
    pixels[8, 4:24] = 255
    if background == "light":
        pixels = 255 - pixels
    picture = tmp_path / f"{background}.png"
    Image.fromarray(pixels).save(picture)
    auto, yes, no = (predict_json(bars_run, picture, flag, capsys) for flag in ("auto", "yes", "no"))
    same, other = (yes, no) if background == "light" else (no, yes)
    assert probabilities(auto) == probabilities(same) != probabilities(other)
    assert any(n.startswith("inverted") for n in auto["notes"]) == (background == "light")
    assert "inverted (as asked)" in yes["notes"]
    # --invert no says so where auto would have inverted (a light background), and is silent otherwise
    assert any(n.startswith("not inverted (as asked)") for n in no["notes"]) == (background == "light")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is missing (.ci/run installs it)")
def test_graph_draws_png_and_svg_with_graphviz(bars_run, capsys):
    """Every Keras model of the run (the last checkpoint's and the final one) drawn by the real `dot`."""
    model = keras.saving.load_model(bars_run.artifacts / "classifier.keras", compile=False)
    assert lab_main(["graph", str(bars_run.path), "--format", "png"]) == 0
    pngs = sorted(bars_run.artifacts.glob("graph-*.png"))
    printed = capsys.readouterr().out
    assert len(pngs) == 2 and all(str(p) in printed for p in pngs)
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(png).size[1] > 100
    assert lab_main(["graph", str(bars_run.path), "--format", "svg"]) == 0
    printed = capsys.readouterr().out
    svgs = sorted(bars_run.artifacts.glob("graph-*.svg"))
    assert [p.stem for p in svgs] == [p.stem for p in pngs] and all(str(p) in printed for p in svgs)
    for svg in svgs:
        text = " ".join(ET.parse(svg).getroot().itertext())  # well-formed SVG, the model's layers drawn
        assert all(layer.name in text for layer in model.layers)


# --------------------------------------------------------------------------------------------------
# Mixed precision and determinism


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_in_the_low_dtype_and_keeps_float32_weights(tmp_path, precision):
    try:
        run = execute(str(bars_scenario(tmp_path, precision=precision)), out=str(tmp_path / "runs"),
                      quiet=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    env = json.loads(run.env_path.read_text())
    assert env["strategy"]["precision"].startswith(precision)  # (float16 on a CPU: with a note it is slow)
    s = run.summary()
    assert s["test_accuracy"] > 0.9 and np.isfinite(s["test_loss"])  # float32 reaches 1.0 on these bars
    model = keras.saving.load_model(run.artifacts / "classifier.keras", compile=False)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense and all(layer.dtype_policy.name == precision for layer in dense)
    assert all(w.dtype == "float32" for w in model.weights)  # the variables stay float32
    low = precision.removeprefix("mixed_")
    output = dense[0](np.zeros((1, 784), np.float32))
    assert keras.backend.standardize_dtype(output.dtype) == low  # ...the arithmetic does not


DETERMINISTIC_TWICE = """
import json, sys
from lab.execute import execute
runs = [execute(sys.argv[1], out=sys.argv[2], quiet=True) for _ in range(2)]
print(json.dumps([str(r.path) for r in runs]))
"""


def test_deterministic_runs_of_one_seed_are_identical(tmp_path):
    """`deterministic: true` (TensorFlow's op determinism, which stays on in its process: hence a
    subprocess): the same scenario twice gives the same weights to the bit and the same figures."""
    path = bars_scenario(tmp_path, deterministic=True, training={"epochs": 1})
    done = subprocess.run([sys.executable, "-c", DETERMINISTIC_TWICE, str(path), str(tmp_path / "runs")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    a, b = (RunDir.open(p) for p in json.loads(done.stdout.strip().splitlines()[-1]))
    assert json.loads(a.env_path.read_text())["deterministic"] is True
    timing = ("seconds", "per_second")
    figures = [{k: v for k, v in r.summary().items() if not any(t in k for t in timing)} for r in (a, b)]
    assert figures[0] == figures[1] and "test_accuracy" in figures[0]
    weights = [keras.saving.load_model(r.artifacts / "classifier.keras", compile=False).get_weights()
               for r in (a, b)]
    for x, y in zip(*weights, strict=True):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------------------------------
# lab watch SCENARIO without a display (the make demo path)


RANDOM_MAZES = {
    "name": "watch-demo", "task": "maze-dqn", "seed": 0, "strategy": "cpu",
    "env": {"width": 4, "height": 4, "mazes": "random", "train_maze_seeds": [0, 100], "observation": "grid",
            "obs_dtype": "uint8", "tile_pixels": 8},
    "agent": {"network": {"kind": "mlp", "hidden": [16]}, "learning_starts": 100, "train_freq": 4,
              "target": {"every": 50}, "epsilon": {"decay_steps": 200}, "replay": {"capacity": 1000}},
    "training": {"env_steps": 300, "num_envs": 2, "eval_every": 300, "eval_mazes": 2,
                 "checkpoint_every": 300},
}


def test_watch_of_a_scenario_trains_then_records_the_asked_mazes_without_a_display(tmp_path, monkeypatch,
                                                                                    capsys):
    path = tmp_path / "watch-demo.yaml"
    path.write_text(yaml.safe_dump(RANDOM_MAZES))
    gif = tmp_path / "film.gif"
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert lab_main(["watch", str(path), "--out", str(tmp_path / "runs"), "--record", str(gif), "--seed", "7",
                     "--episodes", "2", "--quiet"]) == 0
    done = capsys.readouterr()
    (folder,) = (tmp_path / "runs").iterdir()
    lines = done.out.splitlines()
    assert lines[0] == trained_line(RunDir.open(folder).summary())
    lines = lines[1:]
    assert lines[0] == f"recording: {gif}" and lines[-1] == f"run: {folder}"
    assert RunDir.open(folder).status == "complete"  # trained to the end first
    assert not (folder / "artifacts" / "watch.gif").exists()  # --record chose the file
    cfg = env_config(**RANDOM_MAZES["env"])
    optimal = [build_maze(cfg, seed).optimal_length for seed in (7, 8)]  # --seed 7: the mazes 7 and 8
    played = [int(line.split("(optimal ")[1].rstrip(")")) for line in lines[1:3]]
    assert [line.startswith(f"episode {i}: ") for i, line in enumerate(lines[1:3], 1)] == [True, True]
    assert played == optimal
    with Image.open(gif) as im:
        assert im.n_frames >= 4 and im.size[0] >= 4 * 2 * 8


def test_the_training_line_of_a_run_that_solved_nothing():
    """300 steps may solve no maze: the path ratio is then None (it raised a TypeError here before)."""
    line = trained_line({"train_seconds": 2.25, "env_steps": 300, "eval_success_rate": 0.0,
                         "eval_path_ratio": None})
    assert line == "trained in 2.2 s, 300 env steps: success 0%, path ratio none solved"
    assert trained_line({"eval_success_rate": 0.5, "eval_path_ratio": 1.25}).endswith("50%, path ratio 1.250")


# --------------------------------------------------------------------------------------------------
# lab bench --device


def test_bench_device_gpu_without_a_gpu_is_refused_before_any_run_folder(tmp_path, monkeypatch, capsys):
    from supervised.bench import measure

    cpu_only = [d for d in measure.list_devices() if d.kind != "GPU"]  # (this machine, its GPUs hidden)
    monkeypatch.setattr(measure, "list_devices", lambda: cpu_only)
    assert lab_main(["bench", "--quick", "--device", "gpu", "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    shown = {"tensorflow": "TensorFlow", "jax": "JAX"}[keras.backend.backend()]
    assert err.startswith("error: ") and "--device gpu" in err and f"no GPU visible to {shown}" in err
    assert not (tmp_path / "runs").exists()
