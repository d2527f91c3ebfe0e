"""The recurrent Q-network (``network.kind: recurrent``) and its agent: an agent that remembers.

The network reads one observation per step, and (``network.previous_action``, as R2D2 does) the action
taken before it, one-hot (none at an episode's start): dense layers, then an LSTM or GRU cell whose state
carries what the agent has seen and done in the episode so far, then a linear Q head. One Keras model
serves both uses: ``[obs (B, T, ...), prev (B, T), keep (B, T, 1), *state] -> [Q (B, T, actions), *state
after]`` (``prev`` an action index, -1 for none; absent without ``previous_action``), with ``keep`` 0
where an observation opens an episode (:class:`ResettingCell` zeroes the state there), so a sequence may
cross from one episode into the next, and acting is the same model on ``T = 1``. Without the previous
action the network cannot tell which way it went when exploration overrode its choice.

:class:`RecurrentDQNAgent` is :class:`agents.dqn.agent.DQNAgent` with that network, replaying sequences of
:class:`agents.dqn.sequences.SequenceReplay` as R2D2 does: each sequence starts from the state stored
when the agent acted, is unrolled ``burn_in`` steps without gradient, and learns on the next ``length``
steps with double-DQN n-step targets (the online network picks the bootstrap action, the target network,
unrolled over the same sequence from the same state, values it). Acting and greedy play carry the state
from step to step (:meth:`RecurrentDQNAgent.act`, :meth:`RecurrentDQNAgent.greedy_policy`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from agents.dqn.agent import DQNAgent
from agents.dqn.model import PACKAGE, double_dqn_targets, huber, resolve_scale
from lab.compiled import Compiled
from lab.seeding import stream_seed


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResettingCell(layers.Layer):
    """An LSTM or GRU cell whose input ends with a ``keep`` flag: the state is multiplied by it before the
    step, so ``keep = 0`` starts the cell from zeros there (an episode's first observation)."""

    def __init__(self, kind: str, units: int, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.units, self.seed = kind, int(units), int(seed)
        init = keras.initializers.GlorotUniform(seed=seed)
        make = layers.LSTMCell if kind == "lstm" else layers.GRUCell
        self.cell = make(self.units, kernel_initializer=init, name=f"{kind}_cell")
        self.state_size = [self.units] * (2 if kind == "lstm" else 1)
        self.output_size = self.units

    def build(self, input_shape):
        self.cell.build((input_shape[0], input_shape[-1] - 1))
        self.built = True

    def call(self, inputs, states, training=None):
        keep = inputs[:, -1:]
        states = [s * keep for s in states]
        out, new = self.cell(inputs[:, :-1], states if self.kind == "lstm" else states[0], training=training)
        return out, list(new) if isinstance(new, (list, tuple)) else [new]

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "units": self.units, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class OneHot(layers.Layer):
    """Action indices -> one-hot float vectors (an index outside ``[0, depth)``, such as -1, gives zeros)."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(**kwargs)
        self.depth = int(depth)

    def call(self, indices):
        return keras.ops.one_hot(indices, self.depth)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}


def state_sizes(cfg) -> list[int]:
    """The sizes of the parts of the recurrent state (an LSTM's h and c, a GRU's h)."""
    return [cfg.units] * (2 if cfg.cell == "lstm" else 1)


def build_recurrent_q_network(obs_shape, n_actions: int, cfg, obs_dtype="float32", obs_high=None,
                              seed: int = 0, name: str = "q_network") -> keras.Model:
    """``[obs (B, T, *obs_shape), (prev (B, T),) keep (B, T, 1), *state] -> [Q (B, T, actions), *state]``."""
    counter = iter(range(1_000))

    def init():
        return keras.initializers.GlorotUniform(seed=stream_seed(seed, "q-network", next(counter)))

    obs = keras.Input((None, *obs_shape), dtype=str(np.dtype(obs_dtype)), name="obs")
    prev = [keras.Input((None,), dtype="int32", name="prev")] if cfg.previous_action else []
    keep = keras.Input((None, 1), name="keep")
    states = [keras.Input((size,), name=f"state{i}") for i, size in enumerate(state_sizes(cfg))]
    x = layers.Rescaling(resolve_scale(cfg.input_scale, obs_high), name="scale")(obs)
    if len(obs_shape) > 1:
        x = layers.Reshape((-1, int(np.prod(obs_shape))), name="flatten")(x)
    if prev:  # one-hot; -1 (no previous action) is all zeros
        x = layers.Concatenate(name="with_prev")([x, OneHot(n_actions, name="prev_one_hot")(prev[0])])
    for i, units in enumerate(cfg.hidden):
        x = layers.Dense(units, activation=cfg.activation, kernel_initializer=init(), name=f"dense{i}")(x)
    x = layers.Concatenate(name="with_keep")([x, keep])
    cell = ResettingCell(cfg.cell, cfg.units, seed=stream_seed(seed, "q-network-cell"), name="memory_cell")
    out = layers.RNN(cell, return_sequences=True, return_state=True, name="memory")(x, initial_state=states)
    q = layers.Dense(n_actions, kernel_initializer=init(), dtype="float32", name="q_values")(out[0])
    return keras.Model([obs, *prev, keep, *states], [q, *out[1:]], name=name)


class RecurrentPolicy:
    """Greedy play that carries the recurrent state from call to call (one state per row of the batch;
    the first call starts every row's episode). ``memoryless`` is False: coming back to a tile is not a
    loop for an agent that remembers."""

    memoryless = False

    def __init__(self, agent: RecurrentDQNAgent):
        self.agent, self.states, self.first, self.prev = agent, None, None, None

    def __call__(self, obs_batch) -> np.ndarray:
        obs = self.agent._check_obs(obs_batch)
        if self.states is None or self.states[0].shape[0] != len(obs):
            sizes = state_sizes(self.agent.config.network)
            self.states = [np.zeros((len(obs), s), np.float32) for s in sizes]
            self.first, self.prev = np.ones(len(obs), bool), np.full(len(obs), -1, np.int32)
        q, self.states = self.agent.step(obs, self.first, self.states, self.prev)
        self.first = np.zeros(len(obs), bool)
        self.prev = q.argmax(axis=1).astype(np.int32)
        return self.prev


class RecurrentDQNAgent(DQNAgent):
    """Double DQN with a recurrent Q-network and sequence replay (see the module docstring). The arguments
    are :class:`DQNAgent`'s; ``config.network.kind`` is ``recurrent``."""

    memoryless = False

    def _build_networks(self) -> None:
        net = self.config.network
        args = (self.obs_shape, self.n_actions, net, self.obs_dtype, self.obs_high)
        self.online = build_recurrent_q_network(*args, seed=self.seed, name="q_network")
        self.target = build_recurrent_q_network(*args, seed=self.seed, name="target_network")
        self.target.set_weights(self.online.get_weights())
        self._aux_weight, self._pixels, self._online_with_maps = 0.0, False, None
        self.states: list[np.ndarray] | None = None  # the acting state of each env, after the last act()
        self.acted_states: list[np.ndarray] | None = None  # the state each env acted from
        self.prev_actions: np.ndarray | None = None  # each env's last action (-1: none yet)

    def _compile(self, act_jit_compile: bool) -> None:
        self._step_fn = Compiled(self._step, self.online.variables)
        self._train_fn = Compiled(self._update, self._state(), jit_compile=self.jit_compile, scan=2)

    def _inputs(self, obs, prev, keep, states) -> list:
        """The model's inputs (``prev`` only when the network reads the previous action)."""
        return [obs, *([prev] if self.config.network.previous_action else []), keep, *states]

    def _step(self, obs, prev, keep, *states):
        q, *new = self.online(self._inputs(obs[:, None], prev[:, None], keep[:, None, None], states),
                              training=False)
        return (q[:, 0], *new)

    def step(self, obs, first, states, prev=None) -> tuple[np.ndarray, list[np.ndarray]]:
        """(Q-values (N, actions), the states after) of one step from ``states``; ``first`` restarts rows
        (and drops their previous action); ``prev``: each row's previous action (None or -1: none)."""
        first = np.asarray(first, bool)
        prev = np.full(len(obs), -1, np.int32) if prev is None else np.where(first, -1, prev).astype(np.int32)
        keep = 1.0 - first.astype(np.float32)
        q, *new = self._step_fn(obs, prev, keep, *[np.asarray(s, np.float32) for s in states])
        return q, new

    def q_values(self, obs_batch) -> np.ndarray:
        """Q-values of each observation as the first of an episode (no memory yet): for pictures."""
        obs = self._check_obs(obs_batch)
        zeros = [np.zeros((len(obs), s), np.float32) for s in state_sizes(self.config.network)]
        return self.step(obs, np.ones(len(obs), bool), zeros)[0]

    def greedy_actions(self, obs_batch) -> np.ndarray:
        return self.q_values(obs_batch).argmax(axis=1)

    def greedy_policy(self) -> RecurrentPolicy:
        return RecurrentPolicy(self)

    def act(self, obs_batch, epsilon: float, rng: np.random.Generator, first=None) -> np.ndarray:
        """Epsilon-greedy actions, carrying each env's state (``first``: the rows whose observation opens an
        episode; None: all of them on the first call, none after). The states acted from and after are
        kept in :attr:`acted_states` and :attr:`states` for the replay."""
        obs = self._check_obs(obs_batch)
        n = len(obs)
        if self.states is None or self.states[0].shape[0] != n:
            self.states = [np.zeros((n, s), np.float32) for s in state_sizes(self.config.network)]
            self.prev_actions = np.full(n, -1, np.int32)
            first = np.ones(n, bool) if first is None else first
        first = np.zeros(n, bool) if first is None else np.asarray(first, bool)
        random_actions = rng.integers(0, self.n_actions, size=n)
        explore = rng.random(n) < epsilon
        self.acted_states = [np.where(first[:, None], 0.0, s).astype(np.float32) for s in self.states]
        q, self.states = self.step(obs, first, self.states, self.prev_actions)
        self.prev_actions = np.where(explore, random_actions, q.argmax(axis=1)).astype(np.int32)
        return self.prev_actions

    # ------------------------------------------------------------------ learning
    def _unroll(self, model, obs, prev, keep, states, training):
        q, *after = model(self._inputs(obs, prev, keep[..., None], states), training=training)
        return q, after

    def _update(self, obs, prev, first, actions, returns, discounts, dones, boot, mask, *states):
        cfg, b = self.config, self.config.sequence.burn_in
        keep = 1.0 - first
        q_target, _ = self._unroll(self.target, obs, prev, keep, list(states), False)
        start = list(states)
        if b:  # burn-in: the state catches up, nothing is learned from these steps
            _, start = self._unroll(self.online, obs[:, :b], prev[:, :b], keep[:, :b], start, False)
            start = [ops.stop_gradient(s) for s in start]

        def loss_fn():
            q, _ = self._unroll(self.online, obs[:, b:], prev[:, b:], keep[:, b:], start, True)
            q_taken = ops.take_along_axis(q[:, :cfg.sequence.length], actions[..., None], axis=2)[..., 0]
            q_next_online = ops.take_along_axis(ops.stop_gradient(q), boot[:, :, None], axis=1)
            q_next_target = ops.take_along_axis(q_target[:, b:], boot[:, :, None], axis=1)
            targets = ops.stop_gradient(
                double_dqn_targets(returns, dones, discounts, q_next_online, q_next_target)
                if cfg.double_dqn else returns + discounts * (1.0 - dones) * ops.max(q_next_target, -1))
            td = targets - q_taken
            loss = ops.sum(mask * huber(td, cfg.huber_delta)) / ops.maximum(ops.sum(mask), 1.0)
            per_sequence = ops.sum(mask * ops.abs(td), axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
            return self.optimizer.scale_loss(loss), (loss, per_sequence)

        return self._apply(loss_fn)

    def train_step(self, batch: dict) -> dict:
        """Gradient updates on sequences from :meth:`SequenceReplay.sample` (leading ``(B,)`` for one update,
        ``(K, B)`` for K); returns ``{"loss", "losses", "td_errors"}`` (mean |TD| per sequence)."""
        single = np.ndim(batch["actions"]) == 2
        arrays = [np.asarray(batch["obs"]).astype(self.obs_dtype, copy=False),
                  np.asarray(batch["prev"], np.int32), np.asarray(batch["first"], np.float32),
                  np.asarray(batch["actions"], np.int32),
                  *(np.asarray(batch[k], np.float32) for k in ("returns", "discounts", "dones")),
                  np.asarray(batch["boot"], np.int32), np.asarray(batch["mask"], np.float32),
                  *(np.asarray(s, np.float32) for s in batch["states"])]
        losses, tds = self._train_fn(*[a[None] if single else a for a in arrays])
        self._check_finite(losses)
        return {"loss": float(losses.mean()), "losses": losses, "td_errors": tds[0] if single else tds}

    def resized(self, obs_shape) -> DQNAgent:
        if tuple(int(s) for s in obs_shape) == self.obs_shape:
            return self
        raise ValueError(f"a recurrent network reads its {self.obs_shape} window on a maze of any size; "
                         f"these observations are of shape {tuple(obs_shape)}")


def agent_class(network_kind: str) -> type[DQNAgent]:
    """The agent class for a network kind (recurrent networks have their own)."""
    return RecurrentDQNAgent if network_kind == "recurrent" else DQNAgent


def load_agent(directory, **kwargs) -> DQNAgent:
    """:meth:`DQNAgent.load` of the class the saved agent was made with."""
    meta = DQNAgent.read_meta(directory)
    return agent_class(meta.get("network_kind", "")).load(directory, **kwargs)
