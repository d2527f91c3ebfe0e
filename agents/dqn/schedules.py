"""Schedules as pure functions of the step: epsilon (linear, exponential) and PER's beta.

Each takes scalars or NumPy arrays of steps and returns floats (or an array of the same shape).
"""

from __future__ import annotations

import math

import numpy as np

_LN100 = math.log(100.0)


def linear_schedule(step, start: float, end: float, duration: int):
    """``start`` at step 0, straight line to ``end`` at ``duration``, ``end`` afterwards."""
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    frac = np.clip(np.asarray(step, dtype=np.float64) / duration, 0.0, 1.0)
    out = start + frac * (end - start)
    return float(out) if np.ndim(out) == 0 else out


def exponential_schedule(step, start: float, end: float, duration: int):
    """``end + (start - end) * 100 ** (-step / duration)``: the gap to ``end`` is 1% of its size at ``duration``.

    It never jumps: the value keeps shrinking geometrically towards ``end`` after ``duration``.
    """
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    t = np.maximum(np.asarray(step, dtype=np.float64), 0.0)
    out = end + (start - end) * np.exp(-_LN100 * t / duration)
    return float(out) if np.ndim(out) == 0 else out


def epsilon_at(step, cfg, total_steps: int | None = None):
    """Epsilon at ``step`` for an :class:`agents.dqn.config.EpsilonConfig` (``total_steps`` for ``fraction``)."""
    duration = cfg.decay_for(total_steps)
    fn = linear_schedule if cfg.schedule == "linear" else exponential_schedule
    return fn(step, cfg.start, cfg.end, duration)


def beta_at(step, beta0: float, beta_steps: int):
    """Importance-sampling exponent of prioritized replay: ``beta0`` at 0, linearly to 1 at ``beta_steps``."""
    return linear_schedule(step, beta0, 1.0, beta_steps)


def updates_due(steps_before: int, steps_after: int, learning_starts: int, train_freq: int, gradient_steps: int) -> int:
    """Gradient updates owed when the env-step counter moves from ``steps_before`` to ``steps_after``.

    ``gradient_steps`` for every multiple of ``train_freq`` in ``(steps_before, steps_after]`` that is at
    least ``learning_starts``. A vector env of N sub-envs advances the counter by N per step, so this can
    be several rounds at once: run them as one fused call,
    ``agent.train_step(buffer.sample(batch_size, n_batches=updates_due(...)))``.
    """
    if train_freq < 1 or gradient_steps < 1:
        raise ValueError(f"train_freq and gradient_steps must be at least 1, got {train_freq} and {gradient_steps}")
    first = max(steps_before + 1, learning_starts)
    if steps_after < first:
        return 0
    return (steps_after // train_freq - (first - 1) // train_freq) * gradient_steps
