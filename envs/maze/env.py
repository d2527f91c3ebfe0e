"""``MazeEnv``: a Gymnasium environment of procedural mazes (registered as ``lab/Maze-v0``)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.maze import render as rnd
from envs.maze.config import MazeEnvConfig, env_config
from envs.maze.generate import MOVES, Maze, MazeError
from envs.maze.mazes import BoundedCache, build_maze, episode_limit, grid_shape

ACTIONS = ("north", "east", "south", "west")
RENDER_MODES = ("human", "rgb_array", "ansi")


class MazeTables:
    """Everything a step needs about one maze, precomputed once: moves, distances, observation pieces.

    Positions are flat tile indices ``row * cols + col``. Shared by :class:`MazeEnv` and the vector env
    so both compute observations and rewards with the very same numbers.
    """

    def __init__(self, maze: Maze, observation: str, local_size: int, dtype: str, pixel_tile: int = 3,
                 local_goal: str = "direction"):
        self.maze = maze
        rows, cols = maze.shape
        self.rows, self.cols, self.n = rows, cols, rows * cols
        self.observation = observation
        self.dtype = np.dtype(dtype)
        shape = _shape_tables(rows, cols, local_size)
        # move[p, a]: where action a leads from p (p itself when a wall or the border is in the way).
        free = np.zeros((rows + 2, cols + 2), dtype=bool)  # floor, with a wall border
        free[1:-1, 1:-1] = ~maze.walls
        ok = free.ravel().take(shape.neighbour)
        self.move = np.where(ok, shape.unpad.take(shape.neighbour), shape.tiles[:, None])
        self.distance = maze.distance.ravel().astype(np.int64)
        self.goal = maze.goal[0] * cols + maze.goal[1]
        self.start = maze.start[0] * cols + maze.start[1]
        self.floor = np.flatnonzero(free[1:-1, 1:-1])
        self.starts = self.floor[self.floor != self.goal]  # tiles an exploring start may pick
        # Observation pieces (float32 fractions for local/coords, 0/1 planes for grid).
        if observation == "grid":
            base = np.zeros((rows, cols, 3), dtype=self.dtype)
            base[..., 0] = maze.walls
            base[maze.goal[0], maze.goal[1], 2] = 1
            base.flags.writeable = False
            self.grid_base = base
        elif observation == "pixels":
            self.painter = rnd.Painter(pixel_tile)
        else:
            self.row_frac, self.col_frac = shape.row_frac, shape.col_frac
            self.goal_dr = ((maze.goal[0] - shape.row_index) / max(1, rows - 1)).astype(np.float32)
            self.goal_dc = ((maze.goal[1] - shape.col_index) / max(1, cols - 1)).astype(np.float32)
            h = local_size // 2
            padded = np.ones((rows + 2 * h, cols + 2 * h), dtype=np.float32)
            padded[h:h + rows, h:h + cols] = maze.walls
            self.padded = padded.ravel()
            self.local_goal = local_goal
            goal = np.zeros_like(padded)  # the goal plane the window reads when there is no compass
            goal[h + maze.goal[0], h + maze.goal[1]] = 1.0
            self.padded_goal = goal.ravel()
            self.window = shape.window  # offsets of the window from its top-left corner (padded grid)
            self.window_origin = shape.window_origin  # top-left corner of each tile's window (padded grid)
        self._cache: list[np.ndarray | None] = [None] * self.n

    # Python lists for the single env's step (indexing a list is faster than indexing an array);
    # built on first use, so the vector env, which never needs them, does not pay for them.
    @cached_property
    def move_list(self) -> list[tuple[int, ...]]:
        return [tuple(m) for m in self.move.tolist()]

    @cached_property
    def distance_list(self) -> list[int]:
        return self.distance.tolist()

    @cached_property
    def rc(self) -> list[tuple[int, int]]:
        r, c = np.divmod(np.arange(self.n), self.cols)
        return list(zip(r.tolist(), c.tolist(), strict=True))

    @cached_property
    def obs_table(self) -> np.ndarray:
        """(tiles, *shape) observation on every tile, for local/coords/pixels (read-only)."""
        table = self.obs_batch(np.arange(self.n))
        table.flags.writeable = False
        return table

    def obs_at(self, pos: int) -> np.ndarray:
        """A fresh observation array for the agent on tile ``pos``."""
        if self.observation == "grid":
            o = self.grid_base.copy()
            r, c = self.rc[pos]
            o[r, c, 1] = 1
            return o
        cached = self._cache[pos]
        if cached is None:
            cached = self.obs_batch(np.array([pos]))[0]
            cached.flags.writeable = False
            self._cache[pos] = cached
        return cached.copy()

    def obs_batch(self, pos: np.ndarray) -> np.ndarray:
        """Observations for the agent on each tile of ``pos`` (batched on axis 0)."""
        pos = np.asarray(pos, dtype=np.int64)
        r, c = pos // self.cols, pos % self.cols
        if self.observation == "grid":
            out = np.repeat(self.grid_base[None], len(pos), axis=0)
            out[np.arange(len(pos)), r, c, 1] = 1
            return out
        if self.observation == "pixels":
            return self.painter.agent_frames(self.maze, r, c)
        if self.observation == "coords":
            gr, gc = self.maze.goal
            out = np.empty((len(pos), 4), dtype=np.float32)
            out[:, 0] = self.row_frac[r]
            out[:, 1] = self.col_frac[c]
            out[:, 2] = self.row_frac[gr]
            out[:, 3] = self.col_frac[gc]
            return out
        at = self.window_origin[pos][:, None] + self.window[None, :]
        if self.local_goal == "window":
            return np.concatenate([self.padded[at], self.padded_goal[at]], axis=1)
        return np.concatenate([self.padded[at], self.goal_dr[r][:, None], self.goal_dc[c][:, None]], axis=1)


class _ShapeTables(NamedTuple):
    tiles: np.ndarray  # 0 .. n-1
    neighbour: np.ndarray  # (n, 4): index in the wall-bordered grid of each tile's N, E, S, W neighbour
    unpad: np.ndarray  # bordered-grid index -> tile index (-1 on the border)
    row_index: np.ndarray
    col_index: np.ndarray
    row_frac: np.ndarray
    col_frac: np.ndarray
    window: np.ndarray
    window_origin: np.ndarray


@lru_cache(maxsize=32)
def _shape_tables(rows: int, cols: int, local_size: int) -> _ShapeTables:
    """What depends only on the grid's size (shared by every maze of that size)."""
    n = rows * cols
    r, c = np.divmod(np.arange(n), cols)
    pc = cols + 2
    padded_index = (r + 1) * pc + (c + 1)
    deltas = np.array([dr * pc + dc for dr, dc in MOVES])
    unpad = np.full((rows + 2) * pc, -1, dtype=np.int64)
    unpad[padded_index] = np.arange(n)
    h = local_size // 2
    wc = cols + 2 * h
    dy, dx = np.mgrid[0:local_size, 0:local_size]
    out = _ShapeTables(
        tiles=np.arange(n), neighbour=padded_index[:, None] + deltas[None, :], unpad=unpad,
        row_index=np.arange(rows), col_index=np.arange(cols),
        row_frac=(np.arange(rows) / max(1, rows - 1)).astype(np.float32),
        col_frac=(np.arange(cols) / max(1, cols - 1)).astype(np.float32),
        window=(dy * wc + dx).ravel(), window_origin=r * wc + c,
    )
    for a in out:
        a.flags.writeable = False
    return out


