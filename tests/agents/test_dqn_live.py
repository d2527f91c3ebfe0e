"""`lab run --live` / `lab watch --live` (agents/dqn/live.py): the learning shown as it happens, in a window
or as a time-lapse; its keys; Esc ends in a resumable run; a real window under Xvfb."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from test_dqn_task import TINY

from agents.dqn import live as live_module
from agents.dqn.live import MAX_FRAMES, TimeLapse, curve_strip, greedy_route
from agents.dqn.train import EvalRecord
from envs.maze import render as rnd
from envs.maze.config import env_config
from envs.maze.mazes import build_maze
from lab.cli import main as lab_main
from lab.context import LiveSettings
from lab.errors import StopRequested
from lab.execute import execute
from lab.runs import RunDir

ROOT = Path(__file__).resolve().parents[2]
# a few thousand env steps, no early stop: long enough for several frames, short enough for a test
SHORT = {**TINY, "jit_compile": False,
         "training": {**TINY["training"], "env_steps": 2400, "stop_after_perfect": 0, "eval_every": 400}}


def write(tmp_path, data=SHORT) -> str:
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_headless_live_run_writes_the_time_lapse_and_the_report_shows_it(tmp_path, capsys):
    code = lab_main(["run", write(tmp_path), "--out", str(tmp_path / "runs"), "--live", "--fps", "30"])
    assert code == 0
    (folder,) = (tmp_path / "runs").iterdir()
    run = RunDir.open(folder)
    gif = Image.open(run.artifacts / "learning.gif")
    assert gif.n_frames >= 3  # frames through the whole run, the last one at the end
    assert "learning.gif" in run.report_path.read_text()
    err = capsys.readouterr().err
    assert "frames drawn headless" in err and run.summary()["env_steps"] == 2400


def press(*keys):
    import pygame as pg

    return [pg.event.Event(pg.KEYDOWN, key=k, unicode={pg.K_PLUS: "+"}.get(k, "")) for k in keys]


def test_keys_pause_change_save_and_esc_stops_with_a_checkpoint_that_resumes(tmp_path, monkeypatch, capsys):
    import pygame as pg

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setattr(rnd, "display_problem", lambda: None)  # SDL's dummy driver stands in for a screen
    script = [[], press(pg.K_SPACE), press(pg.K_PLUS, pg.K_n), [], press(pg.K_s), press(pg.K_SPACE)]
    seen = {"paused": False}

    def events(self):
        view = views[-1]
        seen["paused"] |= view.paused
        if script:
            return script.pop(0)
        return press(pg.K_ESCAPE) if view.frames_drawn >= 2 else []

    views = []
    original_init = live_module.LiveView.__init__

    def keep(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        views.append(self)

    monkeypatch.setattr(live_module.LiveView, "__init__", keep)
    monkeypatch.setattr(rnd.Window, "events", events)
    monkeypatch.setattr(live_module, "KEY_POLL_SECONDS", 0.0)
    code = lab_main(["run", write(tmp_path), "--out", str(tmp_path / "runs"), "--live", "--quiet"])
    assert code == 0  # Esc is a clean stop, not an error
    (folder,) = (tmp_path / "runs").iterdir()
    err = capsys.readouterr().err
    assert f"stopped from the live window; continue with: lab run --resume {folder}" in err
    view = views[-1]
    assert seen["paused"] and view.fps == 8.0 and view.mazes.index == 1 and view.stop
    assert len(view.saved) == 1 and view.saved[0].exists() and view.saved[0].name.startswith("live-")
    run = RunDir.open(folder)
    assert run.status == "interrupted" and not run.summary_path.exists()
    stopped_at = yaml.safe_load((run.checkpoints / "dqn.json").read_text())["state"]["env_steps"]
    assert 0 < stopped_at < 2400
    monkeypatch.undo()
    resumed = execute(None, resume=str(folder), quiet=True)
    assert resumed.status == "complete" and resumed.summary()["env_steps"] == 2400


def test_stop_requested_is_a_keyboard_interrupt_the_loop_raises_after_saving(tmp_path, monkeypatch):
    monkeypatch.setattr(live_module.LiveView, "tick", lambda self, trainer, loop: trainer.env_steps >= 800)
    with pytest.raises(StopRequested):
        execute(write(tmp_path), out=str(tmp_path / "runs"), quiet=True, live=LiveSettings(window=False))
    (folder,) = (tmp_path / "runs").iterdir()
    assert RunDir.open(folder).status == "interrupted"
    assert (folder / "artifacts" / "learning.gif").exists()  # the time-lapse so far is kept


@pytest.mark.parametrize("args,message", [
    (["--record"], "--no-window, --record and --fps go with --live"),
    (["--live", "--fps", "0"], "--fps 0: give 0.1 to 60"),
])
def test_bad_live_options_are_usage_errors(tmp_path, capsys, args, message):
    assert lab_main(["run", write(tmp_path), "--out", str(tmp_path / "runs"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing started


def test_live_on_a_task_that_cannot_show_it_says_so(tmp_path, capsys):
    from conftest import bars_scenario

    assert lab_main(["run", str(bars_scenario(tmp_path)), "--live"]) == 2
    assert "--live: only maze-dqn scenarios show their learning live; this is a classifier" in \
        capsys.readouterr().err


def test_watch_live_wants_a_scenario_not_a_run_folder(tmp_path, capsys):
    folder = tmp_path / "run"
    RunDir.create(tmp_path, "x", "maze-dqn", folder="run")
    assert lab_main(["watch", str(folder), "--live"]) == 2
    assert "--live shows training: give a scenario" in capsys.readouterr().err


def test_the_time_lapse_keeps_evenly_spaced_frames_within_its_limit():
    lapse = TimeLapse(1.0)
    for second in range(1000):
        lapse.add(np.zeros((1, 1, 3), np.uint8), float(second))
    assert MAX_FRAMES // 2 < len(lapse.frames) <= MAX_FRAMES and len(lapse.times) == len(lapse.frames)
    assert set(np.diff(lapse.times)) == {lapse.interval} == {16.0}  # one interval between the kept frames


def test_the_greedy_route_follows_the_arrows_and_detects_loops():
    cfg = env_config({"layout": "#####\n#S.G#\n#####"})
    maze = build_maze(cfg)
    east = np.ones(maze.shape, dtype=np.int64)
    assert greedy_route(maze, cfg, (1, 1), east) == ([6, 7, 8], True)
    back_and_forth = east.copy()
    back_and_forth[1, 2] = 3  # west, back to the start
    assert greedy_route(maze, cfg, (1, 1), back_and_forth)[1] is False


def test_the_curves_draw_with_gaps_and_before_any_evaluation():
    assert curve_strip([], 400).shape == (live_module.CURVE_HEIGHT, 400, 3)
    history = [EvalRecord(env_steps=400 * i, success_rate=i / 4, path_ratio=1.5, optimal_share=0.0,
                          epsilon=1 - i / 5, loss=float("nan") if i == 1 else 0.1 / i) for i in range(1, 5)]
    strip = curve_strip(history, 400)
    assert strip.std() > 0  # something was drawn


# --------------------------------------------------------------------------------------------------
# A real window, on an X server of its own


def start_xvfb():
    """(the Xvfb process, its DISPLAY) on a free display number; skip with the reason if it cannot start."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): no X server to open the live window on")
    for number in range(90, 120):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen([xvfb, f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                return proc, f":{number}"
            time.sleep(0.05)
        proc.kill()
    pytest.skip("Xvfb did not start on any display from :90 to :119")


def test_the_live_window_opens_on_a_real_x_server(tmp_path):
    xvfb, display = start_xvfb()
    try:
        env = {**os.environ, "DISPLAY": display, "SDL_VIDEODRIVER": "x11"}
        quick = {**SHORT, "training": {**SHORT["training"], "env_steps": 800}}
        command = [sys.executable, "-m", "lab", "run", write(tmp_path, quick), "--out",
                   str(tmp_path / "runs"), "--live", "--record", "--fps", "30"]
        out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        xvfb.send_signal(signal.SIGTERM)
        xvfb.wait(timeout=20)
    assert out.returncode == 0, out.stderr
    assert "frames drawn in a window" in out.stderr
    (folder,) = (tmp_path / "runs").iterdir()
    assert (folder / "artifacts" / "learning.gif").exists()  # --record: the time-lapse beside the window


def test_lab_watch_live_trains_with_the_time_lapse_then_plays(tmp_path, capsys):
    record = tmp_path / "learning-copy.gif"
    code = lab_main(["watch", write(tmp_path), "--live", "--no-window", "--episodes", "1", "--record",
                     str(record), "--out", str(tmp_path / "runs"), "--quiet"])
    assert code == 0
    (folder,) = (tmp_path / "runs").iterdir()
    out = capsys.readouterr().out
    assert f"learning time-lapse: {record}" in out and "episode 1:" in out
    assert record.read_bytes() == (folder / "artifacts" / "learning.gif").read_bytes()
    assert (folder / "artifacts" / "watch.gif").exists()  # the trained agent's episode, as lab watch records
