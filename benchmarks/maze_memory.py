"""Issue 25's comparison: the same maze scenario learned with a memory and without.

    python benchmarks/maze_memory.py [SCENARIO] [--minutes M] [--seed S] [--set KEY=VALUE ...]

Runs SCENARIO (default maze_memory_small: a blind 5 x 5 window, no compass) three times on the same
mazes and budget: its recurrent network; the same dense layer and a layer as wide as the LSTM's state
without recurrence (feedforward, on the window alone); and that network on a stack of the last 4
windows (frame_stack). Prints, for each, the held-out test mazes' success rate and mean steps, then the
walkers that learn nothing on those mazes (from the recurrent run's summary.json).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab import scenario  # noqa: E402
from lab.backend import start_tensorflow  # noqa: E402
from lab.execute import execute  # noqa: E402


def variants(data: dict) -> dict[str, dict]:
    """The scenario as given (recurrent), and its network without memory, alone and on 4 windows."""
    net = data["agent"]["network"]
    plain = copy.deepcopy(data)
    plain["agent"].pop("sequence", None)
    plain["agent"]["network"] = {"kind": "mlp", "hidden": [*net.get("hidden", [64]), net.get("units", 128)]}
    stacked = copy.deepcopy(plain)
    stacked["agent"]["frame_stack"] = 4
    for v in (plain, stacked):  # the same transitions per update as a sequence batch holds
        v["agent"]["batch_size"] = data["agent"].get("batch_size", 32) * data["agent"].get(
            "sequence", {}).get("length", 20)
        v["agent"]["replay"] = {"capacity": 100_000}
    return {"recurrent": data, "feedforward": plain, "frame_stack": stacked}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", nargs="?", default="maze_memory_small")
    p.add_argument("--minutes", type=float, help="training time of each run (default: the scenario's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    start_tensorflow()
    base = scenario.load_scenario(scenario.resolve_scenario_path(args.scenario), args.overrides)
    data = yaml.safe_load(scenario.dump(base))
    data["seed"] = args.seed
    if args.minutes:
        data["training"]["time_limit_seconds"] = args.minutes * 60
    rows, walkers = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for name, variant in variants(data).items():
            path = Path(folder) / f"{name}.yaml"
            path.write_text(yaml.safe_dump(variant))
            s = execute(str(path), out=str(Path(folder) / "runs"), quiet=True).summary()
            walkers = walkers or {k: v for k, v in s.items() if k.startswith("baseline_")}
            rows.append((name, s.get("test_success_rate"), s.get("test_mean_steps"), s["env_steps"],
                         s["train_seconds"]))
    print(f"{args.scenario}, seed {args.seed}: {data['training']['test_mazes']} held-out test mazes")
    print("| agent | solved | mean steps (solved) | env steps | training s |")
    print("|---|---|---|---|---|")
    for name, rate, steps, env_steps, seconds in rows:
        print(f"| {name} | {rate:.1%} | {steps if steps is None else f'{steps:.1f}'} | {env_steps:,} | "
              f"{seconds:.0f} |")
    for key in sorted(k for k in walkers if k.endswith("_success_rate")):
        name = key.removeprefix("baseline_").removesuffix("_success_rate")
        steps = walkers[f"baseline_{name}_mean_steps"]
        print(f"| {name} (learns nothing) | {walkers[key]:.1%} | "
              f"{steps if steps is None else f'{steps:.1f}'} | | |")


if __name__ == "__main__":
    main()
