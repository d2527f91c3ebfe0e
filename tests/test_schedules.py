"""The one learning-rate implementation (lab.schedules) against values worked out by hand, for every
schedule the epoch tasks share."""

from types import SimpleNamespace

import keras
import pytest

from lab.schedules import Schedule, learning_rate, rate, rate_of_epoch
from lab.schema import EpochTraining


def rates(kind, steps, **kw):
    return [float(rate(step, kind, **kw)) for step in steps]


def test_constant():
    assert (rates("constant", (0, 5, 500), peak=0.01, steps_per_epoch=10, total_steps=50) ==
            pytest.approx([0.01] * 3))


def test_step_decay_is_zarembas_recipe():
    # lr 1 for 4 epochs, then halved at the start of each later epoch (10 steps an epoch)
    got = rates("step", (0, 39, 40, 50, 129), peak=1.0, steps_per_epoch=10, total_steps=130, decay_after=4,
                decay_factor=0.5)
    assert got == pytest.approx([1.0, 1.0, 0.5, 0.25, 0.5**9])


def test_cosine_warms_up_then_falls_to_its_floor():
    kw = dict(peak=0.01, steps_per_epoch=10, total_steps=110, warmup_steps=10, final_fraction=0.01)
    got = rates("cosine", (0, 9, 10, 60, 110, 200), **kw)
    assert got == pytest.approx([0.001, 0.01, 0.01, 0.0001 + 0.5 * 0.0099, 0.0001, 0.0001])
    # no warm-up, floor 0: the peak at step 0, half of it half way, 0 at the end
    assert (rates("cosine", (0, 50, 100), peak=0.1, steps_per_epoch=10, total_steps=100) ==
            pytest.approx([0.1, 0.05, 0]))


def test_one_cycle_against_hand_values():
    kw = dict(peak=0.1, steps_per_epoch=10, total_steps=100, warmup_steps=20)
    got = rates("one_cycle", (0, 10, 20, 60, 100, 500), **kw)
    assert got == pytest.approx([0.004, 0.052, 0.1, 0.1 + (0.00004 - 0.1) * 0.5, 0.00004, 0.00004], rel=1e-4)


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        rate(0, "linear", peak=1.0, steps_per_epoch=1, total_steps=1)


def test_a_training_section_becomes_a_float_or_a_saved_schedule():
    assert learning_rate(EpochTraining(learning_rate=0.3), 7) == 0.3
    section = EpochTraining(epochs=5, learning_rate=0.1, schedule="one_cycle", warmup_epochs=2)
    schedule = learning_rate(section, 10)
    assert isinstance(schedule, Schedule) and schedule.get_config()["total_steps"] == 50
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert float(again(20)) == pytest.approx(0.1) and again.get_config() == schedule.get_config()


def test_rate_of_epoch_for_tasks_that_set_it_by_hand():
    # the RBM's old "lr times 0.97 after every epoch" is step decay after 1 epoch
    t = SimpleNamespace(schedule="step", learning_rate=0.05, epochs=24, warmup_epochs=0.0,
                        final_learning_rate_fraction=0.0, decay_after=1, decay_factor=0.97)
    assert [rate_of_epoch(t, e) for e in range(3)] == pytest.approx([0.05, 0.05 * 0.97, 0.05 * 0.97**2])
