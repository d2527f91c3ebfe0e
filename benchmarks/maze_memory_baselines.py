"""The references of issue 25's blind-window agent: walkers that learn nothing on held-out mazes.

    python benchmarks/maze_memory_baselines.py [--mazes 500] [--size 9] [--window 5]

On ``--mazes`` random mazes of ``--size`` x ``--size`` cells (seeds 2,000,000 on; depth-first; random start
and goal; the step limit of the env, 4 x the tiles), perfect and with a third of the dead ends opened into
loops: success rate, mean steps over the solved mazes, and the mean of steps / optimum, for the random
walk, the right-hand wall follower, the frontier explorer (remembers what its window showed; walks to the
nearest unseen tile) and the BFS optimum (envs/maze/explorers.py). Also 13 x 13-cell mazes with
``--size 13``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.maze.config import env_config  # noqa: E402
from envs.maze.explorers import NAMES, play, summarise  # noqa: E402

FIRST_SEED = 2_000_000


def table(size: int, loops: float, mazes: int, window: int) -> None:
    cfg = env_config({"width": size, "height": size, "mazes": "random", "start": "random", "goal": "random",
                      "loops": loops, "observation": "local", "local_goal": "window", "local_size": window})
    t0 = time.perf_counter()
    steps = play(cfg, range(FIRST_SEED, FIRST_SEED + mazes))
    optimal = np.array(steps["optimum"], dtype=float)
    print(f"\n{mazes} mazes of {size} x {size} cells, loops {loops:.3f}, window {window} x {window} "
          f"({time.perf_counter() - t0:.1f} s)")
    print("| walker | solved | mean steps (solved) | mean steps / optimum (solved) |")
    print("|---|---|---|---|")
    for name in NAMES:
        rate, mean = summarise(steps[name])
        ratios = [s / o for s, o in zip(steps[name], optimal, strict=True) if s is not None]
        print(f"| {name} | {rate:.1%} | {mean:.1f} | {np.mean(ratios):.2f}x |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mazes", type=int, default=500)
    p.add_argument("--size", type=int, default=9)
    p.add_argument("--window", type=int, default=5)
    args = p.parse_args()
    for loops in (0.0, 1 / 3):
        table(args.size, loops, args.mazes, args.window)


if __name__ == "__main__":
    main()