_TABLES = BoundedCache(128 * 2**20)


def tables_for(maze: Maze, cfg: MazeEnvConfig) -> MazeTables:
    """The (cached) MazeTables of ``maze`` for the observation settings of ``cfg``."""
    key = (id(maze), cfg.observation, cfg.local_size, cfg.obs_dtype, cfg.pixel_tile, cfg.local_goal)
    hit = _TABLES.get(key)
    if hit is not None and hit[0] is maze:  # the id of a maze no longer alive may be reused
        return hit[1]
    tables = MazeTables(maze, cfg.observation, cfg.local_size, cfg.obs_dtype, cfg.pixel_tile, cfg.local_goal)
    n = tables.n
    obs_bytes = {"grid": 3 * np.dtype(cfg.obs_dtype).itemsize, "pixels": n * 3 * cfg.pixel_tile ** 2}.get(
        cfg.observation, 2 * (cfg.local_size ** 2 + 2) * 4)
    _TABLES.put(key, (maze, tables), n * (4 * 8 + 8 + 8 + obs_bytes) + 2000)
    return tables


def observation_space(cfg: MazeEnvConfig) -> spaces.Box:
    """The Box of one observation for this configuration."""
    dtype = np.dtype(cfg.obs_dtype)
    if cfg.observation == "grid":
        rows, cols = grid_shape(cfg)
        return spaces.Box(0, 1, shape=(rows, cols, 3), dtype=dtype)
    if cfg.observation == "coords":
        return spaces.Box(0.0, 1.0, shape=(4,), dtype=np.float32)
    if cfg.observation == "pixels":
        rows, cols = grid_shape(cfg)
        return spaces.Box(0, 255, shape=(rows * cfg.pixel_tile, cols * cfg.pixel_tile, 3), dtype=np.uint8)
    k2 = cfg.local_size * cfg.local_size
    if cfg.local_goal == "window":
        return spaces.Box(0.0, 1.0, shape=(2 * k2,), dtype=np.float32)
    low = np.concatenate([np.zeros(k2), [-1.0, -1.0]]).astype(np.float32)
    return spaces.Box(low, np.ones(k2 + 2, dtype=np.float32), dtype=np.float32)


