"""Mazes as pure functions of a size and a seed, text layouts, and BFS shortest paths.

A maze of ``width x height`` *cells* is drawn on a ``(2*height+1) x (2*width+1)`` *tile* grid: cell
``(r, c)`` is the tile ``(2r+1, 2c+1)``, the tiles between two neighbouring cells are walls or
passages, and the outer border is wall. The book's ``5 x 10`` maze (5 cells wide, 10 high) is a
21 x 11 grid; a ``10 x 5`` one is 11 x 21. Positions are ``(row, col)`` tile coordinates, 0-based.

Perfect mazes (one route between any two cells: a spanning tree of the cells) are carved by
depth-first backtracking (``dfs``: long winding corridors), randomised Prim (``prim``: many short
dead ends), randomised Kruskal (``kruskal``) or Wilson's loop-erased random walks (``wilson``: a
uniformly random spanning tree). ``loops`` then opens a fraction of the dead ends so several routes
exist.

Everything here is a pure function of its arguments; randomness comes from the ``numpy`` generator
or seed passed in. The inner loops run over small Python lists (faster than NumPy for a few hundred
cells); the bulk array work is vectorised.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

ALGORITHMS = ("dfs", "prim", "kruskal", "wilson")
Algorithm = Literal["dfs", "prim", "kruskal", "wilson"]

MIN_CELLS = 2
MAX_CELLS = 100
MAX_TILES = 2 * MAX_CELLS + 1
SIZE_REASON = (
    f"a {MAX_CELLS} x {MAX_CELLS}-cell maze is already a {MAX_TILES} x {MAX_TILES} tile grid: each grid "
    f"observation then holds {MAX_TILES * MAX_TILES * 3:,} values, and a random walk needs hundreds of "
    f"millions of steps to cross it, so no agent here could learn a larger one"
)

WALL, FLOOR, START, GOAL = "#", ".", "S", "G"

Position = tuple[int, int]
PLACES = ("corner", "random")
PlaceSpec = Literal["corner", "random"] | tuple[int, int]
"""Where a start or a goal goes, in cells: ``corner`` (the start top-left, the goal bottom-right), ``random``
(drawn with the maze) or ``(row, col)`` (a list works too). Checked by :func:`place_problem`."""


class MazeError(ValueError):
    """A maze or a maze env cannot be made as asked: size out of range, a bad text layout, an impossible start
    or goal, an invalid ``env:`` setting or reset option.

    A ``ValueError``, as Gymnasium envs raise for bad arguments; ``problems`` lists every problem when there
    are several (``str()`` shows them one per line). The ``lab`` commands turn it into their own user errors.
    """

    def __init__(self, message: str, problems: Sequence[str] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])

    def __str__(self) -> str:
        return "\n".join([self.message] + [f"  - {p}" for p in self.problems])


@dataclass(frozen=True, eq=False)
class Maze:
    """One maze: its walls, start and goal, and the BFS distance of every tile to the goal.

    Attributes:
        walls: bool array (rows, cols) of the tile grid, True for wall (read-only).
        start: (row, col) tile where episodes begin.
        goal: (row, col) tile that ends an episode.
        distance: int32 array (rows, cols): fewest moves from each tile to the goal; -1 for walls and
            for floor that cannot reach the goal (read-only).
        cells: (width, height) in cells for generated mazes; None for text layouts.
        seed: the seed a generated maze was drawn from (None for layouts or generator-driven mazes).
    """

    walls: np.ndarray
    start: Position
    goal: Position
    distance: np.ndarray
    cells: tuple[int, int] | None = None
    seed: int | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the tile grid."""
        return self.walls.shape  # type: ignore[return-value]

    @property
    def optimal_length(self) -> int:
        """Fewest moves from the start to the goal: the physical limit every agent is measured against."""
        return int(self.distance[self.start])

    @property
    def floor(self) -> np.ndarray:
        """(K, 2) array of every floor tile (row, col), row-major order."""
        return np.argwhere(~self.walls)

    def passages(self) -> int:
        """Open tiles between two neighbouring cells (for a generated maze; a perfect maze has cells - 1)."""
        w = self.walls
        return int((~w[1:-1:2, 2:-1:2]).sum() + (~w[2:-1:2, 1:-1:2]).sum())

    def to_text(self) -> str:
        """The maze as a text layout ('#' wall, '.' floor, 'S' start, 'G' goal), readable by parse_layout."""
        chars = np.where(self.walls, WALL, FLOOR).astype("<U1")
        chars[self.start] = START
        chars[self.goal] = GOAL
        return "\n".join("".join(row) for row in chars)


