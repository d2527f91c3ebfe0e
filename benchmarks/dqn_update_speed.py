"""How fast is the DQN agent's compiled update and its batched acting?

    .venv/bin/python benchmarks/dqn_update_speed.py [--seconds 2] [--rounds 6] [--threads 0] [--no-cnn]

Measures, on the MLP 256-256 with batch 64 (vector observations of 8 floats, 4 actions), XLA on and off:

* updates/s of ``DQNAgent.train_step``, batches sampled from a filled replay buffer as in training,
  with 1, 4 and 16 gradient steps fused into one call (what ``updates_due`` asks for when N envs step
  at once), and with prioritized replay (sample + update + priority write-back);
* ``act`` calls/s for a batch of 16 observations (epsilon 0, so the network always runs);
* the same update and act for uint8 grids 11 x 11 x 3 with the default CNN (16-32 filters, dense 256),
  and the MLP 256-256 on the same grids flattened (``network.kind: mlp``).

All variants are measured round-robin (``--rounds`` slices of ``--seconds`` each), so a neighbour's load
hits them alike. Two figures per row: the best wall-clock rate of the rounds, and the median CPU time of
this process per update or call (summed over its threads): the steadier figure on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="total seconds measured per variant")
    parser.add_argument("--rounds", type=int, default=6, help="round-robin slices per variant")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra/inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--no-cnn", action="store_true", help="skip the (slow) CNN rows")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    import keras

    from agents.dqn.agent import DQNAgent
    from agents.dqn.config import DQNConfig
    from agents.dqn.replay import PrioritizedReplayBuffer, ReplayBuffer, Transitions

    keras.utils.set_random_seed(0)
    obs_dim, n_actions, batch = 8, 4, 64
    rng = np.random.default_rng(0)

    def filled(buffer, shape, dtype, n=10_000):
        if dtype == np.uint8:
            obs, nxt = (rng.integers(0, 2, size=(n, *shape), dtype=np.uint8) for _ in range(2))
        else:
            obs, nxt = (rng.normal(size=(n, *shape)).astype(dtype) for _ in range(2))
        buffer.add_transitions(Transitions(
            obs, rng.integers(0, n_actions, n).astype(np.int32), rng.normal(size=n).astype(np.float32), nxt,
            (rng.random(n) < 0.05).astype(np.float32), np.full(n, 0.99**3, np.float32)))
        return buffer

    uniform = filled(ReplayBuffer(10_000, (obs_dim,), np.float32, seed=0), (obs_dim,), np.float32)
    prioritized = filled(PrioritizedReplayBuffer(10_000, (obs_dim,), np.float32, seed=0), (obs_dim,),
                         np.float32)

    variants = []  # (label, xla, units per call, fn)

    def train(agent, buffer, k):
        def fn():
            b = buffer.sample(batch, n_batches=None if k == 1 else k, beta=0.5)
            out = agent.train_step(b)
            buffer.update_priorities(b["indices"], out["td_errors"])
        return fn

    for jit in (False, True):
        agent = DQNAgent((obs_dim,), n_actions, DQNConfig(batch_size=batch), jit_compile=jit, seed=0)
        for k in (1, 4, 16):
            variants.append((f"MLP update, uniform replay, {k} per call", jit, k, train(agent, uniform, k)))
        for k in (1, 4):
            variants.append(
                (f"MLP update, prioritized replay, {k} per call", jit, k, train(agent, prioritized, k)))
        act_agent = DQNAgent((obs_dim,), n_actions, DQNConfig(batch_size=batch), jit_compile=True,
                             act_jit_compile=jit, seed=0)
        obs16 = rng.normal(size=(16, obs_dim)).astype(np.float32)
        act_rng = np.random.default_rng(1)
        variants.append(
            ("MLP act, batch of 16", jit, 1, lambda a=act_agent, r=act_rng, o=obs16: a.act(o, 0.0, r)))

    if not args.no_cnn:
        grid_shape = (11, 11, 3)
        grids = filled(ReplayBuffer(2_000, grid_shape, np.uint8, seed=0), grid_shape, np.uint8, n=2_000)
        grid_cfg = DQNConfig(batch_size=batch, network={"hidden": [256]})
        grid_obs = rng.integers(0, 2, size=(16, *grid_shape), dtype=np.uint8)
        for jit in (False, True):
            grid = DQNAgent(grid_shape, n_actions, grid_cfg, obs_dtype=np.uint8, seed=0, jit_compile=jit,
                            act_jit_compile=jit)
            variants.append(("CNN 11x11x3 uint8 update, 1 per call", jit, 1, train(grid, grids, 1)))
            variants.append(("CNN 11x11x3 uint8 act, batch of 16", jit, 1,
                             lambda g=grid, r=np.random.default_rng(2): g.act(grid_obs, 0.0, r)))
        flat = DQNAgent(grid_shape, n_actions, DQNConfig(batch_size=batch, network={"kind": "mlp"}),
                        obs_dtype=np.uint8, seed=0, jit_compile=True)
        variants.append(
            ("MLP 256-256 on the flattened 11x11x3 grid, 4 per call", True, 4, train(flat, grids, 4)))

    print(f"DQN update speed: MLP 256-256 (obs ({obs_dim},), {n_actions} actions), batch {batch}; TensorFlow "
          f"{tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU(s), threads "
          f"{args.threads or 'default'}")
    print("compiling...", flush=True)
    for _, _, _, fn in variants:
        fn()  # trace and compile
        fn()
    best = [0.0] * len(variants)
    cpu = [[] for _ in variants]
    slice_s = args.seconds / args.rounds
    for _ in range(args.rounds):
        for i, (_, _, units, fn) in enumerate(variants):
            n, w0, c0 = 0, time.perf_counter(), time.process_time()
            while time.perf_counter() - w0 < slice_s:
                fn()
                n += 1
            wall, used = time.perf_counter() - w0, time.process_time() - c0
            best[i] = max(best[i], n * units / wall)
            cpu[i].append(1000 * used / (n * units))

    width = max(len(v[0]) for v in variants)
    print(f"{'measurement':<{width}}  {'XLA':>4}  {'per second':>10}  {'CPU ms each':>11}")
    for (label, jit, _, _), rate, used in zip(variants, best, cpu, strict=True):
        print(f"{label:<{width}}  {'on' if jit else 'off':>4}  {rate:>10,.0f}  "
              f"{float(np.median(used)):>11.2f}")
    print("per second: best round, wall clock (updates for update rows, calls for act rows); "
          "CPU ms: median over rounds of this process's CPU time per update or call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
