"""The value iteration network on pixel frames: its planes are taught by the frames (the agent is what
moves, the goal is where episodes end), hand-checked here, and the model saves and loads."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from agents.dqn.agent import DQNAgent
from agents.dqn.config import DQNConfig, NetworkConfig
from agents.dqn.model import PLANES_LAYER, TilePlanes, changed_tiles, localisation_loss, vin_iterations
from envs.maze.env import MazeEnv


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def frames(layout: str, actions, tile: int = 2):
    env = MazeEnv(layout=layout, observation="pixels", pixel_tile=tile)
    out = [env.reset(seed=0)[0]]
    out += [env.step(a)[0] for a in actions]
    return np.stack(out)


CORRIDOR = "######\n#S..G#\n######"


def test_changed_tiles_are_where_the_agent_was_and_is():
    f = frames(CORRIDOR, [1, 0])  # east (moves), north (a wall: stays)
    changed = _np(changed_tiles(f[:-1], f[1:], 2))
    assert changed.shape == (2, 3, 6)
    assert sorted(zip(*np.nonzero(changed[0]), strict=True)) == [(1, 1), (1, 2)]
    assert changed[1].sum() == 0


def planes_at(shape, agent, goal, sharp=50.0):
    """Planes as TilePlanes draws them, peaked on the given tiles."""
    a = np.zeros((1, *shape, 1), np.float32)
    g = np.zeros_like(a)
    a[0, agent[0], agent[1], 0] = sharp
    g[0, goal[0], goal[1], 0] = sharp
    return TilePlanes()([a, g])


def test_tile_planes_are_distributions_over_the_tiles():
    planes = _np(planes_at((3, 6), (1, 1), (1, 4)))
    assert planes.shape == (1, 3, 6, 3)
    np.testing.assert_allclose(planes.sum(axis=(1, 2)), [[0.0, 1.0, 1.0]], atol=1e-5)


def test_the_localisation_loss_is_small_only_for_planes_on_the_agent_and_the_goal():
    f = frames(CORRIDOR, [1, 1, 1])  # three moves east: the last one reaches the goal
    changed = changed_tiles(f[2:3], f[3:4], 2)  # the terminal move, (1, 3) -> (1, 4)
    done = np.array([1.0], np.float32)
    right = localisation_loss(planes_at((3, 6), (1, 3), (1, 4)), planes_at((3, 6), (1, 4), (1, 4)), changed,
                              done)
    swapped = localisation_loss(planes_at((3, 6), (1, 3), (1, 3)), planes_at((3, 6), (1, 4), (1, 4)), changed,
                                done)  # a goal plane on the agent's tile
    wrong = localisation_loss(planes_at((3, 6), (1, 1), (1, 4)), planes_at((3, 6), (1, 4), (1, 4)), changed,
                              done)  # an agent plane on a tile that did not change
    assert float(right) < 0.01 and float(swapped) > 5 and float(wrong) > 5
    # not the end of an episode: the goal plane is not judged
    assert float(localisation_loss(planes_at((3, 6), (1, 3), (1, 3)), planes_at((3, 6), (1, 4), (1, 4)),
                                   changed, np.zeros(1, np.float32))) < 0.01


def test_a_pixel_vin_builds_on_the_tile_grid_and_survives_save_and_load(tmp_path):
    config = DQNConfig(n_step=1, network=NetworkConfig(kind="vin", patch=3, conv_filters=[4], hidden=[8]))
    assert vin_iterations(config.network, (33, 33, 3)) == 60  # 11 * 11 // 2 tiles, not pixels
    agent = DQNAgent((33, 33, 3), 4, config, obs_dtype="uint8", obs_high=255.0, jit_compile=False)
    assert agent.online.get_layer(PLANES_LAYER).output.shape == (None, 11, 11, 3)
    env = MazeEnv(width=5, height=5, observation="pixels", pixel_tile=3, mazes="random")
    obs = np.stack([env.reset(seed=s)[0] for s in range(4)])
    agent.train_step({"obs": obs, "actions": np.array([0, 1, 2, 3]), "rewards": np.zeros(4),
                      "next_obs": obs[::-1], "dones": np.array([0, 0, 0, 1]), "discounts": np.full(4, 0.95),
                      "weights": np.ones(4)})
    agent.save(tmp_path / "agent")
    back = DQNAgent.load(tmp_path / "agent", jit_compile=False)
    np.testing.assert_allclose(back.q_values(obs), agent.q_values(obs), rtol=1e-5)
    with pytest.raises(ValueError, match="expected a batch of observations of shape"):
        agent.q_values(np.zeros((1, 11, 11, 3), np.uint8))
