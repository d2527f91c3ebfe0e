"""Issue 25's figures: an agent that remembers, beside its network without memory and the walkers.

    python benchmarks/maze_memory.py [SCENARIO] [--minutes M] [--seed S] [--set KEY=VALUE ...]
    python benchmarks/maze_memory.py --run RUN_FOLDER        # the figures of a finished run

Runs SCENARIO (default maze_memory_small) once: its recurrent agent, and in the same run (its
``training.baselines``) the same layers without the memory (feedforward, frame_stack) trained for as
many env steps, and the walkers that learn nothing, all on the run's held-out test mazes. Then plays the
final agent, without retraining, on the same test seeds with a third of the dead ends opened (loops) and
on 13 x 13-cell mazes, beside the walkers on those mazes. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.dqn.agent import FINAL_DIR  # noqa: E402
from agents.dqn.evaluate import Evaluator, baselines  # noqa: E402
from agents.dqn.recurrent import load_agent  # noqa: E402
from lab import scenario  # noqa: E402
from lab.backend import start_tensorflow  # noqa: E402
from lab.execute import execute  # noqa: E402

WALKERS = ("frontier", "wall_follower", "random", "optimum")


def fmt(rate, steps) -> str:
    return f"{rate:.1%} | {'-' if steps is None else f'{steps:.1f}'}"


def trained_table(summary: dict) -> None:
    print(f"\nThe run's own figures ({summary['test_mazes']} held-out test mazes; "
          f"{summary['env_steps']:,} env steps in {summary['train_seconds']:.0f} s)")
    print("| agent | solved | mean steps (solved) | env steps |\n|---|---|---|---|")
    print(f"| recurrent (the agent) | {fmt(summary['test_success_rate'], summary['test_mean_steps'])} | "
          f"{summary['env_steps']:,} |")
    for name in ("feedforward", "frame_stack", *WALKERS):
        if f"baseline_{name}_success_rate" in summary:
            steps = summary.get(f"baseline_{name}_env_steps")
            figures = fmt(summary[f"baseline_{name}_success_rate"], summary[f"baseline_{name}_mean_steps"])
            print(f"| {name} | {figures} | {'' if steps is None else f'{steps:,}'} |")


def elsewhere_table(run: Path, cfg, summary: dict) -> None:
    """The final agent, not retrained, on mazes with loops and on 13 x 13-cell mazes (the same seeds)."""
    agent = load_agent(run / FINAL_DIR, jit_compile=False)
    lo, hi = summary["test_seeds"]
    seeds = list(range(lo, hi))
    print(f"\nThe final agent, not retrained, on {len(seeds)} mazes of the test seeds")
    print("| mazes | agent: solved | mean steps | " + " | ".join(f"{w}: solved | mean steps" for w in WALKERS)
          + " |")
    print("|---|" + "---|---|" * (1 + len(WALKERS)))
    settings = {"as trained, loops 1/3": {"loops": 1 / 3},
                "13 x 13 cells": {"width": 13, "height": 13},
                "13 x 13 cells, loops 1/3": {"width": 13, "height": 13, "loops": 1 / 3}}
    for label, change in settings.items():
        env = cfg.env.model_copy(update=change)
        result = Evaluator(env, seeds).run(agent.greedy_policy())
        walked = baselines(env, seeds, WALKERS)
        cells = [fmt(walked[f"baseline_{w}_success_rate"], walked[f"baseline_{w}_mean_steps"])
                 for w in WALKERS]
        steps = None if result.success_rate == 0 else result.mean_steps
        print(f"| {label} | {fmt(result.success_rate, steps)} | " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", nargs="?", default="maze_memory_small")
    p.add_argument("--minutes", type=float, help="training time of the agent (default: the scenario's)")
    p.add_argument("--seed", type=int)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--run", type=Path, help="a finished maze-dqn run of a recurrent agent: no training")
    args = p.parse_args()
    start_tensorflow()
    with tempfile.TemporaryDirectory() as folder:
        run = args.run
        if run is None:
            overrides = list(args.overrides)
            overrides += [f"seed={args.seed}"] if args.seed is not None else []
            overrides += [f"training.time_limit_seconds={args.minutes * 60}"] if args.minutes else []
            run = execute(args.scenario, overrides, out=folder, quiet=True).path
        cfg = scenario.load_scenario(run / "scenario.yaml")
        summary = json.loads((run / "summary.json").read_text())
        print(f"{cfg.name}, seed {cfg.seed}: {run}")
        trained_table(summary)
        elsewhere_table(run, cfg, summary)


if __name__ == "__main__":
    main()
