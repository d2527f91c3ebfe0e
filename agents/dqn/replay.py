"""Replay for DQN: n-step returns over N parallel envs, a preallocated ring buffer, prioritized sampling.

Feeding it from a vector env (one call per vector step, arrays of N)::

    buffer = ReplayBuffer(capacity, obs_shape, obs_dtype, n_envs=N, n_step=3, gamma=0.99,
                          seed=seeding.stream(seed, "replay"))    # an int or a NumPy Generator
    obs, _ = envs.reset(seed=seeding.stream_seed(seed, "env-reset", 0))
    buffer.reset_pending()          # after every envs.reset() made by the caller (e.g. on resume)
    while ...:
        actions = agent.act(obs, epsilon, rng)
        next_obs, rewards, terminated, truncated, infos = envs.step(actions)
        buffer.add(obs, actions, rewards, next_obs, terminated, truncated)
        obs = next_obs
    batch = buffer.sample(batch_size, n_batches=K, beta=beta)   # dict of arrays, leading (K, B)

Semantics of the flags (per sub-env, per step):

* ``terminated``: the episode reached a terminal state (the goal). The value of ``next_obs`` is 0 by
  definition, so every n-step transition whose window reaches this step is stored with ``done = 1``:
  its target is the discounted reward sum alone, **no bootstrap**.
* ``truncated``: the episode was cut by a time limit; the state is not terminal. The n-step windows end
  here (rewards of the next episode must never leak in), but the transitions keep ``done = 0`` and
  bootstrap from ``next_obs`` (the real last observation) with ``discount = gamma ** k``, where ``k`` is
  the number of rewards actually summed (shorter than n for the last n - 1 steps of the episode).
* Both true counts as terminated.

Autoreset: under Gymnasium's default ``NEXT_STEP`` mode, the step that ends an episode returns the true
last observation, and the *following* step of that sub-env only resets it (its action is ignored, its
reward is 0). That step is not a transition and is never stored: with ``autoreset_mode="next_step"``
(the default) the buffer skips it by itself, and a ``valid`` mask can exclude further steps (it is
ANDed). With ``"same_step"`` the env returns the first observation of the next episode in ``obs`` and
the last one in ``infos["final_obs"]``: pass the latter as ``next_obs`` for the sub-envs that ended.
With ``"disabled"`` nothing is skipped (the caller resets the envs itself).

Stored transitions are ``(obs, action, reward = sum_{j<k} gamma^j r_j, next_obs, done, discount = gamma^k)``
and the learning target is ``reward + discount * (1 - done) * Q_target(next_obs, a*)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lab.errors import RunError
from lab.runs import atomic_path, reading

AUTORESET_MODES = ("next_step", "same_step", "disabled")


class Transitions(NamedTuple):
    """A batch of n-step transitions (first axis: transitions)."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    dones: np.ndarray
    discounts: np.ndarray

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.actions.shape[0])


