"""The DQN agent: the compiled update against a hand computation, determinism, checkpoints, learning."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from agents.dqn.agent import DQNAgent
from agents.dqn.config import DQNConfig
from agents.dqn.model import epsilon_at, updates_due
from agents.dqn.replay import ReplayBuffer, Transitions
from lab.errors import RunError, ScenarioError


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# --------------------------------------------------------------------------------------------------
# the compiled update


def _filled_buffer(obs_dim=6, n=200, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(n, (obs_dim,), dtype, seed=seed)
    obs = rng.normal(size=(n, obs_dim)).astype(dtype)
    buf.add_transitions(Transitions(obs, rng.integers(0, 3, n).astype(np.int32),
                                    rng.normal(size=n).astype(np.float32), np.roll(obs, 1, axis=0),
                                    (rng.random(n) < 0.2).astype(np.float32), np.full(n, 0.9, np.float32)))
    return buf


def _small_cfg(**kw):
    base = dict(network={"hidden": [32, 32]}, batch_size=16, learning_rate=1e-2)
    base.update(kw)
    return DQNConfig(**base)


def test_train_step_loss_and_td_errors_match_a_hand_computation():
    agent = DQNAgent((6,), 3, _small_cfg(), seed=1, jit_compile=False)
    agent.online.layers[-1].kernel.assign(agent.online.layers[-1].kernel * 5.0)  # make the nets disagree
    batch = _filled_buffer().sample(16)
    batch["weights"] = np.linspace(0.2, 1.0, 16).astype(np.float32)
    q = agent.q_values(batch["obs"])
    q_next_online = agent.q_values(batch["next_obs"])
    q_next_target = agent.target.predict_on_batch(batch["next_obs"])
    a_star = q_next_online.argmax(1)
    y = batch["rewards"] + batch["discounts"] * (1 - batch["dones"]) * q_next_target[np.arange(16), a_star]
    td = y - q[np.arange(16), batch["actions"]]
    h = np.where(np.abs(td) <= 1.0, 0.5 * td**2, np.abs(td) - 0.5)
    out = agent.train_step(batch)
    assert out["loss"] == pytest.approx(float(np.mean(batch["weights"] * h)), rel=1e-5)
    np.testing.assert_allclose(out["td_errors"], td, rtol=1e-5, atol=1e-6)
    assert out["losses"].shape == (1,) and agent.updates == 1
    assert not np.allclose(agent.q_values(batch["obs"]), q)  # the weights moved


def test_fused_updates_equal_one_by_one_and_hard_sync_counts_updates():
    cfg = _small_cfg(target={"update": "hard", "every": 2})
    fused = DQNAgent((6,), 3, cfg, seed=2, jit_compile=True)  # XLA, tf.range loop, sync inside
    single = DQNAgent((6,), 3, cfg, seed=2, jit_compile=False)
    stacked = _filled_buffer().sample(16, n_batches=3)
    out = fused.train_step(stacked)
    assert out["losses"].shape == (3,) and out["td_errors"].shape == (3, 16) and fused.updates == 3
    losses = []
    for k in range(3):
        losses.append(single.train_step({key: v[k] for key, v in stacked.items()})["loss"])
        if k == 1:
            after_two = single.online.get_weights()
    np.testing.assert_allclose(out["losses"], losses, rtol=1e-5)
    for a, b in zip(fused.online.get_weights(), single.online.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # copied at update 2, not at update 3
    for t, o in zip(single.target.get_weights(), after_two, strict=True):
        np.testing.assert_array_equal(t, o)
    for a, b in zip(fused.target.get_weights(), single.target.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_diverged_loss_is_reported_as_an_error():
    agent = DQNAgent((6,), 3, _small_cfg(), seed=1, jit_compile=False)
    batch = _filled_buffer().sample(16)
    batch["rewards"][3] = np.inf
    with pytest.raises(RunError,
                       match="training diverged: the loss became inf at update 1; lower agent.learning_rate"):
        agent.train_step(batch)


def test_soft_target_update_is_polyak_averaging():
    agent = DQNAgent((6,), 3, _small_cfg(target={"update": "soft", "tau": 0.25}), seed=3, jit_compile=False)
    before = agent.target.get_weights()
    agent.train_step(_filled_buffer().sample(16))
    for t, o, b in zip(agent.target.get_weights(), agent.online.get_weights(), before, strict=True):
        np.testing.assert_allclose(t, 0.25 * o + 0.75 * b, rtol=1e-5, atol=1e-7)


def test_act_is_epsilon_greedy_over_the_batch():
    agent = DQNAgent((6,), 3, _small_cfg(), seed=4, jit_compile=False)
    obs = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    greedy = agent.q_values(obs).argmax(1)
    np.testing.assert_array_equal(agent.act(obs, 0.0, np.random.default_rng(0)), greedy)
    np.testing.assert_array_equal(agent.greedy_actions(obs), greedy)
    rng = np.random.default_rng(1)
    acts = np.concatenate([agent.act(obs, 1.0, rng) for _ in range(50)])
    assert acts.shape == (800,) and set(acts.tolist()) == {0, 1, 2}
    half = np.concatenate([agent.act(obs, 0.5, rng) for _ in range(50)])
    share = np.mean(half == np.tile(greedy, 50))
    assert 0.58 < share < 0.75  # 0.5 + 0.5 / 3 agree with the greedy action
    with pytest.raises(ValueError, match="shape"):
        agent.act(obs[:, :5], 0.1, rng)


def test_same_seed_gives_the_same_losses_and_actions():
    def run(seed):
        keras.utils.set_random_seed(seed)
        agent = DQNAgent((6,), 3, _small_cfg(), seed=seed, jit_compile=True)  # as a run: XLA-compiled update
        buf = _filled_buffer(seed=seed)
        rng = np.random.default_rng(seed)
        obs = rng.normal(size=(8, 6)).astype(np.float32)
        losses, actions = [], []
        for _ in range(6):
            actions.append(agent.act(obs, 0.3, rng))
            losses.append(agent.train_step(buf.sample(16))["loss"])
        return np.array(losses), np.stack(actions)

    l1, a1 = run(5)
    l2, a2 = run(5)
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(a1, a2)
    assert len(set(l1.tolist())) == 6  # the losses do change from update to update
    # another seed: other initial weights (whatever the global Keras seed)
    keras.utils.set_random_seed(5)
    other = DQNAgent((6,), 3, _small_cfg(), seed=6, jit_compile=False).online.get_weights()
    again = DQNAgent((6,), 3, _small_cfg(), seed=5, jit_compile=False).online.get_weights()
    first = DQNAgent((6,), 3, _small_cfg(), seed=5, jit_compile=False).online.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(again, first, strict=True))
    assert not np.array_equal(other[0], first[0])


# --------------------------------------------------------------------------------------------------
# checkpoints


def _grid_agent(seed=0, **kw):
    cfg = DQNConfig(network={"conv_filters": [4], "hidden": [16], "dueling": True}, batch_size=8, **kw)
    return DQNAgent((7, 7, 3), 4, cfg, obs_dtype=np.uint8, obs_high=1, seed=seed, jit_compile=False)


def _grid_batch(rng, b=8):
    return {"obs": rng.integers(0, 2, (b, 7, 7, 3), dtype=np.uint8),
            "next_obs": rng.integers(0, 2, (b, 7, 7, 3), dtype=np.uint8),
            "actions": rng.integers(0, 4, b), "rewards": rng.normal(size=b), "dones": np.zeros(b),
            "discounts": np.full(b, 0.9), "weights": np.ones(b)}


def test_save_load_round_trip_gives_identical_q_values_and_training(tmp_path):
    rng = np.random.default_rng(0)
    agent = _grid_agent()
    assert agent.network_kind == "cnn"
    for _ in range(3):
        agent.train_step(_grid_batch(rng))
    agent.env_steps = 1234
    agent.save(tmp_path / "agent", extra={"episodes": 7})
    agent.save(tmp_path / "agent", extra={"episodes": 9})  # replacing a saved agent works
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent"]
    loaded = DQNAgent.load(tmp_path / "agent", obs_shape=(7, 7, 3), obs_dtype=np.uint8, n_actions=4,
                           jit_compile=False)
    obs = rng.integers(0, 2, (5, 7, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.q_values(obs), agent.q_values(obs))
    assert (loaded.updates, loaded.env_steps, loaded.extra) == (3, 1234, {"episodes": 9})
    assert loaded.config == agent.config
    # the .keras file stands on its own (safe_mode) with the registered dueling layer
    alone = keras.saving.load_model(tmp_path / "agent" / "q_network.keras", safe_mode=True)
    np.testing.assert_allclose(alone.predict_on_batch(obs), agent.q_values(obs), rtol=1e-6)
    # optimizer and target state came back too: the next update is the same
    batch = _grid_batch(rng)
    assert loaded.train_step(batch)["loss"] == pytest.approx(agent.train_step(batch)["loss"], rel=1e-6)
    np.testing.assert_allclose(loaded.q_values(obs), agent.q_values(obs), rtol=1e-5, atol=1e-6)


def test_load_refuses_incompatible_envs_and_broken_folders(tmp_path):
    agent = _grid_agent()
    agent.save(tmp_path / "agent")
    with pytest.raises(RunError) as exc:
        DQNAgent.load(tmp_path / "agent", jit_compile=False, obs_shape=(9, 9, 3))
    assert ("was trained on grid observations of shape (7, 7, 3), this env gives grid observations of shape "
            "(9, 9, 3)" in str(exc.value))
    with pytest.raises(RunError) as exc:
        DQNAgent.load(tmp_path / "agent", jit_compile=False, obs_shape=(4,), obs_dtype=np.float32,
                      n_actions=5)
    text = str(exc.value)
    assert ("vector observations of shape (4,)" in text and
            "expects uint8 observations, this env gives float32" in text)
    assert "has 4 actions, this env has 5" in text
    with pytest.raises(ScenarioError,
                       match=r"cnn needs grid observations .* vector observations of shape \(4,\)"):
        DQNAgent((4,), 4, DQNConfig(network={"kind": "cnn"}), jit_compile=False)
    with pytest.raises(RunError, match="not a folder"):
        DQNAgent.load(tmp_path / "missing", jit_compile=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="not a saved DQN agent"):
        DQNAgent.load(tmp_path / "empty", jit_compile=False)
    meta_path = tmp_path / "agent" / "agent.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text("{ not json")
    with pytest.raises(RunError, match="corrupt"):
        DQNAgent.load(tmp_path / "agent", jit_compile=False)
    meta["config"]["gamma"] = 1.5
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RunError, match="does not validate"):
        DQNAgent.load(tmp_path / "agent", jit_compile=False)
    meta["config"]["gamma"] = 0.99
    meta_path.write_text(json.dumps(meta))
    (tmp_path / "agent" / "q_network.keras").write_bytes(b"not a zip")
    with pytest.raises(RunError, match="cannot load the Q-network"):
        DQNAgent.load(tmp_path / "agent", jit_compile=False)


# --------------------------------------------------------------------------------------------------
# learning


class ChainVecEnv:
    """N chains of states 0..L-1 (one-hot observations). Action 1 moves right, 0 left, 2 stays; reaching
    L-1 pays +1 and terminates; `limit` steps truncate. Gymnasium NEXT_STEP autoreset: the step after an
    end only resets that chain (reward 0, action ignored)."""

    def __init__(self, n, length=6, limit=20):
        self.n, self.length, self.limit = n, length, limit
        self.pos = np.zeros(n, np.int64)
        self.t = np.zeros(n, np.int64)
        self.ended = np.zeros(n, bool)

    def obs(self):
        return np.eye(self.length, dtype=np.float32)[self.pos]

    def step(self, actions):
        reset = self.ended
        move = np.array([-1, 1, 0])[actions]
        self.pos = np.where(reset, 0, np.clip(self.pos + move, 0, self.length - 1))
        self.t = np.where(reset, 0, self.t + 1)
        term = ~reset & (self.pos == self.length - 1)
        trunc = ~reset & ~term & (self.t >= self.limit)
        self.ended = term | trunc
        return self.obs(), term.astype(np.float32), term, trunc


def test_agent_learns_the_greedy_policy_of_a_chain():
    cfg = DQNConfig(network={"hidden": [32]}, gamma=0.9, n_step=2, learning_rate=3e-3, batch_size=32,
                    learning_starts=200, train_freq=4, gradient_steps=2, target={"every": 50},
                    epsilon={"start": 1.0, "end": 0.1, "decay_steps": 800}, replay={"capacity": 5000})
    n_envs = 4
    keras.utils.set_random_seed(0)
    agent = DQNAgent((6,), 3, cfg, seed=0, jit_compile=False)  # XLA equivalence: the fused-update test
    env = ChainVecEnv(n_envs)
    buf = ReplayBuffer(cfg.replay.capacity, (6,), np.float32, n_envs=n_envs, n_step=cfg.n_step,
                       gamma=cfg.gamma, seed=0)
    rng = np.random.default_rng(0)
    obs = env.obs()
    for step in range(0, 1600, n_envs):
        actions = agent.act(obs, epsilon_at(step, cfg.epsilon), rng)
        next_obs, rewards, term, trunc = env.step(actions)
        buf.add(obs, actions, rewards, next_obs, term, trunc)
        obs = next_obs
        due = updates_due(step, step + n_envs, cfg.learning_starts, cfg.train_freq, cfg.gradient_steps)
        if due:
            agent.train_step(buf.sample(cfg.batch_size, n_batches=due))
    assert agent.updates == 702  # 351 rounds of 2 (env steps 200, 204, ..., 1600)
    states = np.eye(6, dtype=np.float32)[:5]
    assert agent.greedy_actions(states).tolist() == [1, 1, 1, 1, 1]
    q_right = agent.q_values(states)[:, 1]
    np.testing.assert_allclose(q_right, 0.9 ** np.arange(4, -1, -1), atol=0.15)
