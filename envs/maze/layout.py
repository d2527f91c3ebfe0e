"""Mazes as text: '#' wall, '.' floor, 'S' start, 'G' goal (``env.layout`` in a scenario, or a file named
by ``env.layout_file``). :meth:`envs.maze.generate.Maze.to_text` writes what :func:`parse_layout` reads."""

from __future__ import annotations

import textwrap

import numpy as np

from envs.maze.generate import GOAL, MAX_TILES, SIZE_REASON, START, WALL, Maze, MazeError, from_walls
from lab.scenario import read_text_limited


def parse_layout(text: str, source: str = "layout") -> Maze:
    """A Maze from text: '#' wall, '.' floor, 'S' start (once), 'G' goal (once); rows of equal length.

    Blank lines before and after, trailing spaces and a common indentation are ignored. Errors name
    the row and column, counting from 1 as editors do.
    """
    if not isinstance(text, str):
        raise MazeError(f"{source}: a layout is text (rows of '#', '.', 'S', 'G'), got {type(text).__name__}")
    lines = [line.rstrip() for line in textwrap.dedent(text.expandtabs(4)).splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise MazeError(f"{source}: the layout is empty; write rows of '#' (wall), '.' (floor), 'S' (start), "
                        f"'G' (goal)")
    problems = []
    width = len(lines[0])
    for i, line in enumerate(lines):
        if len(line) != width:
            problems.append(f"row {i + 1} has {len(line)} columns but row 1 has {width}: every row must have "
                            f"the same length")
    bad = [(i, j, ch) for i, line in enumerate(lines) for j, ch in enumerate(line) if ch not in "#.SG"]
    for i, j, ch in bad[:5]:
        problems.append(f"row {i + 1}, column {j + 1}: unknown character {ch!r} "
                        "(use '#' wall, '.' floor, 'S' start, 'G' goal)")
    if len(bad) > 5:
        problems.append(f"... and {len(bad) - 5} more unknown characters")
    if len(lines) > MAX_TILES or width > MAX_TILES:
        problems.append(f"the layout is {len(lines)} rows x {width} columns; the limit is {MAX_TILES} x "
                        f"{MAX_TILES} tiles, because " + SIZE_REASON)
    found = {}
    for ch, name in ((START, "start"), (GOAL, "goal")):
        where = [(i, j) for i, line in enumerate(lines) for j, c in enumerate(line) if c == ch]
        if not where:
            problems.append(f"no {name}: put one {ch!r} on the tile where episodes "
                            f"{'begin' if ch == START else 'end'}")
        elif len(where) > 1:
            places = ", ".join(f"row {i + 1}, column {j + 1}" for i, j in where[:4])
            problems.append(f"{len(where)} {name}s ({places}); a layout has exactly one {ch!r}")
        else:
            found[name] = where[0]
    if problems:
        raise MazeError(f"{source}: bad maze layout", problems)
    walls = np.array([[ch == WALL for ch in line] for line in lines], dtype=bool)
    return from_walls(walls, found["start"], found["goal"], source)


LAYOUT_FILE_MAX_BYTES = 2**20
"""A layout file is read only up to 1 MiB (the largest maze, 201 x 201 tiles, is about 40 KB of text)."""


def read_layout_file(path) -> Maze:
    """parse_layout on a text file (the error names the file). The file is read through
    :func:`lab.scenario.read_text_limited`: a regular UTF-8 file of at most :data:`LAYOUT_FILE_MAX_BYTES`."""
    text = read_text_limited(path, LAYOUT_FILE_MAX_BYTES, "layout file", error=MazeError)
    return parse_layout(text, source=str(path))
