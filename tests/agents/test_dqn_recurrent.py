"""The recurrent Q-network and its sequence replay (agents/dqn/recurrent.py, sequences.py): sequences cut
as R2D2 cuts them, hand-checked n-step targets, a state carried from step to step and restarted where an
episode starts, save and load, and the settings that cannot work."""

import numpy as np
import pytest

from agents.dqn.config import DQNConfig, NetworkConfig
from agents.dqn.recurrent import RecurrentDQNAgent, load_agent
from agents.dqn.sequences import SequenceReplay
from lab import scenario
from lab.errors import ScenarioError


def replay(**kw):
    args = dict(n_envs=1, length=2, burn_in=1, n_step=2, gamma=0.5, state_sizes=[1], seed=0)
    return SequenceReplay(10, (1,), np.float32, **{**args, **kw})


def feed(buf, steps):
    """steps: (reward, terminated, truncated) of one env, obs = the step's number, state = 10 * number."""
    first = True
    for i, (r, term, trunc) in enumerate(steps):
        obs, after = np.array([[i]], np.float32), np.array([[100 + i]], np.float32)
        buf.add(obs, np.array([i % 4]), np.array([r]), after, np.array([term]), np.array([trunc]),
                first=np.array([first]), states=[np.array([[10.0 * i]])],
                next_states=[np.array([[10.0 * i + 5]])], skip=np.array([False]))
        first = term or trunc


def test_streams_become_overlapping_sequences_that_learn_every_step_once():
    buf = replay()
    feed(buf, [(1.0, False, False)] * 6)  # a stream: 1 empty entry, then steps 0..5; span 1 + 2 + 2 = 5
    assert len(buf) == 2
    obs = buf.data["obs"][:2, :, 0]
    assert obs[0].tolist() == [0, 0, 1, 2, 3] and not buf.data["valid"][0, 0]  # the empty burn-in entry
    assert obs[1].tolist() == [1, 2, 3, 4, 5]  # `length` entries on: learned steps 2, 3 follow 0, 1
    assert buf.states[0][:2, 0].tolist() == [0.0, 10.0]  # the state the agent acted from at the start
    assert buf.data["prev"][0].tolist() == [-1, -1, 0, 1, 2]  # the action before each step (none first)


def test_n_step_targets_stop_at_the_end_of_the_episode():
    buf = replay(length=3, n_step=2)
    # step 1 terminates: its target has no bootstrap; step 0 sums r0 + 0.5 r1 and stops there too
    feed(buf, [(1.0, False, False), (2.0, True, False), (4.0, False, False), (8.0, False, False)])
    d = {k: v[:1] for k, v in buf.data.items()}  # entries: empty, 0, 1, final obs of 1, 2(first), 3
    t = buf.targets(d)
    assert buf.data["obs"][0, :, 0].tolist() == [0, 0, 1, 101, 2, 3]
    np.testing.assert_allclose(t["returns"][0], [1 + 0.5 * 2, 2, 0])
    np.testing.assert_allclose(t["dones"][0], [1, 1, 0])
    np.testing.assert_allclose(t["mask"][0], [1, 1, 0])  # the final-observation entry is not a step
    np.testing.assert_allclose(t["discounts"][0], [0.25, 0.5, 1.0])
    # the final observation follows the episode's last action; the next episode starts with none
    assert buf.data["prev"][0].tolist() == [-1, -1, 0, 1, -1, 2]


def test_a_truncated_episode_bootstraps_from_its_final_observation():
    buf = replay(length=2, n_step=3)
    feed(buf, [(1.0, False, False), (1.0, False, True), (0.0, False, False), (0.0, False, False)])
    t = buf.targets({k: v[:1] for k, v in buf.data.items()})
    # learned entries: steps 0 and 1; both windows end at the truncation, bootstrapping from entry "101"
    assert t["dones"][0].tolist() == [0, 0] and t["discounts"][0].tolist() == [0.25, 0.5]
    assert [buf.data["obs"][0, 1 + b, 0] for b in t["boot"][0]] == [101, 101]