# --------------------------------------------------------------------------------------------------
# The maze's vocabulary: sizes and places. One check each, used by the generator, the env: section's
# validation and the commands' arguments (lab play / lab watch --size), so they all say the same thing.


def size_problem(name: str, value) -> str | None:
    """Why ``value`` cannot be a maze's ``name`` (``width`` or ``height``) in cells; None when it can."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return f"{name} must be a whole number of cells, got {value!r}"
    if value < MIN_CELLS:
        return (f"{name} {value} is too small: the smallest maze is {MIN_CELLS} x {MIN_CELLS} cells (with "
                f"fewer there is no choice to make, so nothing to learn)")
    if value > MAX_CELLS:
        return f"{name} {value} is too large: the limit is {MAX_CELLS} cells, because " + SIZE_REASON
    return None


def check_size(width: int, height: int) -> None:
    """Raise MazeError unless ``width x height`` cells is within [MIN_CELLS, MAX_CELLS] on both sides."""
    for name, value in (("width", width), ("height", height)):
        problem = size_problem(name, value)
        if problem:
            raise MazeError(problem)


def place_problem(spec) -> str | None:
    """Why ``spec`` is not a :data:`PlaceSpec` (the text follows the field name: "must be ..."); None when it
    is."""
    if isinstance(spec, str):
        return None if spec in PLACES else f"must be corner, random or [row, col] in cells, got {spec!r}"
    if isinstance(spec, (list, tuple)) and len(spec) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in spec):
        return None
    return f"must be corner, random or [row, col] (two whole numbers >= 0, in cells), got {spec!r}"


def placement_problem(start: PlaceSpec, goal: PlaceSpec, width: int, height: int) -> str | None:
    """Why valid place specs cannot go in a ``width x height``-cell maze (a cell outside it, or the start on
    the goal); None when they can. Random places are always drawn inside the maze and apart."""
    for what, spec in (("start", start), ("goal", goal)):
        if not isinstance(spec, str):
            r, c = (int(v) for v in spec)
            if not (0 <= r < height and 0 <= c < width):
                return (f"{what} [{r}, {c}] is outside the {width} x {height}-cell maze: rows go from 0 to "
                        f"{height - 1}, columns from 0 to {width - 1} (cell coordinates, not tiles)")
    if isinstance(start, str) and start == "random" or isinstance(goal, str) and goal == "random":
        return None
    s = (0, 0) if isinstance(start, str) else tuple(int(v) for v in start)
    g = (height - 1, width - 1) if isinstance(goal, str) else tuple(int(v) for v in goal)
    if s == g:
        return f"start and goal are the same cell [{s[0]}, {s[1]}]: give them different cells"
    return None


def grid_shape(width: int, height: int) -> tuple[int, int]:
    """Tile grid (rows, cols) of a ``width x height``-cell maze."""
    return 2 * height + 1, 2 * width + 1


def cell_tile(cell: Sequence[int]) -> Position:
    """Tile (row, col) of cell (row, col)."""
    return 2 * int(cell[0]) + 1, 2 * int(cell[1]) + 1


# --------------------------------------------------------------------------------------------------
# Carving perfect mazes. Cells are numbered k = r * width + c.


@lru_cache(maxsize=64)
def _neighbours(width: int, height: int) -> tuple[tuple[int, ...], ...]:
    out = []
    for r in range(height):
        for c in range(width):
            k = r * width + c
            nb = []
            if r > 0:
                nb.append(k - width)
            if c + 1 < width:
                nb.append(k + 1)
            if r + 1 < height:
                nb.append(k + width)
            if c > 0:
                nb.append(k - 1)
            out.append(tuple(nb))
    return tuple(out)


@lru_cache(maxsize=64)
def _edges(width: int, height: int) -> np.ndarray:
    """(E, 2) array of every pair of neighbouring cells (k, k+1) and (k, k+width)."""
    k = np.arange(width * height).reshape(height, width)
    right = np.stack([k[:, :-1].ravel(), k[:, 1:].ravel()], axis=1)
    down = np.stack([k[:-1, :].ravel(), k[1:, :].ravel()], axis=1)
    return np.concatenate([right, down])


@lru_cache(maxsize=64)
def _orders(width: int, height: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """For each cell, every ordering of its neighbours (24 for an inner cell; 24 is a multiple of each
    count)."""
    return tuple(tuple(itertools.permutations(nb)) for nb in _neighbours(width, height))


def _carve_dfs(width: int, height: int, rng: np.random.Generator) -> list[int]:
    """Recursive backtracker: walk to a random unvisited neighbour, back up at dead ends."""
    orders = _orders(width, height)
    n = width * height
    pick = (rng.random(n + 1) * 24).astype(np.int64).tolist()  # one random neighbour order per cell
    visited = bytearray(n)
    k = int(rng.integers(n))
    visited[k] = 1
    cells = [k]
    todo = [iter(orders[k][pick[k] % len(orders[k])])]
    passages: list[int] = []
    while todo:
        for m in todo[-1]:
            if not visited[m]:
                visited[m] = 1
                passages.append(cells[-1])
                passages.append(m)
                cells.append(m)
                o = orders[m]
                todo.append(iter(o[pick[m] % len(o)]))
                break
        else:
            todo.pop()
            cells.pop()
    return passages


def _carve_prim(width: int, height: int, rng: np.random.Generator) -> list[int]:
    """Randomised Prim: grow the maze from one cell by opening a random wall on its frontier."""
    nbrs = _neighbours(width, height)
    n = width * height
    rnd = rng.random(4 * n).tolist()
    inside = bytearray(n)
    k = int(rng.integers(n))
    inside[k] = 1
    walls = [(k, m) for m in nbrs[k]]  # frontier walls: (inside cell, outside cell)
    passages: list[int] = []
    i = 0
    while walls:
        j = int(rnd[i] * len(walls))
        i += 1
        a, b = walls[j]
        walls[j] = walls[-1]
        walls.pop()
        if inside[b]:
            continue
        inside[b] = 1
        passages.append(a)
        passages.append(b)
        for m in nbrs[b]:
            if not inside[m]:
                walls.append((b, m))
    return passages


def _carve_kruskal(width: int, height: int, rng: np.random.Generator) -> list[int]:
    """Randomised Kruskal: open the walls in random order when they join two separate regions."""
    edges = _edges(width, height)
    order = edges[rng.permutation(len(edges))].ravel().tolist()
    parent = list(range(width * height))
    passages: list[int] = []
    need = 2 * (width * height - 1)
    for i in range(0, len(order), 2):
        a0 = a = order[i]
        b0 = b = order[i + 1]
        while parent[a] != a:  # union-find with path halving
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a != b:
            parent[a] = b
            passages.append(a0)
            passages.append(b0)
            if len(passages) == need:
                break
    return passages


def _carve_wilson(width: int, height: int, rng: np.random.Generator) -> list[int]:
    """Wilson: loop-erased random walks to the tree built so far (a uniformly random spanning tree)."""
    nbrs = _neighbours(width, height)
    n = width * height
    in_tree = bytearray(n)
    order = rng.permutation(n).tolist()
    in_tree[order[0]] = 1
    nxt = [0] * n
    passages: list[int] = []
    chunk = max(64, 8 * n)
    rnd = rng.random(chunk).tolist()
    i = 0
    for start in order[1:]:
        k = start
        while not in_tree[k]:  # random walk; overwriting nxt[k] erases the loops
            if i == chunk:
                rnd = rng.random(chunk).tolist()
                i = 0
            nb = nbrs[k]
            m = nb[int(rnd[i] * len(nb))]
            i += 1
            nxt[k] = m
            k = m
        k = start
        while not in_tree[k]:
            in_tree[k] = 1
            passages.append(k)
            passages.append(nxt[k])
            k = nxt[k]
    return passages


_CARVERS = {"dfs": _carve_dfs, "prim": _carve_prim, "kruskal": _carve_kruskal, "wilson": _carve_wilson}


def _add_loops(width: int, height: int, passages: list[int], fraction: float,
               rng: np.random.Generator) -> list[int]:
    """Open one more wall of each dead-end cell with probability ``fraction`` (1.0: no dead ends left)."""
    if fraction <= 0:
        return passages
    nbrs = _neighbours(width, height)
    n = width * height
    linked: list[set[int]] = [set() for _ in range(n)]
    for a, b in zip(passages[::2], passages[1::2], strict=True):
        linked[a].add(b)
        linked[b].add(a)
    order = rng.permutation(n).tolist()
    rnd = rng.random(2 * n).tolist()
    out = list(passages)
    for j, k in enumerate(order):
        if len(linked[k]) != 1 or rnd[2 * j] >= fraction:
            continue
        closed = [m for m in nbrs[k] if m not in linked[k]]
        # Prefer joining another dead end: it removes two at once, as braid mazes do.
        ends = [m for m in closed if len(linked[m]) == 1]
        pick = ends or closed
        m = pick[int(rnd[2 * j + 1] * len(pick))]
        linked[k].add(m)
        linked[m].add(k)
        out.append(k)
        out.append(m)
    return out


def _as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _place(spec: PlaceSpec, width: int, height: int, rng: np.random.Generator, corner: tuple[int, int],
           avoid: int | None) -> int:
    """Cell index of a start or goal (a spec already checked); ``random`` never draws the cell ``avoid``."""
    if isinstance(spec, str):
        if spec == "corner":
            return corner[0] * width + corner[1]
        n = width * height
        k = int(rng.integers(n - (avoid is not None)))
        if avoid is not None and k >= avoid:
            k += 1
        return k
    return int(spec[0]) * width + int(spec[1])


def generate(
    width: int,
    height: int,
    algorithm: Algorithm = "dfs",
    seed: int | np.random.Generator | None = None,
    loops: float = 0.0,
    start: PlaceSpec = "corner",
    goal: PlaceSpec = "corner",
) -> Maze:
    """Generate a maze of ``width x height`` cells.

    Args:
        width, height: size in cells (2 to 100 each).
        algorithm: ``dfs``, ``prim``, ``kruskal`` or ``wilson`` (all give perfect mazes).
        seed: an int (the maze is a pure function of it), a NumPy Generator (consumed), or None (fresh
            entropy).
        loops: fraction in [0, 1] of dead ends that get one more wall opened, making cycles.
        start: ``corner`` (top-left cell), ``random``, or (row, col) in cells (a :data:`PlaceSpec`).
        goal: ``corner`` (bottom-right cell), ``random`` (different from the start), or (row, col) in cells.
    """
    check_size(width, height)
    if algorithm not in _CARVERS:
        raise MazeError(f"unknown maze algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    if not 0.0 <= loops <= 1.0:
        raise MazeError(f"loops must be a fraction between 0 and 1, got {loops!r}")
    for what, spec in (("start", start), ("goal", goal)):
        problem = place_problem(spec)
        if problem:
            raise MazeError(f"{what} {problem}")
    problem = placement_problem(start, goal, width, height)
    if problem:
        raise MazeError(problem)
    rng = _as_rng(seed)
    passages = _CARVERS[algorithm](width, height, rng)
    passages = _add_loops(width, height, passages, loops, rng)
    g = _place(goal, width, height, rng, (height - 1, width - 1), None)
    if goal == "random" and start != "random":
        fixed_start = _place(start, width, height, rng, (0, 0), None)
        while g == fixed_start:  # draw again (the goals drawn elsewhere stay those of earlier versions)
            g = _place(goal, width, height, rng, (height - 1, width - 1), None)
    s = _place(start, width, height, rng, (0, 0), g if start == "random" else None)
    return _build(width, height, passages, s, g, seed if isinstance(seed, (int, np.integer)) else None)


def _build(width: int, height: int, passages: list[int], s: int, g: int, seed) -> Maze:
    """The Maze of cells joined by ``passages`` (flat pairs a0, b0, a1, b1, ...), start cell s, goal cell
    g."""
    rows, cols = grid_shape(width, height)
    n = width * height
    # BFS over cells (every passage is 2 tile-moves long), then tiles from cells.
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(passages[::2], passages[1::2], strict=True):
        adj[a].append(b)
        adj[b].append(a)
    dist_c = [-1] * n
    dist_c[g] = 0
    queue = [g]
    for k in queue:
        d = dist_c[k] + 1
        for m in adj[k]:
            if dist_c[m] < 0:
                dist_c[m] = d
                queue.append(m)
    dc = np.asarray(dist_c, dtype=np.int32)
    cell_flat = _cell_flat(width, height)
    walls = np.ones(rows * cols, dtype=bool)
    walls[cell_flat] = False
    distance = np.full(rows * cols, -1, dtype=np.int32)
    distance[cell_flat] = 2 * dc
    if passages:
        p = np.array(passages, dtype=np.int64).reshape(-1, 2)
        mid = (cell_flat[p[:, 0]] + cell_flat[p[:, 1]]) // 2
        walls[mid] = False
        distance[mid] = 2 * np.minimum(dc[p[:, 0]], dc[p[:, 1]]) + 1
    walls = walls.reshape(rows, cols)
    distance = distance.reshape(rows, cols)
    walls.flags.writeable = False
    distance.flags.writeable = False
    start = (2 * (s // width) + 1, 2 * (s % width) + 1)
    goal = (2 * (g // width) + 1, 2 * (g % width) + 1)
    return Maze(walls, start, goal, distance, cells=(width, height), seed=None if seed is None else int(seed))


@lru_cache(maxsize=64)
def _cell_flat(width: int, height: int) -> np.ndarray:
    cols = 2 * width + 1
    r, c = np.divmod(np.arange(width * height), width)
    out = (2 * r + 1) * cols + (2 * c + 1)
    out.flags.writeable = False
    return out


# --------------------------------------------------------------------------------------------------
# BFS on any tile grid


def distance_map(walls: np.ndarray, goal: Position) -> np.ndarray:
    """Fewest moves (N/E/S/W, one tile each) from every tile to ``goal``; -1 for walls and unreachable
    tiles."""
    walls = np.asarray(walls, dtype=bool)
    rows, cols = walls.shape
    if walls[goal]:
        raise MazeError(f"the goal {tuple(goal)} is a wall")
    # Pad with a wall border so neighbours never leave the array.
    padded = np.ones((rows + 2, cols + 2), dtype=bool)
    padded[1:-1, 1:-1] = walls
    pc = cols + 2
    free = (~padded.ravel()).tolist()
    dist = [-1] * ((rows + 2) * pc)
    g = (goal[0] + 1) * pc + goal[1] + 1
    dist[g] = 0
    queue = [g]
    steps = (-pc, 1, pc, -1)
    for k in queue:
        d = dist[k] + 1
        for s in steps:
            m = k + s
            if free[m] and dist[m] < 0:
                dist[m] = d
                queue.append(m)
    out = np.asarray(dist, dtype=np.int32).reshape(rows + 2, pc)[1:-1, 1:-1].copy()
    return out


def shortest_path(maze: Maze, start: Position | None = None) -> list[Position]:
    """Tiles of one shortest route from ``start`` (default: the maze's start) to the goal, both included.

    Ties are broken in action order N, E, S, W, so the path is deterministic.
    """
    r, c = maze.start if start is None else (int(start[0]), int(start[1]))
    d = int(maze.distance[r, c])
    if d < 0:
        raise MazeError(f"no route from {(r, c)} to the goal {maze.goal}")
    path = [(r, c)]
    rows, cols = maze.shape
    while d > 0:
        for dr, dc in MOVES:
            nr, nc = r + dr, c + dc
            if 0 <= nr < rows and 0 <= nc < cols and maze.distance[nr, nc] == d - 1:
                r, c, d = nr, nc, d - 1
                path.append((r, c))
                break
    return path


MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # N, E, S, W: the action order of MazeEnv


def from_walls(walls: np.ndarray, start: Position, goal: Position, source: str = "maze") -> Maze:
    """A Maze from a wall array and two floor tiles; checks the goal is reachable from the start."""
    walls = np.array(walls, dtype=bool)
    for what, pos in (("start", start), ("goal", goal)):
        if not (0 <= pos[0] < walls.shape[0] and 0 <= pos[1] < walls.shape[1]):
            raise MazeError(f"{source}: the {what} {tuple(pos)} is outside the {walls.shape[0]} x "
                            f"{walls.shape[1]} grid")
        if walls[pos]:
            raise MazeError(f"{source}: the {what} {tuple(pos)} is a wall")
    if tuple(start) == tuple(goal):
        raise MazeError(f"{source}: the start and the goal are the same tile {tuple(start)}")
    distance = distance_map(walls, goal)
    if distance[start] < 0:
        raise MazeError(
            f"{source}: the goal at row {goal[0] + 1}, column {goal[1] + 1} cannot be reached from the start "
            f"at row {start[0] + 1}, column {start[1] + 1}: walls cut it off"
        )
    walls.flags.writeable = False
    distance.flags.writeable = False
    return Maze(walls, (int(start[0]), int(start[1])), (int(goal[0]), int(goal[1])), distance)


def is_tree(maze: Maze) -> bool:
    """True when the floor tiles form a tree (connected, no cycles): the mark of a perfect maze."""
    free = ~maze.walls
    nodes = int(free.sum())
    edges = int((free[1:, :] & free[:-1, :]).sum() + (free[:, 1:] & free[:, :-1]).sum())
    connected = int((maze.distance >= 0).sum()) == nodes
    return connected and edges == nodes - 1
