"""Maze walkers that learn nothing: the references a learning agent's figures are read against.

Each plays one episode on a :class:`~envs.maze.env.MazeTables` (flat tile indices: ``row * cols + col``)
from ``start`` and returns the steps it took to reach the goal, or None when it had not reached it after
``limit`` steps. All of them know only what the blind window shows (``local_size`` x ``local_size`` tiles
around the agent, no compass), except :func:`optimum`, which has the whole map:

* :func:`random_walk`: a uniformly random move every step (walls included);
* :func:`wall_follower`: the right-hand rule (turn right if it can, else straight, else left, else back);
  it solves every perfect maze and can circle for ever around a loop;
* :func:`frontier_explorer`: remembers every tile its window has shown and walks the shortest known way
  to the nearest tile it has not seen, or to the goal once it has seen it: close to the best an agent
  without the map can do;
* :func:`optimum`: the BFS shortest route, with the map.

:func:`play` runs them on many mazes of a maze configuration.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from envs.maze.config import MazeEnvConfig
from envs.maze.env import MazeTables, tables_for
from envs.maze.mazes import build_maze, episode_limit

NAMES = ("random", "wall_follower", "frontier", "optimum")


def random_walk(t: MazeTables, start: int, limit: int, rng: np.random.Generator) -> int | None:
    moves, pos = t.move_list, start
    for step, action in enumerate(rng.integers(0, 4, size=limit).tolist(), 1):
        pos = moves[pos][action]
        if pos == t.goal:
            return step
    return None


def wall_follower(t: MazeTables, start: int, limit: int) -> int | None:
    """The right-hand rule, starting towards the first open direction from north, clockwise."""
    moves, pos = t.move_list, start
    heading = next((a for a in range(4) if moves[pos][a] != pos), 0)
    for step in range(1, limit + 1):
        for turn in (1, 0, 3, 2):  # right, straight, left, back
            a = (heading + turn) % 4
            if moves[pos][a] != pos:
                heading, pos = a, moves[pos][a]
                break
        else:
            return None  # walled in
        if pos == t.goal:
            return step
    return None


def window_tiles(t: MazeTables, pos: int, size: int) -> Iterable[int]:
    """Flat indices of the tiles of the ``size`` x ``size`` window around ``pos`` that lie on the grid."""
    r, c = divmod(pos, t.cols)
    h = size // 2
    for rr in range(max(0, r - h), min(t.rows, r + h + 1)):
        yield from range(rr * t.cols + max(0, c - h), rr * t.cols + min(t.cols, c + h + 1))


def reveal(seen: np.ndarray, agent, size: int) -> np.ndarray:
    """Mark on the tile grid ``seen`` (rows, cols) what a ``size`` x ``size`` window around ``agent`` =
    (row, col) shows; returns ``seen``."""
    (r, c), h = agent, size // 2
    seen[max(0, r - h):r + h + 1, max(0, c - h):c + h + 1] = True
    return seen


def _route_to(t: MazeTables, start: int, free: np.ndarray, is_target) -> list[int] | None:
    """The shortest route (tiles after ``start``) through ``free`` tiles to the nearest tile for which
    ``is_target`` holds (targets need not be free); None when none can be reached."""
    moves = t.move_list
    parent = {start: start}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        if here != start and is_target(here):
            route = [here]
            while parent[route[-1]] != start:
                route.append(parent[route[-1]])
            return route[::-1]
        if here != start and not free[here]:
            continue  # a target candidate that is not one, and not walkable: do not expand
        for nxt in moves[here]:
            if nxt not in parent:
                parent[nxt] = here
                queue.append(nxt)
    return None


def frontier_explorer(t: MazeTables, start: int, limit: int, size: int) -> int | None:
    """Walk to the nearest unseen tile through the tiles seen to be floor, re-planning when the target has
    been seen; once the goal has been seen, the shortest known way there."""
    seen = np.zeros(t.n, dtype=bool)
    floor = np.zeros(t.n, dtype=bool)
    floor[t.floor] = True
    pos, route, steps = start, [], 0
    while steps < limit:
        seen[list(window_tiles(t, pos, size))] = True
        if route and route[-1] == t.goal:
            pass  # on the known way to the goal
        elif seen[t.goal] and (known := _route_to(t, pos, seen & floor, lambda p: p == t.goal)):
            route = known
        elif not route or seen[route[-1]]:  # (the goal seen through a wall: explore on)
            route = _route_to(t, pos, seen & floor, lambda p: not seen[p]) or []
        if not route:
            return None  # nothing left to explore and no goal: cannot happen in a connected maze
        pos = route.pop(0)
        steps += 1
        if pos == t.goal:
            return steps
    return None


def optimum(t: MazeTables, start: int) -> int:
    return int(t.distance[start])


def play(cfg: MazeEnvConfig, seeds: Iterable[int] | None, names: Iterable[str] = NAMES,
         seed: int = 0) -> dict[str, list[int | None]]:
    """Steps to the goal (None: not reached within the env's step limit) of each walker on the maze of each
    seed (``cfg``'s size, generator, loops, start and goal; None: ``cfg``'s fixed maze), from the maze's own
    start. ``seed`` seeds the random walk."""
    names = list(names)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise ValueError(f"unknown walkers {unknown}; known: {', '.join(NAMES)}")
    limit = episode_limit(cfg)
    rng = np.random.default_rng(seed)
    out: dict[str, list[int | None]] = {name: [] for name in names}
    for maze_seed in [None] if seeds is None else seeds:
        t = tables_for(build_maze(cfg, None if maze_seed is None else int(maze_seed)), cfg)
        for name in names:
            out[name].append(_walk(name, t, limit, cfg.local_size, rng))
    return out


def _walk(name: str, t: MazeTables, limit: int, size: int, rng: np.random.Generator) -> int | None:
    if name == "random":
        return random_walk(t, t.start, limit, rng)
    if name == "wall_follower":
        return wall_follower(t, t.start, limit)
    if name == "frontier":
        return frontier_explorer(t, t.start, limit, size)
    return optimum(t, t.start)


def summarise(steps: list[int | None]) -> tuple[float, float]:
    """(success rate, mean steps over the solved mazes; NaN when none was solved)."""
    solved = [s for s in steps if s is not None]
    return len(solved) / max(1, len(steps)), float(np.mean(solved)) if solved else float("nan")