def check_options(options: dict | None, allowed: Sequence[str] = ("maze_seed", "start")) -> dict:
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise MazeError(f"unknown reset option(s) {', '.join(map(repr, unknown))}; known: "
                        f"{', '.join(allowed)}")
    return opts


def episode_setup(cfg: MazeEnvConfig, rng: np.random.Generator, opts: dict,
                  fixed: Maze) -> tuple[MazeTables, int]:
    """The maze and the start tile of a new episode (the same draws for the single and the vector env)."""
    maze_seed = opts.get("maze_seed")
    if maze_seed is not None:
        if cfg.has_layout:
            raise MazeError("reset option maze_seed: this env plays a fixed layout, which has no seeds")
        if isinstance(maze_seed, bool) or not isinstance(maze_seed, (int, np.integer)) or maze_seed < 0:
            raise MazeError(f"reset option maze_seed must be a whole number >= 0, got {maze_seed!r}")
        maze = build_maze(cfg, int(maze_seed))
    elif cfg.mazes == "random":
        lo, hi = cfg.train_maze_seeds
        maze = build_maze(cfg, int(rng.integers(lo, hi)))
    else:
        maze = fixed
    tables = tables_for(maze, cfg)
    start = opts.get("start")
    if start is not None:
        try:
            r, c = (int(v) for v in start)
        except (TypeError, ValueError):
            raise MazeError(f"reset option start must be (row, col) of a tile, got {start!r}") from None
        if not (0 <= r < tables.rows and 0 <= c < tables.cols) or maze.walls[r, c] or (r, c) == maze.goal:
            raise MazeError(f"reset option start {(r, c)} is not a floor tile of the {tables.rows} x "
                                f"{tables.cols} grid other than the goal")
        return tables, r * tables.cols + c
    if cfg.exploring_starts:
        return tables, int(tables.starts[rng.integers(len(tables.starts))])
    return tables, tables.start


