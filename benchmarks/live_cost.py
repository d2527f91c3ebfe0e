"""What the live view costs: training env-steps/s of the maze DQN with and without ``--live``.

For each scenario, the same training (a fixed budget of env steps, early stopping off, seed 0) runs with no
live view, with the headless time-lapse, and with a window when a display is available (run it under Xvfb:
``xvfb-run -a python benchmarks/live_cost.py``), in interleaved rounds; it prints env-steps/s per mode (the
median of the rounds) and the slowdown against no live view measured in the same process. Goal (issue 26):
at most 10% slower. The live view's one-time compile of the Q function for its policy panel happens
before training starts (as in ``lab run --live``) and is not counted.

    python benchmarks/live_cost.py [--scenarios maze_dqn_small maze_dqn_random] [--steps 16000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from agents.dqn.live import LiveView  # noqa: E402
from agents.dqn.train import Trainer  # noqa: E402
from envs.maze import render as rnd  # noqa: E402
from lab import scenario  # noqa: E402
from lab.backend import start_tensorflow  # noqa: E402
from lab.context import LiveSettings  # noqa: E402


def config(name: str, steps: int):
    overrides = [f"training.env_steps={steps}", "training.stop_after_perfect=0",
                 "training.time_limit_seconds=null", f"training.eval_every={max(steps // 8, 1)}",
                 "strategy=cpu"]
    return scenario.load_scenario(scenario.resolve_scenario_path(name), overrides)


def one_run(cfg, mode: str) -> tuple[float, int, float]:
    """(env steps/s, frames drawn, seconds spent drawing) of one training in ``mode``."""
    trainer = Trainer(cfg, None, jit_compile=True)
    live = None
    with tempfile.TemporaryDirectory() as folder:
        if mode != "off":
            window = rnd.Window("live cost", fps=60) if mode == "window" else None
            live = LiveView(cfg, LiveSettings(window=mode == "window"), Path(folder), window)
            live.warm_up(trainer.agent)  # (as `lab run --live` does before training starts)
        t0 = time.perf_counter()
        trainer.train(None, live)
        seconds = time.perf_counter() - t0
        if live is not None:
            live.finish(trainer, trainer.last_loop)
            live.close()
    return trainer.env_steps / seconds, live.frames_drawn if live else 0, live.draw_seconds if live else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", nargs="+", default=["maze_dqn_small", "maze_dqn_random"])
    p.add_argument("--steps", type=int, default=16_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    start_tensorflow()
    modes = ["off", "headless"] + (["window"] if rnd.display_problem() is None else [])
    print(f"modes: {', '.join(modes)} (window: {rnd.display_problem() or 'a display is available'})")
    for name in args.scenarios:
        cfg = config(name, args.steps)
        one_run(cfg, "off")  # warm-up: XLA compilation, caches
        speeds: dict[str, list[float]] = {m: [] for m in modes}
        frames: dict[str, list[tuple[int, float]]] = {m: [] for m in modes}
        for _ in range(args.rounds):
            for mode in modes:
                speed, drawn, drawing = one_run(cfg, mode)
                speeds[mode].append(speed)
                frames[mode].append((drawn, drawing))
        base = statistics.median(speeds["off"])
        print(f"\n{name}: {args.steps:,} env steps, {args.rounds} rounds (median env-steps/s)")
        for mode in modes:
            s = statistics.median(speeds[mode])
            drawn = statistics.median(f for f, _ in frames[mode])
            drawing = statistics.median(d for _, d in frames[mode])
            every = ", ".join(f"{v:.0f}" for v in speeds[mode])
            print(f"  {mode:9s} {s:8.0f} env-steps/s  {s / base:5.3f}x  ({1 - s / base:+.1%} slower)  "
                  f"frames {drawn:.0f}, drawing {drawing:.2f} s   all: {every}")


if __name__ == "__main__":
    main()
