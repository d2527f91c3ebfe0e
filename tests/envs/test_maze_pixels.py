"""``observation: pixels``: the agent sees the renderer's frame (envs/maze/env.py, render.py)."""

import numpy as np
import pytest

from envs.maze.config import env_config
from envs.maze.env import MazeEnv
from envs.maze.generate import MazeError
from envs.maze.render import AGENT, GOAL, WALL


@pytest.mark.parametrize("tile", [2, 3, 5])
def test_a_pixel_observation_is_the_rendered_frame_of_the_same_state(tile):
    env = MazeEnv(width=4, height=3, observation="pixels", pixel_tile=tile, tile_pixels=max(4, tile),
                  render_mode="rgb_array", mazes="random", exploring_starts=True)
    if tile < 4:  # the renderer's own frames are at least 4 pixels per tile: draw the same at `tile`
        env.unwrapped._painter = __import__("envs.maze.render", fromlist=["Painter"]).Painter(tile)
    rng = np.random.default_rng(0)
    for episode in range(3):
        obs, _ = env.reset(seed=episode)
        assert obs.shape == (7 * tile, 9 * tile, 3) and obs.dtype == np.uint8
        assert env.observation_space.contains(obs)
        np.testing.assert_array_equal(obs, env.render())  # no trail yet
        env.set_overlay(trail=False)
        for _ in range(20):
            obs, *_ = env.step(int(rng.integers(4)))
            np.testing.assert_array_equal(obs, env.render())


def test_the_frame_shows_walls_goal_and_agent_where_they_are():
    env = MazeEnv(layout="#####\n#S.G#\n#####", observation="pixels", pixel_tile=3)
    obs, _ = env.reset(seed=0)
    tile = lambda r, c: obs[3 * r:3 * r + 3, 3 * c:3 * c + 3]  # noqa: E731
    assert (tile(0, 0) == WALL).all() and (tile(1, 3) == GOAL).all()
    assert (tile(1, 1)[1, 1] == AGENT).all()  # the centre of the agent's cross
    obs, *_ = env.step(1)
    assert (obs[3:6, 6:9][1, 1] == AGENT).all() and not (obs[3:6, 3:6] == AGENT).all(axis=-1).any()


def test_every_cell_observation_is_a_frame_with_the_agent_on_that_cell():
    env = MazeEnv(width=3, height=3, observation="pixels", pixel_tile=2)
    env.reset(seed=0)
    positions, frames = env.cell_observations()
    assert frames.shape == (len(positions), 14, 14, 3)
    for (r, c), frame in zip(positions, frames, strict=True):
        assert (frame[2 * r:2 * r + 2, 2 * c:2 * c + 2] == AGENT).all()


def test_bad_pixel_settings_are_named():
    with pytest.raises(MazeError, match="pixel_tile"):
        env_config({"observation": "pixels", "pixel_tile": 0})
    assert env_config({"observation": "pixels", "obs_dtype": "uint8"}).observation == "pixels"
