"""The ``maze-dqn`` task: Double DQN learns mazes.

config.py (the scenario, no TensorFlow), model.py (the maths as plain functions and the Q-networks),
agent.py (the agent: networks, optimizer, compiled update, checkpoints), replay.py (n-step, prioritized
replay; no TensorFlow), evaluate.py (the greedy policy played on mazes), train.py (the runner),
report.py (pictures and report sections), serve.py (what ``lab watch`` calls).
"""
