"""``lab play [SCENARIO] [--size WxH] [--seed S]``: walk a maze yourself (pygame window)."""

import re
from contextlib import contextmanager

from envs.maze.config import env_config, load_env_config
from envs.maze.generate import MazeError, size_problem
from envs.maze.play import play
from envs.maze.render import NoDisplayError
from lab.errors import ScenarioError, UsageError
from lab.scenario import resolve_scenario_path

DESCRIPTION = (
    "Play the maze of a scenario's `env:` section (or the default 5 x 5 maze) in a window.\n"
    "Arrow keys (or WASD) move, R restarts, N draws a new maze, Esc quits; the caption shows your steps\n"
    "against the optimal (shortest) route.\n\n"
    "Examples:\n  lab play\n  lab play --size 12x8 --seed 3\n  lab play scenarios/maze_dqn_small.yaml"
)


def add_arguments(p):
    p.add_argument("scenario", nargs="?",
                   help="a scenario file whose env: section sets the maze (default: 5 x 5 cells)")
    p.add_argument("--size", metavar="WxH", help="maze size in cells, e.g. 12x8 (width x height)")
    p.add_argument("--seed", type=int, metavar="S", help="seed of the first maze (N then counts up from it)")


def parse_size(text: str) -> tuple[int, int]:
    """(width, height) in cells from ``--size WxH``, within the maze's own size limits; UsageError
    otherwise."""
    parts = text.lower().replace("×", "x").split("x")
    # ASCII digits, a few of them: str.isdigit() also takes '²', which int() refuses, and int() of thousands
    # of digits is refused too.
    if len(parts) != 2 or not all(re.fullmatch(r"\d{1,6}", p.strip(), flags=re.ASCII) for p in parts):
        raise UsageError(f"--size {text}: expected WIDTHxHEIGHT in cells, e.g. --size 12x8")
    width, height = int(parts[0]), int(parts[1])
    for name, value in (("width", width), ("height", height)):
        problem = size_problem(name, value)
        if problem:
            raise UsageError(f"--size {text}: {problem}")
    return width, height


@contextmanager
def maze_errors(kind):
    """Re-raise the maze env's own errors (MazeError, a ValueError; NoDisplayError) as the LabError ``kind``
    (NoDisplayError: UsageError), same message, so the CLI prints ``error: ...`` and no traceback."""
    try:
        yield
    except MazeError as exc:
        raise kind(exc.message, exc.problems) from None
    except NoDisplayError as exc:
        raise UsageError(str(exc)) from None


def main(args) -> int:
    source = "lab play"
    with maze_errors(ScenarioError):
        if args.scenario:
            path = resolve_scenario_path(args.scenario)
            cfg = load_env_config(path)
            source = str(path)
        else:
            cfg = env_config(source=source)
    overrides = {}
    if args.size:
        if cfg.has_layout:
            raise UsageError(f"--size {args.size}: {source} plays a fixed layout, whose size is set by its "
                             f"text")
        overrides["width"], overrides["height"] = parse_size(args.size)
    if args.seed is not None:
        if not 0 <= args.seed <= 2**32 - 1:
            raise UsageError(f"--seed {args.seed}: a seed is a whole number from 0 to 4294967295")
        overrides["maze_seed"] = args.seed
    if overrides:
        with maze_errors(UsageError):
            cfg = env_config(cfg.model_dump(), source=f"{source} (with --size/--seed)", **overrides)

    with maze_errors(ScenarioError):
        return play(cfg, name="lab play")
