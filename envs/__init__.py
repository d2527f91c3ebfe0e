"""Environments of the lab. Importing this package registers ``lab/Maze-v0`` with Gymnasium.

Cheap on purpose: it imports Gymnasium's registry only (no pygame, no TensorFlow, not even the env
modules, which load when an env is made).
"""

from gymnasium.envs.registration import register, registry

if "lab/Maze-v0" not in registry:
    register(
        id="lab/Maze-v0",
        entry_point="envs.maze.env:MazeEnv",
        vector_entry_point="envs.maze.vector:MazeVectorEnv",
        disable_env_checker=False,
    )
