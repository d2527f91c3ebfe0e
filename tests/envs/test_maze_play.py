"""``lab play``: headless errors, scenario errors, and a scripted game."""

import os
import subprocess
import sys

import pytest

from envs.maze import play as play_module
from envs.maze import render as rnd
from envs.maze.config import env_config
from envs.maze.generate import MOVES, shortest_path
from envs.maze.mazes import build_maze
from lab import cli


def test_headless_play_is_a_clear_error_with_exit_2(root):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    proc = subprocess.run([sys.executable, "-m", "lab", "play", "--size", "6x4"], capture_output=True,
                          text=True, env=env, cwd=root, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: lab play needs a screen")
    assert "Traceback" not in proc.stderr and "pygame" not in proc.stderr


def test_bad_scenario_env_section_is_reported_before_the_display(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\ntask: maze-dqn\nenv:\n  widht: 4\n  observation: grids\n")
    assert cli.main(["play", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}:4: env.widht: unknown key; did you mean `width`?" in err
    assert f"{f}:5: env.observation" in err


@pytest.mark.parametrize("args,match", [
    (["--size", "12"], "--size 12: expected WIDTHxHEIGHT"),
    (["--size", "1x5"], "width 1 is too small"),
    (["--seed", "-3"], "a seed is a whole number"),
])
def test_bad_arguments(args, match, capsys):
    assert cli.main(["play", *args]) == 2
    assert match in capsys.readouterr().err


def test_size_of_a_layout_cannot_change(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\ntask: t\nenv:\n  layout: |\n    #####\n    #S.G#\n    #####\n")
    assert cli.main(["play", str(f), "--size", "4x4"]) == 2
    assert "fixed layout" in capsys.readouterr().err


def test_a_scripted_game(monkeypatch):
    """Walk the shortest route with arrow keys, see 'optimal!', draw a new maze with N, quit with Esc."""
    import pygame

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setattr(rnd, "display_problem", lambda: None)
    cfg = env_config(width=4, height=3, maze_seed=5, render_fps=240)
    maze = build_maze(cfg, 5)
    path = shortest_path(maze)
    arrow = {0: pygame.K_UP, 1: pygame.K_RIGHT, 2: pygame.K_DOWN, 3: pygame.K_LEFT}
    keys = [arrow[MOVES.index((r2 - r1, c2 - c1))]
            for (r1, c1), (r2, c2) in zip(path, path[1:], strict=False)]
    script = [[]] + [[pygame.event.Event(pygame.KEYDOWN, key=k)] for k in keys]
    script += [[pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RIGHT)]]  # ignored: the game is over
    script += [[pygame.event.Event(pygame.KEYDOWN, key=pygame.K_n)],
               [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE)]]
    feed = iter(script)
    monkeypatch.setattr(rnd.Window, "events", lambda self: next(feed))
    captions = []
    real_caption = play_module.caption
    monkeypatch.setattr(play_module, "caption", lambda *a: captions.append(real_caption(*a)) or captions[-1])
    assert play_module.play(cfg) == 0
    assert captions[0].startswith(f"steps 0 / optimal {maze.optimal_length}  ·  maze seed 5")
    solved = captions[len(keys)]
    assert solved.startswith(f"steps {len(keys)} / optimal {maze.optimal_length}") and "optimal!" in solved
    assert captions[-1].startswith("steps 0 / optimal") and "maze seed 6" in captions[-1]
    assert not pygame.display.get_init()


def test_maze_errors_become_the_commands_lab_errors():
    from lab.commands.play import maze_errors
    from lab.errors import ScenarioError, UsageError

    with pytest.raises(ScenarioError) as info, maze_errors(ScenarioError):
        env_config(width=1, observation="pictures")
    assert "2 problems in the env section" in info.value.message and len(info.value.problems) == 2
    with pytest.raises(UsageError, match="needs a screen"), maze_errors(ScenarioError):
        raise rnd.NoDisplayError("lab play needs a screen, but there is none")


def test_a_blind_window_game_shows_only_what_the_window_has_shown():
    from envs.maze.env import MazeEnv
    from envs.maze.render import GOAL

    cfg = env_config({"layout": "#########\n#S.....G#\n#########", "observation": "local", "local_size": 3,
                      "local_goal": "window", "tile_pixels": 4})
    env = MazeEnv(cfg, render_mode="rgb_array")
    session = play_module._Session(env, cfg)
    assert session.blind and session.seen.sum() == 9  # the 3 x 3 window around the start

    def goal_shown():
        env.set_overlay(seen=session.seen)
        frame = env.render()
        return (frame[4:8, 28:32] == GOAL).all()  # tile (1, 7)

    assert not goal_shown()
    for _ in range(5):
        session.move(1)
    assert goal_shown() and session.seen[1, :8].all() and not session.seen[1, 8]  # (the border: not yet)
    session.move(1)
    assert session.done and "optimal!" in session.state
