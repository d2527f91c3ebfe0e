"""Pictures and report sections of a maze-dqn run: the learning curves, a picture of the final policy and
the table of the final evaluation (and held-out test)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from agents.dqn.evaluate import EvalResult, episode_frames, eval_env_config
from envs.maze.env import MazeEnv
from lab.plots import pyplot
from lab.runs import atomic_path


def learning_curves(ctx, cfg, history) -> None:
    """Greedy success rate, path ratio and TD loss against env steps (``history``: the run's
    :class:`agents.dqn.train.EvalRecord` list) as ``artifacts/learning_curves.png`` and a report section."""
    if not history:
        return
    plt = pyplot()
    steps = [h.env_steps for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    axes[0].plot(steps, [h.success_rate for h in history], marker=".")
    axes[0].set_ylim(-0.05, 1.05)
    axes[0].set_title("greedy success rate")
    axes[1].plot(steps, [h.path_ratio for h in history], marker=".", color="tab:orange")
    axes[1].axhline(1.0, color="grey", lw=0.8, ls="--")
    axes[1].set_title("path length / BFS optimum (solved mazes)")
    axes[2].plot(steps, [h.loss for h in history], marker=".", color="tab:red")
    axes[2].set_yscale("log")
    axes[2].set_title("TD loss")
    for ax in axes:
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{cfg.name}: learning curves")
    ctx.save_figure(fig, "learning_curves.png")
    ctx.report.image("Learning curves", "artifacts/learning_curves.png",
                     f"Greedy evaluation on the evaluation mazes every {cfg.training.eval_every:,} env "
                     f"steps.")


def policy_frame(agent, env_cfg, maze_seeds: list[int] | None) -> np.ndarray:
    """A picture of the greedy policy on the first evaluation maze (``maze_seeds``' first; None: the fixed
    maze): the last frame of a greedy episode, with arrows, the max-Q heatmap and the trail."""
    env = MazeEnv(eval_env_config(env_cfg), render_mode="rgb_array")
    env.reset(seed=0)
    *_, last = episode_frames(agent, env, {"maze_seed": maze_seeds[0]} if maze_seeds else None)
    env.close()
    return last


def policy_picture(ctx, cfg, agent, maze_seeds: list[int] | None) -> None:
    """:func:`policy_frame` as ``artifacts/policy.png`` and a report section."""
    frame = policy_frame(agent, cfg.env, maze_seeds)
    with atomic_path(ctx.artifact("policy.png")) as tmp:
        Image.fromarray(frame).save(tmp, format="PNG")
    ctx.report.image("Final policy", "artifacts/policy.png",
                     "Greedy action of every cell (arrows), max-Q as a heatmap (yellow high), and the greedy "
                     "route from the start (trail), on the first evaluation maze.")


def final_evaluation(ctx, final: EvalResult, eval_mazes: int, test: EvalResult | None = None,
                     test_mazes: int = 0, walkers: dict | None = None) -> None:
    """The table of the final greedy policy on the evaluation mazes (which decided when to stop) and, when
    there is one, the held-out test set; then the references on the same mazes."""
    rows = [{"set": "evaluation (stopping)", "mazes": eval_mazes, "success rate": final.success_rate,
             "path ratio": final.path_ratio, "optimal share": final.optimal_share,
             "mean steps": final.mean_steps}]
    if test is not None:
        rows.append({"set": "held-out test", "mazes": test_mazes, "success rate": test.success_rate,
                     "path ratio": test.path_ratio, "optimal share": test.optimal_share,
                     "mean steps": test.mean_steps})
    ctx.report.table("Final evaluation", rows)
    names = [k.removeprefix("baseline_").removesuffix("_success_rate") for k in walkers or {}
             if k.endswith("_success_rate")]
    if names:
        where = f"the {test_mazes} held-out test mazes" if test is not None else "the evaluation mazes"
        ctx.report.table("References on the same mazes", [
            {"reference": name, "success rate": walkers[f"baseline_{name}_success_rate"],
             "mean steps (solved)": walkers[f"baseline_{name}_mean_steps"]} for name in names],
            note=f"Played once on {where}, from the real start: the walkers that learn nothing "
                 f"(envs/maze/explorers.py), and the network without its memory (feedforward, "
                 f"frame_stack: trained in this run for as many env steps, agents/dqn/memoryless.py).")
