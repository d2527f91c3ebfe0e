"""Q-networks (Keras 3 functional models): an MLP for vector observations, a small CNN for grids.

Every model starts with ``keras.Input`` of the observation's own shape and dtype (a uint8 grid goes in
as uint8) followed by a ``Rescaling`` layer that casts and scales it, so a saved ``.keras`` file is
self-contained and loads with ``safe_mode=True`` (no lambdas; the one custom layer, :class:`DuelingQ`,
is registered as serialisable).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

PACKAGE = "lab_dqn"


@keras.saving.register_keras_serializable(package=PACKAGE)
class DuelingQ(layers.Layer):
    """Combines a state value ``V`` (batch, 1) and advantages ``A`` (batch, actions) into
    ``Q = V + A - mean(A)`` (the mean makes V and A identifiable)."""

    def call(self, inputs):
        value, advantages = inputs
        return value + advantages - keras.ops.mean(advantages, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return input_shape[1]


def resolve_kind(kind: str, obs_shape) -> str:
    """``auto`` -> ``cnn`` for (H, W) or (H, W, C) observations, ``mlp`` otherwise."""
    if kind != "auto":
        return kind
    return "cnn" if len(obs_shape) in (2, 3) else "mlp"


def resolve_scale(input_scale, obs_high: float | None) -> float:
    """The factor applied to observations: the configured one, or 1/high when the bound is above 1."""
    if input_scale != "auto":
        return float(input_scale)
    if obs_high is not None and np.isfinite(obs_high) and obs_high > 1:
        return 1.0 / float(obs_high)
    return 1.0


def build_q_network(obs_shape, n_actions: int, cfg, obs_dtype="float32", obs_high: float | None = None,
                    seed: int = 0, name: str = "q_network") -> keras.Model:
    """A Q-network mapping a batch of observations to ``n_actions`` Q-values.

    ``cfg`` is an :class:`agents.dqn.config.NetworkConfig`. ``seed`` fixes the initial weights (each layer
    gets its own seed derived from it), whatever the global Keras seed.
    """
    obs_shape = tuple(int(s) for s in obs_shape)
    kind = resolve_kind(cfg.kind, obs_shape)
    if kind == "cnn" and len(obs_shape) not in (2, 3):
        raise ValueError(f"a cnn needs (H, W) or (H, W, C) observations, got shape {obs_shape}")
    counter = iter(range(1_000))

    def init():
        return keras.initializers.GlorotUniform(seed=int(seed) * 1_000 + next(counter))

    inputs = keras.Input(obs_shape, dtype=str(np.dtype(obs_dtype)), name="obs")
    x = layers.Rescaling(resolve_scale(cfg.input_scale, obs_high), name="scale")(inputs)
    if kind == "cnn":
        if len(obs_shape) == 2:
            x = layers.Reshape((*obs_shape, 1), name="add_channel")(x)
        for i, filters in enumerate(cfg.conv_filters):
            x = layers.Conv2D(filters, cfg.kernel_size, padding="same", activation=cfg.activation,
                              kernel_initializer=init(), name=f"conv{i}")(x)
    if len(x.shape) > 2:
        x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(cfg.hidden):
        x = layers.Dense(units, activation=cfg.activation, kernel_initializer=init(), name=f"dense{i}")(x)
    if cfg.dueling:
        value = layers.Dense(1, kernel_initializer=init(), dtype="float32", name="value")(x)
        adv = layers.Dense(n_actions, kernel_initializer=init(), dtype="float32", name="advantages")(x)
        q = DuelingQ(dtype="float32", name="q_values")([value, adv])
    else:
        q = layers.Dense(n_actions, kernel_initializer=init(), dtype="float32", name="q_values")(x)
    return keras.Model(inputs, q, name=name)
