"""The mazes an ``env:`` section asks for, built once and cached (no TensorFlow, no pygame here).

:func:`build_maze` turns a validated :class:`~envs.maze.config.MazeEnvConfig` and a maze seed into a
:class:`~envs.maze.generate.Maze` (the layout's, or the generated maze of that seed); :func:`grid_shape`
and :func:`episode_limit` are the sizes an env needs before it has a maze. Mazes are immutable and pure
functions of their settings and seed, so they are kept in a :class:`BoundedCache` (a ``mazes: random``
env meets the same seeds again, and every sub-env of a vector env shares one fixed maze).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envs.maze import generate as gen
from envs.maze.layout import parse_layout, read_layout_file

if TYPE_CHECKING:
    from envs.maze.config import MazeEnvConfig


class BoundedCache:
    """A least-recently-used cache holding at most ``budget`` bytes of values (sizes given on insertion)."""

    def __init__(self, budget: int):
        self.budget = budget
        self.used = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()

    def get(self, key):
        hit = self._items.get(key)
        if hit is None:
            return None
        self._items.move_to_end(key)
        return hit[0]

    def put(self, key, value, nbytes: int) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.used -= old[1]
        while self._items and self.used + nbytes > self.budget:
            _, (_, size) = self._items.popitem(last=False)
            self.used -= size
        self._items[key] = (value, nbytes)
        self.used += nbytes

    def __len__(self) -> int:
        return len(self._items)


_MAZES = BoundedCache(64 * 2**20)  # mazes are immutable and pure functions of their key


def _cached(key: tuple, make) -> gen.Maze:
    maze = _MAZES.get(key)
    if maze is None:
        maze = make()
        _MAZES.put(key, maze, maze.walls.nbytes + maze.distance.nbytes + 200)
    return maze


def build_maze(cfg: MazeEnvConfig, seed: int | None = None) -> gen.Maze:
    """The layout's maze, or the generated maze of ``seed`` (default: ``cfg.maze_seed``); cached."""
    if cfg.layout is not None:
        layout = cfg.layout
        return _cached(("layout", layout), lambda: parse_layout(layout, source="env.layout"))
    if cfg.layout_file is not None:
        path = Path(cfg.layout_file)
        stamp = path.stat().st_mtime_ns if path.exists() else None
        return _cached(("file", str(path.resolve()), stamp), lambda: read_layout_file(path))
    seed = cfg.maze_seed if seed is None else int(seed)
    key = (cfg.width, cfg.height, cfg.algorithm, cfg.loops, cfg.start, cfg.goal, seed)
    return _cached(key, lambda: gen.generate(cfg.width, cfg.height, cfg.algorithm, seed=seed, loops=cfg.loops,
                                             start=cfg.start, goal=cfg.goal))


def grid_shape(cfg: MazeEnvConfig) -> tuple[int, int]:
    """(rows, cols) of the tile grid (the layout's, or (2*height+1, 2*width+1))."""
    if cfg.has_layout:
        return build_maze(cfg).shape
    return gen.grid_shape(cfg.width, cfg.height)


def episode_limit(cfg: MazeEnvConfig) -> int:
    """``cfg.max_episode_steps``, or 4 x the tiles of the grid when it is not set."""
    if cfg.max_episode_steps is not None:
        return cfg.max_episode_steps
    rows, cols = grid_shape(cfg)
    return 4 * rows * cols
