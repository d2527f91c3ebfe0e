"""The maze-dqn scenario warns when the env's shaping discount is not the agent's (no TensorFlow here)."""

import subprocess
import sys
import warnings

import pytest

from agents.dqn.task import MazeDQNScenario

MESSAGE = ("potential-based shaping keeps the optimal policy only when its gamma equals the agent's (or is 1 with "
           "this env's BFS potential); env.rewards.shaping_gamma is 0.9, agent.gamma is 0.95; set them equal")


def scenario(shaping: bool, shaping_gamma: float, gamma: float) -> dict:
    return {"name": "t", "task": "maze-dqn", "agent": {"gamma": gamma},
            "env": {"rewards": {"shaping": shaping, "shaping_gamma": shaping_gamma}}}


def test_a_shaping_gamma_other_than_the_agents_is_warned_about():
    with pytest.warns(UserWarning) as caught:
        MazeDQNScenario.model_validate(scenario(True, 0.9, 0.95))
    assert [str(w.message) for w in caught] == [MESSAGE]


@pytest.mark.parametrize("shaping,shaping_gamma,gamma", [(True, 0.95, 0.95), (False, 0.9, 0.95), (True, 1.0, 0.95)])
def test_no_warning_when_they_match_or_shaping_is_off_or_undiscounted(shaping, shaping_gamma, gamma):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MazeDQNScenario.model_validate(scenario(shaping, shaping_gamma, gamma))


def test_lab_validate_prints_the_warning_and_exits_0(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\ntask: maze-dqn\nenv:\n  rewards: {shaping: true, shaping_gamma: 0.9}\nagent:\n  gamma: 0.95\n")
    proc = subprocess.run([sys.executable, "-m", "lab", "validate", str(f)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == f"warning: {f}: {MESSAGE}\n"
    assert proc.stdout.startswith(f"ok: {f}")
    proc = subprocess.run([sys.executable, "-m", "lab", "validate", str(f), "--set", "env.rewards.shaping_gamma=0.95"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