class NStepAccumulator:
    """Per-env queues of the last n steps, held as arrays ``(n_envs, n_step, ...)``.

    :meth:`add` takes one vector step and returns the n-step transitions that became complete: for every
    sub-env whose queue is full, the oldest entry (discount ``gamma ** n``); for every sub-env whose
    episode ended, all its pending entries (the newest with a 1-step return). See the module docstring
    for ``terminated``/``truncated`` and the autoreset modes.
    """

    def __init__(self, n_envs: int, n_step: int, gamma: float, obs_shape, obs_dtype=np.float32,
                 autoreset_mode: str = "next_step"):
        if n_envs < 1 or n_step < 1:
            raise ValueError(f"n_envs and n_step must be at least 1, got {n_envs} and {n_step}")
        if autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode must be one of {AUTORESET_MODES}, got {autoreset_mode!r}")
        self.n_envs, self.n_step, self.gamma = int(n_envs), int(n_step), float(gamma)
        self.obs_shape, self.obs_dtype = tuple(obs_shape), np.dtype(obs_dtype)
        self.autoreset_mode = autoreset_mode
        n = self.n_step
        self.obs = np.zeros((self.n_envs, n, *self.obs_shape), self.obs_dtype)
        self.actions = np.zeros((self.n_envs, n), np.int64)
        self.rewards = np.zeros((self.n_envs, n), np.float64)
        self.head = np.zeros(self.n_envs, np.int64)
        self.count = np.zeros(self.n_envs, np.int64)
        self.just_ended = np.zeros(self.n_envs, bool)  # NEXT_STEP: the next step of these envs is a reset
        k = np.arange(n)
        # returns[k] = sum_{m >= k} gamma^(m - k) * r[m]  ==  r @ self._suffix[k]
        lag = k[:, None] - k[None, :]  # [m, k] = m - k
        self._suffix = np.where(lag >= 0, self.gamma ** np.maximum(lag, 0), 0.0)
        self._arange = k

    def reset(self) -> None:
        """Drop every pending entry (e.g. after the caller reset all envs by hand)."""
        self.count[:] = 0
        self.head[:] = 0
        self.just_ended[:] = False

    def add(self, obs, actions, rewards, next_obs, terminated, truncated, valid=None) -> Transitions | None:
        N, n = self.n_envs, self.n_step
        obs = np.asarray(obs)
        next_obs = np.asarray(next_obs)
        actions = np.asarray(actions).reshape(N)
        rewards = np.asarray(rewards, dtype=np.float64).reshape(N)
        terminated = np.asarray(terminated, dtype=bool).reshape(N)
        truncated = np.asarray(truncated, dtype=bool).reshape(N)
        if obs.shape != (N, *self.obs_shape) or next_obs.shape != (N, *self.obs_shape):
            raise ValueError(f"expected observations of shape {(N, *self.obs_shape)}, got {obs.shape} and "
                             f"{next_obs.shape}")
        ok = np.ones(N, bool) if valid is None else np.asarray(valid, dtype=bool).reshape(N).copy()
        if self.autoreset_mode == "next_step":
            ok &= ~self.just_ended
        ended = ok & (terminated | truncated)
        if self.autoreset_mode == "next_step":
            self.just_ended = ended.copy()

        v = np.flatnonzero(ok)
        if v.size == 0:
            return None
        slot = (self.head[v] + self.count[v]) % n
        self.obs[v, slot] = obs[v]
        self.actions[v, slot] = actions[v]
        self.rewards[v, slot] = rewards[v]
        self.count[v] += 1

        full = ok & ~ended & (self.count == n)
        emitters = np.flatnonzero(ended | full)
        if emitters.size == 0:
            return None
        order = (self.head[emitters, None] + self._arange[None, :]) % n  # queue position -> slot
        pending = self._arange[None, :] < self.count[emitters, None]
        rew = np.where(pending, self.rewards[emitters[:, None], order], 0.0)
        returns = rew @ self._suffix  # (e, n): return from each queue position to the newest entry
        emit = pending & (ended[emitters, None] | (self._arange[None, :] == 0))
        rows, ks = np.nonzero(emit)  # grouped by env, oldest first
        envs = emitters[rows]
        slots = order[rows, ks]
        out = Transitions(
            obs=self.obs[envs, slots],
            actions=self.actions[envs, slots].astype(np.int32),
            rewards=returns[rows, ks].astype(np.float32),
            next_obs=next_obs[envs].astype(self.obs_dtype, copy=False),
            dones=terminated[envs].astype(np.float32),
            discounts=(self.gamma ** (self.count[envs] - ks)).astype(np.float32),
        )
        fin = np.flatnonzero(ended)
        self.count[fin] = 0
        self.head[fin] = 0
        adv = np.flatnonzero(full)
        self.head[adv] = (self.head[adv] + 1) % n
        self.count[adv] -= 1
        return out


