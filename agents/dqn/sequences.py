"""Replay of sequences for a recurrent Q-network (R2D2: Kapturowski et al., 2019, "Recurrent Experience
Replay in Distributed Reinforcement Learning").

Each env's steps form one stream: for every step, the observation the agent acted on, its action and
reward, whether the episode terminated or ended there, whether the observation opened an episode
(``first``: the network's state restarts from zeros there), the action taken before it in the episode
(``prev``, -1 for none), and the recurrent state the agent had when it acted. When an episode ends, its
last observation follows as an entry of its own (no action: the bootstrap of a truncated episode).
Autoreset steps (Gymnasium's NEXT_STEP: the step after an episode's end only resets the env) are not
steps of any episode and are skipped.

Every ``length`` entries of a stream, the last ``burn_in + length + n_step`` of them become a sequence:

* ``burn_in`` entries replayed from the stored state without learning (the state catches up with
  today's weights), then ``length`` entries learned from, then ``n_step`` entries for their targets;
* so every entry is learned from exactly once; a stream starts with ``burn_in`` empty entries;
* the n-step targets are computed when sampling: ``R = sum_k gamma^k r_{t+k}`` up to ``n_step`` rewards or
  the episode's end, ``discount = gamma ** k``, ``done`` when the episode terminated, and the index of the
  entry to bootstrap from (the final-observation entry when a time limit cut the episode).

The streams' unfinished parts are not saved with the buffer (like the n-step windows of
:class:`agents.dqn.replay.ReplayBuffer`): a resumed run starts fresh episodes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lab.errors import RunError
from lab.runs import atomic_path, reading

FIELDS = ("obs", "actions", "rewards", "terminated", "ended", "valid", "first", "prev")


class SequenceReplay:
    """A ring of ``capacity`` sequences of ``burn_in + length + n_step`` entries, sampled uniformly.

    ``state_sizes``: the sizes of the recurrent state's parts (an LSTM's ``[units, units]``, a GRU's
    ``[units]``); ``stored_state`` False replays every sequence from zeros instead."""

    prioritized = False

    def __init__(self, capacity: int, obs_shape, obs_dtype=np.float32, *, n_envs: int, length: int,
                 burn_in: int, n_step: int, gamma: float, state_sizes, stored_state: bool = True, seed=0):
        self.capacity, self.n_envs = int(capacity), int(n_envs)
        self.length, self.burn_in, self.n_step = int(length), int(burn_in), int(n_step)
        self.gamma = float(gamma)
        self.span = self.burn_in + self.length + self.n_step
        self.obs_shape, self.obs_dtype = tuple(obs_shape), np.dtype(obs_dtype)
        self.state_sizes = [int(s) for s in state_sizes]
        self.stored_state = bool(stored_state)
        c, s = self.capacity, self.span
        self.data = {"obs": np.zeros((c, s, *self.obs_shape), self.obs_dtype),
                     "actions": np.zeros((c, s), np.int32), "rewards": np.zeros((c, s), np.float32),
                     **{k: np.zeros((c, s), bool) for k in ("terminated", "ended", "valid", "first")},
                     "prev": np.full((c, s), -1, np.int32)}
        self.states = [np.zeros((c, size), np.float32) for size in self.state_sizes]
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.added = 0  # sequences stored since the start (the ring index is added % capacity)
        self.reset_pending()

    def __len__(self) -> int:
        return min(self.added, self.capacity)

    # ---- filling ----------------------------------------------------------------------------------
    def reset_pending(self) -> None:
        """Forget the streams' unfinished parts (after the envs were reset by the caller): each stream
        starts again with ``burn_in`` empty entries."""
        self._streams: list[list[tuple]] = [[self._empty()] * self.burn_in for _ in range(self.n_envs)]
        self._prev = np.full(self.n_envs, -1, np.int64)  # each env's last action in its episode

    def _empty(self) -> tuple:
        return (np.zeros(self.obs_shape, self.obs_dtype), 0, 0.0, False, False, False, False, -1,
                tuple(np.zeros(size, np.float32) for size in self.state_sizes))

    def add(self, obs, actions, rewards, next_obs, terminated, truncated, *, first, states, next_states,
            skip) -> int:
        """One vector step: ``states`` the recurrent state each env's agent acted from (a list of (N, size)
        arrays), ``next_states`` the one after, ``first`` which observations opened an episode, ``skip``
        which envs only reset this step. Returns the number of sequences completed."""
        done = 0
        for i in np.flatnonzero(~np.asarray(skip, dtype=bool)):
            end = bool(terminated[i] or truncated[i])
            stream = self._streams[i]
            prev = -1 if first[i] else int(self._prev[i])
            stream.append((obs[i], int(actions[i]), float(rewards[i]), bool(terminated[i]), end, True,
                           bool(first[i]), prev, tuple(s[i] for s in states)))
            self._prev[i] = actions[i]
            if end:  # the episode's last observation, to bootstrap from when a time limit cut it
                stream.append((next_obs[i], 0, 0.0, False, False, False, False, int(actions[i]),
                               tuple(s[i] for s in next_states)))
            while len(stream) >= self.span:
                self._store(stream[:self.span])
                del stream[:self.length]
                done += 1
        return done

    def _store(self, entries: list[tuple]) -> None:
        j = self.added % self.capacity
        for k, name in enumerate(FIELDS):
            column = [e[k] for e in entries]
            self.data[name][j] = np.stack(column) if name == "obs" else column
        for part, array in enumerate(self.states):
            array[j] = entries[0][8][part]
        self.added += 1

    # ---- sampling ---------------------------------------------------------------------------------
    def sample(self, batch_size: int, n_batches: int | None = None, beta=None) -> dict:
        """``batch_size`` sequences (``(n_batches, batch_size, ...)`` when ``n_batches`` is given): ``obs``,
        ``first``, ``prev`` (whole sequences), ``states`` (a list), and for the learned steps ``actions``,
        ``returns``, ``discounts``, ``dones``, ``boot`` (the entry to bootstrap from, counted from the end of
        the burn-in) and ``mask`` (a real step). ``beta`` is accepted and ignored (uniform replay)."""
        if len(self) == 0:
            raise ValueError("the sequence replay is empty")
        shape = (batch_size,) if n_batches is None else (n_batches, batch_size)
        idx = self.rng.integers(0, len(self), size=shape)
        d = {k: v[idx] for k, v in self.data.items()}
        out = {"obs": d["obs"], "first": d["first"].astype(np.float32), "prev": d["prev"],
               "states": [s[idx] if self.stored_state else np.zeros_like(s[idx]) for s in self.states]}
        out.update(self.targets(d))
        return out

    def targets(self, d: dict) -> dict:
        """The n-step returns of the learned steps of sequences ``d`` (arrays ``(..., span)``)."""
        t0, n = self.burn_in, self.n_step
        lead = d["rewards"].shape[:-1]
        returns = np.zeros((*lead, self.length), np.float32)
        alive = d["valid"][..., t0:t0 + self.length].copy()
        mask = alive.copy()
        dones = np.zeros_like(returns)
        taken = np.zeros(returns.shape, np.int64)
        for k in range(n):
            at = slice(t0 + k, t0 + k + self.length)
            returns += alive * self.gamma ** k * d["rewards"][..., at]
            taken += alive
            dones += alive * d["terminated"][..., at]
            alive = alive & ~d["ended"][..., at]
        boot = np.arange(self.length) + taken  # from the burn-in's end: t - t0 + k
        return {"actions": d["actions"][..., t0:t0 + self.length], "returns": returns,
                "discounts": (self.gamma ** taken).astype(np.float32), "dones": np.minimum(dones, 1.0),
                "boot": boot.astype(np.int32), "mask": mask.astype(np.float32)}

    # ---- checkpoints ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """The stored sequences and the counters (``.npz``, atomically); the streams' unfinished parts are
        not kept."""
        n = len(self)
        meta = {"kind": "sequence-replay", "added": self.added, "span": self.span, "capacity": self.capacity,
                "obs_shape": list(self.obs_shape), "state_sizes": self.state_sizes}
        arrays = {k: v[:n] for k, v in self.data.items()}
        arrays.update({f"state{i}": s[:n] for i, s in enumerate(self.states)})
        with atomic_path(Path(path), suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
        return Path(path)

    def load(self, path: str | Path) -> None:
        """Put back what :meth:`save` wrote (RunError naming the file when it holds other sequences)."""
        with reading(Path(path), "sequence replay"), np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            want = {"kind": "sequence-replay", "span": self.span, "obs_shape": list(self.obs_shape),
                    "state_sizes": self.state_sizes}
            wrong = {k: meta.get(k) for k, v in want.items() if meta.get(k) != v}
            if wrong:
                raise RunError(f"{path}: a replay of other sequences ({wrong}; this run wants {want})")
            n = min(int(meta["added"]), self.capacity)
            for k in self.data:
                self.data[k][:n] = z[k][:n]
            for i, s in enumerate(self.states):
                s[:n] = z[f"state{i}"][:n]
            self.added = int(meta["added"])
        self.reset_pending()
