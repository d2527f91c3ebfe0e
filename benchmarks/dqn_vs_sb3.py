"""This lab's DQN against Stable-Baselines3's DQN on the same maze, network, hyperparameters and budget.

    pip install torch==2.13.0 stable-baselines3      # benchmark only (a CPU torch; not a lab dependency)
    python benchmarks/dqn_vs_sb3.py [--steps 20000] [--repeats 1]

The maze, rewards and shared hyperparameters come from scenarios/maze_dqn_small.yaml: a fixed 5 x 5-cell
maze, uint8 grid observations (flattened by both MLPs), exploring starts and BFS-potential shaping, an
MLP 64-64, Adam lr 1e-3, batch 64, replay 50k, gamma 0.99, one gradient update per 4 env steps, hard
target copies every 400 env steps, epsilon 1 -> 0.05 over 4,000 env steps, gradient-norm clip 10, Huber
loss. No early stopping: both use the whole env-step budget, then are evaluated greedily from the real
start (success and path length over the BFS optimum).

Configurations, each in its own process, one after the other in this shell:
  sb3 t=1 / sb3 t=2   SB3 DQN on one env, torch with 1 or 2 threads (the best is the reference)
  lab matched N=1     this lab, the same algorithm as SB3 (1-step, no Double DQN), one env
  lab matched N=16    the same, acting on 16 envs at once (same updates per env step)
  lab default N=16    this lab's defaults: Double DQN, 3-step returns
Prints env-steps/s, evaluation, and the ratio against the best SB3 setting.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCENARIO = ROOT / "scenarios" / "maze_dqn_small.yaml"
TARGET_EVERY_ENV_STEPS = 400  # = agent.target.every (100 updates) x train_freq (4)


def load_cfg(extra: list[str]):
    from lab import scenario

    return scenario.load_scenario(SCENARIO, extra)


def run_lab(steps: int, num_envs: int, matched: bool, seed: int) -> dict:
    import keras

    from agents.dqn.train import Trainer

    keras.utils.set_random_seed(seed)
    overrides = [f"training.env_steps={steps}", f"training.num_envs={num_envs}",
                 "training.stop_after_perfect=0", f"training.eval_every={steps}", f"seed={seed}"]
    if matched:
        overrides += ["agent.n_step=1", "agent.double_dqn=false"]
    cfg = load_cfg(overrides)
    trainer = Trainer(cfg, None, jit_compile=True)  # what a run does: the task's xla is always
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    # train() evaluates once at the end of the budget; time that evaluation apart
    t1 = time.perf_counter()
    res = trainer.evaluate()
    eval_seconds = time.perf_counter() - t1
    seconds -= eval_seconds
    return {"env_steps": trainer.env_steps, "seconds": seconds, "success": res.success_rate,
            "path_ratio": res.path_ratio, "updates": trainer.agent.updates}


def run_sb3(steps: int, threads: int, seed: int) -> dict:
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import DQN

    import envs  # noqa: F401  (registers lab/Maze-v0)
    from agents.dqn.evaluate import Evaluator

    torch.set_num_threads(threads)
    cfg = load_cfg([])
    a = cfg.agent
    env = gym.make("lab/Maze-v0", config=cfg.env)
    model = DQN(
        "MlpPolicy", env, learning_rate=a.learning_rate, buffer_size=a.replay.capacity,
        learning_starts=a.learning_starts, batch_size=a.batch_size, gamma=a.gamma, train_freq=a.train_freq,
        gradient_steps=a.gradient_steps, target_update_interval=TARGET_EVERY_ENV_STEPS,
        exploration_fraction=a.epsilon.decay_steps / steps, exploration_initial_eps=a.epsilon.start,
        exploration_final_eps=a.epsilon.end, max_grad_norm=a.max_grad_norm,
        policy_kwargs={"net_arch": list(a.network.hidden)}, seed=seed, device="cpu", verbose=0,
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - t0
    ev = Evaluator(cfg.env, None)
    res = ev.run(lambda obs: model.predict(np.asarray(obs), deterministic=True)[0])
    return {"env_steps": steps, "seconds": seconds, "success": res.success_rate, "path_ratio": res.path_ratio}


CONFIGS = {
    "sb3 t=1": ["sb3", "1"],
    "sb3 t=2": ["sb3", "2"],
    "lab matched N=1": ["lab", "1", "matched"],
    "lab matched N=16": ["lab", "16", "matched"],
    "lab default N=16": ["lab", "16", "default"],
}


def child(argv: list[str]) -> None:
    kind, steps, seed = argv[0], int(argv[1]), int(argv[2])
    if kind == "sb3":
        out = run_sb3(steps, int(argv[3]), seed)
    else:
        out = run_lab(steps, int(argv[3]), argv[4] == "matched", seed)
    print("RESULT " + json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20_000, help="env-step budget of every configuration")
    p.add_argument("--repeats", type=int, default=1, help="seeds per configuration (0, 1, ...)")
    p.add_argument("--only", nargs="*", help="run only these configurations")
    p.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child)
        return
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    results: dict[str, list[dict]] = {}
    for name, spec in CONFIGS.items():
        if args.only and name not in args.only:
            continue
        for seed in range(args.repeats):
            argv = [sys.executable, __file__, "--child", spec[0], str(args.steps), str(seed), *spec[1:]]
            proc = subprocess.run(argv, capture_output=True, text=True, env=env)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                print(f"{name}: failed\n{proc.stderr[-2000:]}")
                break
            r = json.loads(line[-1][7:])
            results.setdefault(name, []).append(r)
            print(f"{name:<18} seed {seed}: {r['env_steps'] / r['seconds']:8.0f} env-steps/s  "
                  f"success {r['success']:.2f}  path ratio {r['path_ratio']:.3f}  ({r['seconds']:.1f} s)",
                  flush=True)
    rate = {k: sum(r["env_steps"] for r in v) / sum(r["seconds"] for r in v) for k, v in results.items()}
    sb3 = [k for k in rate if k.startswith("sb3")]
    if not sb3:
        return
    best = max(sb3, key=rate.get)
    print(f"\nreference: {best} at {rate[best]:.0f} env-steps/s, success "
          f"{sum(r['success'] for r in results[best]) / len(results[best]):.2f}")
    for k in rate:
        if k.startswith("lab"):
            succ = sum(r["success"] for r in results[k]) / len(results[k])
            print(f"{k:<18} {rate[k] / rate[best]:5.2f}x SB3's env-steps/s, success {succ:.2f}")


if __name__ == "__main__":
    main()