class ReplayBuffer:
    """Preallocated ring buffer of n-step transitions with uniform sampling.

    Observations keep their dtype (uint8 grids stay uint8: 4x less memory than float32; the network
    scales them). ``obs`` and ``next_obs`` are stored separately, which keeps n-step transitions
    across episode ends and vector envs simple.
    """

    prioritized = False

    def __init__(self, capacity: int, obs_shape, obs_dtype=np.float32, *, n_envs: int = 1, n_step: int = 1,
                 gamma: float = 0.99, autoreset_mode: str = "next_step",
                 seed: int | np.random.Generator | None = None):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = int(capacity)
        self.obs_shape, self.obs_dtype = tuple(int(s) for s in obs_shape), np.dtype(obs_dtype)
        self.obs = np.zeros((self.capacity, *self.obs_shape), self.obs_dtype)
        self.next_obs = np.zeros((self.capacity, *self.obs_shape), self.obs_dtype)
        self.actions = np.zeros(self.capacity, np.int32)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.dones = np.zeros(self.capacity, np.float32)
        self.discounts = np.zeros(self.capacity, np.float32)
        self.pos = 0  # next slot to write
        self.size = 0
        self.added = 0  # transitions ever stored
        self.rng = np.random.default_rng(seed)
        self.nstep = NStepAccumulator(n_envs, n_step, gamma, self.obs_shape, self.obs_dtype, autoreset_mode)

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes
                   for a in (self.obs, self.next_obs, self.actions, self.rewards, self.dones, self.discounts))

    # ------------------------------------------------------------------ writing
    def add(self, obs, actions, rewards, next_obs, terminated, truncated, valid=None) -> int:
        """One vector step of ``n_envs`` sub-envs (arrays with a leading axis of N). Returns how many
        n-step transitions became complete and were stored."""
        done = self.nstep.add(obs, actions, rewards, next_obs, terminated, truncated, valid)
        if done is None:
            return 0
        self.add_transitions(done)
        return len(done)

    def reset_pending(self) -> None:
        """Forget the unfinished n-step windows. Call it whenever the caller resets the envs itself
        (``envs.reset()`` at the start of training, and after loading a checkpoint): otherwise the steps
        of the new episodes would be joined to the windows of the interrupted ones."""
        self.nstep.reset()

    def add_transitions(self, t: Transitions) -> np.ndarray:
        """Store finished transitions as they are; returns the slots written."""
        k = len(t)
        if k > self.capacity:  # only the newest `capacity` survive
            t = Transitions(*(a[-self.capacity:] for a in t))
            k = self.capacity
        idx = (self.pos + np.arange(k)) % self.capacity
        self.obs[idx] = t.obs
        self.next_obs[idx] = t.next_obs
        self.actions[idx] = t.actions
        self.rewards[idx] = t.rewards
        self.dones[idx] = t.dones
        self.discounts[idx] = t.discounts
        self.pos = int((self.pos + k) % self.capacity)
        self.size = min(self.size + k, self.capacity)
        self.added += k
        self._stored(idx)
        return idx

    def _stored(self, idx: np.ndarray) -> None:
        """Hook for the prioritized buffer."""

    # ------------------------------------------------------------------ reading
    def _check_sample(self, batch_size: int) -> None:
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")

    def sample(self, batch_size: int, n_batches: int | None = None, beta: float | None = None) -> dict:
        """``batch_size`` transitions drawn uniformly with replacement (``n_batches`` of them stacked on a
        leading axis when given). Keys: obs, actions, rewards, next_obs, dones, discounts, weights (all 1
        here), indices. ``beta`` is accepted and ignored, so callers treat both buffers alike."""
        self._check_sample(batch_size)
        shape = (batch_size,) if n_batches is None else (n_batches, batch_size)
        idx = self.rng.integers(0, self.size, size=shape)
        return self._gather(idx, np.ones(shape, np.float32))

    def _gather(self, idx: np.ndarray, weights: np.ndarray) -> dict:
        return {
            "obs": self.obs[idx],
            "actions": self.actions[idx],
            "rewards": self.rewards[idx],
            "next_obs": self.next_obs[idx],
            "dones": self.dones[idx],
            "discounts": self.discounts[idx],
            "weights": weights,
            "indices": idx,
        }

    def update_priorities(self, indices, td_errors) -> None:
        """No-op for the uniform buffer (so training loops need no branch)."""

    # ------------------------------------------------------------------ checkpoints
    def _arrays(self) -> dict[str, np.ndarray]:
        n = self.nstep
        return {
            "obs": self.obs, "next_obs": self.next_obs, "actions": self.actions, "rewards": self.rewards,
            "dones": self.dones, "discounts": self.discounts,
            "nstep_obs": n.obs, "nstep_actions": n.actions, "nstep_rewards": n.rewards, "nstep_head": n.head,
            "nstep_count": n.count, "nstep_just_ended": n.just_ended,
        }

    def save(self, path: str | Path) -> Path:
        """Write the whole state (contents, pending n-step queues, RNG) to one ``.npz``, atomically."""
        meta = {"capacity": self.capacity, "obs_shape": list(self.obs_shape), "obs_dtype": self.obs_dtype.str,
                "pos": self.pos, "size": self.size, "added": self.added, "prioritized": self.prioritized,
                "n_envs": self.nstep.n_envs, "n_step": self.nstep.n_step, "gamma": self.nstep.gamma,
                "rng": self.rng.bit_generator.state, **self._extra_meta()}
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, meta=np.array(json.dumps(meta)), **self._arrays())
        return path

    def _extra_meta(self) -> dict:
        return {}

    def load(self, path: str | Path) -> None:
        """Restore a state written by :meth:`save` into this (identically configured) buffer. A missing,
        truncated or foreign file is a RunError naming it (the buffer is then left as it was)."""
        path = Path(path)
        hint = "this run cannot be resumed (start it again)"
        with reading(path, "replay buffer checkpoint", hint=hint):
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {k: data[k] for k in data.files if k != "meta"}
            if not isinstance(meta, dict):
                raise ValueError("its description is not a mapping")
            mine = {"capacity": self.capacity, "obs_shape": list(self.obs_shape),
                    "obs_dtype": self.obs_dtype.str,
                    "prioritized": self.prioritized, "n_envs": self.nstep.n_envs, "n_step": self.nstep.n_step}
            diffs = [f"{k} {meta.get(k)!r} in the checkpoint, {v!r} here"
                     for k, v in mine.items() if meta.get(k) != v]
            if diffs:
                raise RunError(f"{path}: replay buffer checkpoint does not fit this configuration", diffs)
            pos, size, added = (int(meta[k]) for k in ("pos", "size", "added"))
            if not (0 <= pos < self.capacity and 0 <= size <= self.capacity and added >= size):
                raise ValueError(f"pos {pos}, size {size}, added {added} do not fit a capacity of "
                                 f"{self.capacity}")
            targets = self._arrays()
            for name, target in targets.items():
                if arrays[name].shape != target.shape or arrays[name].dtype != target.dtype:
                    raise ValueError(f"{name} is {arrays[name].dtype}{list(arrays[name].shape)}, "
                                     f"not {target.dtype}{list(target.shape)}")
            rng = np.random.Generator(type(self.rng.bit_generator)())
            rng.bit_generator.state = meta["rng"]  # checked before anything of this buffer changes
            self._check_extra(meta)
        for name, target in targets.items():
            target[...] = arrays[name]
        self.pos, self.size, self.added = pos, size, added
        self.rng.bit_generator.state = meta["rng"]
        self._load_extra(meta)

    def _check_extra(self, meta: dict) -> None:
        """Raise ValueError/KeyError/TypeError when ``meta`` lacks what :meth:`_load_extra` needs."""

    def _load_extra(self, meta: dict) -> None:
        pass


