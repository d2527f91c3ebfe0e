"""The greedy policy played on mazes: its figures on a fixed set of mazes (:class:`Evaluator`, for training's
evaluations and the held-out test), what it believes about every cell (:func:`policy_overlay`), and the
frames of one greedy episode (:func:`episode_frames`, for ``lab watch`` and the run's policy picture).

Evaluation envs are reset with the fixed seed 0: greedy play from the real start (no exploring starts) on
given maze seeds draws nothing from it, and the figures then depend on the agent alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.maze import explorers
from envs.maze.make import make_vector_env
from envs.maze.mazes import episode_limit


@dataclass
class EvalResult:
    success: np.ndarray  # (M,) bool: reached the goal
    steps: np.ndarray  # (M,) steps taken (the limit when not solved)
    optimal: np.ndarray  # (M,) BFS length from the start

    @property
    def success_rate(self) -> float:
        return float(self.success.mean())

    @property
    def path_ratio(self) -> float:
        """Mean of steps / optimal over the solved mazes (NaN when none was solved)."""
        if not self.success.any():
            return float("nan")
        return float((self.steps[self.success] / np.maximum(self.optimal[self.success], 1)).mean())

    @property
    def perfect(self) -> bool:
        """Every maze solved at exactly its BFS-optimal length."""
        return bool(self.success.all() and (self.steps == self.optimal).all())

    @property
    def optimal_share(self) -> float:
        """Share of the mazes solved at exactly their BFS-optimal length."""
        return float((self.success & (self.steps == self.optimal)).mean())

    @property
    def mean_steps(self) -> float:
        """Mean steps over the solved mazes (NaN when none was solved)."""
        return float(self.steps[self.success].mean()) if self.success.any() else float("nan")

    def as_dict(self, prefix: str = "eval") -> dict:
        """The figures under the names of summary.json: ``<prefix>_success_rate`` ..."""
        return {f"{prefix}_success_rate": self.success_rate, f"{prefix}_path_ratio": self.path_ratio,
                f"{prefix}_optimal_share": self.optimal_share, f"{prefix}_mean_steps": self.mean_steps}


def baselines(env_cfg, maze_seeds: list[int] | None, names) -> dict:
    """The walkers of :mod:`envs.maze.explorers` among ``names`` on the same mazes as the agent (from the
    real start): ``baseline_<name>_success_rate`` and ``baseline_<name>_mean_steps`` (over the solved
    mazes; NaN when none was solved)."""
    steps = explorers.play(eval_env_config(env_cfg), maze_seeds, [n for n in names if n in explorers.NAMES])
    out = {}
    for name, walked in steps.items():
        rate, mean = explorers.summarise(walked)
        out[f"baseline_{name}_success_rate"] = rate
        out[f"baseline_{name}_mean_steps"] = mean
    return out


def eval_env_config(env_cfg):
    """The training env's settings with the real starts (no exploring starts) for evaluation."""
    return env_cfg.model_copy(update={"exploring_starts": False})


