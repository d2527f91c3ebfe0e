"""The DQN agent: online and target Q-networks, an Adam optimizer, batched acting and a compiled update.

The maths it compiles are the plain functions of :mod:`agents.dqn.model` (:func:`double_dqn_targets`,
:func:`td_loss`, ...); this module holds the state around them and its checkpoints.

Throughput decisions (measured in ``benchmarks/dqn_update_speed.py``):

* acting: one compiled call for the whole vector env returns greedy actions; the epsilon mix is done in
  NumPy with the caller's generator (and the network is skipped when every sub-env explores);
* updating: ``K`` gradient steps (``gradient_steps``) run inside one compiled call on ``K`` stacked
  batches (:class:`lab.compiled.Compiled` with ``scan``: a ``tf.range`` loop on TensorFlow, ``lax.scan``
  on JAX), so the Python-to-backend round trip is paid once per round; the target sync (hard every N
  updates, or soft after each) happens inside that loop, exactly as if the steps had been run one by one;
* both are written once in ``keras.ops`` and run on either Keras backend (on TensorFlow through their
  concrete functions, which skips ``tf.function``'s polymorphic dispatch, about 1 ms of CPU per call);
* the next-state values are computed outside the gradient tape (one forward pass each for the online
  and the target net), so the backward pass covers only the B rows that carry a gradient;
* XLA for the update is the caller's ``jit_compile`` (a run passes ``ctx.jit_compile``, which the task's
  ``xla="always"`` turns on, also on CPU): it cuts the CPU time of an MLP update by ~10% for single
  updates and 40-50% for 4-16 fused ones, and of a CNN update by ~20% (after a compile of a few seconds
  per batch shape).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
from keras import ops

from agents.dqn.config import DQNConfig
from agents.dqn.model import (
    MAPS_LAYER,
    PLANES_LAYER,
    build_q_network,
    changed_tiles,
    double_dqn_targets,
    dqn_targets,
    localisation_loss,
    passability_loss,
    resolve_kind,
    td_loss,
    tile_grid,
    vin_iterations,
)
from agents.dqn.stacking import FrameStack, StackingPolicy
from lab.compiled import Compiled, value_and_grad
from lab.errors import RunError, ScenarioError
from lab.runs import CORRUPT_FILE_ERRORS, atomic_write_json, read_json, reading

CHECKPOINT_FORMAT = 1
# Where a maze-dqn run keeps its agent: AGENT_DIR and REPLAY_FILE are the parts of each checkpoint while it
# trains (checkpoints/dqn-<serial>/, named by the manifest checkpoints/dqn.json of the CheckpointStore named
# CHECKPOINT), FINAL_DIR (in the run folder) when it is done.
CHECKPOINT = "dqn"
AGENT_DIR = "agent"
REPLAY_FILE = "replay.npz"
FINAL_DIR = "final_agent"
META_FILE = "agent.json"
ONLINE_FILE = "q_network.keras"
TARGET_FILE = "target_network.keras"
OPTIMIZER_FILE = "optimizer.npz"
BATCH_KEYS = ("obs", "actions", "rewards", "next_obs", "dones", "discounts", "weights")


def _obs_kind(shape) -> str:
    return "grid" if len(shape) in (2, 3) else "vector"


def check_network_fits(kind: str, obs_shape: tuple) -> None:
    """ScenarioError when the network ``kind`` cannot read observations of ``obs_shape``."""
    if kind == "cnn" and len(obs_shape) not in (2, 3):
        raise ScenarioError(
            f"agent.network.kind: cnn needs grid observations of shape (H, W) or (H, W, C); this env gives "
            f"{_obs_kind(obs_shape)} observations of shape {obs_shape}: use kind mlp (or auto), or grid "
            f"observations"
        )
    if kind == "vin" and (len(obs_shape) != 3 or obs_shape[-1] != 3):  # (grid planes, or RGB frames)
        raise ScenarioError(
            f"agent.network.kind: vin plans on the maze's grid observations (H, W, 3) = walls/agent/goal "
            f"planes; this env gives {_obs_kind(obs_shape)} observations of shape {obs_shape}: set "
            f"env.observation: grid, or use kind mlp or cnn"
        )


class DQNAgent:
    """Double DQN on Keras 3 (TensorFlow or JAX backend).

    Args:
        obs_shape: shape of one observation, e.g. ``(11, 11, 3)`` for a grid or ``(4,)`` for coordinates.
        n_actions: number of discrete actions.
        config: an :class:`agents.dqn.config.DQNConfig` (defaults when omitted).
        obs_dtype: dtype of the observations as the env gives them (uint8 stays uint8 up to the network).
        obs_high: upper bound of the observation space, for ``network.input_scale: auto``.
        jit_compile: XLA for the update (a run passes ``ctx.jit_compile``, resolved once by the driver).
        seed: seeds the initial weights (the same seed gives the same network).
        act_jit_compile: XLA for acting; None (default): on for a vin (its ~100-step value iteration loop runs
            4x faster under XLA: 1.9 ms instead of 7.7 ms for 16 mazes of 15 x 15 tiles), off otherwise (for
            small batches plain graphs are as fast). XLA compiles once per batch size.
    """

    def __init__(self, obs_shape, n_actions: int, config: DQNConfig | None = None, *, jit_compile: bool,
                 obs_dtype="float32", obs_high: float | None = None, seed: int = 0,
                 act_jit_compile: bool | None = None):
        self.config = config if config is not None else DQNConfig()
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.obs_high = None if obs_high is None else float(obs_high)
        self.n_actions = int(n_actions)
        self.seed = int(seed)
        self.jit_compile = bool(jit_compile)
        self.network_kind = resolve_kind(self.config.network.kind, self.obs_shape)
        check_network_fits(self.network_kind, self.obs_shape)
        self.env_steps = 0  # kept by the training loop; saved with the agent
        self.extra: dict = {}  # the training loop's own state, saved with the agent
        self._build_networks()
        self._build_optimizer()
        self._updates = keras.Variable(0, dtype="int32", trainable=False, name="updates")
        self._compile(self.network_kind == "vin" if act_jit_compile is None else act_jit_compile)

    def _build_networks(self) -> None:
        """The online and target networks (same initial weights) and, for a vin with a passability loss,
        the online network with its maps as a second output (same layers, same weights)."""
        net = self.config.network
        self.online = build_q_network(self.obs_shape, self.n_actions, net, self.obs_dtype, self.obs_high,
                                      seed=self.seed, name="q_network")
        self.target = build_q_network(self.obs_shape, self.n_actions, net, self.obs_dtype, self.obs_high,
                                      seed=self.seed, name="target_network")
        self.target.set_weights(self.online.get_weights())
        self._aux_weight = self.config.passability_loss if self.network_kind == "vin" else 0.0
        self._pixels = self.network_kind == "vin" and bool(net.patch)  # a vin that learns its planes
        self._online_with_maps = None
        if self._pixels:
            planes = self.online.get_layer(PLANES_LAYER).output
            self._online_with_maps = keras.Model(
                self.online.input, [self.online.output, self.online.get_layer(MAPS_LAYER).output, planes])
            self._planes_of = keras.Model(self.online.input, planes)
        elif self._aux_weight > 0:
            self._online_with_maps = keras.Model(
                self.online.input, [self.online.output, self.online.get_layer(MAPS_LAYER).output])

    def _build_optimizer(self) -> None:
        self.optimizer = keras.optimizers.Adam(
            learning_rate=self.config.learning_rate, epsilon=self.config.adam_epsilon,
            global_clipnorm=self.config.max_grad_norm,
        )
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            # float16 gradients underflow without loss scaling (bfloat16 needs none)
            self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
        self.optimizer.build(self.online.trainable_variables)

    def _state(self) -> list:
        """Every variable an update reads or writes: both networks, the optimizer's, the update count."""
        return [*self.online.variables, *self.target.variables, *self.optimizer.variables, self._updates]

    def _compile(self, act_jit_compile: bool) -> None:
        self._greedy_fn = Compiled(self._greedy, self.online.variables, jit_compile=act_jit_compile)
        self._q_fn = Compiled(self._q, self.online.variables, jit_compile=act_jit_compile)
        self._train_fn = Compiled(self._update, self._state(), jit_compile=self.jit_compile, scan=2)

    # ------------------------------------------------------------------ acting
    def _q(self, obs):
        return (self.online(obs, training=False),)

    def _greedy(self, obs):
        return (ops.cast(ops.argmax(self.online(obs, training=False), axis=-1), "int32"),)

    def _check_obs(self, obs) -> np.ndarray:
        obs = np.asarray(obs)
        k = self.config.frame_stack
        if k > 1 and obs.ndim > 1 and (*obs.shape[1:-1], obs.shape[-1] * k) == self.obs_shape:
            obs = FrameStack.alone(obs, k)  # one observation: the first of an episode
        if obs.shape[1:] != self.obs_shape:
            raise ValueError(f"expected a batch of observations of shape {self.obs_shape}, got {obs.shape}")
        return obs.astype(self.obs_dtype, copy=False)

    def q_values(self, obs_batch) -> np.ndarray:
        """Q-values ``(N, n_actions)`` of a batch of observations (one compiled call)."""
        return self._q_fn(self._check_obs(obs_batch))[0]

    def greedy_actions(self, obs_batch) -> np.ndarray:
        """``argmax_a Q(obs, a)`` for a batch (ties go to the lowest action index)."""
        return self._greedy_fn(self._check_obs(obs_batch))[0]

    # greedy play needs no memory: the same observation always gets the same action
    memoryless = True

    def greedy_policy(self):
        """``policy(obs_batch) -> actions`` for greedy play, one per episode (a recurrent agent's carries its
        state from call to call, a frame-stacking one its frames; otherwise :meth:`greedy_actions`)."""
        return StackingPolicy(self) if self.config.frame_stack > 1 else self.greedy_actions

    def act(self, obs_batch, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        """Epsilon-greedy actions ``(N,)`` int64 for a batch of N observations.

        Every call draws exactly N uniforms and N random actions from ``rng`` (whatever epsilon), so runs
        stay reproducible; the network is not called when every sub-env explores.
        """
        obs = self._check_obs(obs_batch)
        n = obs.shape[0]
        random_actions = rng.integers(0, self.n_actions, size=n)
        explore = rng.random(n) < epsilon
        if explore.all():
            return random_actions
        greedy = self._greedy_fn(obs)[0].astype(np.int64)
        return np.where(explore, random_actions, greedy)

    # ------------------------------------------------------------------ learning
    @property
    def updates(self) -> int:
        """Gradient updates done so far."""
        return int(ops.convert_to_numpy(self._updates.value))

    def _update(self, obs, actions, rewards, next_obs, dones, discounts, weights):
        cfg = self.config
        q_next_target = self.target(next_obs, training=False)
        if cfg.double_dqn:
            q_next_online = self.online(next_obs, training=False)
            targets = double_dqn_targets(rewards, dones, discounts, q_next_online, q_next_target)
        else:
            targets = dqn_targets(rewards, dones, discounts, q_next_target)
        targets = ops.stop_gradient(targets)

        def loss_fn():
            if self._pixels:
                q, maps, planes = self._online_with_maps(obs, training=True)
            elif self._online_with_maps is not None:
                q, maps = self._online_with_maps(obs, training=True)
            else:
                q = self.online(obs, training=True)
            q_taken = ops.take_along_axis(q, actions[:, None], axis=1)[:, 0]
            loss, td = td_loss(q_taken, targets, weights, cfg.huber_delta)
            if self._pixels:
                loss = loss + self._pixel_losses(maps, planes, obs, next_obs, actions, dones)
            elif self._online_with_maps is not None:
                loss = loss + self._aux_weight * passability_loss(maps, obs, next_obs, actions)
            return self.optimizer.scale_loss(loss), (loss, td)

        return self._apply(loss_fn)

    def _apply(self, loss_fn):
        """One update: the gradient step of ``loss_fn() -> (scaled loss, aux)``, then the update count and
        the target network's sync; returns ``aux``."""
        variables = self.online.trainable_variables
        _, aux, grads = value_and_grad(loss_fn, variables)
        self.optimizer.apply(grads, variables)
        self._updates.assign(self._updates.value + 1)
        self._sync_target()
        return aux

    def _pixel_losses(self, maps, planes, obs, next_obs, actions, dones):
        """A pixel vin's auxiliary losses: its planes located from the frames (:func:`localisation_loss`) and
        its passability map taught by the moves, with "moved" read from the frames."""
        changed = changed_tiles(obs, next_obs, self.config.network.patch)
        moved = ops.max(changed, axis=(1, 2))
        next_planes = self._planes_of(next_obs, training=True)
        return (self.config.localisation_loss * localisation_loss(planes, next_planes, changed, dones)
                + self._aux_weight * passability_loss(maps, planes, None, actions, moved=moved))

    def _sync_target(self):
        t = self.config.target
        pairs = list(zip(self.target.weights, self.online.weights, strict=True))
        if t.update == "soft":
            for tw, ow in pairs:
                tw.assign(t.tau * ow + (1.0 - t.tau) * tw)
        else:  # a select, not a branch: the same code compiles on every backend
            copy = ops.equal(self._updates.value % t.every, 0)
            for tw, ow in pairs:
                tw.assign(ops.where(copy, ow.value, tw.value))

    def train_step(self, batch: dict) -> dict:
        """Gradient updates on a batch from :meth:`ReplayBuffer.sample`.

        ``batch`` holds ``obs, actions, rewards, next_obs, dones, discounts, weights`` (other keys, such as
        ``indices``, are ignored) with a leading axis ``(B, ...)`` for one update, or ``(K, B, ...)`` for K
        updates run back to back in one compiled call. Returns ``{"loss": mean loss (float), "losses":
        (K,) array, "td_errors": array shaped like batch["actions"]}``; the TD errors (target minus
        Q(s, a) before each update) are what prioritized replay wants (with K > 1 the K batches were
        drawn with the priorities of before the call). Raises RunError when the loss is not finite.
        """
        actions = np.asarray(batch["actions"])
        single = actions.ndim == 1
        args = []
        for key in BATCH_KEYS:
            value = np.asarray(batch[key])
            if key in ("obs", "next_obs"):
                value = value.astype(self.obs_dtype, copy=False)
                lead = value.shape[: value.ndim - len(self.obs_shape)]
                if value.shape[len(lead):] != self.obs_shape or lead != actions.shape:
                    raise ValueError(f"batch[{key!r}] has shape {value.shape}; expected "
                                     f"{(*actions.shape, *self.obs_shape)}")
            elif key == "actions":
                value = value.astype(np.int32, copy=False)
            else:
                value = value.astype(np.float32, copy=False)
                if value.shape != actions.shape:
                    raise ValueError(f"batch[{key!r}] has shape {value.shape}; expected {actions.shape}")
            args.append(value[None] if single else value)
        losses, tds = self._train_fn(*args)
        self._check_finite(losses)
        return {"loss": float(losses.mean()), "losses": losses, "td_errors": tds[0] if single else tds}

    def _check_finite(self, losses: np.ndarray) -> None:
        if not np.all(np.isfinite(losses)):
            raise RunError(
                f"training diverged: the loss became {losses[~np.isfinite(losses)][0]} at update "
                f"{self.updates}; lower agent.learning_rate (now {self.config.learning_rate}), keep "
                f"agent.max_grad_norm set (now {self.config.max_grad_norm}) or check that rewards are finite"
            )

    def resized(self, obs_shape) -> DQNAgent:
        """This agent on grids of another size, for greedy play. A vin's layers do not depend on the grid's
        size (convolutions, value iteration, a read-out at the agent's tile), so its weights plan on larger
        or smaller mazes than it trained on; K becomes the larger of the trained K and ``rows * cols // 2``
        of the new grid, enough for any route on it. Other networks end in dense layers sized for the
        trained grid: ValueError."""
        obs_shape = tuple(int(s) for s in obs_shape)
        if obs_shape == self.obs_shape:
            return self
        if self.network_kind != "vin":
            raise ValueError(f"only a vin plans on mazes of another size; this agent's network is a "
                             f"{self.network_kind}, whose dense layers fit its {self.obs_shape[0]} x "
                             f"{self.obs_shape[1]} grid only")
        if len(obs_shape) != 3 or obs_shape[-1] != self.obs_shape[-1]:
            raise ValueError(f"a vin needs (H, W, {self.obs_shape[-1]}) grids, got shape {obs_shape}")
        rows, cols = tile_grid(self.config.network, obs_shape)
        k = max(vin_iterations(self.config.network, self.obs_shape), rows * cols // 2)
        config = self.config.model_copy(
            update={"network": self.config.network.model_copy(update={"vin_iterations": k})})
        other = DQNAgent(obs_shape, self.n_actions, config, obs_dtype=self.obs_dtype, obs_high=self.obs_high,
                         seed=self.seed, jit_compile=self.jit_compile)
        other.online.set_weights(self.online.get_weights())
        other.target.set_weights(self.target.get_weights())
        other.env_steps = self.env_steps
        return other

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Write the agent into ``directory`` (replaced as a whole, never half-written):
        ``q_network.keras`` and ``target_network.keras`` (load with ``safe_mode=True``), ``optimizer.npz``
        (Adam's moments and step) and ``agent.json`` (config, observation shape/dtype, counters and the
        caller's ``extra`` state, which :meth:`load` puts back in ``agent.extra``)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            self.online.save(tmp / ONLINE_FILE)
            self.target.save(tmp / TARGET_FILE)
            opt = {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(self.optimizer.variables)}
            with open(tmp / OPTIMIZER_FILE, "wb") as fh:
                np.savez(fh, **opt)
            atomic_write_json(tmp / META_FILE, {
                "format": CHECKPOINT_FORMAT,
                "kind": "dqn-agent",
                "obs_shape": list(self.obs_shape),
                "obs_dtype": self.obs_dtype.name,
                "obs_kind": _obs_kind(self.obs_shape),
                "obs_high": self.obs_high,
                "n_actions": self.n_actions,
                "network_kind": self.network_kind,
                "seed": self.seed,
                "updates": self.updates,
                "env_steps": int(self.env_steps),
                "config": self.config.model_dump(mode="json"),
                "extra": extra or {},
            })
            old = None
            if directory.exists():
                old = directory.with_name(f".{directory.name}.old")
                if old.exists():
                    shutil.rmtree(old)
                os.replace(directory, old)
            os.replace(tmp, directory)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @staticmethod
    def read_meta(directory: str | Path) -> dict:
        """The ``agent.json`` of a saved agent (RunError when missing or unreadable)."""
        directory = Path(directory)
        path = directory / META_FILE
        if not directory.is_dir():
            raise RunError(f"{directory}: no saved agent here (not a folder)")
        if not path.exists():
            raise RunError(f"{directory}: not a saved DQN agent (no {META_FILE})")
        meta = read_json(path, "agent description")
        if not isinstance(meta, dict) or meta.get("kind") != "dqn-agent":
            raise RunError(f"{path}: not a DQN agent description")
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise RunError(f"{path}: checkpoint format {meta.get('format')!r}; this lab reads format "
                           f"{CHECKPOINT_FORMAT}")
        missing = [k for k in ("obs_shape", "obs_dtype", "n_actions", "config") if k not in meta]
        if missing:
            raise RunError(f"{path}: agent description lacks {', '.join(missing)}")
        return meta

    @classmethod
    def check_compatible(cls, meta: dict, obs_shape=None, obs_dtype=None, n_actions=None,
                         where: str = "checkpoint") -> None:
        """Raise RunError naming every difference between a saved agent and the env it is meant for."""
        problems = []
        saved_shape = tuple(meta["obs_shape"])
        if obs_shape is not None and tuple(obs_shape) != saved_shape:
            problems.append(
                f"{where} was trained on {_obs_kind(saved_shape)} observations of shape {saved_shape}, "
                f"this env gives {_obs_kind(obs_shape)} observations of shape {tuple(obs_shape)}"
            )
        if obs_dtype is not None and np.dtype(obs_dtype).name != meta["obs_dtype"]:
            problems.append(f"{where} expects {meta['obs_dtype']} observations, this env gives "
                            f"{np.dtype(obs_dtype).name}")
        if n_actions is not None and int(n_actions) != int(meta["n_actions"]):
            problems.append(f"{where} has {meta['n_actions']} actions, this env has {n_actions}")
        if len(problems) == 1:
            raise RunError(problems[0])
        if problems:
            raise RunError(f"{where} does not fit this env", problems)

    @classmethod
    def load(cls, directory: str | Path, *, jit_compile: bool, obs_shape=None, obs_dtype=None,
             n_actions=None) -> DQNAgent:
        """Rebuild a saved agent. Given the env's ``obs_shape``/``obs_dtype``/``n_actions``, refuse (RunError,
        naming what differs) a checkpoint made for another observation mode or maze size."""
        directory = Path(directory)
        meta = cls.read_meta(directory)
        with reading(directory / META_FILE, "agent description",
                     catch=CORRUPT_FILE_ERRORS + (AttributeError,)):
            cls.check_compatible(meta, obs_shape, obs_dtype, n_actions, where=f"the checkpoint {directory}")
            try:
                config = DQNConfig.model_validate(meta["config"])
            except Exception as exc:  # pydantic.ValidationError: a hand-edited or foreign agent.json
                raise RunError(f"{directory / META_FILE}: the saved agent config does not validate: "
                               f"{exc}") from None
            agent = cls(meta["obs_shape"], meta["n_actions"], config, obs_dtype=meta["obs_dtype"],
                        obs_high=meta.get("obs_high"), seed=meta.get("seed", 0), jit_compile=jit_compile)
        for name, model in ((ONLINE_FILE, agent.online), (TARGET_FILE, agent.target)):
            path = directory / name
            if not path.exists():
                raise RunError(f"{directory}: saved agent is incomplete ({name} is missing)")
            try:
                loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
            except Exception as exc:  # zip/h5/config errors from Keras
                raise RunError(f"{path}: cannot load the Q-network ({type(exc).__name__}: {exc})") from None
            try:
                model.set_weights(loaded.get_weights())
            except ValueError as exc:
                raise RunError(f"{path}: the network does not match the saved agent config ({exc})") from None
        opt_path = directory / OPTIMIZER_FILE
        if opt_path.exists():
            with reading(opt_path, "optimizer state"):
                with np.load(opt_path, allow_pickle=False) as data:
                    values = [data[k] for k in sorted(data.files)]
            variables = agent.optimizer.variables
            if (len(values) != len(variables) or
                    any(v.shape != tuple(w.shape) for v, w in zip(values, variables, strict=False))):
                raise RunError(f"{opt_path}: optimizer state does not match the network")
            for var, value in zip(variables, values, strict=True):
                var.assign(value)
        counters = {k: meta.get(k, 0) for k in ("updates", "env_steps")}
        if any(type(v) is not int or v < 0 for v in counters.values()):
            raise RunError(f"{directory / META_FILE}: corrupt agent description (counters {counters})")
        agent._updates.assign(counters["updates"])
        agent.env_steps = counters["env_steps"]
        agent.extra = dict(meta.get("extra") or {})
        return agent
