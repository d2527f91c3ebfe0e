"""The value-iteration Q-network (network.kind: vin): planning maths, read-out, save/load."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from agents.dqn.config import NetworkConfig  # noqa: E402
from agents.dqn.networks import OFF_GRID, TileReadout, build_q_network, propagate  # noqa: E402
from envs.maze.config import MazeEnvConfig  # noqa: E402
from envs.maze.env import MazeEnv  # noqa: E402


def test_max_plus_propagation_gives_bfs_distances():
    maze = MazeEnvConfig(width=4, height=3, maze_seed=5).build_maze()
    walls = maze.walls.astype(np.float32)
    rows, cols = walls.shape
    gain = 1000.0
    u0 = np.full((1, rows, cols, 1), -1e4, np.float32)
    u0[0, maze.goal[0], maze.goal[1], 0] = gain
    log_p = (-1.0 - 1e6 * walls)[None, ..., None].astype(np.float32)  # one move per floor tile, walls blocked
    u = keras.ops.convert_to_numpy(propagate(keras.ops.convert_to_tensor(u0), keras.ops.convert_to_tensor(log_p),
                                             rows * cols))[0, ..., 0]
    floor = ~maze.walls
    assert np.allclose(gain - u[floor], maze.distance[floor]), "values are not the BFS distances"
    assert OFF_GRID < -1e3


def test_readout_picks_the_marked_tile():
    maps = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
    grid = np.zeros((2, 5, 5, 3), np.float32)
    grid[0, 1, 2, 1] = 1
    grid[1, 4, 0, 1] = 1
    out = keras.ops.convert_to_numpy(TileReadout(1)([maps, grid]))
    assert np.array_equal(out, np.stack([maps[0, 1, 2], maps[1, 4, 0]]))


def test_vin_q_network_shapes_and_safe_load_round_trip(tmp_path):
    env = MazeEnv(MazeEnvConfig(width=3, height=3, maze_seed=1, obs_dtype="uint8"))
    env.reset(seed=0)
    _, obs = env.unwrapped.cell_observations()
    cfg = NetworkConfig(kind="vin", vin_iterations=12, conv_filters=[4], hidden=[8])
    net = build_q_network(obs.shape[1:], 4, cfg, obs_dtype="uint8", obs_high=1.0, seed=3)
    q = keras.ops.convert_to_numpy(net(obs))
    assert q.shape == (len(obs), 4) and np.isfinite(q).all()
    again = build_q_network(obs.shape[1:], 4, cfg, obs_dtype="uint8", obs_high=1.0, seed=3)
    assert np.array_equal(q, keras.ops.convert_to_numpy(again(obs))), "same seed, different network"
    path = tmp_path / "vin.keras"
    net.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert np.array_equal(q, keras.ops.convert_to_numpy(loaded(obs)))


def test_vin_needs_the_maze_grid():
    cfg = NetworkConfig(kind="vin", vin_iterations=4)
    with pytest.raises(ValueError, match="grid observations"):
        build_q_network((27,), 4, cfg)
    with pytest.raises(ValueError, match="dueling"):
        NetworkConfig(kind="vin", dueling=True)
