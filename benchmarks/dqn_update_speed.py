"""How fast is the DQN agent's compiled update and its batched acting?

    .venv/bin/python benchmarks/dqn_update_speed.py [--seconds 3] [--threads 0]

Measures, on the MLP 256-256 with batch 64 (vector observations of 8 floats, 4 actions):

* updates/s of ``DQNAgent.train_step`` with XLA on and off, for 1 gradient step per call and for
  4 gradient steps fused into one call (``gradient_steps: 4``);
* the same with prioritized-replay sampling included (sample + update + priority write-back);
* ``act`` calls/s for a batch of 16 observations (epsilon 0, so the network always runs).

Batches are drawn from a filled replay buffer, as in training.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rate(fn, seconds: float, per_call: int = 1, rounds: int = 3) -> tuple[float, float]:
    """(best calls-or-updates per second over `rounds`, CPU milliseconds of this process per unit).

    The CPU time is the steadier figure on a shared machine: other processes slow the wall clock."""
    fn()  # trace / compile
    fn()
    best, cpu_ms = 0.0, float("inf")
    for _ in range(rounds):
        n, start, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds / rounds:
            fn()
            n += 1
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        best = max(best, n * per_call / wall)
        cpu_ms = min(cpu_ms, 1000 * cpu / (n * per_call))
    return best, cpu_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent on each measurement")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: TensorFlow's default)")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    import keras

    from agents.dqn.agent import DQNAgent
    from agents.dqn.config import DQNConfig
    from agents.dqn.replay import PrioritizedReplayBuffer, ReplayBuffer

    keras.utils.set_random_seed(0)
    obs_dim, n_actions, batch = 8, 4, 64
    rng = np.random.default_rng(0)

    def filled(buffer):
        n = 10_000
        obs = rng.normal(size=(n, obs_dim)).astype(np.float32)
        from agents.dqn.replay import Transitions

        buffer.add_transitions(Transitions(
            obs, rng.integers(0, n_actions, n).astype(np.int32), rng.normal(size=n).astype(np.float32),
            rng.normal(size=(n, obs_dim)).astype(np.float32), (rng.random(n) < 0.05).astype(np.float32),
            np.full(n, 0.99**3, np.float32)))
        return buffer

    uniform = filled(ReplayBuffer(20_000, (obs_dim,), np.float32, seed=0))
    prioritized = filled(PrioritizedReplayBuffer(20_000, (obs_dim,), np.float32, seed=0))

    print(f"DQN update speed: MLP 256-256, batch {batch}, obs ({obs_dim},), {n_actions} actions; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU(s), "
          f"intra-op threads {args.threads or 'default'}")
    rows = []
    for jit in (False, True):
        cfg = DQNConfig(batch_size=batch)
        agent = DQNAgent((obs_dim,), n_actions, cfg, jit_compile=jit, seed=0)
        for k in (1, 4):
            def step(k=k, agent=agent):
                b = uniform.sample(batch, n_batches=None if k == 1 else k)
                agent.train_step(b)

            rows.append((f"train_step, uniform replay, {k} update(s)/call", jit, rate(step, args.seconds, k)))

        def per_step(agent=agent):
            b = prioritized.sample(batch, beta=0.5)
            out = agent.train_step(b)
            prioritized.update_priorities(b["indices"], out["td_errors"])

        rows.append(("train_step, prioritized replay, 1 update/call", jit, rate(per_step, args.seconds)))

        def per_step4(agent=agent):
            b = prioritized.sample(batch, n_batches=4, beta=0.5)
            out = agent.train_step(b)
            prioritized.update_priorities(b["indices"], out["td_errors"])

        rows.append(("train_step, prioritized replay, 4 updates/call", jit, rate(per_step4, args.seconds, 4)))

    obs16 = rng.normal(size=(16, obs_dim)).astype(np.float32)
    for jit in (False, True):
        agent = DQNAgent((obs_dim,), n_actions, DQNConfig(batch_size=batch), act_jit_compile=jit, seed=0)
        act_rng = np.random.default_rng(1)
        rows.append(("act, batch of 16 observations", jit, rate(lambda a=agent, r=act_rng: a.act(obs16, 0.0, r), args.seconds)))

    grid_cfg = DQNConfig(batch_size=batch, network={"hidden": [256]})  # conv filters: the default 16-32
    grid_obs = rng.integers(0, 2, size=(16, 11, 11, 3)).astype(np.uint8)
    gb = {"obs": rng.integers(0, 2, size=(batch, 11, 11, 3)).astype(np.uint8),
          "next_obs": rng.integers(0, 2, size=(batch, 11, 11, 3)).astype(np.uint8),
          "actions": rng.integers(0, n_actions, batch), "rewards": rng.normal(size=batch),
          "dones": np.zeros(batch), "discounts": np.full(batch, 0.97), "weights": np.ones(batch)}
    for jit in (False, True):
        grid = DQNAgent((11, 11, 3), n_actions, grid_cfg, obs_dtype=np.uint8, seed=0, jit_compile=jit)
        rows.append(("train_step, uint8 grids 11x11x3 (cnn 16-32, dense 256), 1 update/call", jit,
                     rate(lambda g=grid: g.train_step(gb), args.seconds)))
    rows.append(("act, batch of 16 uint8 grids 11x11x3 (cnn 16-32, dense 256)", False,
                 rate(lambda g=grid: g.act(grid_obs, 0.0, rng), args.seconds)))

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'XLA':>5}  {'per second':>10}  {'CPU ms each':>11}")
    for name, jit, (value, cpu_ms) in rows:
        print(f"{name:<{width}}  {'on' if jit else 'off':>5}  {value:>10,.0f}  {cpu_ms:>11.2f}")
    print("(per second: best of 3 rounds, wall clock; CPU ms: this process's CPU time per update or call, "
          "summed over its threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
