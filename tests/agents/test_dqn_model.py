"""The maze DQN's maths, by hand: schedules, the updates a vector step owes, (Double) DQN targets, Huber
loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from agents.dqn.config import EpsilonConfig
from agents.dqn.model import (
    beta_at,
    double_dqn_targets,
    dqn_targets,
    epsilon_at,
    exponential_schedule,
    huber,
    linear_schedule,
    td_loss,
    updates_due,
)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# --------------------------------------------------------------------------------------------------
# schedules


def test_linear_and_exponential_schedules():
    assert linear_schedule(0, 1.0, 0.1, 100) == 1.0
    assert linear_schedule(50, 1.0, 0.1, 100) == pytest.approx(0.55)
    assert linear_schedule(100, 1.0, 0.1, 100) == pytest.approx(0.1)
    assert linear_schedule(10_000, 1.0, 0.1, 100) == pytest.approx(0.1)
    np.testing.assert_allclose(linear_schedule(np.array([0, 25, 200]), 0.0, 1.0, 100), [0.0, 0.25, 1.0])
    # exponential: the gap to `end` is 1% of its size at `duration`, 10% half-way (in log terms)
    assert exponential_schedule(0, 1.0, 0.1, 100) == pytest.approx(1.0)
    assert exponential_schedule(50, 1.0, 0.1, 100) == pytest.approx(0.1 + 0.9 * 0.1)
    assert exponential_schedule(100, 1.0, 0.1, 100) == pytest.approx(0.1 + 0.9 * 0.01)
    values = exponential_schedule(np.arange(0, 300, 10), 1.0, 0.1, 100)
    # keeps shrinking past `duration`, never below end
    assert np.all(np.diff(values) < 0) and values[-1] > 0.1
    cfg = EpsilonConfig(schedule="linear", start=1.0, end=0.0, decay_steps=10, fraction=0.5)
    assert epsilon_at(100, cfg, total_steps=400) == pytest.approx(0.5)  # fraction of the budget wins
    assert epsilon_at(5, cfg) == pytest.approx(0.5)  # budget unknown: decay_steps
    assert beta_at(0, 0.4, 100) == pytest.approx(0.4)
    assert beta_at(50, 0.4, 100) == pytest.approx(0.7)
    assert beta_at(10**6, 0.4, 100) == pytest.approx(1.0)


def test_updates_due_counts_rounds_crossed_by_a_vector_step():
    # train every 4 env steps, 2 updates per round; 16 envs advance the counter by 16
    assert updates_due(0, 16, 0, 4, 2) == 8
    assert updates_due(16, 20, 0, 4, 2) == 2
    assert updates_due(17, 19, 0, 4, 2) == 0
    assert updates_due(992, 1008, 1000, 4, 1) == 3  # rounds at 1000, 1004 and 1008
    assert updates_due(0, 999, 1000, 4, 1) == 0
    total = sum(updates_due(s, s + 3, 10, 5, 1) for s in range(0, 300, 3))
    assert total == len(range(10, 301, 5))
    with pytest.raises(ValueError):
        updates_due(0, 4, 0, 0, 1)


# --------------------------------------------------------------------------------------------------
# the maths


def test_double_dqn_targets_by_hand():
    rewards = np.array([1.0, 2.0, 0.5], np.float32)
    dones = np.array([0.0, 1.0, 0.0], np.float32)
    discounts = np.array([0.9, 0.81, 0.729], np.float32)
    q_next_online = np.array([[1.0, 3.0, 2.0], [0.5, 0.1, 0.2], [2.0, 2.0, 0.0]], np.float32)
    q_next_target = np.array([[10.0, 20.0, 30.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], np.float32)
    # row 0: online picks a=1, the target values it at 20; row 1: terminal; row 2: tie -> first action
    np.testing.assert_allclose(_np(double_dqn_targets(rewards, dones, discounts, q_next_online,
                                                      q_next_target)),
                               [1 + 0.9 * 20, 2.0, 0.5 + 0.729 * 7], rtol=1e-6)
    # plain DQN takes the target's own max (over-estimates: 30 instead of 20)
    np.testing.assert_allclose(_np(dqn_targets(rewards, dones, discounts, q_next_target)),
                               [1 + 0.9 * 30, 2.0, 0.5 + 0.729 * 9], rtol=1e-6)


def test_huber_and_weighted_loss_by_hand():
    x = np.array([-3.0, -0.5, 0.0, 0.5, 2.0], np.float32)
    np.testing.assert_allclose(_np(huber(x, 1.0)), [2.5, 0.125, 0.0, 0.125, 1.5])
    np.testing.assert_allclose(_np(huber(x, 2.0)), [4.0, 0.125, 0.0, 0.125, 2.0])
    loss, td = td_loss(np.array([1.0, 2.0], np.float32), np.array([4.0, 2.5], np.float32),
                       np.array([0.5, 1.0], np.float32), 1.0)
    np.testing.assert_allclose(_np(td), [3.0, 0.5])
    assert float(_np(loss)) == pytest.approx((0.5 * 2.5 + 1.0 * 0.125) / 2)
