"""Frames, text, the window and GIFs (envs/maze/render.py)."""

import numpy as np
import pytest
from PIL import Image

from envs.maze import generate as gen
from envs.maze import render as rnd
from envs.maze.layout import parse_layout


@pytest.fixture
def fake_display(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setattr(rnd, "display_problem", lambda: None)


def test_heat_colors_span_the_colour_map():
    values = np.array([[np.nan, 0.0], [5.0, 10.0]])
    finite, colors = rnd.heat_colors(values)
    assert finite.tolist() == [[False, True], [True, True]]
    np.testing.assert_allclose(colors[0], rnd._LUT[0])
    np.testing.assert_allclose(colors[-1], rnd._LUT[255])
    assert not np.allclose(colors[1], colors[0]) and not np.allclose(colors[1], colors[2])
    flat_finite, flat = rnd.heat_colors(np.full((2, 2), 3.0))  # a constant map does not divide by zero
    assert flat_finite.all() and np.isfinite(flat).all()
    none, empty = rnd.heat_colors(np.full((2, 2), np.nan))
    assert not none.any() and empty.shape == (0, 3)


def test_painter_draws_the_maze_and_caches_per_maze():
    a = gen.generate(4, 4, seed=0)
    b = gen.generate(4, 4, seed=1)
    p = rnd.Painter(tile=5)
    fa = p.frame(a, a.start)
    assert fa.shape == (45, 45, 3)
    walls = fa[::5, ::5]  # one pixel per tile (top-left corners)
    np.testing.assert_array_equal((walls == rnd.WALL).all(axis=2), a.walls)
    fb = p.frame(b, b.start)
    assert not np.array_equal(fa, fb)
    np.testing.assert_array_equal(p.frame(a, a.start), fa)
    assert p.frame(a, None)[a.start[0] * 5 + 2, a.start[1] * 5 + 2].tolist() == list(rnd.START)


def test_caption_bar_wraps_long_text():
    short = rnd.caption_bar("steps 3 / optimal 3", 200)
    long = rnd.caption_bar("steps 3 / optimal 3 " * 6, 200)
    assert short.shape[1] == long.shape[1] == 200 and long.shape[0] > short.shape[0]
    assert short.dtype == np.uint8 and (short != rnd.CAPTION_BG).any()


def test_ansi_draws_arrows_and_trail():
    maze = parse_layout("#####\n#S..#\n###G#\n#####")
    actions = np.full(maze.shape, -1)
    actions[1, 2] = 1
    actions[1, 3] = 2
    trail = np.zeros(maze.shape, dtype=bool)
    trail[1, 1] = trail[1, 2] = True
    assert rnd.ansi(maze, (1, 3), trail, actions) == "#####\n#S>A#\n###G#\n#####\n"


def test_save_gif_round_trip_and_atomic(tmp_path):
    maze = gen.generate(3, 3, seed=0)
    p = rnd.Painter(tile=6)
    frames = [p.frame(maze, pos) for pos in gen.shortest_path(maze)]
    out = rnd.save_gif(frames, tmp_path / "walk.gif", fps=10)
    with Image.open(out) as im:
        assert im.n_frames == len(frames) and im.size == (42, 42)
        assert im.info["duration"] == 100
        im.seek(len(frames) - 1)
        last = np.asarray(im.convert("RGB"))
    gr, gc = maze.goal
    assert tuple(last[gr * 6 + 3, gc * 6 + 3]) == rnd.AGENT
    assert [f.name for f in tmp_path.iterdir()] == ["walk.gif"]  # no temporary file left behind
    with pytest.raises(ValueError, match="every frame must be"):
        rnd.save_gif([frames[0], frames[0].astype(np.float32)], tmp_path / "bad.gif")
    with pytest.raises(ValueError, match="every frame must be"):
        rnd.save_gif([frames[0], frames[0][..., 0]], tmp_path / "bad.gif")
    with pytest.raises(ValueError, match="at least one frame"):
        rnd.save_gif([], tmp_path / "empty.gif")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["walk.gif"]
    # frames of different heights (a caption that wraps) are padded to the largest
    tall = p.frame(maze, maze.start, caption="a caption long enough to wrap onto a second line or more")
    out = rnd.save_gif([frames[0], tall], tmp_path / "mixed.gif")
    with Image.open(out) as im:
        assert im.size == (tall.shape[1], tall.shape[0]) and im.n_frames == 2


def test_display_problem_reads_the_environment(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "offscreen")
    assert "offscreen" in rnd.display_problem()
    monkeypatch.delenv("SDL_VIDEODRIVER")
    monkeypatch.setenv("DISPLAY", ":0")
    assert rnd.display_problem() is None
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert rnd.display_problem() is None


def test_window_shows_frames_and_closes_twice(fake_display):
    import pygame

    w = rnd.Window("test", fps=240)
    assert w.events() == [] and not w.is_open
    frame = np.zeros((30, 40, 3), dtype=np.uint8)
    frame[:, :20] = 255
    w.show(frame)
    assert w.is_open
    size = pygame.display.get_surface().get_size()
    assert size[0] / size[1] == pytest.approx(40 / 30, rel=0.05)
    w.show(frame)
    w.close()
    w.close()
    assert not w.is_open
