"""The ``maze-dqn`` runner: Double DQN collecting from ``MazeVectorEnv``, evaluated greedily on a fixed
set of mazes, with checkpoints, ``--resume``, metrics, a learning-curve plot and a policy picture.

The loop, per vector step of N envs: one batched compiled ``act`` call, one NumPy env step, one replay
``add`` (n-step returns; NEXT_STEP autoreset steps skipped); every ``train_freq`` env steps,
``gradient_steps`` updates fused in one compiled call; evaluation every ``eval_every`` env steps.
"""

from __future__ import annotations

import time

import numpy as np

from agents.dqn.evaluate import Evaluator
from agents.dqn.schedules import beta_at, epsilon_at, updates_due

AGENT_DIR = "agent"
REPLAY_FILE = "replay.npz"
FINAL_DIR = "final_agent"


def build_agent(cfg, obs_space, jit_compile="auto"):
    from agents.dqn.agent import DQNAgent

    high = float(np.max(obs_space.high)) if np.all(np.isfinite(obs_space.high)) else None
    return DQNAgent(obs_space.shape, 4, cfg.agent, obs_dtype=obs_space.dtype, obs_high=high, seed=cfg.seed,
                    jit_compile=jit_compile)


def build_buffer(cfg, obs_space, num_envs: int):
    from agents.dqn.replay import PrioritizedReplayBuffer, ReplayBuffer

    r, a = cfg.agent.replay, cfg.agent
    common = dict(n_envs=num_envs, n_step=a.n_step, gamma=a.gamma, seed=cfg.seed + 1)
    if r.prioritized:
        return PrioritizedReplayBuffer(r.capacity, obs_space.shape, obs_space.dtype, alpha=r.alpha, eps=r.eps, **common)
    return ReplayBuffer(r.capacity, obs_space.shape, obs_space.dtype, **common)


