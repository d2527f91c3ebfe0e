"""MazeEnv (envs/maze/env.py): the Gymnasium API, rewards, episodes, observations, rendering."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers lab/Maze-v0)
from envs.maze import render as rnd
from envs.maze.env import MazeEnv
from envs.maze.generate import MOVES, MazeError, shortest_path

CORRIDOR = "#######\n#S...G#\n#######"


@pytest.fixture
def fake_display(monkeypatch):
    """Let human mode open a window on SDL's dummy driver (tests have no screen)."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setattr(rnd, "display_problem", lambda: None)


def actions_along(path):
    return [MOVES.index((r2 - r1, c2 - c1)) for (r1, c1), (r2, c2) in zip(path, path[1:], strict=False)]


@pytest.mark.parametrize("settings", [
    {"observation": "grid"},
    {"observation": "grid", "obs_dtype": "uint8"},
    {"observation": "local", "local_size": 3},
    {"observation": "coords"},
    {"observation": "pixels", "pixel_tile": 2},
    {"observation": "local", "local_goal": "window", "loops": 0.3},
    {"observation": "local", "mazes": "random", "loops": 0.3, "exploring_starts": True,
     "rewards": {"shaping": True}},
])
def test_check_env_every_observation_and_render_mode(settings, fake_display):
    # check_env makes the env again in every declared render mode (human included) through its spec.
    for render_mode in (None, "rgb_array", "ansi", "human"):
        env = gym.make("lab/Maze-v0", width=4, height=3, render_mode=render_mode, render_fps=240, **settings)
        check_env(env.unwrapped)
        env.close()
        env.close()


def test_made_with_gymnasium_make_and_spaces():
    env = gym.make("lab/Maze-v0", width=6, height=4)
    obs, info = env.reset(seed=0)
    assert obs.shape == (9, 13, 3) and obs.dtype == np.float32
    assert env.observation_space.contains(obs)
    assert env.action_space == gym.spaces.Discrete(4)
    assert set(info) == {"distance_to_goal", "optimal_length", "is_success"}
    walls, agent, goal = obs[..., 0], obs[..., 1], obs[..., 2]
    maze = env.unwrapped.maze
    np.testing.assert_array_equal(walls, maze.walls)
    assert agent.sum() == 1 and agent[maze.start] == 1 and goal[maze.goal] == 1
    assert env.unwrapped.agent_pos == maze.start


def test_walking_the_shortest_path_ends_the_episode_optimally():
    env = MazeEnv(width=7, height=5, loops=0.2)
    obs, info = env.reset(seed=3)
    maze = env.maze
    assert info["distance_to_goal"] == info["optimal_length"] == maze.optimal_length
    acts = actions_along(shortest_path(maze))
    total = 0.0
    for i, a in enumerate(acts):
        obs, reward, terminated, truncated, info = env.step(a)
        total += reward
        assert info["distance_to_goal"] == maze.optimal_length - i - 1
        assert terminated == (i == len(acts) - 1) and not truncated
    assert info["is_success"] and env.agent_pos == maze.goal
    assert total == pytest.approx(1.0 + (len(acts) - 1) * -0.01)


def test_walls_block_and_cost_more():
    env = MazeEnv(layout=CORRIDOR, rewards={"goal": 5.0, "step": -0.1, "wall": -1.0})
    env.reset(seed=0)
    _, r, term, _, info = env.step(0)  # north: a wall
    assert env.agent_pos == (1, 1) and r == pytest.approx(-1.1) and not term and info["distance_to_goal"] == 4
    _, r, *_ = env.step(3)  # west: a wall
    assert env.agent_pos == (1, 1) and r == pytest.approx(-1.1)
    _, r, *_ = env.step(1)
    assert env.agent_pos == (1, 2) and r == pytest.approx(-0.1)
    for _ in range(2):
        env.step(1)
    _, r, term, trunc, info = env.step(1)
    assert r == 5.0 and term and not trunc and info["is_success"]