class MazeEnv(gym.Env):
    """Find the way out of a maze: the lab's reinforcement-learning world.

    ## Description

    The agent walks a maze of ``width x height`` cells drawn on a ``(2*height+1) x (2*width+1)``
    grid of tiles (walls, floor, a start and a goal). Mazes are generated by depth-first
    backtracking, Prim, Kruskal or Wilson (see :mod:`envs.maze.generate`), optionally with loops, or
    read from a text layout. A maze is either fixed (the one of ``maze_seed``) or drawn anew at each
    reset (``mazes: random``, seeds from ``train_maze_seeds``); :func:`envs.maze.mazes.build_maze`
    ``(config, seed)`` builds (and caches) the maze an episode plays. The breadth-first distance of
    every tile to the goal is known, so each episode can be measured against the shortest route.

    ## Action Space

    ``Discrete(4)``: 0 north (up), 1 east (right), 2 south (down), 3 west (left). A move into a wall
    or off the grid leaves the agent where it is (and costs ``rewards.wall`` more).

    ## Observation Space

    ``observation: grid`` (default): ``Box(0, 1, (rows, cols, 3))`` channels-last planes: walls,
    agent, goal; values 0 or 1 in ``obs_dtype`` (float32, or uint8: a quarter of the memory in a
    replay buffer, and of the copying in the vector env; cast to float in the network).

    ``observation: local``: a flat float32 vector of ``local_size**2 + 2`` values: the walls in the
    ``local_size x local_size`` window centred on the agent (row-major, 1 = wall; tiles beyond the
    grid count as walls), then the goal's offset ``((goal_row - row) / (rows - 1), (goal_col - col) /
    (cols - 1))`` in [-1, 1]. With ``local_goal: window`` there is no compass: the walls window is followed
    by a second ``local_size**2`` window plane that is 1 on the goal's tile while the goal is inside the
    window (``2 * local_size**2`` values): the agent has to explore and remember where it has been.

    ``observation: coords``: float32 ``[row / (rows - 1), col / (cols - 1), goal_row / (rows - 1),
    goal_col / (cols - 1)]`` in [0, 1] (no walls: only useful for a fixed maze).

    ``observation: pixels``: ``Box(0, 255, (rows * p, cols * p, 3), uint8)`` with ``p = pixel_tile``: the
    RGB frame the renderer draws at ``p`` pixels per tile (walls, floor, start, goal, the agent), without
    trail, overlays or caption, i.e. what ``render()`` returns with ``tile_pixels = p`` before the trail
    shows.

    ## Starting State

    The maze's start tile (``start: corner`` = the top-left cell, ``random``, or ``[row, col]`` in
    cells), or a random floor tile with ``exploring_starts: true``. ``reset(options=...)`` accepts
    ``{"maze_seed": s}`` (play the maze of seed ``s`` this episode, e.g. a seed outside
    ``train_maze_seeds`` for evaluation) and ``{"start": (row, col)}`` (a tile).

    ## Rewards

    ``rewards.goal`` (1.0) for the step that reaches the goal, ``rewards.step`` (-0.01) for every
    other step, plus ``rewards.wall`` (-0.05) when the move hits a wall. With ``rewards.shaping``
    each step also earns ``shaping_scale * (shaping_gamma * phi(s') - phi(s))`` with ``phi(s) =
    -distance(s)``, the BFS distance to the goal. This is potential-based shaping (Ng, Harada &
    Russell, 1999): it gives the agent a hint at every step yet keeps the optimal policy, because the
    shaping terms of any route telescope to ``-phi(start)`` (exactly when ``shaping_gamma`` is the
    agent's discount; the ``maze-dqn`` scenario warns when it is not). ``rewards.new_tile`` adds a bonus
    for each step onto a tile not stood on yet in the episode (an episodic novelty bonus: it pays for
    exploring, which an agent without the map has to do; it does change the optimal policy).

    ## Episode End

    Terminated when the agent reaches the goal. Truncated after ``max_episode_steps`` steps (default
    4 x the number of tiles of the grid, e.g. 484 for 5 x 5 cells: :func:`envs.maze.mazes.episode_limit`).
    ``info`` holds
    ``distance_to_goal`` (BFS moves left), ``optimal_length`` (BFS length from this episode's start)
    and ``is_success`` (goal reached).

    ## Arguments

    ``MazeEnv(config=None, render_mode=None, **settings)`` where ``config`` is a
    :class:`~envs.maze.config.MazeEnvConfig` (the scenario's ``env:`` section) or a mapping, and
    ``settings`` override single fields, e.g.
    ``gymnasium.make("lab/Maze-v0", width=11, height=11, observation="local")``. ``render_mode`` is
    ``human`` (a pygame window at ``render_fps``; needs a display), ``rgb_array`` (uint8 frames of
    ``tile_pixels`` per tile) or ``ansi`` (text). Overlays for frames: :meth:`set_overlay`.
    ``gymnasium.make_vec("lab/Maze-v0", num_envs=N, vectorization_mode="vector_entry_point")`` gives
    :class:`~envs.maze.vector.MazeVectorEnv`, which steps N mazes at once in NumPy.
    From a config: :func:`envs.maze.make.make_env` ``(cfg, render_mode)`` and
    :func:`envs.maze.make.make_vector_env` ``(cfg, num_envs)``.

    Bad settings, render modes and reset options raise :class:`~envs.maze.generate.MazeError`, a
    ``ValueError`` that lists every problem (``.problems``); ``human`` mode without a screen raises
    :class:`~envs.maze.render.NoDisplayError`.

    ## Version History

    * v0: first version (grid, local and coords observations; dfs, prim, kruskal, wilson; loops;
      text layouts; potential shaping; overlays); pixel observations added without changing the others.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 8}

    def __init__(self, config: MazeEnvConfig | dict | None = None, render_mode: str | None = None,
                 **settings: Any):
        self.config = cfg = env_config(config, source="MazeEnv", **settings)
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise MazeError(f"render_mode {render_mode!r} does not exist; choose one of "
                                f"{', '.join(RENDER_MODES)} (or None)")
        if render_mode == "human":
            rnd.require_display("render_mode='human'")
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "render_fps": cfg.render_fps}
        self.action_space = spaces.Discrete(4)
        self.observation_space = observation_space(cfg)
        self.max_episode_steps = episode_limit(cfg)
        self._fixed = build_maze(cfg)
        self._tables = tables_for(self._fixed, cfg)
        self._pos = self._tables.start
        self._optimal = self._tables.distance_list[self._pos]
        self._steps = 0
        r = cfg.rewards
        self._goal_r, self._step_r, self._wall_r = float(r.goal), float(r.step), float(r.wall)
        self._shaping = bool(r.shaping)
        self._scale, self._gamma = float(r.shaping_scale), float(r.shaping_gamma)
        self._new_r = float(r.new_tile)
        self._visited: set[int] = set()
        self._track = render_mode is not None
        self._trail: list[int] = []
        self._overlay: dict[str, Any] = {"values": None, "actions": None, "trail": True, "caption": None,
                                         "seen": None}
        self._painter: rnd.Painter | None = None
        self._window: rnd.Window | None = None

    # ---- state a caller may read ----------------------------------------------------------------

    @property
    def maze(self) -> Maze:
        """The maze of the current episode."""
        return self._tables.maze

    @property
    def agent_pos(self) -> tuple[int, int]:
        """(row, col) tile of the agent."""
        return self._tables.rc[self._pos]

    @property
    def elapsed_steps(self) -> int:
        """Steps taken in the current episode."""
        return self._steps

    @property
    def optimal_length(self) -> int:
        """Fewest steps from this episode's start tile to the goal."""
        return self._optimal

    # ---- the Gymnasium API ------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        opts = check_options(options)
        self._tables, self._pos = episode_setup(self.config, self.np_random, opts, self._fixed)
        self._steps = 0
        self._visited = {self._pos}
        d = self._tables.distance_list[self._pos]
        self._optimal = d
        if self._track:
            self._trail = [self._pos]
        if self.render_mode == "human":
            self.render()
        return (self._tables.obs_at(self._pos),
                {"distance_to_goal": d, "optimal_length": d, "is_success": False})

    def step(self, action):
        a = int(action)
        if not 0 <= a <= 3:
            raise ValueError(f"action must be 0 (N), 1 (E), 2 (S) or 3 (W), got {action!r}")
        t = self._tables
        pos = self._pos
        nxt = t.move_list[pos][a]
        self._steps += 1
        d = t.distance_list[nxt]
        terminated = nxt == t.goal
        if terminated:
            reward = self._goal_r
        elif nxt == pos:
            reward = self._step_r + self._wall_r
        else:
            reward = self._step_r
        if self._shaping:
            reward += self._scale * (t.distance_list[pos] - self._gamma * d)
        if self._new_r and nxt not in self._visited:
            reward += self._new_r
            self._visited.add(nxt)
        truncated = not terminated and self._steps >= self.max_episode_steps
        self._pos = nxt
        if self._track:
            self._trail.append(nxt)
        if self.render_mode == "human":
            self.render()
        info = {"distance_to_goal": d, "optimal_length": self._optimal, "is_success": terminated}
        return t.obs_at(nxt), reward, terminated, truncated, info

    # ---- what the agent would see anywhere ---------------------------------------------------------

    def cell_observations(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions (K, 2) of every floor tile, the observation on each, batched on axis 0).

        For drawing the greedy action and the max-Q of every cell; the goal tile is included.
        """
        t = self._tables
        return np.stack(np.divmod(t.floor, t.cols), axis=1), t.obs_batch(t.floor)

    # ---- rendering ----------------------------------------------------------------------------------

    def set_overlay(self, values: np.ndarray | None = None, actions: np.ndarray | None = None,
                    trail: bool = True, caption: str | None = None, seen: np.ndarray | None = None) -> None:
        """What frames draw on top of the maze (until the next call; ``set_overlay()`` clears all but the
        trail).

        Args:
            values: float array on the tile grid (rows, cols) drawn as a heatmap (NaN: nothing).
            actions: int array on the tile grid drawn as arrows, 0..3 = N, E, S, W (-1: none).
            trail: draw the tiles visited this episode.
            caption: a line of text under the maze, e.g. "steps 12 / optimal 12".
            seen: bool array on the tile grid: the tiles not in it are drawn in fog (what a blind window
                has not shown yet).
        """
        shape = (self._tables.rows, self._tables.cols)
        for name, arr in (("values", values), ("actions", actions), ("seen", seen)):
            if arr is not None and np.shape(arr) != shape:
                raise ValueError(f"overlay {name} has shape {np.shape(arr)}; it must match the tile grid "
                                 f"{shape}")
        self._overlay = {
            "values": None if values is None else np.array(values, dtype=np.float64),
            "actions": None if actions is None else np.array(actions, dtype=np.int64),
            "trail": bool(trail),
            "caption": caption,
            "seen": None if seen is None else np.array(seen, dtype=bool),
        }

    def _trail_mask(self) -> np.ndarray | None:
        if not self._overlay["trail"] or len(self._trail) < 2:
            return None
        mask = np.zeros(self._tables.n, dtype=bool)
        mask[self._trail] = True
        return mask.reshape(self._tables.rows, self._tables.cols)

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; make the env with "
                            "render_mode='rgb_array', 'ansi' or 'human'.")
            return None
        ov = self._overlay
        if self.render_mode == "ansi":
            return rnd.ansi(self.maze, self.agent_pos, self._trail_mask(), ov["actions"])
        if self._painter is None:
            self._painter = rnd.Painter(self.config.tile_pixels)
        frame = self._painter.frame(self.maze, self.agent_pos, self._trail_mask(), ov["values"],
                                    ov["actions"], ov["caption"], ov["seen"])
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = rnd.Window("lab maze", fps=self.config.render_fps)
        self._window.show(frame)
        return None

    def close(self):
        if self._window is not None:
            self._window.close()
            self._window = None
