"""The learning rate over training, for every epoch-based task: one implementation of the schedules of
:class:`lab.schema.EpochTraining` (``constant``, ``cosine``, ``one_cycle``, ``step``).

:func:`rate` is the maths, on Python floats and Keras tensors alike; :class:`Schedule` hands it to a Keras
optimizer (it counts optimizer steps); :func:`learning_rate` picks between a plain float (``constant``)
and a schedule for a ``training`` section. A task that updates by hand once per epoch (the RBM) calls
:func:`rate_of_epoch`.
"""

from __future__ import annotations

import math

import keras
from keras import ops

ONE_CYCLE_DIV = 25.0  # one_cycle starts at lr / 25 ...
ONE_CYCLE_FINAL_DIV = 2500.0  # ... and ends at lr / 2500 (Smith's defaults)


def rate(step, kind: str, peak: float, steps_per_epoch: int, total_steps: int, warmup_steps: int = 0,
         final_fraction: float = 0.0, decay_after: int = 0, decay_factor: float = 1.0):
    """The learning rate at optimizer ``step`` (0-based) of ``total_steps``.

    - ``constant``: ``peak``;
    - ``cosine``: ``peak * (step + 1) / warmup_steps`` during the warm-up, then a half cosine from ``peak``
      down to ``peak * final_fraction`` at the last step;
    - ``one_cycle``: a linear rise from ``peak / 25`` to ``peak`` over the warm-up, then a linear fall to
      ``peak / 2500`` at the last step;
    - ``step``: ``peak`` for ``decay_after`` epochs, then times ``decay_factor`` at the start of each later
      epoch (Zaremba et al.'s recipe; ``decay_after`` 1 is a decay every epoch after the first).
    """
    step = ops.cast(ops.convert_to_tensor(step), "float32")
    peak, total, warm = float(peak), max(1, int(total_steps)), int(warmup_steps)
    if kind == "constant":
        return ops.ones_like(step) * peak
    if kind == "step":
        epoch = ops.floor(step / max(1, int(steps_per_epoch)))
        return peak * ops.power(float(decay_factor), ops.maximum(epoch + 1.0 - int(decay_after), 0.0))
    frac = ops.clip((step - warm) / max(1, total - warm), 0.0, 1.0)
    if kind == "cosine":
        low = peak * float(final_fraction)
        warming = peak * ops.minimum((step + 1.0) / max(1, warm), 1.0)
        return ops.where(step < warm, warming, low + 0.5 * (peak - low) * (1.0 + ops.cos(math.pi * frac)))
    if kind == "one_cycle":
        start, end = peak / ONE_CYCLE_DIV, peak / ONE_CYCLE_FINAL_DIV
        rise = start + (peak - start) * ops.minimum(step / max(1, warm), 1.0)
        return ops.where(step < warm, rise, peak + (end - peak) * frac)
    raise ValueError(f"unknown learning-rate schedule {kind!r}")


def _settings(training, steps_per_epoch: int) -> dict:
    spe = max(1, int(steps_per_epoch))
    return {"kind": training.schedule, "peak": float(training.learning_rate), "steps_per_epoch": spe,
            "total_steps": training.epochs * spe, "warmup_steps": int(round(training.warmup_epochs * spe)),
            "final_fraction": float(training.final_learning_rate_fraction),
            "decay_after": int(training.decay_after), "decay_factor": float(training.decay_factor)}


@keras.saving.register_keras_serializable(package="lab")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """:func:`rate` as a Keras learning-rate schedule (saved with the optimizer in ``.keras`` files)."""

    def __init__(self, kind: str, peak: float, steps_per_epoch: int, total_steps: int, warmup_steps: int = 0,
                 final_fraction: float = 0.0, decay_after: int = 0, decay_factor: float = 1.0):
        self.config = {"kind": str(kind), "peak": float(peak), "steps_per_epoch": int(steps_per_epoch),
                       "total_steps": int(total_steps), "warmup_steps": int(warmup_steps),
                       "final_fraction": float(final_fraction), "decay_after": int(decay_after),
                       "decay_factor": float(decay_factor)}

    def __call__(self, step):
        return rate(step, **self.config)

    def get_config(self):
        return dict(self.config)


def learning_rate(training, steps_per_epoch: int):
    """What to give a Keras optimizer for a ``training`` section: a float when the rate is constant, else
    a :class:`Schedule` over ``training.epochs * steps_per_epoch`` optimizer steps."""
    if training.schedule == "constant":
        return float(training.learning_rate)
    return Schedule(**_settings(training, steps_per_epoch))


def rate_of_epoch(training, epoch: int) -> float:
    """The rate of ``epoch`` (0-based) for a task that sets it once per epoch (one step per epoch)."""
    return float(ops.convert_to_numpy(rate(epoch, **_settings(training, 1))))


def current_rate(optimizer) -> float:
    """The rate the optimizer will use for its next step (its schedule's value at its step count)."""
    lr = optimizer.learning_rate
    return float(ops.convert_to_numpy(lr))