def test_shaping_keeps_returns_of_routes_comparable():
    # With gamma = 1 the shaping terms of any route telescope to scale * distance(start).
    layout = "#########\n#S......#\n#.#####.#\n#.......#\n#.#####G#\n#########"
    plain = MazeEnv(layout=layout)
    shaped = MazeEnv(layout=layout, rewards={"shaping": True, "shaping_scale": 0.5, "shaping_gamma": 1.0})
    rng = np.random.default_rng(0)
    for env in (plain, shaped):
        env.reset(seed=0)
    diffs = []
    for _ in range(400):
        a = int(rng.integers(4))
        _, r1, t1, _, _ = plain.step(a)
        _, r2, t2, _, _ = shaped.step(a)
        diffs.append(r2 - r1)
        if t1:
            break
    assert t1 and t2
    assert sum(diffs) == pytest.approx(0.5 * plain.maze.optimal_length)
    # one step towards the goal is worth scale more, one step away scale less
    shaped.reset()
    _, r_towards, *_ = shaped.step(1)
    shaped.reset()
    _, r_away, *_ = shaped.step(0)  # a wall: no progress
    assert r_towards == pytest.approx(-0.01 + 0.5) and r_away == pytest.approx(-0.06)


def test_truncation_default_and_given():
    env = MazeEnv(width=3, height=3)
    assert env.max_episode_steps == 4 * 7 * 7
    env = MazeEnv(layout=CORRIDOR, max_episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(0)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    env.reset()
    assert env.elapsed_steps == 0


def test_determinism_same_seed_same_maze_and_rollout():
    def rollout(seed):
        env = MazeEnv(width=6, height=6, mazes="random", observation="local", exploring_starts=True)
        obs, _ = env.reset(seed=seed)
        out = [obs]
        rng = np.random.default_rng(seed)
        for _ in range(300):
            obs, r, term, trunc, info = env.step(int(rng.integers(4)))
            out.append((obs, r, term, trunc, info["distance_to_goal"]))
            if term or trunc:
                out.append(env.reset()[0])
        return env.maze, out

    (m1, a), (m2, b) = rollout(7), rollout(7)
    np.testing.assert_array_equal(m1.walls, m2.walls)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, tuple):
            np.testing.assert_array_equal(x[0], y[0])
            assert x[1:] == y[1:]
        else:
            np.testing.assert_array_equal(x, y)
    m3, _ = rollout(8)
    assert m3.walls.tobytes() != m1.walls.tobytes()


def test_fixed_and_random_mazes_and_seed_options():
    fixed = MazeEnv(width=5, height=5, maze_seed=11)
    fixed.reset(seed=0)
    first = fixed.maze
    fixed.reset(seed=1)
    assert fixed.maze is first
    fixed.reset(options={"maze_seed": 12})
    assert fixed.maze.walls.tobytes() != first.walls.tobytes() and fixed.maze.seed == 12
    fixed.reset()
    assert fixed.maze is first  # the option holds for one episode

    rand = MazeEnv(width=5, height=5, mazes="random", train_maze_seeds=[100, 110])
    seen = set()
    for i in range(40):
        rand.reset(seed=i)
        assert 100 <= rand.maze.seed < 110
        seen.add(rand.maze.seed)
    assert len(seen) > 5
    rand.reset(options={"maze_seed": 5000})  # an evaluation maze outside the training range
    assert rand.maze.seed == 5000


def test_start_options_and_exploring_starts():
    env = MazeEnv(width=5, height=5)
    _, info = env.reset(seed=0, options={"start": (3, 3)})
    assert env.agent_pos == (3, 3) and info["optimal_length"] == env.maze.distance[3, 3]
    with pytest.raises(MazeError, match="not a floor tile"):
        env.reset(options={"start": (0, 0)})
    with pytest.raises(MazeError, match="unknown reset option"):
        env.reset(options={"begin": (1, 1)})
    explore = MazeEnv(width=5, height=5, exploring_starts=True)
    starts = {explore.reset(seed=s)[1]["optimal_length"] and explore.agent_pos for s in range(30)}
    assert len(starts) > 10 and explore.maze.goal not in starts
    with pytest.raises(MazeError, match="no seeds"):
        MazeEnv(layout=CORRIDOR).reset(options={"maze_seed": 3})


