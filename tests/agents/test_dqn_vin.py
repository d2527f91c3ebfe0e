"""The value iteration network (``network.kind: vin``): its planner computes BFS distances with an exact
gradient, the read-out picks the agent's tile, the model saves and loads with safe_mode, and hand-set
weights walk every tile of unseen mazes towards the goal."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from agents.dqn.agent import DQNAgent
from agents.dqn.config import DQNConfig, NetworkConfig
from agents.dqn.model import (
    OFF_GRID,
    OFF_GRID_LOGIT,
    TileReadout,
    _neighbours,
    build_q_network,
    move_passability_logits,
    passability_loss,
    propagate,
    vin_iterations,
)
from envs.maze.config import env_config
from envs.maze.env import tables_for
from envs.maze.mazes import build_maze
from lab.compiled import Compiled, value_and_grad
from lab.errors import ScenarioError


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _maze_cfg(cells=3):
    return env_config(dict(width=cells, height=cells, mazes="random", observation="grid", obs_dtype="uint8"))


def _vin_cfg(**kw):
    return NetworkConfig(kind="vin", **{"conv_filters": [4], "hidden": [8], **kw})


def test_vin_shapes_and_iterations():
    cfg = _vin_cfg()
    model = build_q_network((7, 7, 3), 4, cfg, obs_dtype="uint8", seed=0)
    obs = np.zeros((5, 7, 7, 3), np.uint8)
    obs[:, 3, 3, 1] = 1
    obs[:, 5, 5, 2] = 1
    assert _np(model(obs)).shape == (5, 4)
    assert model.get_layer("value_iteration").iterations == vin_iterations(cfg, (7, 7, 3)) == 24  # 7 * 7 // 2
    assert vin_iterations(_vin_cfg(vin_iterations=9), (15, 15, 3)) == 9
    # the maps see the walls and goal planes only: moving the agent changes no map value
    maps = keras.Model(model.input, model.get_layer("reward_cost").output)
    moved = obs.copy()
    moved[:, 3, 3, 1] = 0
    moved[:, 1, 1, 1] = 1
    np.testing.assert_array_equal(_np(maps(obs)), _np(maps(moved)))


def test_vin_needs_the_maze_grid_and_has_no_dueling_head():
    with pytest.raises(ValueError, match=r"vin needs the maze's grid observations \(H, W, 3\)"):
        build_q_network((7, 7, 2), 4, _vin_cfg())
    with pytest.raises(ValueError, match="scores the 4 moves"):
        build_q_network((7, 7, 3), 5, _vin_cfg())
    with pytest.raises(ScenarioError, match=r"vin plans on the maze's grid observations .* shape \(4,\)"):
        DQNAgent((4,), 4, DQNConfig(network={"kind": "vin"}, n_step=1), jit_compile=False)
    with pytest.raises(ValueError, match="dueling does not apply to a vin"):
        NetworkConfig(kind="vin", dueling=True)


def test_readout_picks_the_agents_tile():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 6, 5, 4)).astype(np.float32)
    grid = np.zeros((3, 6, 5, 3), np.float32)
    where = [(0, 0), (2, 3), (5, 4)]
    for b, (r, c) in enumerate(where):
        grid[b, r, c, 1] = 1  # agent
        grid[b, (r + 1) % 6, c, 2] = 1  # a goal elsewhere: ignored
    out = _np(TileReadout(1)([maps, grid]))
    np.testing.assert_allclose(out, np.stack([maps[b, r, c] for b, (r, c) in enumerate(where)]), rtol=1e-6)


def test_propagation_gives_bfs_distances_on_a_maze():
    maze = build_maze(_maze_cfg(5), 17)
    walls = maze.walls.astype(np.float32)[None, :, :, None]
    goal = np.zeros_like(walls)
    goal[0, maze.goal[0], maze.goal[1], 0] = 1
    gain = 1_000.0
    u = _np(propagate(gain * goal, -1.0 - 1e6 * walls, iterations=60))[0, ..., 0]
    floor = ~maze.walls
    np.testing.assert_allclose(gain - u[floor], maze.distance[floor], atol=1e-3)
    # with too few iterations the far tiles keep their own (here: zero) reward
    u_short = _np(propagate(gain * goal, -1.0 - 1e6 * walls, iterations=3))[0, ..., 0]
    assert u_short[maze.start] == 0.0


def _propagate_by_autodiff(u0, log_p, iterations):
    u = u0
    for _ in range(iterations):
        n, e, s, w = _neighbours(u, OFF_GRID)
        u = ops.maximum(u0, log_p + ops.maximum(ops.maximum(n, e), ops.maximum(s, w)))
    return u


@pytest.mark.parametrize("jit", [False, True])
def test_propagation_gradient_equals_differentiating_the_loop(jit):
    rng = np.random.default_rng(1)
    u0 = keras.Variable(3 * rng.normal(size=(2, 6, 7, 1)).astype(np.float32))
    log_p = keras.Variable(-rng.uniform(0.1, 2.0, size=(2, 6, 7, 1)).astype(np.float32))
    weights = rng.normal(size=(2, 6, 7, 1)).astype(np.float32)

    def grads(fn):
        def total():
            return ops.sum(fn(u0.value, log_p.value, 30) * weights), ()

        return tuple(value_and_grad(total, [u0, log_p])[2])

    expected = grads(_propagate_by_autodiff)
    got = Compiled(lambda: grads(propagate), [u0, log_p], jit_compile=jit)()
    assert float(np.abs(_np(expected[1])).sum()) > 1.0  # the costs do get a gradient
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(_np(g), _np(e), atol=1e-5)


def test_save_load_round_trip_with_safe_mode_gives_identical_q_values(tmp_path):
    cfg = _maze_cfg(3)
    model = build_q_network((7, 7, 3), 4, _vin_cfg(), obs_dtype="uint8", seed=3)
    tables = tables_for(build_maze(cfg, 5), cfg)
    obs = tables.obs_batch(tables.floor)
    path = tmp_path / "vin.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_array_equal(_np(loaded(obs)), _np(model(obs)))
    # the same seed builds the same network, another seed another one
    again = build_q_network((7, 7, 3), 4, _vin_cfg(), obs_dtype="uint8", seed=3)
    other = build_q_network((7, 7, 3), 4, _vin_cfg(), obs_dtype="uint8", seed=4)
    np.testing.assert_array_equal(_np(again(obs)), _np(model(obs)))
    assert not np.allclose(_np(other(obs)), _np(model(obs)))


def test_hand_set_weights_walk_every_tile_of_unseen_mazes_towards_the_goal():
    """The architecture can express the optimal policy of any maze: a wall costs far more than any route,
    and Q(move) = symlog(value of the neighbour - value here)."""
    cfg = _maze_cfg(5)
    model = build_q_network((11, 11, 3), 4, _vin_cfg(conv_filters=[], hidden=[], kernel_size=1),
                            obs_dtype="uint8", seed=0)
    maps = model.get_layer("reward_cost")
    kernel = np.zeros((1, 1, 2, 2), np.float32)  # inputs: walls, goal planes -> reward, passability logit
    kernel[0, 0, 0, 1] = -30.0  # walls: logit -20, extra cost exp(2 * 20) capped at exp(20)
    maps.set_weights([kernel, np.array([0.0, 10.0], np.float32)])  # floors: logit 10, extra exp(-20)
    head = model.get_layer("move_q")
    head.set_weights([np.array([[1.0], [0.0]], np.float32), np.zeros(1, np.float32)])
    for seed in (1_000_000, 1_000_001, 1_000_002):
        tables = tables_for(build_maze(cfg, seed), cfg)
        floor = tables.floor[tables.floor != tables.goal]
        actions = _np(model(tables.obs_batch(floor))).argmax(axis=1)
        nxt = tables.move[floor, actions]
        np.testing.assert_array_equal(tables.distance[nxt], tables.distance[floor] - 1)


def test_agent_with_a_vin_trains_and_acts():
    agent = DQNAgent((7, 7, 3), 4, DQNConfig(network=_vin_cfg(), batch_size=8, n_step=1), obs_dtype="uint8",
                     seed=0, jit_compile=False)
    cfg = _maze_cfg(3)
    tables = tables_for(build_maze(cfg, 2), cfg)
    obs = tables.obs_batch(tables.floor[:8])
    before = [w.copy() for w in agent.online.get_weights()]
    out = agent.train_step({"obs": obs, "actions": np.arange(8) % 4, "rewards": np.ones(8), "next_obs": obs,
                            "dones": np.zeros(8), "discounts": np.full(8, 0.9), "weights": np.ones(8)})
    assert np.isfinite(out["loss"])
    changed = [not np.array_equal(a, b) for a, b in zip(before, agent.online.get_weights(), strict=True)]
    assert all(changed)  # every weight, the map convolutions included, got a gradient
    assert agent.greedy_actions(obs).shape == (8,)


def test_passability_loss_is_the_cross_entropy_of_the_aimed_at_tile_against_whether_the_agent_moved():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 5, 5, 2)).astype(np.float32)
    obs = np.zeros((3, 5, 5, 3), np.float32)
    nxt = np.zeros_like(obs)
    obs[0, 2, 2, 1] = 1
    nxt[0, 1, 2, 1] = 1  # moved north
    obs[1, 2, 2, 1] = 1
    nxt[1, 2, 2, 1] = 1  # tried east, stayed
    obs[2, 0, 3, 1] = 1
    nxt[2, 0, 3, 1] = 1  # tried north off the grid, stayed
    actions = np.array([0, 1, 0], np.int32)
    z = np.array([maps[0, 1, 2, 1], maps[1, 2, 3, 1], OFF_GRID_LOGIT])
    moved = np.array([1.0, 0.0, 0.0])
    p = 1 / (1 + np.exp(-z))
    expected = -np.mean(moved * np.log(p) + (1 - moved) * np.log(1 - p))
    got = float(passability_loss(*(ops.convert_to_tensor(a) for a in (maps, obs, nxt, actions))))
    assert got == pytest.approx(expected, rel=1e-5)
    logits = _np(move_passability_logits(maps, obs))
    np.testing.assert_allclose(logits[1],
                               [maps[1, 1, 2, 1], maps[1, 2, 3, 1], maps[1, 3, 2, 1], maps[1, 2, 1, 1]])


def test_passability_loss_needs_one_step_transitions():
    with pytest.raises(ValueError, match="n_step: 1, or passability_loss: 0"):
        DQNConfig(network={"kind": "vin"}, n_step=3)
    DQNConfig(network={"kind": "vin"}, n_step=3, passability_loss=0.0)
    DQNConfig(network={"kind": "cnn"}, n_step=3)  # other networks ignore it


def test_moves_teach_the_planner_that_walls_block():
    """From random moves on one small maze (no reward at all), the passability loss alone makes walls
    impassable and floors open in the planner's map."""
    cfg = _maze_cfg(3)
    tables = tables_for(build_maze(cfg, 2), cfg)
    agent = DQNAgent((7, 7, 3), 4, DQNConfig(network=_vin_cfg(kernel_size=1), batch_size=64, n_step=1,
                                             learning_rate=0.01), obs_dtype="uint8", seed=0,
                     jit_compile=False)
    rng = np.random.default_rng(0)
    maps_of = keras.Model(agent.online.input, agent.online.get_layer("reward_cost").output)
    for _ in range(60):
        tiles = rng.choice(tables.floor, 64)
        actions = rng.integers(0, 4, 64)
        batch = {"obs": tables.obs_batch(tiles), "actions": actions, "rewards": np.zeros(64),
                 "next_obs": tables.obs_batch(tables.move[tiles, actions]), "dones": np.zeros(64),
                 "discounts": np.full(64, 0.9), "weights": np.ones(64)}
        agent.train_step(batch)
    z = _np(maps_of(tables.obs_batch(tables.floor[:1])))[0, ..., 1]
    walls = build_maze(cfg, 2).walls
    # every wall now costs exp(2 * 1.5) = 20 times more extra than any floor tile, and more than 1 move
    assert z[walls].max() < -1.0
    assert z[~walls].min() > z[walls].max() + 1.5


