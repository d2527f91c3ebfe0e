"""Configuration of the DQN agent: the ``agent:`` section of a maze DQN scenario.

Pure pydantic, no TensorFlow import (``lab validate`` must stay fast). Every field has a description
and a default that works for small mazes (a few hundred cells, a few thousand to a few tens of
thousands of env steps).

Units: ``learning_starts``, ``train_freq``, ``replay.beta_steps`` and the epsilon schedule count
**env steps** (one transition of one sub-env; a vector step of N envs is N env steps).
``target.every`` counts **gradient updates**, so it means the same whatever ``train_freq`` and the
number of envs are.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lab.schema import Activation, Section, Widths


class NetworkConfig(Section):
    """The Q-network: an MLP for vector observations, a small CNN for (H, W, C) grids, or a value iteration
    network (vin) that plans on the maze's walls/agent/goal planes."""

    kind: Literal["auto", "mlp", "cnn", "vin"] = Field(
        "auto", description="Network type: auto (cnn for 2-D/3-D grid observations, mlp for vectors), mlp, cnn, or vin "
        "(value iteration network on the maze's (H, W, 3) walls/agent/goal grid: plans, so it generalises to unseen mazes)."
    )
    hidden: Widths = Field(
        [256, 256], description="Sizes of the dense hidden layers (after the convolutions for a cnn; the head after the "
        "read-out for a vin)."
    )
    conv_filters: Widths = Field(
        [16, 32], description="Filters of each 'same'-padded convolution of the cnn, or of the vin's convolutions that "
        "turn the walls and goal planes into its reward (and cost) maps (ignored by the mlp)."
    )
    kernel_size: int = Field(3, ge=1, le=9, description="Side of the square convolution kernels of the cnn and of the vin's maps.")
    vin_iterations: int | None = Field(
        None, ge=1, le=1_000,
        description="vin only. Value iteration steps K: values travel one tile per step, so K must reach the longest "
        "route from the goal to any start (null: rows * cols // 2, enough for any perfect maze on the grid, e.g. 112 "
        "for 7 x 7 cells).",
    )
    activation: Activation = Field(
        "relu", description="Activation of every hidden layer."
    )
    dueling: bool = Field(False, description="Dueling head: Q = V + A - mean(A) instead of one dense Q layer.")
    input_scale: Literal["auto"] | float = Field(
        "auto",
        description="Observations are multiplied by this before the first layer; auto divides by the observation "
        "space's upper bound when it is above 1 (e.g. 1/255 for 0..255 images), else 1.",
    )

    @model_validator(mode="after")
    def _vin_has_no_dueling_head(self):
        if self.kind == "vin" and self.dueling:
            raise ValueError("dueling does not apply to a vin: its head scores each move from that move's neighbour "
                             "value, one small head shared by the 4 actions; set dueling: false")
        return self


    @field_validator("input_scale")
    @classmethod
    def _positive_scale(cls, value):
        if value != "auto" and not value > 0:
            raise ValueError(f"must be 'auto' or a positive number, got {value}")
        return value


class ReplayConfig(Section):
    """The replay buffer: uniform or prioritized (proportional, sum-tree)."""

    capacity: int = Field(50_000, ge=1, description="Transitions kept; the oldest are overwritten (ring buffer).")
    prioritized: bool = Field(False, description="Prioritized replay: sample transitions in proportion to |TD error|^alpha.")
    alpha: float = Field(0.6, ge=0.0, le=1.0, description="Prioritization exponent: 0 is uniform, 1 fully proportional.")
    beta0: float = Field(0.4, ge=0.0, le=1.0, description="Importance-sampling exponent at the start; annealed linearly to 1.")
    beta_steps: int = Field(50_000, ge=1, description="Env steps over which beta goes from beta0 to 1.")
    eps: float = Field(1e-6, gt=0.0, le=1.0, description="Added to |TD error| so that no transition gets priority 0 (at most 1).")


class TargetConfig(Section):
    """How the target network follows the online network."""

    update: Literal["hard", "soft"] = Field(
        "hard", description="hard: copy the online weights every `every` updates; soft: Polyak-average with `tau` after every update."
    )
    every: int = Field(250, ge=1, description="Hard updates: gradient updates between two copies.")
    tau: float = Field(0.005, gt=0.0, le=1.0, description="Soft updates: target <- tau * online + (1 - tau) * target after each update.")