def test_local_and_coords_observations():
    layout = "#####\n#S..#\n#.#.#\n#..G#\n#####"
    env = MazeEnv(layout=layout, observation="local", local_size=3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (11,) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs[:9].reshape(3, 3), [[1, 1, 1], [1, 0, 0], [1, 0, 1]])
    np.testing.assert_allclose(obs[9:], [(3 - 1) / 4, (3 - 1) / 4])
    env.step(1)
    obs, *_ = env.step(1)  # at (1, 3)
    np.testing.assert_array_equal(obs[:9].reshape(3, 3), [[1, 1, 1], [0, 0, 1], [1, 0, 1]])
    np.testing.assert_allclose(obs[9:], [0.5, 0.0])
    big = MazeEnv(layout=layout, observation="local", local_size=5)
    o, _ = big.reset()
    assert o[:25].reshape(5, 5)[0].tolist() == [1, 1, 1, 1, 1]  # beyond the grid counts as wall

    coords = MazeEnv(layout=layout, observation="coords")
    o, _ = coords.reset()
    np.testing.assert_allclose(o, [0.25, 0.25, 0.75, 0.75])
    assert coords.observation_space.contains(o)


def test_cell_observations_match_what_the_agent_sees():
    for mode in ("grid", "local", "coords"):
        env = MazeEnv(width=4, height=4, observation=mode, loops=0.2)
        env.reset(seed=2)
        positions, batch = env.cell_observations()
        floor = np.argwhere(~env.maze.walls)
        np.testing.assert_array_equal(positions, floor)
        assert batch.shape == (len(floor),) + env.observation_space.shape
        assert batch.dtype == env.observation_space.dtype
        for k in (0, 5, len(floor) - 1):
            r, c = positions[k]
            if (r, c) == env.maze.goal:
                continue
            obs, _ = env.reset(options={"start": (r, c)})
            np.testing.assert_array_equal(batch[k], obs)


def test_observations_are_fresh_arrays():
    env = MazeEnv(width=4, height=4, observation="local")
    a, _ = env.reset(seed=0)
    b, *_ = env.step(2)
    c, *_ = env.step(0)
    a[:] = 7
    assert not np.shares_memory(b, c) and (c != 7).all()


def test_bad_construction_arguments():
    with pytest.raises(MazeError, match="render_mode 'video' does not exist"):
        MazeEnv(render_mode="video")
    with pytest.raises(MazeError, match="did you mean `grid`"):
        MazeEnv(observation="grids")
    with pytest.raises(MazeError, match="too small"):
        gym.make("lab/Maze-v0", width=1, height=1)
    env = MazeEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be"):
        env.step(4)


# ---- rendering ---------------------------------------------------------------------------------------


def test_rgb_array_frames_shape_dtype_range():
    env = MazeEnv(width=10, height=10, render_mode="rgb_array", tile_pixels=8)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (21 * 8, 21 * 8, 3) and frame.dtype == np.uint8
    assert frame.min() >= 0 and frame.max() <= 255 and len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4
    r, c = env.agent_pos
    assert tuple(frame[r * 8 + 4, c * 8 + 4]) == rnd.AGENT
    gr, gc = env.maze.goal
    assert tuple(frame[gr * 8 + 1, gc * 8 + 1]) == rnd.GOAL
    assert tuple(frame[0, 0]) == rnd.WALL