def test_a_resized_vin_keeps_its_weights_and_plans_on_larger_mazes():
    small = DQNAgent((7, 7, 3), 4,
                     DQNConfig(network=_vin_cfg(conv_filters=[], hidden=[], kernel_size=1), n_step=1),
                     obs_dtype="uint8", seed=0, jit_compile=False)
    kernel = np.zeros((1, 1, 2, 2), np.float32)
    kernel[0, 0, 0, 1] = -30.0  # walls block, as in the hand-set test above
    small.online.get_layer("reward_cost").set_weights([kernel, np.array([0.0, 10.0], np.float32)])
    small.online.get_layer("move_q").set_weights(
        [np.array([[1.0], [0.0]], np.float32), np.zeros(1, np.float32)])
    big = small.resized((13, 13, 3))
    assert small.resized((7, 7, 3)) is small
    assert big.online.get_layer("value_iteration").iterations == 13 * 13 // 2
    for a, b in zip(small.online.get_weights(), big.online.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    cfg = _maze_cfg(6)
    tables = tables_for(build_maze(cfg, 1_000_003), cfg)
    floor = tables.floor[tables.floor != tables.goal]
    nxt = tables.move[floor, big.greedy_actions(tables.obs_batch(floor))]
    np.testing.assert_array_equal(tables.distance[nxt], tables.distance[floor] - 1)
    with pytest.raises(ValueError, match="only a vin plans on mazes of another size"):
        DQNAgent((7, 7, 3), 4, DQNConfig(network={"kind": "cnn"}), obs_dtype="uint8",
                 jit_compile=False).resized((9, 9, 3))
