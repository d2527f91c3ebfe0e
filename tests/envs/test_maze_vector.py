"""MazeVectorEnv (envs/maze/vector.py): exactly N single envs, stepped in NumPy."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import envs  # noqa: F401
from envs.maze.env import MazeEnv
from envs.maze.generate import MazeError
from envs.maze.vector import MazeVectorEnv

SETTINGS = [
    {"observation": "grid"},
    {"observation": "grid", "obs_dtype": "uint8", "rewards": {"shaping": True, "shaping_gamma": 0.9}},
    {"observation": "local", "mazes": "random", "train_maze_seeds": [0, 50], "exploring_starts": True},
    {"observation": "coords", "loops": 0.5, "start": "random", "goal": "random", "mazes": "random"},
    {"observation": "pixels", "pixel_tile": 2, "mazes": "random", "train_maze_seeds": [0, 50],
     "exploring_starts": True},
    {"observation": "local", "local_goal": "window", "mazes": "random", "loops": 0.3, "start": "random",
     "goal": "random", "rewards": {"new_tile": 0.05}},
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_vector_env_equals_n_single_envs(settings):
    n = 6
    common = {"width": 3, "height": 3, "max_episode_steps": 25, **settings}
    vec = MazeVectorEnv(n, **common)
    # Gymnasium's own SyncVectorEnv over single envs: same seeding (seed + i), same NEXT_STEP autoreset.
    ref = SyncVectorEnv([lambda: MazeEnv(**common) for _ in range(n)])
    obs_v, info_v = vec.reset(seed=123)
    obs_r, info_r = ref.reset(seed=123)
    np.testing.assert_array_equal(obs_v, obs_r)
    assert obs_v.dtype == obs_r.dtype
    rng = np.random.default_rng(0)
    episodes_ended = 0
    for t in range(300):
        actions = rng.integers(0, 4, size=n)
        out_v = vec.step(actions)
        out_r = ref.step(actions)
        for a, b in zip(out_v[:4], out_r[:4], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"step {t}")
        assert out_v[4].keys() == out_r[4].keys()
        for key in out_r[4]:
            np.testing.assert_array_equal(out_v[4][key], out_r[4][key], err_msg=f"info {key} at step {t}")
            assert out_v[4][key].dtype == out_r[4][key].dtype
        episodes_ended += int((out_v[2] | out_v[3]).sum())
        if t % 50 == 0:
            for i in range(n):
                assert vec.mazes[i].walls.tobytes() == ref.envs[i].unwrapped.maze.walls.tobytes()
    assert episodes_ended > 20  # autoreset was exercised many times, with both terminations and truncations


@pytest.mark.parametrize("observation", ["local", "coords", "pixels", "blind"])
def test_observations_without_the_precomputed_table_are_the_same(observation, monkeypatch):
    import envs.maze.vector as vector_module

    common = {"width": 4, "height": 4, "observation": observation, "mazes": "random", "max_episode_steps": 15}
    if observation == "blind":
        common.update(observation="local", local_goal="window", goal="random")
    fast = MazeVectorEnv(5, **common)
    monkeypatch.setattr(vector_module, "OBS_TABLE_BYTES", 0)  # as for a huge maze: computed per step
    slow = MazeVectorEnv(5, **common)
    assert fast._use_table and not slow._use_table
    np.testing.assert_array_equal(fast.reset(seed=4)[0], slow.reset(seed=4)[0])
    rng = np.random.default_rng(1)
    for _ in range(100):
        a = rng.integers(0, 4, size=5)
        np.testing.assert_array_equal(fast.step(a)[0], slow.step(a)[0])


def test_autoreset_next_step_semantics():
    layout = "#####\n#S.G#\n#####"
    vec = MazeVectorEnv(2, layout=layout)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    vec.reset(seed=0)
    obs, rew, term, trunc, info = vec.step(np.array([1, 3]))
    obs, rew, term, trunc, info = vec.step(np.array([1, 3]))
    assert term.tolist() == [True, False] and rew[0] == 1.0 and info["is_success"].tolist() == [True, False]
    assert vec.agent_pos[0].tolist() == [1, 3]
    # the next step only resets env 0: its action is ignored, reward 0, flags False, first observation of an
    # episode
    obs, rew, term, trunc, info = vec.step(np.array([1, 1]))
    assert rew[0] == 0.0 and not term[0] and not trunc[0]
    assert vec.agent_pos.tolist() == [[1, 1], [1, 2]]
    assert info["distance_to_goal"].tolist() == [2, 1] and info["optimal_length"].tolist() == [2, 2]


def test_make_vec_uses_the_native_vector_env():
    vec = gym.make_vec("lab/Maze-v0", num_envs=4, vectorization_mode="vector_entry_point", width=5, height=4,
                       observation="local")
    assert isinstance(vec.unwrapped, MazeVectorEnv)
    assert vec.num_envs == 4
    obs, info = vec.reset(seed=1)
    assert obs.shape == (4, 27) and vec.observation_space.contains(obs)
    assert vec.single_observation_space.shape == (27,)
    obs, rew, term, trunc, info = vec.step(vec.action_space.sample())
    assert rew.shape == term.shape == trunc.shape == (4,) and info["distance_to_goal"].shape == (4,)
    vec.close()
    vec.close()


def test_config_object_and_helpers():
    from envs.maze.config import env_config
    from envs.maze.make import make_env, make_vector_env

    cfg = env_config(width=4, height=4, observation="coords")
    single = make_env(cfg, render_mode="rgb_array")
    assert single.unwrapped.config == cfg and single.render_mode == "rgb_array"
    vec = make_vector_env(cfg, 3)
    assert vec.observation_space.shape == (3, 4)


def test_reset_mask_and_options():
    vec = MazeVectorEnv(3, width=4, height=4)
    vec.reset(seed=0)
    vec.step(np.array([2, 2, 2]))
    before = vec.agent_pos.copy()
    vec.reset(options={"reset_mask": np.array([False, True, False])})
    after = vec.agent_pos
    assert after[1].tolist() == [1, 1] and after[0].tolist() == before[0].tolist()
    vec.reset(options={"maze_seed": 77})
    assert all(m.seed == 77 for m in vec.mazes)


def test_render_frames_and_text():
    vec = MazeVectorEnv(2, width=3, height=3, render_mode="rgb_array", tile_pixels=6)
    vec.reset(seed=0)
    vec.step(np.array([2, 1]))
    frames = vec.render()
    assert len(frames) == 2 and frames[0].shape == (42, 42, 3) and frames[0].dtype == np.uint8
    text = MazeVectorEnv(2, width=3, height=3, render_mode="ansi")
    text.reset(seed=0)
    assert all(t.count("A") == 1 for t in text.render())


def test_bad_vector_arguments():
    with pytest.raises(MazeError, match="num_envs must be"):
        MazeVectorEnv(0)
    with pytest.raises(MazeError, match="not available for the vector env"):
        MazeVectorEnv(2, render_mode="human")
    vec = MazeVectorEnv(2)
    with pytest.raises(ResetNeeded, match="call reset"):
        vec.step(np.array([0, 0]))
    vec.reset(seed=0)
    for bad in (np.array([0, 4]), np.array([-1, 0]), np.array([0, 1, 2]), np.array([0.0, 1.0])):
        with pytest.raises(ValueError, match="actions must be 2 integers"):
            vec.step(bad)
    with pytest.raises(MazeError, match="needs 2 seeds"):
        vec.reset(seed=[1, 2, 3])