def test_trail_heatmap_arrows_and_caption_overlays():
    env = MazeEnv(layout=CORRIDOR, render_mode="rgb_array", tile_pixels=10)
    env.reset(seed=0)
    env.step(1)
    env.step(1)  # trail over (1, 1), (1, 2); agent on (1, 3)
    plain = env.render()
    assert tuple(plain[15, 25]) != rnd.FLOOR  # (1, 2) is tinted by the trail
    assert tuple(plain[15, 45]) == rnd.FLOOR  # (1, 4) not visited
    env.set_overlay(trail=False)
    assert tuple(env.render()[15, 25]) == rnd.FLOOR
    values = np.full((3, 7), np.nan)
    values[1, 4] = 1.0
    values[1, 2] = -1.0
    actions = np.full((3, 7), -1)
    actions[1, 4] = 1  # an arrow pointing east
    env.set_overlay(values=values, actions=actions, caption="steps 2 / optimal 4")
    frame = env.render()
    assert frame.shape[0] > 30 and frame.shape[1] == 70  # a caption bar under the maze
    hi, lo = tuple(frame[12, 42]), tuple(frame[12, 22])
    assert hi != lo and hi != rnd.FLOOR and lo != rnd.FLOOR
    tile = frame[10:20, 40:50]
    assert (tile == rnd.ARROW).all(axis=2).sum() > 5
    arrow = (tile == rnd.ARROW).all(axis=2)
    # pointing east: the wide base on the left, the tip on the right
    assert arrow[:, :4].sum() > arrow[:, 6:].sum() > 0
    with pytest.raises(ValueError, match="must match the tile grid"):
        env.set_overlay(values=np.zeros((2, 2)))
    # rendering only reads: the env is where it was
    assert env.agent_pos == (1, 3) and env.elapsed_steps == 2


def test_ansi_text():
    env = MazeEnv(layout=CORRIDOR, render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "#######\n#A...G#\n#######\n"
    env.step(1)
    assert env.render() == "#######\n#SA..G#\n#######\n"
    env.step(1)
    assert env.render() == "#######\n#SoA.G#\n#######\n"


def test_human_mode_without_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    if sys.platform.startswith("linux"):
        with pytest.raises(rnd.NoDisplayError,
                           match="needs a screen, but neither DISPLAY nor WAYLAND_DISPLAY is set"):
            MazeEnv(render_mode="human")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    with pytest.raises(rnd.NoDisplayError, match="SDL_VIDEODRIVER=dummy draws to no screen"):
        gym.make("lab/Maze-v0", render_mode="human")


def test_human_mode_draws_in_a_window_and_closes_twice(fake_display):
    env = MazeEnv(width=3, height=3, render_mode="human", render_fps=240)
    env.reset(seed=0)
    env.step(1)
    assert env._window is not None and env._window.is_open
    env.close()
    env.close()
    assert env._window is None


def test_pygame_is_not_imported_by_rgb_array_and_ansi_episodes():
    code = """
import sys
import gymnasium as gym
import envs
for mode in ("rgb_array", "ansi"):
    env = gym.make("lab/Maze-v0", width=4, height=4, render_mode=mode)
    env.reset(seed=0)
    for a in [1, 2, 3, 0] * 10:
        env.step(a)
        env.render()
    env.unwrapped.set_overlay(caption="x")
    env.render()
    env.close()
print("pygame" in sys.modules, "tensorflow" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_env_errors_are_value_errors_and_envs_know_no_lab_errors(root):
    """Gymnasium-style errors: the `lab` commands, not the env, turn them into user errors."""
    from lab.errors import LabError

    assert issubclass(MazeError, ValueError) and not issubclass(MazeError, LabError)
    assert not issubclass(rnd.NoDisplayError, LabError)
    with pytest.raises(ValueError, match="unknown reset option"):
        MazeEnv().reset(options={"begin": (1, 1)})
    offenders = [str(p) for p in (root / "envs").rglob("*.py") if "lab.errors" in p.read_text()]
    assert offenders == []
