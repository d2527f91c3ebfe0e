"""The scenario section ``env:`` shared by every task that uses the maze (no TensorFlow, no pygame here).

Example (YAML)::

    env:
      width: 8            # cells; the tile grid is (2*height+1) x (2*width+1)
      height: 8
      algorithm: dfs      # dfs | prim | kruskal | wilson
      loops: 0.1          # open 10% of the dead ends: several routes
      mazes: random       # a new maze each episode, its seed drawn from train_maze_seeds
      train_maze_seeds: [0, 1000]
      observation: local
      rewards: {goal: 1.0, step: -0.01, wall: -0.05, shaping: true}

or a fixed layout::

    env:
      layout: |
        #######
        #S..#G#
        #.#.#.#
        #.....#
        #######

Seeds of training mazes are drawn from ``train_maze_seeds = [lo, hi)``; an evaluation can then use
seeds outside that range (``reset(options={"maze_seed": s})`` with ``s >= hi``) to measure how an
agent does on mazes it never saw.

This module is the schema only: the pydantic models, their checks, and the two ways in
(:func:`env_config` for a mapping, :func:`load_env_config` for a scenario file). The mazes a section asks
for are built in :mod:`envs.maze.mazes`; envs are made in :mod:`envs.maze.make`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from envs.maze import generate as gen
from envs.maze.generate import PlaceSpec
from envs.maze.layout import parse_layout, read_layout_file
from lab.scenario import describe_errors, read_yaml
from lab.schema import Section, closest

OBSERVATIONS = ("grid", "local", "coords", "pixels")


class MazeRewardsConfig(Section):
    """What each step is worth. Shaping adds scale * (gamma * phi(s') - phi(s)) with phi(s) = -distance(s)."""

    goal: float = Field(1.0,
                        description="Reward of the step that reaches the goal (it replaces the step cost).")
    step: float = Field(-0.01,
                        description="Reward of every other step (a small cost makes shorter routes better).")
    wall: float = Field(-0.05, description="Added to the step reward when the move runs into a wall (the "
                                           "agent stays put).")
    shaping: bool = Field(False, description="Add potential-based shaping from the BFS distance to the goal "
                                             "(Ng et al. 1999: it keeps the optimal policy).")
    shaping_scale: float = Field(0.1, gt=0, description="Reward per tile of progress towards the goal when "
                                                        "shaping is on.")
    new_tile: float = Field(0.0, ge=0, description="Added when the agent steps onto a tile it has not stood "
                                                  "on yet in this episode (the start counts as visited): "
                                                  "pays for exploring, as an episodic novelty bonus; 0: off.")
    shaping_gamma: float = Field(0.99, gt=0, le=1, description="Discount used in the shaping term; set it to "
                                                               "the agent's gamma so the optimal policy is "
                                                               "kept exactly (maze-dqn warns when they "
                                                               "differ).")


class MazeEnvConfig(Section):
    """The maze, what the agent sees, what it is rewarded for and how episodes end."""

    width: int = Field(5, description=f"Maze width in cells ({gen.MIN_CELLS} to {gen.MAX_CELLS}); the grid "
                                      f"has 2*width+1 tile columns.")
    height: int = Field(5, description=f"Maze height in cells ({gen.MIN_CELLS} to {gen.MAX_CELLS}); the grid "
                                       f"has 2*height+1 tile rows.")
    algorithm: gen.Algorithm = Field(
        "dfs", description="Maze generator: dfs (long corridors), prim (many short dead ends), kruskal, "
                           "wilson (uniform).")
    loops: float = Field(0.0, ge=0, le=1, description="Fraction of dead ends opened into loops (0: perfect "
                                                      "maze, one route; 1: no dead ends).")
    start: PlaceSpec = Field("corner", description="Start cell: corner (top-left), random (drawn with the "
                                                   "maze), or [row, col] in cells.")
    goal: PlaceSpec = Field("corner", description="Goal cell: corner (bottom-right), random (drawn with the "
                                                  "maze), or [row, col] in cells.")
    layout: str | None = Field(None, description="A fixed maze as text: '#' wall, '.' floor, 'S' start, 'G' "
                                                 "goal (replaces width, height, algorithm, loops, start, "
                                                 "goal).")
    layout_file: str | None = Field(None, description="A text file holding a layout (path relative to the "
                                                      "current folder).")
    mazes: Literal["fixed", "random"] = Field(
        "fixed", description="fixed: the maze of maze_seed in every episode; random: a new maze each "
                             "episode, its seed drawn from train_maze_seeds.")
    maze_seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the fixed maze (mazes: fixed) and of "
                           "the first maze `lab play` shows (0 ... 4294967295).")
    train_maze_seeds: tuple[int, int] = Field(
        (0, 1_000_000), description="[lo, hi): range of maze seeds drawn for training when mazes: random; "
                                    "evaluate on seeds >= hi to test mazes never seen.")
    exploring_starts: bool = Field(False, description="Start each episode on a random floor tile (a training "
                                                      "aid; optimal_length then counts from that tile).")
    observation: Literal["grid", "local", "coords", "pixels"] = Field(
        "grid", description="grid: (rows, cols, 3) walls/agent/goal planes; local: a local_size^2 wall "
                            "window around the agent + goal offset; coords: agent and goal positions; "
                            "pixels: the renderer's RGB frame (uint8) at pixel_tile pixels per tile.")
    pixel_tile: int = Field(3, ge=1, le=16, description="observation: pixels only. Pixels per tile of the "
                            "frame the agent sees (the rendered frame scaled down: rows * pixel_tile by "
                            "cols * pixel_tile, RGB); 3 draws the agent as a cross, 2 as a square.")
    local_size: int = Field(5,
                            description="Side of the square window of the local observation (odd, 3 to 15).")
    local_goal: Literal["direction", "window"] = Field(
        "direction", description="observation: local only. direction: the goal's offset follows the window "
        "(a compass: the agent always knows where to go); window: no compass, a second window plane marks "
        "the goal only while it is inside the window (the agent must explore and remember).")
    obs_dtype: Literal["float32", "uint8"] = Field("float32", description="Observation dtype; uint8 (values "
                                                                          "0/1) only for grid (pixels are "
                                                                          "always uint8).")
    rewards: MazeRewardsConfig = Field(default_factory=MazeRewardsConfig,
                                       description="Goal reward, step cost, wall cost, shaping.")
    max_episode_steps: int | None = Field(None, ge=1, description="Truncate episodes after this many steps "
                                                                   "(default: 4 x the number of tiles of the "
                                                                   "grid).")
    render_fps: int = Field(8, ge=1, le=240,
                            description="Frames per second of the human window (and of GIFs).")
    tile_pixels: int = Field(16, ge=4, le=64, description="Side of one tile in rendered frames, in pixels.")

    # ---- validation ------------------------------------------------------------------------------

    @field_validator("width", "height")
    @classmethod
    def _size(cls, value: int, info) -> int:
        problem = gen.size_problem(info.field_name, value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("start", "goal", mode="before")
    @classmethod
    def _place(cls, value: Any) -> Any:
        problem = gen.place_problem(value)
        if problem:
            guess = closest(value, gen.PLACES) if isinstance(value, str) else None
            raise ValueError(problem + (f"; did you mean `{guess}`?" if guess else ""))
        return value if isinstance(value, str) else (int(value[0]), int(value[1]))

    @field_validator("local_size")
    @classmethod
    def _window(cls, value: int) -> int:
        if value % 2 == 0 or not 3 <= value <= 15:
            raise ValueError(f"must be odd and from 3 to 15 (the agent sits in the middle), got {value}")
        return value

    @field_validator("train_maze_seeds")
    @classmethod
    def _seed_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = value
        if lo < 0 or hi <= lo or hi > 2**32:
            raise ValueError(f"must be [lo, hi) with 0 <= lo < hi <= 4294967296 (seeds are 0 ... "
                             f"4294967295), got [{lo}, {hi}]")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MazeEnvConfig:
        if self.layout is not None and self.layout_file is not None:
            raise ValueError("give either layout or layout_file, not both")
        # Layout problems are checked here (not in a field validator) so the message does not repeat the text.
        if self.layout is not None:
            _check(lambda: parse_layout(self.layout, source="layout"))
        if self.layout_file is not None:
            _check(lambda: read_layout_file(self.layout_file), prefix="layout_file: ")
        if self.has_layout and self.mazes == "random":
            raise ValueError("a layout is one fixed maze: remove `mazes: random` or the layout")
        if self.local_goal != "direction" and self.observation != "local":
            raise ValueError(f"local_goal: {self.local_goal} is a setting of observation: local (the "
                             f"window); this env's observation is {self.observation}: remove local_goal or "
                             f"set observation: local")
        tiles = max(2 * self.width + 1, 2 * self.height + 1)
        if self.local_goal == "window" and not self.has_layout and self.local_size >= tiles:
            shape = f"{2 * self.height + 1} x {2 * self.width + 1} tiles"
            raise ValueError(f"local_size {self.local_size} is not smaller than the maze ({shape}): a blind "
                             f"window that shows the whole maze leaves nothing to explore; use local_size <= "
                             f"{max(3, (tiles - 2) | 1)} or a larger maze")
        if self.obs_dtype == "uint8" and self.observation not in ("grid", "pixels"):
            raise ValueError(f"obs_dtype uint8 exists only for observation: grid; {self.observation} "
                             f"observations are fractions, use float32")
        if not self.has_layout:
            problem = gen.placement_problem(self.start, self.goal, self.width, self.height)
            if problem:
                raise ValueError(problem)
        return self

    @property
    def has_layout(self) -> bool:
        """True when the maze is a fixed text layout (``layout`` or ``layout_file``)."""
        return self.layout is not None or self.layout_file is not None


def _check(fn, prefix: str = "") -> None:
    try:
        fn()
    except gen.MazeError as exc:
        text = prefix + (exc.message if not exc.problems else exc.message + ": " + "; ".join(exc.problems))
        raise ValueError(text) from None


# --------------------------------------------------------------------------------------------------
# Reading the section from a scenario file or a mapping


class _EnvOnly(Section):
    env: MazeEnvConfig = Field(default_factory=MazeEnvConfig, description="The maze section of a scenario.")


def env_config(data: dict | MazeEnvConfig | None = None, source: str = "env", lines: dict | None = None,
               **overrides: Any) -> MazeEnvConfig:
    """Validate a mapping (plus keyword overrides) as an ``env:`` section; MazeError lists every problem."""
    if isinstance(data, MazeEnvConfig):
        if not overrides:
            return data
        data = data.model_dump()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise gen.MazeError(f"{source}: env: must be a mapping of settings (width: 5, ...), not a "
                            f"{type(data).__name__}")
    merged = {**data, **overrides}
    try:
        return _EnvOnly.model_validate({"env": merged}).env
    except ValidationError as exc:
        problems = describe_errors(exc, _EnvOnly, source, lines or {})
        noun = "problem" if len(problems) == 1 else "problems"
        raise gen.MazeError(f"{source}: {len(problems)} {noun} in the env section", problems) from None


def load_env_config(path: str | Path) -> MazeEnvConfig:
    """The ``env:`` section of a scenario file (defaults when it has none); the task need not exist.

    MazeError when the section does not validate; reading the file is :func:`lab.scenario.read_yaml`'s
    (its ScenarioError when the file is missing or not YAML).
    """
    data, lines = read_yaml(path)
    return env_config(data.get("env"), source=str(path), lines=lines)
