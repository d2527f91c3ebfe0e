"""Play a maze yourself in a pygame window (``lab play``): arrow keys move, R resets, N draws a new maze,
Esc quits. The caption shows the steps taken against the optimal length (the BFS shortest route)."""

from __future__ import annotations

from envs.maze import render as rnd
from envs.maze.config import MazeEnvConfig

HELP_LINE = "arrows move · R reset · N new maze · Esc quit"


def caption(steps: int, optimal: int, maze_label: str, state: str = "") -> str:
    text = f"steps {steps} / optimal {optimal}  ·  {maze_label}"
    if state:
        text += f"  ·  {state}"
    return f"{text}\n{HELP_LINE}"


def play(cfg: MazeEnvConfig, name: str = "maze play") -> int:
    """Open the window and play until Esc or the window is closed. Returns 0.

    ``name`` titles the window and the NoDisplayError raised where there is no screen (a command passes
    its own name, e.g. ``lab play``).
    """
    # Before anything is drawn: a clear error, not a pygame crash.
    rnd.require_display(name, hint="Run it on a machine with a screen (or over ssh -X).")
    import pygame

    from envs.maze.env import MazeEnv

    env = MazeEnv(cfg, render_mode="rgb_array")
    window = rnd.Window(f"{name}: find the green goal", fps=30)
    keys = {pygame.K_UP: 0, pygame.K_RIGHT: 1, pygame.K_DOWN: 2, pygame.K_LEFT: 3,
            pygame.K_w: 0, pygame.K_d: 1, pygame.K_s: 2, pygame.K_a: 3}
    seed = cfg.maze_seed

    def start(new_seed: int | None):
        options = {} if cfg.has_layout else {"maze_seed": new_seed}
        env.reset(options=options)
        return 0, False

    def label() -> str:
        return "layout" if cfg.has_layout else f"maze seed {seed}"

    steps, done = start(seed)
    state = ""
    try:
        redraw = True
        while True:
            for event in window.events():
                if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                    return 0
                if event.type != pygame.KEYDOWN:
                    continue
                if event.key == pygame.K_r:
                    steps, done = start(seed)
                    state, redraw = "", True
                elif event.key == pygame.K_n:
                    if not cfg.has_layout:
                        seed += 1
                    steps, done = start(seed)
                    state = "" if not cfg.has_layout else "a layout has one maze"
                    redraw = True
                elif event.key in keys and not done:
                    _, _, terminated, truncated, info = env.step(keys[event.key])
                    steps += 1
                    redraw = True
                    if terminated:
                        done = True
                        extra = steps - info["optimal_length"]
                        verdict = "optimal!" if extra == 0 else f"{extra} more than optimal"
                        state = f"solved in {steps} ({verdict}) · R again, N new maze"
                    elif truncated:
                        done = True
                        state = f"out of steps ({env.max_episode_steps}) · R again"
            if redraw:
                env.set_overlay(caption=caption(steps, env.optimal_length, label(), state))
                first = not window.is_open
                window.show(env.render(), drain_events=False)
                if first and window.is_open:
                    pygame.key.set_repeat(250, 70)  # holding an arrow key keeps walking
                redraw = False
            else:
                window.wait(30)
            if window.closed_by_user:
                return 0
    finally:
        window.close()
        env.close()