def test_the_replay_saves_and_loads_its_sequences(tmp_path):
    buf = replay()
    feed(buf, [(1.0, False, False)] * 9)
    buf.save(tmp_path / "replay.npz")
    other = replay()
    other.load(tmp_path / "replay.npz")
    assert other.added == buf.added and all((other.data[k] == buf.data[k]).all() for k in buf.data)
    with pytest.raises(Exception, match="a replay of other sequences"):
        replay(length=3).load(tmp_path / "replay.npz")


def agent(**net):
    config = DQNConfig(network=NetworkConfig(kind="recurrent", hidden=[8], units=6, **net),
                       sequence={"length": 3, "burn_in": 2}, n_step=2)
    return RecurrentDQNAgent((5,), 4, config, jit_compile=False, seed=1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_state_carries_what_was_seen_and_restarts_with_an_episode(cell):
    a = agent(cell=cell)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 1, 5)).astype(np.float32)
    after_x = a.greedy_policy()
    after_x(x)
    q_after_x = a.step(y, [False], after_x.states)[0]
    q_fresh = a.q_values(y)
    assert not np.allclose(q_after_x, q_fresh)  # a memory: y after x is not y alone
    np.testing.assert_allclose(a.step(y, [True], after_x.states)[0], q_fresh, rtol=1e-5)  # `first` forgets
    went = [a.step(y, [False], after_x.states, prev=[k])[0] for k in range(4)]
    assert not np.allclose(went[0], went[2])  # it reads which way it went
    assert after_x.prev.tolist() == [int(after_x.agent.q_values(x).argmax())]
    without = agent(cell=cell, previous_action=False)
    assert "prev" not in [t.name.split(":")[0] for t in without.online.inputs]


def test_acting_keeps_the_states_the_replay_needs_and_learning_runs(tmp_path):
    a = agent()
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(3, 5)).astype(np.float32)
    a.act(obs, 0.0, rng, first=np.ones(3, bool))
    a.act(obs, 0.0, rng, first=np.array([False, True, False]))
    assert np.all(a.acted_states[0][1] == 0) and not np.all(a.acted_states[0][0] == 0)
    buf = SequenceReplay(20, (5,), np.float32, n_envs=1, length=3, burn_in=2, n_step=2, gamma=0.9,
                         state_sizes=[6, 6], seed=0)
    for i in range(12):
        buf.add(obs[:1], np.array([i % 4]), np.array([0.1]), obs[:1], np.array([i == 7]), np.array([False]),
                first=np.array([i in (0, 8)]), states=[np.zeros((1, 6), np.float32)] * 2,
                next_states=[np.zeros((1, 6), np.float32)] * 2, skip=np.array([False]))
    out = a.train_step(buf.sample(4, n_batches=2))
    assert np.isfinite(out["loss"]) and out["td_errors"].shape == (2, 4) and a.updates == 2
    a.save(tmp_path / "agent")
    back = load_agent(tmp_path / "agent", jit_compile=False)
    assert isinstance(back, RecurrentDQNAgent)
    np.testing.assert_allclose(back.q_values(obs), a.q_values(obs), rtol=1e-5)


@pytest.mark.parametrize("agent_section,message", [
    ({"network": {"kind": "recurrent"}, "replay": {"prioritized": True}}, "replays sequences uniformly"),
    ({"network": {"kind": "mlp", "units": 64}, "sequence": {"length": 5}},
     "network.units, sequence.length: settings of a recurrent network, and this one is a mlp"),
])
def test_settings_that_cannot_work_are_named(agent_section, message):
    data = {"name": "x", "task": "maze-dqn", "env": {"observation": "local", "local_goal": "window"},
            "agent": agent_section}
    with pytest.raises(ScenarioError, match=message):
        scenario.validate(data, "x.yaml")