class Evaluator:
    """Runs the greedy policy on the evaluation mazes, all at once in one vector env."""

    def __init__(self, env_cfg, maze_seeds: list[int] | None):
        self.cfg = eval_env_config(env_cfg)
        self.maze_seeds = maze_seeds
        m = 1 if maze_seeds is None else len(maze_seeds)
        self.env = make_vector_env(self.cfg, m)
        self.limit = episode_limit(self.cfg)

    @property
    def size(self) -> int:
        return self.env.num_envs

    def _reset(self):
        env = self.env
        if self.maze_seeds is None:
            return env.reset(seed=0)
        out = None
        for i, s in enumerate(self.maze_seeds):
            mask = np.zeros(env.num_envs, dtype=bool)
            mask[i] = True
            out = env.reset(seed=None if i else 0, options={"maze_seed": int(s), "reset_mask": mask})
        return out

    def mazes(self):
        """The evaluation mazes (after a reset)."""
        self._reset()
        return list(self.env.unwrapped.mazes)

    def run(self, policy) -> EvalResult:
        """``policy(obs_batch) -> actions`` (an agent's :meth:`greedy_policy`); each maze is played once from
        its start (greedy: deterministic). A memoryless policy that comes back to a tile loops for ever:
        such an episode fails at once; a policy with ``memoryless = False`` may come back."""
        env = self.env
        obs, info = self._reset()
        m = env.num_envs
        done = np.zeros(m, dtype=bool)
        success = np.zeros(m, dtype=bool)
        steps = np.full(m, self.limit, dtype=np.int64)
        optimal = np.asarray(info["optimal_length"]).copy()
        # A greedy policy sees a function of the agent's tile, so coming back to a tile means it loops
        # for ever: such an episode is a failure at once (this keeps evaluations short).
        memoryless = getattr(policy, "memoryless", True)
        rows, cols = env.unwrapped.mazes[0].shape
        visited = np.zeros((m, rows * cols), dtype=bool)
        ids = np.arange(m)

        def mark():
            pos = env.unwrapped.agent_pos
            flat = pos[:, 0] * cols + pos[:, 1]
            seen = visited[ids, flat].copy()
            visited[ids, flat] = True
            return seen

        mark()
        for t in range(1, self.limit + 1):
            actions = np.asarray(policy(obs), dtype=np.int64)
            obs, _, terminated, truncated, _ = env.step(actions)
            looping = mark() & ~terminated & memoryless
            ended = (terminated | truncated | looping) & ~done
            success |= terminated & ~done
            steps[ended & terminated] = t
            done |= ended
            if done.all():
                break
        return EvalResult(success, steps, optimal)


def policy_overlay(agent, env) -> tuple[np.ndarray, np.ndarray]:
    """(max-Q per tile, greedy action per tile) on the tile grid of ``env``'s current maze (NaN / -1
    elsewhere)."""
    u = env.unwrapped
    positions, obs = u.cell_observations()
    q = agent.q_values(obs)
    shape = u.maze.shape
    values = np.full(shape, np.nan)
    actions = np.full(shape, -1, dtype=np.int64)
    values[positions[:, 0], positions[:, 1]] = q.max(axis=1)
    actions[positions[:, 0], positions[:, 1]] = q.argmax(axis=1)
    goal = u.maze.goal
    values[goal] = np.nan
    actions[goal] = -1
    return values, actions


def episode_frames(agent, env, options=None, label: str = ""):
    """Yield the frames of one greedy episode on ``env`` (a MazeEnv in rgb_array mode; the last frame shows
    where it ended), then return its result: ``{"steps", "optimal", "success"}``."""
    obs, info = env.reset(options=options)
    optimal = int(info["optimal_length"])
    values, actions = policy_overlay(agent, env)
    steps, terminated, truncated = 0, False, False

    cfg = env.unwrapped.config
    seen = None
    if cfg.observation == "local" and cfg.local_goal == "window":  # show what the blind window has shown
        seen = np.zeros(env.unwrapped.maze.shape, dtype=bool)

    def frame(note=""):
        caption = f"{label}steps {steps} / optimal {optimal}{note}"
        if seen is not None:
            explorers.reveal(seen, env.unwrapped.agent_pos, cfg.local_size)
        env.set_overlay(values=values, actions=actions, trail=True, caption=caption, seen=seen)
        return env.render()

    yield frame()
    policy = agent.greedy_policy()
    memoryless = getattr(policy, "memoryless", True)
    visited = {tuple(env.unwrapped.agent_pos)}
    looping = False
    while not (terminated or truncated or looping):
        a = int(policy(obs[None])[0])
        obs, _, terminated, truncated, info = env.step(a)
        steps += 1
        pos = tuple(env.unwrapped.agent_pos)
        # A memoryless greedy policy depends only on the tile, so a tile seen before means an endless loop.
        looping = memoryless and pos in visited and not terminated
        visited.add(pos)
        note = ""
        if terminated:
            note = "  - solved" + (" at the optimal length" if steps == optimal else "")
        elif looping:
            note = "  - caught in a loop, not solved"
        elif truncated:
            note = "  - time limit, not solved"
        yield frame(note)
    return {"steps": steps, "optimal": optimal, "success": bool(terminated)}
