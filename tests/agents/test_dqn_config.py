"""The maze-dqn scenario (no TensorFlow here): every field described, bad values refused with clear messages,
and a warning when the env's shaping discount is not the agent's."""

import subprocess
import sys
import warnings

import pytest
from pydantic import ValidationError

from agents.dqn.config import DQNConfig, EpsilonConfig, MazeDQNScenario
from lab.scenario import field_docs


def test_config_modules_do_not_import_tensorflow(root):
    code = ("import sys; import agents.dqn.config, agents.dqn.replay; "
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; print(bad); sys.exit(1 if bad "
            "else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_config_field_is_described():
    rows = field_docs(DQNConfig)
    assert len(rows) > 30
    assert [path for path, desc, _ in rows if not desc.strip()] == []


def test_config_rejects_bad_values_with_clear_messages():
    with pytest.raises(ValidationError) as exc:
        DQNConfig(batch_size=128, replay={"capacity": 100})
    assert "batch_size (128) is larger than replay.capacity (100)" in str(exc.value)
    with pytest.raises(ValidationError, match="less than 1"):
        DQNConfig(gamma=1.0)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        DQNConfig(gamma=-0.1)
    with pytest.raises(ValidationError, match="Extra inputs"):
        DQNConfig(replay={"capacty": 10})
    with pytest.raises(ValidationError, match="must not be above"):
        EpsilonConfig(start=0.1, end=0.5)
    with pytest.raises(ValidationError,
                       match="network.hidden.1\n  Input should be greater than or equal to 1"):
        DQNConfig(network={"hidden": [64, 0]})
    assert DQNConfig(gamma=0.0).gamma == 0.0

MESSAGE = ("potential-based shaping keeps the optimal policy only when its gamma equals the agent's (or is 1 "
           "with this env's BFS potential); env.rewards.shaping_gamma is 0.9, agent.gamma is 0.95; set them "
           "equal")


def scenario(shaping: bool, shaping_gamma: float, gamma: float) -> dict:
    return {"name": "t", "task": "maze-dqn", "agent": {"gamma": gamma},
            "env": {"rewards": {"shaping": shaping, "shaping_gamma": shaping_gamma}}}


def test_a_shaping_gamma_other_than_the_agents_is_warned_about():
    with pytest.warns(UserWarning) as caught:
        MazeDQNScenario.model_validate(scenario(True, 0.9, 0.95))
    assert [str(w.message) for w in caught] == [MESSAGE]


@pytest.mark.parametrize("shaping,shaping_gamma,gamma",
                         [(True, 0.95, 0.95), (False, 0.9, 0.95), (True, 1.0, 0.95)])
def test_no_warning_when_they_match_or_shaping_is_off_or_undiscounted(shaping, shaping_gamma, gamma):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MazeDQNScenario.model_validate(scenario(shaping, shaping_gamma, gamma))


def test_lab_validate_prints_the_warning_and_exits_0(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\ntask: maze-dqn\nenv:\n  rewards: {shaping: true, shaping_gamma: 0.9}\nagent:\n  "
                 "gamma: 0.95\n")
    proc = subprocess.run([sys.executable, "-m", "lab", "validate", str(f)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == f"warning: {f}: {MESSAGE}\n"
    assert proc.stdout.startswith(f"ok: {f}")
    proc = subprocess.run([sys.executable, "-m", "lab", "validate", str(f), "--set",
                           "env.rewards.shaping_gamma=0.95"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
