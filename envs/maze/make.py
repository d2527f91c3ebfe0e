"""Making maze envs from an ``env:`` section, as any Gymnasium user gets them.

``make_env(cfg)`` is ``gymnasium.make("lab/Maze-v0", config=cfg)`` (the registered wrappers
included: the env checker, order enforcing); ``make_vector_env(cfg, n)`` is ``gymnasium.make_vec`` with
the native :class:`~envs.maze.vector.MazeVectorEnv`, which steps ``n`` mazes at once in NumPy. ``cfg`` is
a :class:`~envs.maze.config.MazeEnvConfig`, a mapping of its settings, or None (the defaults); a bad
setting raises :class:`~envs.maze.generate.MazeError` listing every problem.
"""

from __future__ import annotations

import gymnasium

from envs.maze.config import MazeEnvConfig, env_config

# ``lab/Maze-v0`` is registered by the ``envs`` package itself, imported before any of its modules.


def make_env(cfg: MazeEnvConfig | dict | None = None, render_mode: str | None = None):
    """``gymnasium.make("lab/Maze-v0")`` for this section (wrappers included, as any Gymnasium user gets)."""
    return gymnasium.make("lab/Maze-v0", config=env_config(cfg), render_mode=render_mode)


def make_vector_env(cfg: MazeEnvConfig | dict | None, num_envs: int, render_mode: str | None = None):
    """``num_envs`` mazes stepped together in NumPy (:class:`envs.maze.vector.MazeVectorEnv`, via
    make_vec)."""
    return gymnasium.make_vec("lab/Maze-v0", num_envs=num_envs, vectorization_mode="vector_entry_point",
                              config=env_config(cfg), render_mode=render_mode)