class SumTree:
    """Sums and minima over a power-of-two number of leaves, updated and searched for many leaves at once."""

    def __init__(self, capacity: int):
        self.depth = max(0, int(np.ceil(np.log2(max(1, capacity)))))
        self.leaves = 1 << self.depth
        self.capacity = int(capacity)
        self.sums = np.zeros(2 * self.leaves, np.float64)
        self.mins = np.full(2 * self.leaves, np.inf, np.float64)

    @property
    def total(self) -> float:
        return float(self.sums[1])

    @property
    def min(self) -> float:
        return float(self.mins[1])

    def get(self, indices) -> np.ndarray:
        return self.sums[self.leaves + np.asarray(indices)]

    def set(self, indices, values) -> None:
        """Set leaves (with repeated indices, the last value wins) and refresh their ancestors."""
        indices = np.asarray(indices, np.int64).ravel()
        values = np.asarray(values, np.float64).ravel()
        if indices.size == 0:
            return
        rev_unique, rev_pos = np.unique(indices[::-1], return_index=True)
        last = indices.size - 1 - rev_pos
        nodes = rev_unique + self.leaves
        self.sums[nodes] = values[last]
        self.mins[nodes] = values[last]
        for _ in range(self.depth):  # parents, level by level (a repeated parent gets the same value twice)
            nodes = nodes >> 1
            left = 2 * nodes
            self.sums[nodes] = self.sums[left] + self.sums[left + 1]
            self.mins[nodes] = np.minimum(self.mins[left], self.mins[left + 1])

    def find(self, mass: np.ndarray) -> np.ndarray:
        """Leaf index for each cumulative mass in [0, total): the i with prefix(i) <= mass < prefix(i + 1)."""
        mass = np.minimum(np.asarray(mass, np.float64), np.nextafter(self.total, 0.0))
        node = np.ones(mass.shape, np.int64)
        for _ in range(self.depth):
            left = 2 * node
            left_sum = self.sums[left]
            # never step into an empty subtree (float rounding at the right edge)
            right = (mass >= left_sum) & (self.sums[left + 1] > 0)
            mass = np.where(right, mass - left_sum, mass)
            node = np.where(right, left + 1, left)
        return node - self.leaves


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016) on a sum-tree.

    ``P(i) = p_i^alpha / sum_j p_j^alpha`` with ``p_i = |TD error_i| + eps``; new transitions get the largest
    priority seen so far. A batch is stratified: the total mass is cut into ``batch_size`` equal segments
    and one transition is drawn in each. Importance weights ``w_i = (size * P(i))^-beta`` are divided by
    the largest possible weight in the buffer (that of the smallest priority), so they lie in (0, 1].
    """

    prioritized = True

    def __init__(self, capacity: int, obs_shape, obs_dtype=np.float32, *, alpha: float = 0.6,
                 eps: float = 1e-6, **kwargs):
        super().__init__(capacity, obs_shape, obs_dtype, **kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha, self.eps = float(alpha), float(eps)
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0  # of |TD| + eps, before the exponent

    def _stored(self, idx: np.ndarray) -> None:
        self.tree.set(idx, np.full(idx.shape, self.max_priority ** self.alpha))

    def sample(self, batch_size: int, n_batches: int | None = None, beta: float | None = 0.4) -> dict:
        self._check_sample(batch_size)
        beta = 0.4 if beta is None else float(beta)
        shape = (batch_size,) if n_batches is None else (n_batches, batch_size)
        total = self.tree.total
        segment = total / batch_size
        mass = (np.arange(batch_size) + self.rng.random(shape)) * segment
        idx = self.tree.find(mass)
        idx = np.minimum(idx, self.size - 1)
        p = self.tree.get(idx)
        weights = (p / self.tree.min) ** (-beta)  # == (N P(i))^-beta / max_j (N P(j))^-beta
        return self._gather(idx, weights.astype(np.float32))

    def probabilities(self, indices=None) -> np.ndarray:
        """P(i) of the given stored slots (all stored slots by default): handy for checks and plots."""
        indices = np.arange(self.size) if indices is None else np.asarray(indices)
        return self.tree.get(indices) / self.tree.total

    def update_priorities(self, indices, td_errors) -> None:
        """New priorities ``(|td| + eps) ** alpha`` for the sampled slots (any matching shapes)."""
        indices = np.asarray(indices).ravel()
        p = np.abs(np.asarray(td_errors, np.float64).ravel()) + self.eps
        if indices.shape != p.shape:
            raise ValueError(f"{indices.size} indices but {p.size} TD errors")
        if not np.all(np.isfinite(p)):
            raise ValueError("TD errors contain NaN or infinity: the loss has diverged")
        self.max_priority = max(self.max_priority, float(p.max()))
        self.tree.set(indices, p ** self.alpha)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), "tree_sums": self.tree.sums, "tree_mins": self.tree.mins}

    def _extra_meta(self) -> dict:
        return {"alpha": self.alpha, "max_priority": self.max_priority}

    def _check_extra(self, meta: dict) -> None:
        value = float(meta["max_priority"])
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"max_priority {value!r}")

    def _load_extra(self, meta: dict) -> None:
        self.max_priority = float(meta["max_priority"])
