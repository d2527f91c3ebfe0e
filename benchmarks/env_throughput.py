"""How fast is the maze world? Prints steps/s against FrozenLake and the issue's targets.

    .venv/bin/python benchmarks/env_throughput.py [--steps 200000] [--seconds 0]

Measures, in one process with the same random actions:
  * MazeEnv (grid observations, 11 x 11 cells, made with gymnasium.make) vs FrozenLake-v1 (8x8, not
    slippery, gymnasium.make): target >= 1.0x;
  * MazeVectorEnv with 256 mazes (gymnasium.make_vec, vector_entry_point): target >= 30x FrozenLake;
  * rgb_array frames of a 21 x 21 tile grid: target >= 500 frames/s;
  * generating 1,000 mazes of 15 x 15 cells (every algorithm; the target applies to the default, dfs):
    target < 1 s.
Timings are the best of a few repeats (other processes share the CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def best_of(fn, repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def single_rate(env, actions: list[int], repeats: int) -> float:
    def once() -> float:
        env.reset(seed=0)
        step, reset = env.step, env.reset
        t0 = time.perf_counter()
        for a in actions:
            _, _, term, trunc, _ = step(a)
            if term or trunc:
                reset()
        return time.perf_counter() - t0

    return len(actions) / best_of(once, repeats)


def vector_rate(venv, actions: np.ndarray, repeats: int) -> float:
    seeds = iter(range(0, 10**6, 1000))  # a fresh seed per repeat: random mazes are not served from the cache

    def once() -> float:
        venv.reset(seed=next(seeds))
        step = venv.step
        t0 = time.perf_counter()
        for a in actions:
            step(a)
        return time.perf_counter() - t0

    return actions.size / best_of(once, repeats)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100_000, help="single-env steps per measurement")
    ap.add_argument("--vector-steps", type=int, default=2_000, help="vector-env steps (x 256 env-steps)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many repeats")
    args = ap.parse_args(argv)

    import gymnasium as gym

    import envs  # noqa: F401
    from envs.maze import generate as gen
    from envs.maze.env import MazeEnv

    rng = np.random.default_rng(0)
    actions = rng.integers(0, 4, size=args.steps).tolist()

    lake = gym.make("FrozenLake-v1", map_name="8x8", is_slippery=False)
    maze = gym.make("lab/Maze-v0", width=11, height=11, observation="grid")
    lake_rate = single_rate(lake, actions, args.repeats)
    maze_rate = single_rate(maze, actions, args.repeats)
    local = gym.make("lab/Maze-v0", width=11, height=11, observation="local")
    local_rate = single_rate(local, actions, args.repeats)

    vacts = rng.integers(0, 4, size=(args.vector_steps, 256))
    vector_cases = {
        "grid float32 (the default)": {"observation": "grid"},
        "grid uint8": {"observation": "grid", "obs_dtype": "uint8"},
        "local float32": {"observation": "local"},
        "coords float32": {"observation": "coords"},
        "local, a new random maze every 100-step episode": {"observation": "local", "mazes": "random",
                                                             "max_episode_steps": 100},
    }
    vec_rates = {}
    for label, settings in vector_cases.items():
        venv = gym.make_vec("lab/Maze-v0", num_envs=256, vectorization_mode="vector_entry_point", width=11,
                            height=11, **settings)
        vec_rates[label] = vector_rate(venv, vacts, args.repeats)
    vec_rate = vec_rates["grid float32 (the default)"]

    # rgb_array frames of a 21 x 21 grid (10 x 10 cells), agent moving, trail on (the default).
    renv = MazeEnv(width=10, height=10, render_mode="rgb_array")
    renv.reset(seed=0)
    frames = 2000

    def render_once() -> float:
        renv.reset(seed=0)
        t0 = time.perf_counter()
        for a in actions[:frames]:
            renv.step(a)
            renv.render()
        return time.perf_counter() - t0

    step_only = frames / single_rate(renv, actions[:frames], args.repeats)
    fps = frames / max(1e-9, best_of(render_once, args.repeats) - step_only)
    frame_shape = renv.render().shape

    gen_times = {}
    for alg in gen.ALGORITHMS:
        def gen_once(alg=alg) -> float:
            t0 = time.perf_counter()
            for s in range(1000):
                gen.generate(15, 15, alg, seed=s)
            return time.perf_counter() - t0

        gen_times[alg] = best_of(gen_once, args.repeats)

    print(f"FrozenLake-v1 8x8 (not slippery, gymnasium.make): {lake_rate:12,.0f} steps/s")
    print(f"MazeEnv 11x11 cells, grid obs (gymnasium.make):    {maze_rate:12,.0f} steps/s   "
          f"{maze_rate / lake_rate:5.2f}x FrozenLake (target >= 1.0x)")
    print(f"MazeEnv 11x11 cells, local obs (gymnasium.make):   {local_rate:12,.0f} steps/s   "
          f"{local_rate / lake_rate:5.2f}x FrozenLake")
    for label, rate in vec_rates.items():
        target = " (target >= 30x)" if rate is vec_rate else ""
        print(f"MazeVectorEnv 256 x 11x11 cells, {label}: {rate:,.0f} env-steps/s = "
              f"{rate / lake_rate:.1f}x FrozenLake{target}")
    print(f"rgb_array frames, 21x21 grid {frame_shape}, trail on: {fps:,.0f} frames/s  "
          f"{fps / 500:5.1f}x target (>= 500)")
    for alg, secs in gen_times.items():
        target = " (target < 1 s)" if alg == "dfs" else ""
        print(f"1,000 mazes of 15x15 cells, {alg:<8}               {secs:8.3f} s{target}")
    ok = maze_rate >= lake_rate and vec_rate >= 30 * lake_rate and fps >= 500 and gen_times["dfs"] < 1.0
    print("all targets met" if ok else "some targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
