"""Play a maze yourself in a pygame window (``lab play``): arrow keys move, R resets, N draws a new maze,
Esc quits. The caption shows the steps taken against the optimal length (the BFS shortest route). With a
blind window (``observation: local``, ``local_goal: window``) the player sees what that agent sees: the
tiles its window has not shown yet stay in fog, the goal too."""

from __future__ import annotations

import numpy as np

from envs.maze import render as rnd
from envs.maze.config import MazeEnvConfig
from envs.maze.env import MazeEnv
from envs.maze.explorers import reveal

HELP_LINE = "arrows move · R reset · N new maze · Esc quit"


def caption(steps: int, optimal: int, maze_label: str, state: str = "") -> str:
    text = f"steps {steps} / optimal {optimal}  ·  {maze_label}"
    if state:
        text += f"  ·  {state}"
    return f"{text}\n{HELP_LINE}"


class _Session:
    """What the player's keys change: the maze (its seed), the steps taken and the caption's verdict."""

    def __init__(self, env: MazeEnv, cfg: MazeEnvConfig):
        self.env, self.cfg = env, cfg
        self.seed = cfg.maze_seed
        self.restart()

    def restart(self, state: str = "") -> None:
        """Back to the start of the current maze (R)."""
        self.env.reset(options={} if self.cfg.has_layout else {"maze_seed": self.seed})
        self.steps, self.done, self.state, self.redraw = 0, False, state, True
        self.seen = np.zeros(self.env.maze.shape, dtype=bool)
        self.look()

    @property
    def blind(self) -> bool:
        """The scenario's agent sees a window without a compass: the player sees what it sees."""
        return self.cfg.observation == "local" and self.cfg.local_goal == "window"

    def look(self) -> None:
        """What the window around the player shows joins what has been seen."""
        reveal(self.seen, self.env.agent_pos, self.cfg.local_size)

    def new_maze(self) -> None:
        """The maze of the next seed (N): the seeds count up from the first one; a layout has one maze."""
        if not self.cfg.has_layout:
            self.seed += 1
        self.restart("" if not self.cfg.has_layout else "a layout has one maze")

    def move(self, action: int) -> None:
        if self.done:
            return
        _, _, terminated, truncated, info = self.env.step(action)
        self.look()
        self.steps += 1
        self.redraw = True
        if terminated:
            self.done = True
            extra = self.steps - info["optimal_length"]
            verdict = "optimal!" if extra == 0 else f"{extra} more than optimal"
            self.state = f"solved in {self.steps} ({verdict}) · R again, N new maze"
        elif truncated:
            self.done = True
            self.state = f"out of steps ({self.env.max_episode_steps}) · R again"

    def caption(self) -> str:
        label = "layout" if self.cfg.has_layout else f"maze seed {self.seed}"
        return caption(self.steps, self.env.optimal_length, label, self.state)


def play(cfg: MazeEnvConfig, name: str = "maze play") -> int:
    """Open the window and play until Esc or the window is closed. Returns 0.

    ``name`` titles the window and the NoDisplayError raised where there is no screen (a command passes
    its own name, e.g. ``lab play``).
    """
    # Before anything is drawn: a clear error, not a pygame crash.
    rnd.require_display(name, hint="Run it on a machine with a screen (or over ssh -X).")
    import pygame

    env = MazeEnv(cfg, render_mode="rgb_array")
    window = rnd.Window(f"{name}: find the green goal", fps=30)
    keys = {pygame.K_UP: 0, pygame.K_RIGHT: 1, pygame.K_DOWN: 2, pygame.K_LEFT: 3,
            pygame.K_w: 0, pygame.K_d: 1, pygame.K_s: 2, pygame.K_a: 3}
    session = _Session(env, cfg)
    try:
        while True:
            for event in window.events():
                if (event.type == pygame.QUIT or
                        (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE)):
                    return 0
                if event.type != pygame.KEYDOWN:
                    continue
                if event.key == pygame.K_r:
                    session.restart()
                elif event.key == pygame.K_n:
                    session.new_maze()
                elif event.key in keys:
                    session.move(keys[event.key])
            if session.redraw:
                env.set_overlay(caption=session.caption(), seen=session.seen if session.blind else None)
                first = not window.is_open
                window.show(env.render(), drain_events=False)
                if first and window.is_open:
                    pygame.key.set_repeat(250, 70)  # holding an arrow key keeps walking
                session.redraw = False
            else:
                window.wait(30)
            if window.closed_by_user:
                return 0
    finally:
        window.close()
        env.close()
