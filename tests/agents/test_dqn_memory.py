"""Agents with a memory on the blind window, end to end: frame stacking (agents/dqn/stacking.py) and the
recurrent network train, evaluate, report their references, stop and resume."""

import numpy as np
import pytest
import yaml

from agents.dqn.stacking import FrameStack, StackingPolicy
from lab import scenario
from lab.errors import ScenarioError
from lab.execute import execute

BLIND = {
    "name": "blind", "task": "maze-dqn", "seed": 0, "strategy": "cpu", "jit_compile": False,
    "env": {"width": 3, "height": 3, "mazes": "random", "start": "random", "goal": "random",
            "observation": "local", "local_size": 3, "local_goal": "window"},
    "agent": {"network": {"kind": "mlp", "hidden": [16]}, "learning_starts": 80, "train_freq": 8,
              "batch_size": 8, "replay": {"capacity": 500}, "epsilon": {"decay_steps": 300}},
    "training": {"env_steps": 480, "num_envs": 4, "eval_every": 240, "eval_mazes": 4, "test_mazes": 4,
                 "stop_after_perfect": 0, "checkpoint_every": 240,
                 "baselines": ["wall_follower", "frontier", "optimum"]},
}


def test_frames_stack_oldest_first_and_restart_with_an_episode():
    stack = FrameStack(3, 2, (2,), np.float32)
    stack.push(np.array([[1, 1], [2, 2]]), [True, True])
    out = stack.push(np.array([[3, 3], [4, 4]]), [False, True])
    assert out.tolist() == [[0, 0, 1, 1, 3, 3], [0, 0, 0, 0, 4, 4]]
    assert stack.peek(np.array([[5, 5], [6, 6]])).tolist() == [[1, 1, 3, 3, 5, 5], [0, 0, 4, 4, 6, 6]]
    assert stack.push(np.array([[7, 7], [8, 8]]), [False, False])[0].tolist() == [1, 1, 3, 3, 7, 7]
    grids = FrameStack.alone(np.ones((1, 2, 2, 3)), 2)
    assert grids.shape == (1, 2, 2, 6) and grids[..., :3].sum() == 0


@pytest.mark.parametrize("agent", [
    {"frame_stack": 4},
    {"network": {"kind": "recurrent", "hidden": [16], "units": 8}, "sequence": {"length": 4, "burn_in": 2},
     "replay": {"capacity": 100}},
])
def test_an_agent_with_memory_trains_evaluates_and_resumes(tmp_path, monkeypatch, agent):
    data = {**BLIND, "agent": {**BLIND["agent"], **agent}}
    recurrent = "network" in agent
    if recurrent:  # and its layers without the memory, trained in the same run
        data["training"] = {**BLIND["training"], "baselines": ["frontier", "feedforward", "frame_stack"]}
    path = tmp_path / "blind.yaml"
    path.write_text(yaml.safe_dump(data))
    from agents.dqn import train

    calls = {"n": 0}
    original = train.Trainer.evaluate

    def killed_at_the_second(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(train.Trainer, "evaluate", killed_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        execute(str(path), out=str(tmp_path / "runs"), quiet=True)
    monkeypatch.setattr(train.Trainer, "evaluate", original)
    (folder,) = (tmp_path / "runs").iterdir()
    run = execute(None, resume=str(folder), quiet=True)
    s = run.summary()
    assert run.status == "complete" and s["env_steps"] == 480 and s["test_mazes"] == 4
    assert 0 <= s["test_success_rate"] <= 1 and s["baseline_frontier_success_rate"] == 1.0
    if recurrent:
        assert s["baseline_feedforward_env_steps"] == s["baseline_frame_stack_env_steps"] == 480
        assert all(0 <= s[f"baseline_{n}_success_rate"] <= 1 for n in ("feedforward", "frame_stack"))


def test_the_memoryless_baselines_are_the_same_layers_on_the_same_experience():
    from agents.dqn.memoryless import memoryless_config

    data = {**BLIND, "agent": {**BLIND["agent"], "network": {"kind": "recurrent", "hidden": [16], "units": 8},
                               "sequence": {"length": 4}, "replay": {"capacity": 100}},
            "training": {**BLIND["training"], "baselines": ["feedforward", "frame_stack", "optimum"]}}
    cfg = scenario.validate(data, "x.yaml")
    plain, stacked = (memoryless_config(cfg, name, 960) for name in ("feedforward", "frame_stack"))
    assert plain.agent.network.kind == "mlp" and plain.agent.network.hidden == [16, 8]
    assert plain.agent.frame_stack == 1 and stacked.agent.frame_stack == 4
    assert plain.agent.batch_size == 8 * 4 and plain.agent.replay.capacity == 100 * 4
    assert plain.training.env_steps == 960 and plain.training.baselines == []
    data["agent"]["network"] = {"kind": "mlp"}
    data["agent"].pop("sequence")
    with pytest.raises(ScenarioError, match="feedforward, frame_stack: a recurrent network's layers without"):
        scenario.validate(data, "x.yaml")


def test_frame_stacking_is_a_feed_forward_memory():
    data = {**BLIND, "agent": {**BLIND["agent"], "frame_stack": 2,
                               "network": {"kind": "recurrent"}}}
    with pytest.raises(ScenarioError, match="frame_stack 2 is a feed-forward network's memory"):
        scenario.validate(data, "x.yaml")


def test_greedy_play_of_a_stacking_agent_stacks_as_it_goes():
    from agents.dqn.agent import DQNAgent
    from agents.dqn.config import DQNConfig

    agent = DQNAgent((6,), 4, DQNConfig(frame_stack=3, network={"kind": "mlp", "hidden": [4]}),
                     jit_compile=False)
    policy = agent.greedy_policy()
    assert isinstance(policy, StackingPolicy) and not policy.memoryless
    x = np.ones((2, 2), np.float32)
    policy(x)
    policy(2 * x)
    assert policy.stack.frames[:, :, 0].tolist() == [[0, 1, 2], [0, 1, 2]]
    assert agent.q_values(x).shape == (2, 4)  # one observation alone: the first of an episode


def test_watching_a_blind_agent_shows_only_what_its_window_has_shown():
    from agents.dqn.agent import DQNAgent
    from agents.dqn.config import DQNConfig
    from agents.dqn.evaluate import episode_frames
    from envs.maze.env import MazeEnv
    from envs.maze.render import FOG, WALL

    env = MazeEnv(layout="#########\n#S.....G#\n#########", observation="local", local_size=3,
                  local_goal="window", render_mode="rgb_array", tile_pixels=4)
    agent = DQNAgent(env.observation_space.shape, 4, DQNConfig(network={"kind": "mlp", "hidden": [4]}),
                     jit_compile=False)
    # zero weights: every tile gets the heat colour of one value, whatever the backend's initial weights
    agent.online.set_weights([np.zeros_like(w) for w in agent.online.get_weights()])
    first = next(episode_frames(agent, env))
    far = first[4:8, 24:28]  # tile (1, 6): 5 tiles from the start, outside the 3 x 3 window
    near = first[4:8, 8:12]  # tile (1, 2): inside it
    fog = np.array(FOG, float)
    assert np.abs(far[0, 0] - fog).max() < 15  # in fog (measured 6)
    assert np.abs(near[0, 0] - fog).max() > 25 and (first[0:4, 0:4] == WALL).all()  # seen (measured 36)
