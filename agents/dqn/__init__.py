"""Double DQN for the maze: config (TF-free), schedules, replay, Q-networks, the agent.

Import the submodules you need; ``config``, ``schedules`` and ``replay`` never import TensorFlow.
"""
