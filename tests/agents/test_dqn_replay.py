"""DQN replay: the ring buffer, n-step returns, prioritized sampling, checkpoints (no TensorFlow needed)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.dqn.replay import (
    NStepAccumulator,
    PrioritizedReplayBuffer,
    ReplayBuffer,
    SumTree,
    Transitions,
)
from lab.errors import RunError

# --------------------------------------------------------------------------------------------------
# ring buffer


def _transitions(start: int, k: int, obs_shape=(2,), dtype=np.float32) -> Transitions:
    ids = np.arange(start, start + k)
    obs = np.broadcast_to(ids.reshape(-1, *([1] * len(obs_shape))), (k, *obs_shape)).astype(dtype)
    return Transitions(obs, (ids % 4).astype(np.int32), ids.astype(np.float32), obs + 1,
                       np.zeros(k, np.float32), np.full(k, 0.9, np.float32))


def test_ring_buffer_wraps_around_and_keeps_the_newest():
    buf = ReplayBuffer(5, (2,), np.float32, seed=0)
    buf.add_transitions(_transitions(0, 3))
    assert len(buf) == 3 and buf.pos == 3
    buf.add_transitions(_transitions(3, 4))  # 7 written into 5 slots
    assert len(buf) == 5 and buf.pos == 2 and buf.added == 7
    assert sorted(buf.rewards.tolist()) == [2, 3, 4, 5, 6]
    assert buf.rewards[:2].tolist() == [5, 6]  # slots 0 and 1 were overwritten
    buf.add_transitions(_transitions(100, 12))  # more than the capacity at once: the last 5 survive
    assert sorted(buf.rewards.tolist()) == [107, 108, 109, 110, 111]
    # every sampled transition is a consistent row
    batch = buf.sample(64)
    np.testing.assert_array_equal(batch["obs"][:, 0], batch["rewards"])
    np.testing.assert_array_equal(batch["next_obs"][:, 0], batch["rewards"] + 1)
    assert set(batch["rewards"].tolist()) <= {107, 108, 109, 110, 111}


def test_buffer_keeps_dtypes_and_shapes():
    buf = ReplayBuffer(32, (5, 5, 3), np.uint8, n_envs=4, n_step=2, gamma=0.9, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(10):
        obs = rng.integers(0, 2, size=(4, 5, 5, 3), dtype=np.uint8)
        buf.add(obs, rng.integers(0, 4, 4), rng.normal(size=4), obs, np.zeros(4, bool), np.zeros(4, bool))
    assert buf.obs.dtype == np.uint8 and buf.next_obs.dtype == np.uint8
    b = buf.sample(8)
    assert b["obs"].shape == (8, 5, 5, 3) and b["obs"].dtype == np.uint8
    assert b["actions"].dtype == np.int32
    for key in ("rewards", "dones", "discounts", "weights"):
        assert b[key].shape == (8,) and b[key].dtype == np.float32, key
    stacked = buf.sample(8, n_batches=3)
    assert stacked["obs"].shape == (3, 8, 5, 5, 3) and stacked["indices"].shape == (3, 8)
    assert buf.nbytes == 2 * 32 * 75 + 32 * 16
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(4, (1,)).sample(2)


# --------------------------------------------------------------------------------------------------
# n-step returns


def _one_env_episode(n_step, gamma, rewards, terminated_last, truncated_last):
    T = len(rewards)
    buf = ReplayBuffer(100, (1,), np.float32, n_envs=1, n_step=n_step, gamma=gamma)
    stored = []
    for t in range(T):
        last = t == T - 1
        stored.append(buf.add(np.array([[t]]), np.array([t % 2]), np.array([rewards[t]]), np.array([[t + 1]]),
                              np.array([last and terminated_last]), np.array([last and truncated_last])))
    rows = {int(buf.obs[i, 0]): (float(buf.rewards[i]), int(buf.next_obs[i, 0]), float(buf.dones[i]),
                                 float(buf.discounts[i]), int(buf.actions[i])) for i in range(len(buf))}
    return stored, rows


def test_n_step_returns_by_hand_at_termination():
    # rewards 1, 2, 3, 4; the 4th step reaches the goal (terminated); n = 3, gamma = 0.5
    stored, rows = _one_env_episode(3, 0.5, [1.0, 2.0, 3.0, 4.0], True, False)
    assert stored == [0, 0, 1, 3]  # the first window completes at t = 2; the end flushes the rest
    assert rows[0] == (1 + 0.5 * 2 + 0.25 * 3, 3, 0.0, 0.125, 0)  # bootstraps from s3
    assert rows[1] == (2 + 0.5 * 3 + 0.25 * 4, 4, 1.0, 0.125, 1)  # reaches the goal: no bootstrap
    assert rows[2] == (3 + 0.5 * 4, 4, 1.0, 0.25, 0)
    assert rows[3] == (4.0, 4, 1.0, 0.5, 1)


def test_n_step_returns_by_hand_at_truncation():
    # same episode cut by the time limit: windows end, but every transition still bootstraps
    _, rows = _one_env_episode(3, 0.5, [1.0, 2.0, 3.0, 4.0], False, True)
    assert rows[1] == (4.5, 4, 0.0, 0.125, 1)
    assert rows[2] == (5.0, 4, 0.0, 0.25, 0)
    assert rows[3] == (4.0, 4, 0.0, 0.5, 1)
    # both flags: counts as terminated
    _, rows = _one_env_episode(3, 0.5, [1.0, 2.0, 3.0, 4.0], True, True)
    assert rows[3][2] == 1.0


def test_short_episode_and_one_step():
    _, rows = _one_env_episode(5, 0.9, [1.0, 1.0], True, False)  # shorter than n
    assert rows[0] == pytest.approx((1.9, 2, 1.0, 0.81, 0))
    assert rows[1] == pytest.approx((1.0, 2, 1.0, 0.9, 1))
    stored, rows = _one_env_episode(1, 0.9, [3.0, 5.0, 7.0], False, False)  # plain 1-step DQN
    assert stored == [1, 1, 1]
    assert rows[1] == pytest.approx((5.0, 2, 0.0, 0.9, 1))


def test_vector_env_next_step_autoreset_steps_are_never_stored():
    # Two envs. Env 0 terminates at t=1, so its step t=2 is a NEXT_STEP reset step (reward 0, action
    # ignored, obs = the new episode's first observation): it must not become a transition.
    buf = ReplayBuffer(50, (1,), np.float32, n_envs=2, n_step=2, gamma=0.5)
    F = np.array([False, False])
    steps = [  # obs, actions, rewards, next_obs, terminated, truncated
        ([[10], [20]], [0, 1], [1.0, 0.1], [[11], [21]], F, F),
        ([[11], [21]], [1, 1], [2.0, 0.2], [[12], [22]], np.array([True, False]), F),
        ([[12], [22]], [3, 0], [0.0, 0.3], [[30], [23]], F, F),  # env 0: reset step -> skipped
        ([[30], [23]], [2, 0], [5.0, 0.4], [[31], [24]], F, np.array([False, True])),
    ]
    counts = [buf.add(*map(np.asarray, s)) for s in steps]
    rows = {int(buf.obs[i, 0]): (float(buf.rewards[i]), int(buf.next_obs[i, 0]), float(buf.dones[i]),
                                 float(buf.discounts[i])) for i in range(len(buf))}
    assert counts == [0, 3, 1, 2]
    assert 12 not in rows  # the reset step of env 0
    assert rows[10] == pytest.approx((1 + 0.5 * 2, 12, 1.0, 0.25))
    assert rows[11] == pytest.approx((2.0, 12, 1.0, 0.5))
    assert rows[20] == pytest.approx((0.1 + 0.5 * 0.2, 22, 0.0, 0.25))
    assert rows[21] == pytest.approx((0.2 + 0.5 * 0.3, 23, 0.0, 0.25))
    assert rows[22] == pytest.approx((0.3 + 0.5 * 0.4, 24, 0.0, 0.25))  # truncated: still bootstraps
    assert rows[23] == pytest.approx((0.4, 24, 0.0, 0.5))
    assert 30 not in rows  # env 0's new episode: one step pending in its queue
    assert buf.nstep.count.tolist() == [1, 0]
    # the caller resets the envs (e.g. on resume): pending windows are dropped, nothing joins them
    buf.reset_pending()
    assert buf.add(*map(np.asarray, ([[40], [50]], [0, 0], [1.0, 1.0], [[41], [51]], F, F))) == 0
    assert buf.add(*map(np.asarray, ([[41], [51]], [0, 0], [1.0, 1.0], [[42], [52]], F, F))) == 2
    assert {int(o) for o in buf.obs[len(buf) - 2: len(buf), 0]} == {40, 50}


def test_valid_mask_skips_steps_when_autoreset_is_handled_by_the_caller():
    acc = NStepAccumulator(2, 1, 0.9, (1,), np.float32, autoreset_mode="disabled")
    out = acc.add([[1], [2]], [0, 1], [1.0, 2.0], [[3], [4]], [False, False], [False, False],
                  valid=[True, False])
    assert out.obs[:, 0].tolist() == [1]
    # with autoreset disabled, the step after an end is an ordinary step
    acc.add([[1], [2]], [0, 1], [1.0, 2.0], [[3], [4]], [True, False], [False, False])
    out = acc.add([[5], [6]], [0, 1], [1.0, 2.0], [[7], [8]], [False, False], [False, False])
    assert out.obs[:, 0].tolist() == [5, 6]
    with pytest.raises(ValueError, match="autoreset_mode"):
        NStepAccumulator(1, 1, 0.9, (1,), autoreset_mode="sometimes")


def _reference_n_step(stream, n_envs, n, gamma):
    """Obvious per-env loop: episodes are cut at terminated/truncated, reset steps dropped."""
    out, episodes, skip = [], [[] for _ in range(n_envs)], [False] * n_envs
    for obs, act, rew, nxt, term, trunc in stream:
        for i in range(n_envs):
            if skip[i]:
                skip[i] = False
                continue
            episodes[i].append((obs[i, 0], act[i], rew[i], nxt[i, 0]))
            ended = term[i] or trunc[i]
            while len(episodes[i]) == n or (ended and episodes[i]):
                ep = episodes[i]
                ret = sum(gamma**j * r for j, (_, _, r, _) in enumerate(ep))
                out.append((ep[0][0], ep[0][1], ret, nxt[i, 0], float(term[i]), gamma ** len(ep)))
                episodes[i] = ep[1:]
            skip[i] = ended
    return out


def test_n_step_matches_a_reference_on_a_long_random_stream():
    n_envs, n, gamma = 3, 4, 0.8
    rng = np.random.default_rng(7)
    buf = ReplayBuffer(10_000, (1,), np.float32, n_envs=n_envs, n_step=n, gamma=gamma)
    stream, counter = [], 0
    for _ in range(400):
        obs = (counter + np.arange(n_envs)).reshape(-1, 1).astype(np.float32)
        counter += n_envs
        term, trunc = rng.random(n_envs) < 0.08, rng.random(n_envs) < 0.05
        stream.append((obs, rng.integers(0, 4, n_envs), rng.normal(size=n_envs), obs + 0.5, term, trunc))
        buf.add(*stream[-1])
    expected = sorted(_reference_n_step(stream, n_envs, n, gamma))
    got = sorted(zip(buf.obs[: len(buf), 0], buf.actions[: len(buf)], buf.rewards[: len(buf)],
                     buf.next_obs[: len(buf), 0], buf.dones[: len(buf)], buf.discounts[: len(buf)],
                     strict=True))
    assert len(got) == len(expected) > 800
    np.testing.assert_allclose(np.array(got, dtype=np.float64), np.array(expected, dtype=np.float64),
                               rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# prioritized replay


def test_sum_tree_sums_minima_and_search():
    tree = SumTree(5)  # not a power of two
    tree.set([0, 1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0, 0.5])
    assert tree.total == pytest.approx(10.5) and tree.min == pytest.approx(0.5)
    # prefix sums: [0, 1), [1, 3), [3, 6), [6, 10), [10, 10.5)
    mass = np.array([0.0, 0.99, 1.0, 2.5, 3.0, 9.99, 10.0, 10.49, 11.0])
    assert tree.find(mass).tolist() == [0, 0, 1, 1, 2, 3, 4, 4, 4]
    tree.set([4, 4], [7.0, 2.0])  # repeated index: the last value wins
    assert tree.total == pytest.approx(12.0) and tree.get([4])[0] == 2.0 and tree.min == 1.0


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_prioritized_sampling_is_proportional_to_priority(alpha):
    k = 8
    buf = PrioritizedReplayBuffer(k, (2,), np.float32, alpha=alpha, eps=1e-9, seed=3)
    buf.add_transitions(_transitions(0, k))
    priorities = np.arange(1, k + 1, dtype=np.float64)
    buf.update_priorities(np.arange(k), priorities)
    expected = priorities**alpha / np.sum(priorities**alpha)
    np.testing.assert_allclose(buf.probabilities(), expected, rtol=1e-9)
    draws = 40_000
    batch = buf.sample(100, n_batches=draws // 100, beta=0.5)
    counts = np.bincount(batch["indices"].ravel(), minlength=k)
    # chi-square against the expected frequencies (7 degrees of freedom; 24.3 is the 99.9% quantile)
    chi2 = float(np.sum((counts - draws * expected) ** 2 / (draws * expected)))
    assert chi2 < 24.3, (counts, draws * expected)
    np.testing.assert_allclose(counts / draws, expected, atol=0.01)
    # importance weights: (N P(i))^-beta normalised by the largest weight in the buffer
    w = (k * expected) ** -0.5
    np.testing.assert_allclose(batch["weights"], (w / w.max())[batch["indices"]], rtol=1e-5)
    assert batch["weights"].max() <= 1.0


def test_new_transitions_get_the_largest_priority_and_uniform_when_alpha_is_zero():
    buf = PrioritizedReplayBuffer(6, (2,), np.float32, alpha=1.0, eps=1e-6, seed=0)
    buf.add_transitions(_transitions(0, 4))
    buf.update_priorities([0, 1, 2, 3], [0.5, 5.0, 0.1, 0.2])
    buf.add_transitions(_transitions(4, 3))  # wraps: slot 0 overwritten; new ones get max priority 5
    np.testing.assert_allclose(buf.tree.get([0, 4, 5]), [5.0 + 1e-6] * 3)
    with pytest.raises(ValueError, match="NaN"):
        buf.update_priorities([1], [np.nan])
    flat = PrioritizedReplayBuffer(4, (2,), np.float32, alpha=0.0, seed=0)
    flat.add_transitions(_transitions(0, 4))
    flat.update_priorities([0, 1, 2, 3], [100.0, 1.0, 0.01, 3.0])
    np.testing.assert_allclose(flat.probabilities(), 0.25)
    np.testing.assert_allclose(flat.sample(16)["weights"], 1.0)


def test_save_load_round_trip(tmp_path):
    buf = PrioritizedReplayBuffer(20, (3,), np.uint8, alpha=0.7, n_envs=2, n_step=3, gamma=0.9, seed=5)
    rng = np.random.default_rng(0)
    for _ in range(15):
        o = rng.integers(0, 255, (2, 3), dtype=np.uint8)
        buf.add(o, rng.integers(0, 4, 2), rng.normal(size=2), o, rng.random(2) < 0.2, np.zeros(2, bool))
    buf.update_priorities(np.arange(5), np.arange(1.0, 6.0))
    path = buf.save(tmp_path / "replay.npz")
    again = PrioritizedReplayBuffer(20, (3,), np.uint8, alpha=0.7, n_envs=2, n_step=3, gamma=0.9, seed=99)
    again.load(path)
    a, b = buf.sample(7, beta=0.5), again.sample(7, beta=0.5)  # same contents, priorities and RNG
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(buf.nstep.obs, again.nstep.obs)
    other = PrioritizedReplayBuffer(30, (3,), np.uint8, alpha=0.7, n_envs=2, n_step=3, gamma=0.9)
    with pytest.raises(RunError, match="does not fit") as exc:
        other.load(path)
    assert "capacity 20 in the checkpoint, 30 here" in str(exc.value)
    with pytest.raises(RunError, match="missing"):
        other.load(tmp_path / "nope.npz")