class Trainer:
    """Owns the loop; :func:`run_maze_dqn` wires it to a run folder."""

    def __init__(self, cfg, ctx=None, jit_compile="auto"):
        from envs.maze.config import make_vector_env

        self.cfg = cfg
        self.ctx = ctx
        t = cfg.training
        self.envs = make_vector_env(cfg.env, t.num_envs)
        self.obs_space = self.envs.single_observation_space
        self.agent = build_agent(cfg, self.obs_space, jit_compile)
        self.buffer = build_buffer(cfg, self.obs_space, t.num_envs)
        self.evaluator = Evaluator(cfg.env, cfg.eval_seeds())
        self.rng = np.random.default_rng(cfg.seed)
        self.env_steps = 0
        self.episodes = 0
        self.perfect_streak = 0
        self.train_seconds = 0.0
        self.history: list[dict] = []
        self.best = None
        self.reset_seed = cfg.seed

    # ---- state for checkpoints ------------------------------------------------------------------
    def state(self) -> dict:
        return {"env_steps": self.env_steps, "episodes": self.episodes, "perfect_streak": self.perfect_streak,
                "train_seconds": self.train_seconds, "history": self.history,
                "rng": self.rng.bit_generator.state, "buffer_rng": self.buffer.rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        self.env_steps = int(state["env_steps"])
        self.episodes = int(state["episodes"])
        self.perfect_streak = int(state["perfect_streak"])
        self.train_seconds = float(state["train_seconds"])
        self.history = list(state["history"])
        self.rng.bit_generator.state = state["rng"]
        self.buffer.rng.bit_generator.state = state["buffer_rng"]
        # In-flight episodes are not saved: the envs restart from fresh episodes with a new seed.
        self.reset_seed = self.cfg.seed + 7919 * (1 + self.env_steps)

    def save_checkpoint(self) -> None:
        run = self.ctx.run
        self.agent.env_steps = self.env_steps
        self.agent.save(run.checkpoint(AGENT_DIR), extra=self.state())
        if self.cfg.training.save_replay:
            self.buffer.save(run.checkpoint(REPLAY_FILE))

    def try_resume(self) -> bool:
        from agents.dqn.agent import DQNAgent

        run = self.ctx.run
        path = run.checkpoints / AGENT_DIR
        if not path.exists():
            return False
        self.agent = DQNAgent.load(path, obs_shape=self.obs_space.shape, obs_dtype=self.obs_space.dtype, n_actions=4,
                                   jit_compile=self.agent.jit_compile)
        if (run.checkpoints / REPLAY_FILE).exists():
            self.buffer.load(run.checkpoints / REPLAY_FILE)
        self.load_state(self.agent.extra)
        self.ctx.metrics.truncate_after(self.env_steps)
        return True

    # ---- the loop -----------------------------------------------------------------------------------
    def evaluate(self):
        return self.evaluator.run(self.agent.greedy_actions)

    def train(self, progress=None, log=None) -> dict:
        t, a = self.cfg.training, self.cfg.agent
        n = t.num_envs
        envs, agent, buffer = self.envs, self.agent, self.buffer
        obs, _ = envs.reset(seed=self.reset_seed)
        buffer.reset_pending()  # n-step windows never join episodes across this reset (matters on resume)
        ep_return = np.zeros(n)
        ep_len = np.zeros(n, dtype=np.int64)
        recent_returns: list[float] = []
        recent_success: list[float] = []
        losses: list[float] = []
        resetting = np.zeros(n, dtype=bool)  # NEXT_STEP: this step only resets those envs
        next_eval = (self.env_steps // t.eval_every + 1) * t.eval_every
        next_ckpt = (self.env_steps // t.checkpoint_every + 1) * t.checkpoint_every
        t0 = time.perf_counter() - self.train_seconds
        stop_reason = "budget"
        last = self.history[-1] if self.history else {}
        while self.env_steps < t.env_steps:
            eps = epsilon_at(self.env_steps, a.epsilon, t.env_steps)
            actions = agent.act(obs, eps, self.rng)
            next_obs, rewards, terminated, truncated, info = envs.step(actions)
            buffer.add(obs, actions, rewards, next_obs, terminated, truncated)
            live = ~resetting
            ep_return += np.where(live, rewards, 0.0)
            ep_len += live
            ended = (terminated | truncated) & live
            if ended.any():
                recent_returns.extend(ep_return[ended].tolist())
                recent_success.extend(terminated[ended].astype(float).tolist())
                self.episodes += int(ended.sum())
                ep_return[ended] = 0.0
                ep_len[ended] = 0
            resetting = terminated | truncated
            obs = next_obs
            self.env_steps += n
            if progress is not None:
                progress.update(n)
            k = updates_due(self.env_steps - n, self.env_steps, a.learning_starts, a.train_freq, a.gradient_steps)
            if k and len(buffer) >= a.batch_size:
                beta = beta_at(self.env_steps, a.replay.beta0, a.replay.beta_steps)
                batch = buffer.sample(a.batch_size, n_batches=k, beta=beta)
                out = agent.train_step(batch)
                if buffer.prioritized:
                    buffer.update_priorities(batch["indices"], out["td_errors"])
                losses.append(out["loss"])
            if self.env_steps >= next_eval or self.env_steps >= t.env_steps:
                next_eval += t.eval_every
                self.train_seconds = time.perf_counter() - t0
                result = self.evaluate()
                last = {
                    "env_steps": self.env_steps,
                    **result.as_dict(),
                    "epsilon": eps,
                    "loss": float(np.mean(losses)) if losses else float("nan"),
                    "train_return": float(np.mean(recent_returns)) if recent_returns else float("nan"),
                    "train_success": float(np.mean(recent_success)) if recent_success else float("nan"),
                    "episodes": self.episodes,
                    "updates": agent.updates,
                    "train_seconds": round(self.train_seconds, 3),
                }
                self.history.append(last)
                losses.clear()
                recent_returns.clear()
                recent_success.clear()
                if self.ctx is not None:
                    self.ctx.log_metrics(self.env_steps, **{k: v for k, v in last.items() if k != "env_steps"})
                if progress is not None:
                    progress.set(success=last["eval_success_rate"], path_ratio=last["eval_path_ratio"], eps=eps)
                if log is not None:
                    log(last)
                self.perfect_streak = self.perfect_streak + 1 if result.perfect else 0
                if t.stop_after_perfect and self.perfect_streak >= t.stop_after_perfect:
                    stop_reason = f"perfect in {self.perfect_streak} evaluations in a row"
                    break
                if (t.stop_at_success is not None and result.success_rate >= t.stop_at_success
                        and result.path_ratio <= t.stop_at_path_ratio):
                    stop_reason = f"success {result.success_rate:.3f} >= {t.stop_at_success}"
                    break
            if self.ctx is not None and self.env_steps >= next_ckpt:
                next_ckpt += t.checkpoint_every
                self.train_seconds = time.perf_counter() - t0
                self.save_checkpoint()
            if t.time_limit_seconds is not None and time.perf_counter() - t0 >= t.time_limit_seconds:
                stop_reason = f"time limit {t.time_limit_seconds:.0f} s"
                if not self.history or self.history[-1]["env_steps"] != self.env_steps:
                    result = self.evaluate()
                    last = {"env_steps": self.env_steps, **result.as_dict(), "epsilon": eps, "episodes": self.episodes,
                            "updates": agent.updates}
                    self.history.append(last)
                break
        self.train_seconds = time.perf_counter() - t0
        return {"stop_reason": stop_reason, **last}


def run_maze_dqn(cfg, ctx) -> dict:
    """Runner of the ``maze-dqn`` task."""
    trainer = Trainer(cfg, ctx, jit_compile=ctx.jit_compile)
    resumed = ctx.resume and trainer.try_resume()
    if resumed:
        ctx.log(f"resuming from env step {trainer.env_steps:,} ({trainer.episodes:,} episodes)")
    t = cfg.training
    with ctx.progress(t.env_steps, f"{cfg.name} (DQN)", unit="step") as bar:
        bar.update(trainer.env_steps)
        last = trainer.train(bar)
    trainer.save_checkpoint()
    trainer.agent.save(ctx.run.path / FINAL_DIR, extra={"env_steps": trainer.env_steps})
    final = trainer.evaluate()
    env_steps = trainer.env_steps
    summary = {
        "eval_success_rate": final.success_rate,
        "eval_path_ratio": final.path_ratio,
        "eval_optimal_share": final.as_dict()["eval_optimal_share"],
        "eval_mazes": trainer.evaluator.size,
        "env_steps": env_steps,
        "episodes": trainer.episodes,
        "updates": trainer.agent.updates,
        **test_figures(cfg, trainer),
        "stop_reason": last.get("stop_reason", "budget"),
        "train_seconds": round(trainer.train_seconds, 3),
        "env_steps_per_second": round(env_steps / max(trainer.train_seconds, 1e-9), 1),
    }
    write_pictures(cfg, ctx, trainer, final, summary)
    return summary


def test_figures(cfg, trainer) -> dict:
    """The final greedy policy on the held-out test mazes (``training.test_mazes``), or nothing."""
    seeds = cfg.test_seeds()
    if not seeds:
        return {}
    result = Evaluator(cfg.env, seeds).run(trainer.agent.greedy_actions)
    return {"test_success_rate": result.success_rate, "test_path_ratio": result.path_ratio,
            "test_optimal_share": result.as_dict()["eval_optimal_share"], "test_mazes": len(seeds),
            "test_seeds": [seeds[0], seeds[-1] + 1]}


def write_pictures(cfg, ctx, trainer, final, summary: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = trainer.history
    if hist:
        steps = [h["env_steps"] for h in hist]
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
        axes[0].plot(steps, [h["eval_success_rate"] for h in hist], marker=".")
        axes[0].set_ylim(-0.05, 1.05)
        axes[0].set_title("greedy success rate")
        axes[1].plot(steps, [h["eval_path_ratio"] for h in hist], marker=".", color="tab:orange")
        axes[1].axhline(1.0, color="grey", lw=0.8, ls="--")
        axes[1].set_title("path length / BFS optimum (solved mazes)")
        axes[2].plot(steps, [h.get("loss", np.nan) for h in hist], marker=".", color="tab:red")
        axes[2].set_yscale("log")
        axes[2].set_title("TD loss")
        for ax in axes:
            ax.set_xlabel("env steps")
            ax.grid(alpha=0.3)
        fig.suptitle(f"{cfg.name}: learning curves")
        ctx.save_figure(fig, "learning_curves.png")
        ctx.report.image("Learning curves", "artifacts/learning_curves.png",
                         "Greedy evaluation on the evaluation mazes every "
                         f"{cfg.training.eval_every:,} env steps.")
    frame = policy_frame(trainer.agent, cfg.env, trainer.evaluator)
    from PIL import Image

    from lab.runs import atomic_path

    with atomic_path(ctx.artifact("policy.png")) as tmp:
        Image.fromarray(frame).save(tmp, format="PNG")
    ctx.report.image("Final policy", "artifacts/policy.png",
                     "Greedy action of every cell (arrows), max-Q as a heatmap (yellow high), and the greedy route "
                     "from the start (trail), on the first evaluation maze.")
    rows = [{"set": "evaluation (stopping)", "mazes": trainer.evaluator.size, "success rate": final.success_rate,
             "path ratio": final.path_ratio, "optimal share": final.as_dict()["eval_optimal_share"]}]
    if summary and "test_mazes" in summary:
        rows.append({"set": "held-out test", "mazes": summary["test_mazes"], "success rate": summary["test_success_rate"],
                     "path ratio": summary["test_path_ratio"], "optimal share": summary["test_optimal_share"]})
    ctx.report.table("Final evaluation", rows)


def policy_frame(agent, env_cfg, evaluator) -> np.ndarray:
    """A picture of the greedy policy on the first evaluation maze: the last frame of a greedy episode."""
    from agents.dqn.evaluate import eval_env_config
    from agents.dqn.watch import episode_frames
    from envs.maze.env import MazeEnv

    env = MazeEnv(eval_env_config(env_cfg), render_mode="rgb_array")
    env.reset(seed=0)
    seeds = evaluator.maze_seeds
    *_, last = episode_frames(agent, env, {"maze_seed": seeds[0]} if seeds else None)
    env.close()
    return last
