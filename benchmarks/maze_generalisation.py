"""How far does a maze DQN run's agent generalise? Its greedy policy on unseen mazes of other kinds.

    .venv/bin/python benchmarks/maze_generalisation.py RUN [--mazes 500] [--seed-start 2000000]

RUN is a finished ``maze-dqn`` run trained on random mazes (e.g. ``lab run maze_dqn_random``). Every
row plays ``--mazes`` mazes of the run's size that it never saw (seeds from ``--seed-start``, beyond the
run's evaluation and test seeds), greedily and from the real start, changing one thing against the
training distribution each time: the generator (prim, kruskal, wilson instead of dfs), loops (several
routes: the path ratio then shows whether the agent takes a shortest one), random start and goal cells,
and (``--sizes``, vin agents only: their layers do not depend on the grid's size) larger mazes.
A maze counts as solved when the goal is reached within the episode limit; the path ratio is steps over
the BFS optimum, averaged over the solved mazes. One evaluation per row (greedy play is deterministic).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANTS = [
    ("training distribution", {}),
    ("algorithm: prim", {"algorithm": "prim"}),
    ("algorithm: kruskal", {"algorithm": "kruskal"}),
    ("algorithm: wilson", {"algorithm": "wilson"}),
    ("loops: 0.3 (several routes)", {"loops": 0.3}),
    ("loops: 1.0 (no dead ends)", {"loops": 1.0}),
    ("random start and goal", {"start": "random", "goal": "random"}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished maze-dqn run folder trained on random mazes")
    parser.add_argument("--mazes", type=int, default=500, help="unseen mazes per row")
    parser.add_argument("--seed-start", type=int, default=2_000_000, help="first maze seed of every row")
    parser.add_argument("--sizes", default="10x10,15x15,20x20",
                        help="also other maze sizes in cells, comma-separated (vin agents only; '' for none)")
    args = parser.parse_args(argv)

    from agents.dqn.evaluate import Evaluator
    from agents.dqn.serve import load_run, resize_run
    from lab.commands.play import parse_size
    from lab.errors import LabError

    try:
        sizes = [parse_size(text.strip()) for text in args.sizes.split(",") if text.strip()]
        cfg, agent = load_run(args.run)
        if sizes and agent.network_kind != "vin":
            print(f"note: {agent.network_kind} network: its dense layers fit one grid size, so no --sizes "
                  f"rows")
            sizes = []
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if cfg.env.mazes != "random":
        print(f"error: {args.run} was trained on one fixed maze; this benchmark needs a run on random mazes",
              file=sys.stderr)
        return 2
    lo, hi = cfg.env.train_maze_seeds
    seeds = list(range(args.seed_start, args.seed_start + args.mazes))
    used = set(cfg.eval_seeds() or []) | set(cfg.test_seeds())
    if seeds[0] < hi and seeds[-1] >= lo or used.intersection(seeds):
        print(f"error: seeds [{seeds[0]}, {seeds[-1] + 1}) overlap the run's training [{lo}, {hi}), "
              f"evaluation or test seeds; pick another --seed-start", file=sys.stderr)
        return 2

    env = cfg.env
    print(f"run: {args.run} ({env.width} x {env.height} cells, trained on {env.algorithm} mazes, loops "
          f"{env.loops}, start {env.start}, goal {env.goal})")
    print(f"{args.mazes} unseen mazes per row, seeds [{seeds[0]}, {seeds[-1] + 1})\n")
    print(f"| {'variant':<30} | success | path ratio | optimal share | seconds |")
    print(f"|{'-' * 32}|---------|------------|---------------|---------|")
    rows = [(name, env.model_copy(update=change), agent) for name, change in VARIANTS]
    for width, height in sizes:
        try:
            resized, other = resize_run(cfg, agent, (width, height))
        except (LabError, ValueError) as exc:  # WatchError is a ValueError
            print(f"error: {exc}", file=sys.stderr)
            return 2
        rows.append((f"size {width} x {height} cells", resized.env, other))
    for name, variant, player in rows:
        t0 = time.perf_counter()
        res = Evaluator(variant, seeds).run(player.greedy_actions)
        optimal = res.as_dict()["eval_optimal_share"]
        print(f"| {name:<30} | {res.success_rate:7.3f} | {res.path_ratio:10.3f} | {optimal:13.3f} | "
              f"{time.perf_counter() - t0:7.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