class EpsilonConfig(Section):
    """Epsilon-greedy exploration over env steps."""

    schedule: Literal["linear", "exponential"] = Field(
        "linear",
        description="linear: straight line from start to end over decay_steps; exponential: the gap to end shrinks "
        "by e every decay_steps / ln(100) steps, i.e. to 1% of it at decay_steps.",
    )
    start: float = Field(1.0, ge=0.0, le=1.0, description="Epsilon at env step 0.")
    end: float = Field(0.05, ge=0.0, le=1.0, description="Epsilon after the decay (kept from then on).")
    decay_steps: int = Field(10_000, ge=1, description="Env steps of the decay (when `fraction` is not set).")
    fraction: float | None = Field(
        None, gt=0.0, le=1.0, description="When set, decay over this fraction of the training budget instead of decay_steps."
    )

    @model_validator(mode="after")
    def _end_not_above_start(self):
        if self.end > self.start:
            raise ValueError(f"epsilon.end ({self.end}) must not be above epsilon.start ({self.start})")
        return self

    def decay_for(self, total_steps: int | None) -> int:
        """Env steps of the decay given the training budget (``fraction`` wins when set and known)."""
        if self.fraction is not None and total_steps:
            return max(1, int(round(self.fraction * total_steps)))
        return self.decay_steps


class DQNConfig(Section):
    """Double DQN with n-step returns, optional prioritized replay and a dueling head."""

    network: NetworkConfig = Field(default_factory=NetworkConfig, description="The Q-network.")
    replay: ReplayConfig = Field(default_factory=ReplayConfig, description="The replay buffer.")
    target: TargetConfig = Field(default_factory=TargetConfig, description="Target network updates.")
    epsilon: EpsilonConfig = Field(default_factory=EpsilonConfig, description="Epsilon-greedy exploration schedule.")
    gamma: float = Field(0.99, ge=0.0, lt=1.0, description="Discount factor, in [0, 1).")
    n_step: int = Field(3, ge=1, le=100, description="Steps summed in each return before bootstrapping (1 = plain DQN).")
    double_dqn: bool = Field(True, description="Double DQN: the online net picks the next action, the target net values it.")
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    adam_epsilon: float = Field(1e-7, gt=0.0, le=1.0, description="Adam's epsilon (numerical stability term; above 0, at most 1).")
    batch_size: int = Field(64, ge=1, description="Transitions per gradient update.")
    learning_starts: int = Field(1_000, ge=0, description="Env steps collected before the first update.")
    train_freq: int = Field(4, ge=1, description="Env steps between two rounds of updates (counted over all envs).")
    gradient_steps: int = Field(1, ge=1, description="Gradient updates per round (fused into one compiled call).")
    huber_delta: float = Field(1.0, gt=0.0, description="Huber loss threshold: quadratic below it, linear above.")
    max_grad_norm: float | None = Field(10.0, gt=0.0, description="Clip the global gradient norm to this (null: no clipping).")
    passability_loss: float = Field(
        1.0, ge=0.0,
        description="vin only: weight of the auxiliary loss that teaches the planner's passability map from the "
        "agent's own moves (a move that left the agent where it was hit something: its target tile is blocked). "
        "Needs n_step 1 (a move's own outcome). 0 turns it off.",
    )

    @model_validator(mode="after")
    def _passability_needs_one_step(self):
        if self.network.kind == "vin" and self.passability_loss > 0 and self.n_step != 1:
            raise ValueError(
                f"a vin's passability loss learns from each move's own outcome, which n_step {self.n_step} "
                f"transitions do not keep: set n_step: 1, or passability_loss: 0"
            )
        return self

    @model_validator(mode="after")
    def _batch_fits(self):
        if self.batch_size > self.replay.capacity:
            raise ValueError(
                f"batch_size ({self.batch_size}) is larger than replay.capacity ({self.replay.capacity}): "
                f"a batch is drawn from the buffer, so raise replay.capacity or lower batch_size"
            )
        return self
