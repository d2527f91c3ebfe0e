"""The walkers that learn nothing (envs/maze/explorers.py) and the blind window they are measured with."""

import numpy as np
import pytest

from envs.maze.config import env_config
from envs.maze.env import MazeEnv, tables_for
from envs.maze.explorers import (
    frontier_explorer,
    optimum,
    play,
    random_walk,
    summarise,
    wall_follower,
    window_tiles,
)
from envs.maze.generate import MazeError
from envs.maze.mazes import build_maze

# A loop around a block in the middle, the goal off to the side: the right-hand rule circles the block.
RING = """\
#########
#S......#
#.#####.#
#.#...#.#
#.#.G.#.#
#.#...#.#
#.##.##.#
#.......#
#########"""


def tables(layout=None, **settings):
    cfg = env_config({"layout": layout, "observation": "local", "local_goal": "window"} if layout else
                     {"observation": "local", "local_goal": "window", **settings})
    return cfg, tables_for(build_maze(cfg, 7), cfg)


def test_the_blind_window_shows_the_goal_only_inside_it():
    env = MazeEnv(layout="#######\n#S...G#\n#######", observation="local", local_size=3, local_goal="window")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (18,) and env.observation_space.contains(obs)
    assert obs[9:].sum() == 0  # the goal is 4 tiles away: not in the 3 x 3 window, and no compass
    for _ in range(3):
        obs, *_ = env.step(1)
    assert obs[9:].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0]  # one tile east of the agent
    assert obs[:9].tolist() == [1, 1, 1, 0, 0, 0, 1, 1, 1]


def test_local_goal_belongs_to_the_local_window():
    with pytest.raises(MazeError, match="local_goal: window is a setting of observation: local"):
        env_config({"observation": "grid", "local_goal": "window"})


def test_the_window_is_clipped_at_the_border():
    _, t = tables(width=3, height=3)
    assert sorted(window_tiles(t, 0, 5)) == [0, 1, 2, 7, 8, 9, 14, 15, 16]


def test_every_walker_solves_a_perfect_maze_and_none_beats_the_optimum():
    cfg = env_config({"width": 6, "height": 6, "mazes": "random", "start": "random", "goal": "random",
                      "observation": "local", "local_goal": "window"})
    steps = play(cfg, range(40))
    optimal = np.array(steps["optimum"])
    for name in ("wall_follower", "frontier"):
        assert summarise(steps[name])[0] == 1.0, name
        assert (np.array(steps[name]) >= optimal).all(), name
    assert summarise(steps["random"])[0] < 1.0  # 4 x the tiles is not enough for a random walk every time
    # remembering what it saw beats following a wall, on average
    assert summarise(steps["frontier"])[1] < summarise(steps["wall_follower"])[1]


def test_the_wall_follower_circles_a_loop_the_frontier_explorer_leaves():
    cfg, t = tables(RING)
    assert wall_follower(t, t.start, 500) is None
    assert frontier_explorer(t, t.start, 500, 3) is not None
    assert optimum(t, t.start) == 12  # down, along the bottom, up through the gap


def test_a_random_walk_is_reproducible_and_stops_at_the_limit():
    _, t = tables(width=4, height=4)
    a = random_walk(t, t.start, 5000, np.random.default_rng(3))
    assert a == random_walk(t, t.start, 5000, np.random.default_rng(3)) and a is not None
    assert random_walk(t, t.start, 1, np.random.default_rng(3)) is None


def test_unknown_walkers_are_named():
    with pytest.raises(ValueError, match="unknown walkers"):
        play(env_config({}), [0], ["compass"])


def test_a_new_tile_pays_once_per_episode():
    env = MazeEnv(layout="######\n#S..G#\n######", rewards={"new_tile": 0.5, "step": -0.01, "wall": 0.0})
    env.reset(seed=0)
    rewards = [env.step(a)[1] for a in (1, 3, 1, 1)]  # east (new), back to the start, east (seen), east (new)
    assert rewards == pytest.approx([0.49, -0.01, -0.01, 0.49])
    env.reset(seed=0)
    assert env.step(1)[1] == pytest.approx(0.49)  # a new episode forgets
