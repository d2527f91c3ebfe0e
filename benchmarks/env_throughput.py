"""How fast is the maze world? Prints rates against FrozenLake and the issue's targets.

    .venv/bin/python benchmarks/env_throughput.py [--steps 100000] [--vector-steps 2000] [--repeats 3]

Measures, in one process, with the same random actions for every env:
  * MazeEnv (grid observations, 11 x 11 cells, made with gymnasium.make) against FrozenLake-v1 (8x8,
    not slippery, also gymnasium.make; both get Gymnasium's default wrappers): target >= 1.0x;
  * MazeVectorEnv with 256 mazes (gymnasium.make_vec, vector_entry_point), several observation
    settings: target >= 30x FrozenLake's single-env rate (for the default, grid float32);
  * pixel observations against uint8 grids at the pixel DQN's settings (16 envs of 5 x 5-cell random
    mazes), no target;
  * rgb_array frames of a 21 x 21 tile grid (10 x 10 cells), agent walking, trail on: target >= 500/s;
  * generating 1,000 mazes of 15 x 15 cells, each algorithm (the target, < 1 s, is for the default dfs).

Each figure is the best of a few repeats, timed twice: by the CPU time of this process (what the code
costs, even when other processes share the machine) and by the wall clock (in brackets). On a quiet
machine the two agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn, repeats: int) -> tuple[float, float]:
    """(best CPU seconds, best wall seconds) of ``fn()`` over ``repeats`` runs."""
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall)


def single_env(env, actions: list[int]):
    def run():
        env.reset(seed=0)
        step, reset = env.step, env.reset
        for a in actions:
            _, _, term, trunc, _ = step(a)
            if term or trunc:
                reset()

    return run


def vector_env(venv, actions: np.ndarray):
    seeds = iter(range(0, 10**9, 1000))  # a fresh seed per repeat: random mazes do not come from the cache

    def run():
        venv.reset(seed=next(seeds))
        step = venv.step
        for a in actions:
            step(a)

    return run


def pixels_against_grid(rng, args) -> bool:
    """Pixel frames against uint8 grid planes at the pixel DQN scenarios' settings (16 envs, 5 x 5-cell
    random mazes, 3 pixels per tile): what learning from pixels costs the env (no target)."""
    import gymnasium as gym

    vacts = rng.integers(0, 4, size=(args.vector_steps * 8, 16))
    common = {"width": 5, "height": 5, "mazes": "random", "exploring_starts": True}
    rates = {}
    for label, settings in (("grid uint8", {"observation": "grid", "obs_dtype": "uint8"}),
                            ("pixels 33x33 RGB", {"observation": "pixels", "pixel_tile": 3})):
        venv = gym.make_vec("lab/Maze-v0", num_envs=16, vectorization_mode="vector_entry_point", **common,
                            **settings)
        cpu, wall = timed(vector_env(venv, vacts), args.repeats)
        rates[label] = vacts.size / cpu
        rate = fmt(rates[label], vacts.size / wall, "env-steps/s")
        print(f"MazeVectorEnv 16 x 5x5 random, {label}: {rate}")
    print(f"  pixels / grid: {rates['pixels 33x33 RGB'] / rates['grid uint8']:.2f}x")
    return True


def fmt(rate_cpu: float, rate_wall: float, unit: str) -> str:
    return f"{rate_cpu:>12,.0f} {unit} [{rate_wall:,.0f}]"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100_000, help="single-env steps per measurement")
    ap.add_argument("--vector-steps", type=int, default=2_000, help="vector-env steps (each 256 env-steps)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many repeats")
    args = ap.parse_args(argv)

    import gymnasium as gym

    import envs  # noqa: F401  (registers lab/Maze-v0)
    from envs.maze import generate as gen
    from envs.maze.env import MazeEnv

    rng = np.random.default_rng(0)
    actions = rng.integers(0, 4, size=args.steps).tolist()
    n = len(actions)

    lake = gym.make("FrozenLake-v1", map_name="8x8", is_slippery=False)
    lake_cpu, lake_wall = timed(single_env(lake, actions), args.repeats)
    lake_rate, lake_rate_wall = n / lake_cpu, n / lake_wall
    print(f"FrozenLake-v1 8x8, not slippery (gymnasium.make):     "
          f"{fmt(lake_rate, lake_rate_wall, 'steps/s')}")

    ok = True
    for obs in ("grid", "local", "coords"):
        env = gym.make("lab/Maze-v0", width=11, height=11, observation=obs)
        cpu, wall = timed(single_env(env, actions), args.repeats)
        ratio = n / cpu / lake_rate
        target = " (target >= 1.0x)" if obs == "grid" else ""
        if obs == "grid":
            ok &= ratio >= 1.0
        print(f"MazeEnv 11x11 cells, {obs:<6} obs (gymnasium.make):     {fmt(n / cpu, n / wall, 'steps/s')}"
              f"  {ratio:5.2f}x FrozenLake{target}")

    vacts = rng.integers(0, 4, size=(args.vector_steps, 256))
    cases = {
        "grid float32 (default)": {"observation": "grid"},
        "grid uint8": {"observation": "grid", "obs_dtype": "uint8"},
        "local float32": {"observation": "local"},
        "coords float32": {"observation": "coords"},
        "local, new random maze per 100-step episode": {"observation": "local", "mazes": "random",
                                                        "max_episode_steps": 100},
    }
    for label, settings in cases.items():
        venv = gym.make_vec("lab/Maze-v0", num_envs=256, vectorization_mode="vector_entry_point", width=11,
                            height=11, **settings)
        cpu, wall = timed(vector_env(venv, vacts), args.repeats)
        rate = vacts.size / cpu
        default = label.startswith("grid float32")
        if default:
            ok &= rate >= 30 * lake_rate
        print(f"MazeVectorEnv 256 x 11x11, {label}: {fmt(rate, vacts.size / wall, 'env-steps/s')}  "
              f"{rate / lake_rate:5.1f}x FrozenLake{' (target >= 30x)' if default else ''}")

    ok &= pixels_against_grid(rng, args)

    renv = MazeEnv(width=10, height=10, render_mode="rgb_array")
    frames = actions[:3000]

    def walk(render: bool):
        def run():
            renv.reset(seed=0)
            for a in frames:
                renv.step(a)
                if render:
                    renv.render()
        return run

    step_cpu, step_wall = timed(walk(False), args.repeats)
    both_cpu, both_wall = timed(walk(True), args.repeats)
    fps, fps_wall = (len(frames) / max(1e-9, both_cpu - step_cpu),
                     len(frames) / max(1e-9, both_wall - step_wall))
    ok &= fps >= 500
    print(f"rgb_array frames {renv.render().shape}, 21x21 grid, trail on: {fmt(fps, fps_wall, 'frames/s')}"
          f"  {fps / 500:5.1f}x the target (>= 500)")

    for alg in gen.ALGORITHMS:
        cpu, wall = timed(lambda alg=alg: [gen.generate(15, 15, alg, seed=s) for s in range(1000)],
                          args.repeats)
        if alg == "dfs":
            ok &= cpu < 1.0
        print(f"1,000 mazes of 15x15 cells, {alg:<8} {cpu:8.3f} s [{wall:.3f}]"
              f"{'  (target < 1 s; dfs is the default)' if alg == 'dfs' else ''}")
    print("every target met" if ok else "some targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
