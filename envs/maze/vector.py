"""``MazeVectorEnv``: N mazes stepped together with NumPy (no Python loop over the envs in a step).

Reachable as ``gymnasium.make_vec("lab/Maze-v0", num_envs=N, vectorization_mode="vector_entry_point")``.
Autoreset follows Gymnasium 1.x ``NEXT_STEP``: the step after a sub-env terminates or truncates
only resets that sub-env (its action is ignored, its reward is 0, terminated and truncated are
False) and returns the first observation of the new episode. A replay buffer must not store that
step as a transition.

Sub-env ``i`` owns its own random generator, seeded with ``seed + i`` by ``reset(seed=seed)``, the
way :class:`gymnasium.vector.SyncVectorEnv` seeds its envs; so N :class:`MazeEnv` seeded alike and
given the same actions produce exactly the same observations, rewards, flags and infos.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.maze import render as rnd
from envs.maze.config import MazeEnvConfig, env_config
from envs.maze.env import MazeTables, check_options, episode_setup, observation_space, tables_for
from envs.maze.generate import Maze, MazeError
from envs.maze.mazes import build_maze, episode_limit

OBS_TABLE_BYTES = 256 * 2**20  # largest precomputed (env, tile) -> observation table for local/coords/pixels


class MazeVectorEnv(VectorEnv):
    """N independent mazes (same size and settings) stepped at once; see :class:`envs.maze.env.MazeEnv`.

    ``info`` holds arrays ``distance_to_goal``, ``optimal_length``, ``is_success`` (and the ``_key``
    masks SyncVectorEnv adds). ``render()`` returns a tuple of frames (``rgb_array``) or texts (``ansi``).
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 8,
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, config: MazeEnvConfig | dict | None = None,
                 render_mode: str | None = None, max_episode_steps: int | None = None, **settings: Any):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise MazeError(f"num_envs must be a whole number >= 1, got {num_envs!r}")
        if max_episode_steps is not None:
            settings["max_episode_steps"] = max_episode_steps
        self.config = cfg = env_config(config, source="MazeVectorEnv", **settings)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise MazeError(f"render_mode {render_mode!r} is not available for the vector env; choose "
                                f"rgb_array or ansi (or None), or render one MazeEnv in human mode")
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "render_fps": cfg.render_fps}
        self.num_envs = n = int(num_envs)
        self.single_action_space = spaces.Discrete(4)
        self.action_space = batch_space(self.single_action_space, n)
        self.single_observation_space = observation_space(cfg)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.max_episode_steps = episode_limit(cfg)
        r = cfg.rewards
        self._goal_r, self._step_r, self._wall_r = float(r.goal), float(r.step), float(r.wall)
        self._shaping = bool(r.shaping)
        self._scale, self._gamma = float(r.shaping_scale), float(r.shaping_gamma)
        self._new_r = float(r.new_tile)
        self._reward_lut = np.array([self._step_r, self._step_r + self._wall_r, self._goal_r, self._goal_r])

        self._fixed = build_maze(cfg)
        t = tables_for(self._fixed, cfg)
        self._rows, self._cols, self._n = t.rows, t.cols, t.n
        self._tables: list[MazeTables] = [t] * n
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._stack_tables(t)
        # global index of each agent's tile: env i's tile p is i * tiles + p
        self._at = self._offset + t.start
        self._visited = np.zeros(n * t.n, dtype=bool)  # tiles stood on this episode (rewards.new_tile)
        self._all_true = np.ones(n, dtype=bool)
        self._all_true.flags.writeable = False  # the `_key` masks of info: shared, so read-only
        self._steps = np.zeros(n, dtype=np.int64)
        self._optimal = np.full(n, t.distance[t.start], dtype=np.int64)
        self._needs_reset = np.zeros(n, dtype=bool)
        self._started = False
        self._trails: list[list[int]] = [[] for _ in range(n)]
        self._painter: rnd.Painter | None = None

    def _stack_tables(self, t: MazeTables) -> None:
        """The per-env arrays of N copies of the fixed maze's tables, flattened (env i's tile p is at
        i * tiles + p), rewritten row by row when an env gets a new maze: a step is then a few ``take``s on
        flat arrays."""
        n, cfg = self.num_envs, self.config
        self._offset = np.arange(n, dtype=np.int64) * t.n
        # _move[4 * g + a]: the global tile index reached from global tile g by action a.
        self._move = (t.move[None] + self._offset[:, None, None]).ravel()
        self._dist = np.tile(t.distance, n)
        self._goal_at = self._offset + t.goal
        self._goal = np.full(n, t.goal, dtype=np.int64)
        # local/coords: one observation per (env, tile) precomputed, so a step's observations are one `take`
        # (unless that table would be too big: huge mazes times many envs compute them per step instead).
        obs_size = int(np.prod(self.single_observation_space.shape))
        itemsize = self.single_observation_space.dtype.itemsize
        self._use_table = cfg.observation != "grid" and n * t.n * obs_size * itemsize <= OBS_TABLE_BYTES
        if self._use_table:
            self._obs_table = np.concatenate([t.obs_table] * n)
        elif cfg.observation == "grid":
            self._grid = np.repeat(t.grid_base[None], n, axis=0)
        elif cfg.observation == "local":
            self._padded = np.tile(t.padded, n)
            self._padded_goal = np.tile(t.padded_goal, n)
            self._padded_offset = np.arange(n, dtype=np.int64) * t.padded.size
            self._window = t.window
            self._origin = t.window_origin
            self._goal_dr = np.tile(t.goal_dr, n)
            self._goal_dc = np.tile(t.goal_dc, n)
            self._row_offset = np.arange(n, dtype=np.int64) * t.rows
            self._col_offset = np.arange(n, dtype=np.int64) * t.cols
        elif cfg.observation == "coords":
            self._row_frac, self._col_frac = t.row_frac, t.col_frac

    # ---- state a caller may read ------------------------------------------------------------------

    @property
    def mazes(self) -> list[Maze]:
        """The maze of each sub-env's current episode."""
        return [t.maze for t in self._tables]

    @property
    def agent_pos(self) -> np.ndarray:
        """(num_envs, 2) tiles (row, col) of the agents."""
        return np.stack(np.divmod(self._at - self._offset, self._cols), axis=1)

    # ---- the API --------------------------------------------------------------------------------------

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        super().reset(seed=None)
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            # Gymnasium's own convention for vector envs (SyncVectorEnv, AsyncVectorEnv): reset(seed=s) seeds
            # sub-env i with s + i. Kept as it is so that N MazeEnvs reset like Gymnasium's vector envs match
            # this one exactly; it is Gymnasium's documented behaviour, not one of the lab's random streams.
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise MazeError(f"reset(seed=[...]) needs {n} seeds (one per env), got {len(seeds)}")
        opts = check_options(options, ("maze_seed", "start", "reset_mask"))
        mask = opts.pop("reset_mask", None)
        if mask is None:
            mask = np.ones(n, dtype=bool)
        else:
            mask = np.asarray(mask)
            if mask.shape != (n,) or mask.dtype != bool:
                raise MazeError(f"reset option reset_mask must be a bool array of shape ({n},)")
        for i in np.flatnonzero(mask):
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(seeds[i])
            self._reset_one(int(i), opts)
        self._needs_reset[mask] = False
        self._started = True
        return self._observe(), self._info(np.zeros(n, dtype=bool))

    def _reset_one(self, i: int, opts: dict) -> None:
        t, pos = episode_setup(self.config, self._rngs[i], opts, self._fixed)
        if t is not self._tables[i]:
            self._tables[i] = t
            tiles = slice(i * t.n, (i + 1) * t.n)
            self._move[i * t.n * 4:(i + 1) * t.n * 4] = t.move.ravel() + i * t.n
            self._dist[tiles] = t.distance
            self._goal[i] = t.goal
            self._goal_at[i] = i * t.n + t.goal
            if self._use_table:
                self._obs_table[i * t.n:(i + 1) * t.n] = t.obs_table
            elif self.config.observation == "grid":
                self._grid[i] = t.grid_base
            elif self.config.observation == "local":
                p = t.padded.size
                self._padded[i * p:(i + 1) * p] = t.padded
                self._padded_goal[i * p:(i + 1) * p] = t.padded_goal
                self._goal_dr[i * t.rows:(i + 1) * t.rows] = t.goal_dr
                self._goal_dc[i * t.cols:(i + 1) * t.cols] = t.goal_dc
        self._at[i] = i * t.n + pos
        self._visited[i * t.n:(i + 1) * t.n] = False
        self._visited[self._at[i]] = True
        self._steps[i] = 0
        self._optimal[i] = t.distance[pos]
        if self.render_mode is not None:
            self._trails[i] = [pos]

    def step(self, actions):
        if not self._started:
            raise ResetNeeded("call reset() before step()")
        a = np.asarray(actions)
        # One reduction checks the range: the bitwise OR of the actions is in 0..3 only if every action is.
        if a.shape != (self.num_envs,) or a.dtype.kind not in "iu" or not 0 <= np.bitwise_or.reduce(a) <= 3:
            raise ValueError(f"actions must be {self.num_envs} integers in 0..3 (N, E, S, W), got "
                             f"{actions!r}")
        here = self._at
        idx = here * 4
        idx += a
        nxt = self._move.take(idx)
        d_new = self._dist.take(nxt)
        terminated = nxt == self._goal_at
        # 0: a plain step, 1: a bump into a wall, 2 (or 3): the goal.
        code = terminated * 2
        code += nxt == here
        reward = self._reward_lut.take(code)
        if self._shaping:
            reward += self._scale * (self._dist.take(here) - self._gamma * d_new)
        if self._new_r:
            reward += self._new_r * ~self._visited.take(nxt)
            self._visited[nxt] = True
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        truncated &= ~terminated
        self._at = nxt
        resetting = self._needs_reset
        if resetting.any():
            for i in np.flatnonzero(resetting):
                self._reset_one(int(i), {})
            reward[resetting] = 0.0
            terminated[resetting] = False
            truncated[resetting] = False
            d_new[resetting] = self._dist.take(self._at[resetting])
        if self.render_mode is not None:
            for i in np.flatnonzero(~resetting):
                self._trails[i].append(int(nxt[i] - self._offset[i]))
        self._needs_reset = terminated | truncated
        return self._observe(), reward, terminated, truncated, self._info(terminated, d_new)

    def _observe(self) -> np.ndarray:
        cfg = self.config
        if self._use_table:
            return self._obs_table.take(self._at, axis=0)
        if cfg.observation == "grid":
            obs = self._grid.copy()
            obs.reshape(-1)[self._at * 3 + 1] = 1  # the agent plane of each env's agent tile
            return obs
        pos = self._at - self._offset
        if cfg.observation == "pixels":  # (too many envs for a table: frames drawn per step)
            return np.concatenate([t.obs_batch(pos[i:i + 1]) for i, t in enumerate(self._tables)])
        if cfg.observation == "coords":
            out = np.empty((self.num_envs, 4), dtype=np.float32)
            out[:, 0] = self._row_frac.take(pos // self._cols)
            out[:, 1] = self._col_frac.take(pos % self._cols)
            out[:, 2] = self._row_frac.take(self._goal // self._cols)
            out[:, 3] = self._col_frac.take(self._goal % self._cols)
            return out
        k2 = self._window.size
        corner = self._padded_offset + self._origin.take(pos)
        if cfg.local_goal == "window":
            at = corner[:, None] + self._window
            return np.concatenate([self._padded.take(at), self._padded_goal.take(at)], axis=1)
        out = np.empty((self.num_envs, k2 + 2), dtype=np.float32)
        self._padded.take(corner[:, None] + self._window, out=out[:, :k2])
        out[:, k2] = self._goal_dr.take(self._row_offset + pos // self._cols)
        out[:, k2 + 1] = self._goal_dc.take(self._col_offset + pos % self._cols)
        return out

    def _info(self, success: np.ndarray, distance: np.ndarray | None = None) -> dict[str, np.ndarray]:
        if distance is None:
            distance = self._dist.take(self._at)
        ones = self._all_true
        return {
            "distance_to_goal": distance, "_distance_to_goal": ones,
            "optimal_length": self._optimal.copy(), "_optimal_length": ones,
            "is_success": success.copy(), "_is_success": ones,
        }

    def render(self):
        if self.render_mode is None:
            return None
        out = []
        for i, t in enumerate(self._tables):
            pos = t.rc[int(self._at[i] - self._offset[i])]
            trail = None
            if len(self._trails[i]) > 1:
                trail = np.zeros(t.n, dtype=bool)
                trail[self._trails[i]] = True
                trail = trail.reshape(t.rows, t.cols)
            if self.render_mode == "ansi":
                out.append(rnd.ansi(t.maze, pos, trail))
            else:
                if self._painter is None:
                    self._painter = rnd.Painter(self.config.tile_pixels)
                out.append(self._painter.frame(t.maze, pos, trail))
        return tuple(out)

    def close_extras(self, **kwargs: Any) -> None:
        self._painter = None
