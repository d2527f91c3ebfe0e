"""Frame stacking (``agent.frame_stack: k``): a feed-forward network's short memory.

The agent sees the last ``k`` observations of the episode side by side on the last axis (oldest first;
zeros before the episode's first), as DQN saw the last 4 Atari frames. The env is untouched: the training
loop stacks what the vector env returns (:class:`FrameStack`), greedy play stacks as it goes
(:class:`StackingPolicy`), and an observation given alone counts as the first of an episode (the pictures'
per-tile Q-values). It is the reference issue 25 asks for beside a recurrent network: memory of a fixed,
short span.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from envs.maze.env import observation_space


def stack_frames(frames: np.ndarray) -> np.ndarray:
    """(N, k, ..., C) -> (N, ..., k * C): the k frames side by side on the last axis, oldest first."""
    moved = np.moveaxis(frames, 1, -2)
    return moved.reshape(*moved.shape[:-2], -1)


class FrameStack:
    """The last ``k`` observations of each of ``n`` envs."""

    def __init__(self, k: int, n: int, obs_shape, dtype):
        self.frames = np.zeros((n, k, *obs_shape), dtype)

    def push(self, obs, first) -> np.ndarray:
        """Add one observation per env (``first``: it opens an episode, the older frames become zeros);
        returns the stacks."""
        self.frames[np.asarray(first, bool)] = 0
        self.frames = np.roll(self.frames, -1, axis=1)
        self.frames[:, -1] = obs
        return stack_frames(self.frames)

    def peek(self, obs) -> np.ndarray:
        """The stacks ``push(obs, first=False)`` would give, without keeping them (an n-step target's)."""
        frames = np.concatenate([self.frames[:, 1:], np.asarray(obs)[:, None]], axis=1)
        return stack_frames(frames)

    @staticmethod
    def alone(obs, k: int) -> np.ndarray:
        """Each observation as the first of an episode: zeros, then it."""
        frames = np.zeros((len(obs), k, *np.shape(obs)[1:]), np.asarray(obs).dtype)
        frames[:, -1] = obs
        return stack_frames(frames)


class StackingPolicy:
    """Greedy play of a frame-stacking agent: stacks each row's observations from call to call (the first
    call opens every row's episode). Not memoryless: a tile seen again, with other frames, may be left
    another way."""

    memoryless = False

    def __init__(self, agent):
        self.agent, self.stack = agent, None

    def __call__(self, obs_batch) -> np.ndarray:
        obs = np.asarray(obs_batch)
        first = self.stack is None or self.stack.frames.shape[0] != len(obs)
        if first:
            self.stack = FrameStack(self.agent.config.frame_stack, len(obs), obs.shape[1:], obs.dtype)
        return self.agent.greedy_actions(self.stack.push(obs, np.full(len(obs), first)))


def agent_observation_space(cfg) -> spaces.Box:
    """What the agent of a maze-dqn scenario reads: the env's observation, or ``frame_stack`` of them."""
    space = observation_space(cfg.env)
    k = cfg.agent.frame_stack
    if k == 1:
        return space
    shape = (*space.shape[:-1], k * space.shape[-1])
    return spaces.Box(np.concatenate([space.low] * k, axis=-1), np.concatenate([space.high] * k, axis=-1),
                      shape=shape, dtype=space.dtype)
