"""The maze DQN's model: the maths as plain functions, and the Q-networks (Keras 3 functional models).

The maths (hand-checked in the tests):

* schedules as pure functions of the env step, on scalars or NumPy arrays: epsilon (linear,
  exponential), prioritized replay's beta, and the gradient updates a vector step owes
  (:func:`updates_due`);
* the learning target and loss, written with ``keras.ops`` so that they run on NumPy arrays in the
  tests and are the very functions traced into the agent's compiled update: :func:`dqn_targets`,
  :func:`double_dqn_targets`, :func:`huber`, :func:`td_loss`, and the vin's :func:`passability_loss`.

The Q-networks: an MLP for vector observations, a small CNN for grids and pixel frames (its first
convolution can read one tile per patch: ``network.patch``), and a value iteration network (VIN) for the
maze's walls/agent/goal grid.

Every model starts with ``keras.Input`` of the observation's own shape and dtype (a uint8 grid goes in
as uint8) followed by a ``Rescaling`` layer that casts and scales it, so a saved ``.keras`` file is
self-contained and loads with ``safe_mode=True`` (no lambdas; the custom layers below are registered as
serialisable).

The VIN (``kind: vin``; after Tamar et al. 2016, "Value Iteration Networks") plans instead of
memorising: a CNN or MLP that has seen a few thousand mazes still has to guess on a new one, whereas
value iteration computes, for any maze, how far every tile is from the goal. Its parts:

* maps: 'same' convolutions of the walls and goal planes only (the agent plane is left out, so the maps
  are the same wherever the agent stands) give a reward map and a cost map;
* ``K`` steps of value iteration on the tile grid (:class:`ValueIteration`), one tile per step:
  ``u <- max(u0, -cost + max(u_N, u_E, u_S, u_W))``. The transitions are fixed to the maze's four moves
  (value propagation in log space, as in Nardelli et al. 2019's MVProp) and only what the tiles are
  worth is learned; once walls cost more than any detour this is exactly a shortest-path computation.
  Tamar et al.'s learned 3x3 transition convolution (2 -> Q channels, max over channels) was measured
  here at 590 ms per update for K = 112 on 2 CPU cores, against ~25 ms for this one;
* read-out at the agent's tile (multiply by the agent plane, sum over space, :class:`TileReadout`) of
  the values of the tile and of its four neighbours, turned into per-move features
  (:class:`MoveFeatures`), then one small MLP shared by the four moves, so what it learns about "north"
  holds for every direction.

One step is a pad, four slices and three maxima on a (B, H, W, 1) map, run 4 per trip of a graph loop;
the backward pass is one more propagation (:func:`propagate`). What had to be right for DQN to learn it
on random 7 x 7-cell mazes (each found by a run that failed without it) is written where it is done:
the exact gradient (:func:`propagate`), values in units of moves and the goal as the source at the start
(:class:`ValueIteration`), and features that are differences and do not send the distance's gradient
into the map (:class:`MoveFeatures`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers

from lab.seeding import stream_seed

# --------------------------------------------------------------------------------------------------
# Schedules

_LN100 = math.log(100.0)


def linear_schedule(step, start: float, end: float, duration: int):
    """``start`` at step 0, straight line to ``end`` at ``duration``, ``end`` afterwards."""
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    frac = np.clip(np.asarray(step, dtype=np.float64) / duration, 0.0, 1.0)
    out = start + frac * (end - start)
    return float(out) if np.ndim(out) == 0 else out


def exponential_schedule(step, start: float, end: float, duration: int):
    """``end + (start - end) * 100 ** (-step / duration)``: the gap to ``end`` is 1% of its size at
    ``duration``.

    It never jumps: the value keeps shrinking geometrically towards ``end`` after ``duration``.
    """
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    t = np.maximum(np.asarray(step, dtype=np.float64), 0.0)
    out = end + (start - end) * np.exp(-_LN100 * t / duration)
    return float(out) if np.ndim(out) == 0 else out


def epsilon_at(step, cfg, total_steps: int | None = None):
    """Epsilon at ``step`` for an :class:`agents.dqn.config.EpsilonConfig` (``total_steps`` for
    ``fraction``)."""
    duration = cfg.decay_for(total_steps)
    fn = linear_schedule if cfg.schedule == "linear" else exponential_schedule
    return fn(step, cfg.start, cfg.end, duration)


def beta_at(step, beta0: float, beta_steps: int):
    """Importance-sampling exponent of prioritized replay: ``beta0`` at 0, linearly to 1 at ``beta_steps``."""
    return linear_schedule(step, beta0, 1.0, beta_steps)


def updates_due(steps_before: int, steps_after: int, learning_starts: int, train_freq: int,
                gradient_steps: int) -> int:
    """Gradient updates owed when the env-step counter moves from ``steps_before`` to ``steps_after``.

    ``gradient_steps`` for every multiple of ``train_freq`` in ``(steps_before, steps_after]`` that is at
    least ``learning_starts``. A vector env of N sub-envs advances the counter by N per step, so this can
    be several rounds at once: run them as one fused call,
    ``agent.train_step(buffer.sample(batch_size, n_batches=updates_due(...)))``.
    """
    if train_freq < 1 or gradient_steps < 1:
        raise ValueError(f"train_freq and gradient_steps must be at least 1, got {train_freq} and "
                         f"{gradient_steps}")
    first = max(steps_before + 1, learning_starts)
    if steps_after < first:
        return 0
    return (steps_after // train_freq - (first - 1) // train_freq) * gradient_steps


# --------------------------------------------------------------------------------------------------
# Targets and losses


def dqn_targets(rewards, dones, discounts, q_next_target):
    """``r + discount * (1 - done) * max_a Q_target(s', a)`` (the original DQN target)."""
    ops = keras.ops
    return rewards + discounts * (1.0 - dones) * ops.max(q_next_target, axis=-1)


def double_dqn_targets(rewards, dones, discounts, q_next_online, q_next_target):
    """``r + discount * (1 - done) * Q_target(s', argmax_a Q_online(s', a))`` (van Hasselt et al. 2016).

    ``rewards`` are n-step discounted sums, ``discounts`` are ``gamma ** k`` (k = rewards summed) and
    ``dones`` is 1 where the episode terminated inside the window (no bootstrap).
    """
    ops = keras.ops
    best = ops.expand_dims(ops.argmax(q_next_online, axis=-1), -1)
    q_best = ops.squeeze(ops.take_along_axis(q_next_target, best, axis=-1), -1)
    return rewards + discounts * (1.0 - dones) * q_best


def huber(x, delta: float = 1.0):
    """Elementwise Huber: ``x^2 / 2`` for ``|x| <= delta``, ``delta * (|x| - delta / 2)`` beyond."""
    ops = keras.ops
    a = ops.abs(x)
    quad = ops.minimum(a, delta)
    return 0.5 * quad * quad + delta * (a - quad)


def td_loss(q_taken, targets, weights, delta: float = 1.0):
    """Mean of importance-weighted Huber losses; also returns the TD errors ``targets - q_taken``."""
    ops = keras.ops
    td = targets - q_taken
    return ops.mean(weights * huber(td, delta)), td


# --------------------------------------------------------------------------------------------------
# Q-networks

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


# Planes of the maze's grid observation (envs.maze: walls, agent, goal).
WALLS, AGENT, GOAL = 0, 1, 2
# Name of a vin's map layer: (B, H, W, 2) = reward, passability logit.
MAPS_LAYER = "reward_cost"
# Value of the tiles outside the grid in the propagation: far below any reachable value.
OFF_GRID = -1.0e9


@keras.saving.register_keras_serializable(package=PACKAGE)
class SelectPlanes(layers.Layer):
    """Keeps the given channels of a (B, H, W, C) map, in that order."""

    def __init__(self, planes, **kwargs):
        super().__init__(**kwargs)
        self.planes = [int(p) for p in planes]

    def call(self, inputs):
        return keras.ops.take(inputs, self.planes, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.planes))

    def get_config(self):
        return {**super().get_config(), "planes": self.planes}


def _neighbours(u, fill):
    """(B, H, W, 1) -> four (B, H, W, 1) maps: the value of the N, E, S and W neighbour of every tile
    (``fill`` beyond the border). The order is the maze's action order 0 N, 1 E, 2 S, 3 W."""
    ops = keras.ops
    h, w = u.shape[1], u.shape[2]
    p = ops.pad(u, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=fill)
    return (p[:, 0:h, 1:w + 1], p[:, 1:h + 1, 2:w + 2], p[:, 2:h + 2, 1:w + 1], p[:, 1:h + 1, 0:w])


# Value iteration steps per trip of the graph loop: XLA on CPU runs 4 fused steps per trip about twice as
# fast as 1, and more per trip slower again (measured: 112 steps on 64 grids of 15 x 15, 2.8 ms at 4,
# 6.7 ms at 1, 4.7 ms at 8; all 112 unrolled compile for 90 s and run 100x slower).
STEPS_PER_TRIP = 4


def _repeat(step, x, times: int):
    """``step(x)`` applied ``times`` times in a graph loop with a static trip count."""
    ops = keras.ops
    trips, rest = divmod(int(times), STEPS_PER_TRIP)

    def body(i, v):
        for _ in range(STEPS_PER_TRIP):
            v = step(v)
        return i + 1, v

    if trips:
        _, x = ops.while_loop(lambda i, _: i < trips, body, (ops.convert_to_tensor(0, "int32"), x),
                              maximum_iterations=trips)
    for _ in range(rest):
        x = step(x)
    return x


def propagate(u0, log_p, iterations: int):
    """Max-plus value iteration on (B, H, W, 1) maps: ``iterations`` times
    ``u <- max(u0, log_p + max(u_N, u_E, u_S, u_W))`` from ``u = u0`` (``OFF_GRID`` beyond the border).

    With ``log_p <= 0`` the result is, for every tile, the best over source tiles ``y`` of ``u0[y]`` minus
    the costs ``-log_p`` of the tiles on the way (the tile itself included, the source excluded), over
    routes of at most ``iterations`` moves.

    Its gradient is exact and cheap: at the fixed point each tile's value comes either from its own
    ``u0`` (a source) or from one neighbour (its parent), so the tiles form a forest, ``d u[x] / d u0[y]``
    is 1 when ``y`` is the root of ``x``'s tree and ``d u[x] / d log_p[z]`` is 1 for every non-root
    ``z`` on the way from ``x`` to its root. The backward pass sums the incoming gradient over each
    subtree by passing it to the parents ``iterations`` times: one more propagation, instead of
    differentiating through the loop (whose per-step accumulators cost ~30x the forward pass here).
    """
    ops = keras.ops

    @ops.custom_gradient
    def run(u0, log_p):
        def step(u):
            n, e, s, w = _neighbours(u, OFF_GRID)
            return ops.maximum(u0, log_p + ops.maximum(ops.maximum(n, e), ops.maximum(s, w)))

        u = _repeat(step, u0, iterations)

        def grad(*args, upstream=None):
            g = args[0] if upstream is None else upstream
            nbrs = ops.concatenate(_neighbours(u, OFF_GRID), axis=-1)  # (B, H, W, 4)
            source = ops.cast(u0 >= log_p + ops.max(nbrs, axis=-1, keepdims=True), "float32")
            to_parent = ops.one_hot(ops.argmax(nbrs, axis=-1), 4, dtype="float32") * (1.0 - source)

            def back(acc):
                sent = acc * to_parent  # what each tile passes to its parent, in the parent's direction
                n, e, s, w = _neighbours(sent, 0.0)
                # a tile receives what its south neighbour sent north, its west neighbour sent east, ...
                return g + s[..., 0:1] + w[..., 1:2] + n[..., 2:3] + e[..., 3:4]

            acc = _repeat(back, g, iterations)
            return acc * source, acc * (1.0 - source)

        return u, grad

    return run(u0, log_p)


# Largest exponent of a tile's extra cost: exp(20) ~ 5e8 blocks any route, and stays finite in float32.
MAX_LOG_EXTRA = 20.0


@keras.saving.register_keras_serializable(package=PACKAGE)
class ValueIteration(layers.Layer):
    """``iterations`` steps of max-plus value iteration on the tile grid (:func:`propagate`), in moves.

    Inputs ``[maps (B, H, W, 2), grid (B, H, W, planes)]``: the maps are a learned reward ``r`` and a
    passability logit ``z`` (high: the agent can enter the tile). The reward map is
    ``u0 = r + goal_gain * goal plane``; entering a tile costs one move plus an extra
    ``exp(min(cost_offset - block_gain * z, 20))``. Output (B, H, W, 5) = ``[u_N, u_E, u_S, u_W, u]``: the
    final value of each tile's four neighbours (``OFF_GRID`` beyond the border) and of the tile itself.

    Once ``z`` is high on floors and low on walls, ``goal_gain - u`` is the BFS distance to the goal: the
    one-move unit fixes the scale of the values (otherwise a free gauge, which drifted and wrecked
    policies here), and ``exp`` lets a wall's extra grow by factors (blocking routes of ~100 moves needs
    an extra above 100: ``z = -3`` with ``block_gain`` 2 gives 400). ``goal_gain`` (the builder uses 2 x
    the tiles of the grid, more than any route costs at the start) makes the goal the tile values spread
    from; without it the network has to discover that too and mostly does not (seen here: with a reward
    map that does not single out the goal, values spread from whichever tiles score highest). ``z`` is
    what the agent's passability loss trains (see :mod:`agents.dqn.agent`). Always computed in float32
    (K additions in float16 would lose the one-move differences).
    """

    def __init__(self, iterations: int, goal_gain: float = 1_000.0, cost_offset: float = 0.0,
                 block_gain: float = 2.0, goal_plane: int = GOAL, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if int(iterations) < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.iterations = int(iterations)
        self.goal_gain = float(goal_gain)
        self.cost_offset = float(cost_offset)
        self.block_gain = float(block_gain)
        self.goal_plane = int(goal_plane)

    def call(self, inputs):
        ops = keras.ops
        maps, grid = inputs
        maps = ops.cast(maps, "float32")
        goal = ops.cast(grid[..., self.goal_plane:self.goal_plane + 1], "float32")
        u0 = maps[..., 0:1] + self.goal_gain * goal
        log_extra = ops.minimum(self.cost_offset - self.block_gain * maps[..., 1:2], MAX_LOG_EXTRA)
        u = propagate(u0, -1.0 - ops.exp(log_extra), self.iterations)
        return ops.concatenate([*_neighbours(u, OFF_GRID), u], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], 5)

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "goal_gain": self.goal_gain,
                "cost_offset": self.cost_offset, "block_gain": self.block_gain, "goal_plane": self.goal_plane}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TileReadout(layers.Layer):
    """``[maps (B, H, W, C), grid (B, H, W, planes)] -> (B, C)``: the maps at the tile marked in one plane of
    the grid (the maps times that plane, summed over space: attention on that one tile). With the agent
    plane this is the VIN's read-out at the agent's tile."""

    def __init__(self, plane: int = AGENT, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.plane = int(plane)

    def call(self, inputs):
        ops = keras.ops
        maps, grid = inputs
        mask = ops.cast(grid[..., self.plane:self.plane + 1], "float32")
        return ops.sum(ops.cast(maps, "float32") * mask, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][-1])

    def get_config(self):
        return {**super().get_config(), "plane": self.plane}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MoveFeatures(layers.Layer):
    """``[at agent (B, 5), at goal (B, 5)] -> (B, 4, 2)``, the input of the head shared by the four moves
    (the (B, 5) rows are :class:`ValueIteration`'s ``[u_N, u_E, u_S, u_W, u]`` read at the agent's and at
    the goal's tile).

    For each move: ``symlog(u_a - u)``, the planner's verdict (about +0.7 for a step towards the goal,
    -0.7 for one away from it, far below for a wall; ``symlog(x) = sign(x) log(1 + |x|)`` keeps a
    gradient for walls whose cost is already large, where a clip would stop them learning to block),
    and the agent's value minus the goal's divided by ``scale`` (minus the distance to the goal in units
    of ``scale`` moves). Both are differences, so the head never sees the values' level (a free offset,
    which drifted and wrecked policies here). The distance reaches the head but sends no gradient back
    into the maps: its gradient touches every tile of the way and, measured here, drowned the
    comparisons and drove every cost, walls' too, towards zero."""

    def __init__(self, scale: float = 1.0, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        ops = keras.ops
        agent, goal = inputs
        here = agent[:, 4:5]
        diff = agent[:, 0:4] - here
        step = ops.sign(diff) * ops.log1p(ops.abs(diff))
        distance = ops.repeat(ops.stop_gradient((here - goal[:, 4:5]) / self.scale), 4, axis=1)
        return ops.stack([step, distance], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 4, 2)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


# Logit given to moves off the grid by :func:`move_passability_logits` (they never succeed).
OFF_GRID_LOGIT = -20.0


def move_passability_logits(maps, grid):
    """``[maps (B, H, W, 2) of a vin, grid (B, H, W, planes)] -> (B, 4)``: the passability logit ``z`` of the
    tile each move N, E, S, W of the agent would enter (``OFF_GRID_LOGIT`` beyond the border)."""
    ops = keras.ops
    z = ops.cast(maps[..., 1:2], "float32")
    ahead = ops.concatenate(_neighbours(z, OFF_GRID_LOGIT), axis=-1)  # (B, H, W, 4)
    agent = ops.cast(grid[..., AGENT:AGENT + 1], "float32")
    return ops.sum(ahead * agent, axis=(1, 2))


def passability_loss(maps, obs, next_obs, actions, moved=None):
    """The vin's auxiliary loss: binary cross-entropy between the passability logit of the tile each taken
    move aimed at and whether the agent moved (its plane changed from ``obs`` to ``next_obs``, one step
    later; or ``moved`` (B,) when given, as a pixel vin computes it from the frames, whose ``obs`` are then
    its soft planes). Learned from the agent's own experience, it teaches the planner what blocks a route far
    sooner than TD errors do: their gradient cannot reach a wall that lies on the agent's planned route
    (the values of the agent and of all its neighbours then go through that wall and move together)."""
    ops = keras.ops
    if moved is None:
        agent_now = ops.cast(obs[..., AGENT], "float32")
        agent_next = ops.cast(next_obs[..., AGENT], "float32")
        moved = ops.cast(ops.sum(ops.abs(agent_next - agent_now), axis=(1, 2)) > 0, "float32")
    taken = ops.expand_dims(ops.cast(actions, "int32"), -1)
    logits = ops.squeeze(ops.take_along_axis(move_passability_logits(maps, obs), taken, axis=-1), -1)
    return ops.mean(ops.binary_crossentropy(moved, logits, from_logits=True))


def changed_tiles(obs, next_obs, patch: int):
    """(B, H*p, W*p, C) frames before and after a move -> (B, H, W) float: 1 on the tiles whose pixels changed
    (where the agent was and where it is, when it moved; none when it bumped into a wall)."""
    ops = keras.ops
    d = ops.max(ops.abs(ops.cast(obs, "float32") - ops.cast(next_obs, "float32")), axis=-1)
    rows, cols = d.shape[1] // patch, d.shape[2] // patch
    d = ops.reshape(d, (-1, rows, patch, cols, patch))
    return ops.cast(ops.max(d, axis=(2, 4)) > 0, "float32")


def localisation_loss(planes, next_planes, changed, dones):
    """A pixel vin's self-supervised loss for its soft agent and goal planes (:class:`TilePlanes`), from
    what the frames show, without being told any colour:

    * *the agent is what moves*: on a move that changed the frame, the agent plane of the frame before and
      of the frame after should lie on the changed tiles (the only thing drawn on both is the agent);
    * *the goal is where episodes end*: on a move that ended the episode (``dones``, with n_step 1), the
      goal plane of the frame before should lie on the changed tiles other than the agent's own (the tile
      the agent stepped onto).

    Both are cross-entropies of a distribution over tiles with the changed tiles; the mean of each over the
    transitions it applies to."""
    ops = keras.ops
    eps = 1e-6
    moved = ops.max(changed, axis=(1, 2))
    agent_now, agent_next = planes[..., AGENT], next_planes[..., AGENT]
    agent = -(ops.log(ops.sum(agent_now * changed, axis=(1, 2)) + eps)
              + ops.log(ops.sum(agent_next * changed, axis=(1, 2)) + eps))
    agent = ops.sum(moved * agent) / ops.maximum(ops.sum(moved), 1.0)
    target = changed * (1.0 - ops.stop_gradient(agent_now))
    target = target / (ops.sum(target, axis=(1, 2), keepdims=True) + eps)
    goal = -ops.sum(target * ops.log(planes[..., GOAL] + eps), axis=(1, 2))
    ended = ops.cast(dones, "float32") * moved
    goal = ops.sum(ended * goal) / ops.maximum(ops.sum(ended), 1.0)
    return agent + goal


@keras.saving.register_keras_serializable(package=PACKAGE)
class TilePlanes(layers.Layer):
    """``[agent logits (B, H, W, 1), goal logits (B, H, W, 1)] -> (B, H, W, 3)``: a pixel vin's stand-in for
    the grid's walls/agent/goal planes: zeros, then each logit map as a distribution over the tiles (a
    softmax over space), so the read-outs and the goal source work as on the grid's one-hot planes."""

    def __init__(self, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)

    def call(self, inputs):
        ops = keras.ops
        agent, goal = (ops.cast(x, "float32") for x in inputs)

        def over_space(x):
            flat = ops.reshape(x, (-1, x.shape[1] * x.shape[2]))
            return ops.reshape(ops.softmax(flat, axis=-1), (-1, x.shape[1], x.shape[2], 1))

        return ops.concatenate([ops.zeros_like(agent), over_space(agent), over_space(goal)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], 3)


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
    draws from its own named stream of it), whatever the global Keras seed.
    """
    obs_shape = tuple(int(s) for s in obs_shape)
    kind = resolve_kind(cfg.kind, obs_shape)
    if kind == "cnn" and len(obs_shape) not in (2, 3):
        raise ValueError(f"a cnn needs (H, W) or (H, W, C) observations, got shape {obs_shape}")
    counter = iter(range(1_000))

    def init():  # each layer's initialiser its own stream, "q-network" 0, 1, 2, ...
        return keras.initializers.GlorotUniform(seed=stream_seed(seed, "q-network", next(counter)))

    inputs = keras.Input(obs_shape, dtype=str(np.dtype(obs_dtype)), name="obs")
    x = layers.Rescaling(resolve_scale(cfg.input_scale, obs_high), name="scale")(inputs)
    if kind == "vin":
        return _vin(inputs, x, obs_shape, n_actions, cfg, init, name)
    if kind == "cnn":
        if len(obs_shape) == 2:
            x = layers.Reshape((*obs_shape, 1), name="add_channel")(x)
        for i, filters in enumerate(cfg.conv_filters):
            patch = cfg.patch if i == 0 and cfg.patch else None  # (one feature vector per patch)
            x = layers.Conv2D(filters, patch or cfg.kernel_size, strides=patch or 1,
                              padding="valid" if patch else "same", activation=cfg.activation,
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


# Name of a pixel vin's planes layer (B, H, W, 3): zeros, soft agent plane, soft goal plane.
PLANES_LAYER = "planes"


def tile_grid(cfg, obs_shape) -> tuple[int, int]:
    """(rows, cols) of tiles a vin plans on: the observation's, or a pixel frame's divided by the patch."""
    patch = cfg.patch or 1
    return int(obs_shape[0]) // patch, int(obs_shape[1]) // patch


def vin_iterations(cfg, obs_shape) -> int:
    """K of a vin: the configured one, or rows * cols // 2 of its tile grid (a route through every floor tile
    of a perfect maze on that grid is shorter)."""
    if cfg.vin_iterations is not None:
        return int(cfg.vin_iterations)
    rows, cols = tile_grid(cfg, obs_shape)
    return max(1, rows * cols // 2)


def _pixel_encoder(x, cfg, init):
    """A pixel vin's front: one feature vector per tile (a convolution with kernel = stride = patch) and,
    from it, soft agent and goal planes (:class:`TilePlanes`, taught by :func:`localisation_loss`)."""
    filters = cfg.conv_filters[0] if cfg.conv_filters else 16
    feats = layers.Conv2D(filters, cfg.patch, strides=cfg.patch, activation=cfg.activation,
                          kernel_initializer=init(), name="tile_encoder")(x)
    agent = layers.Conv2D(1, 1, kernel_initializer=init(), dtype="float32", name="agent_logits")(feats)
    goal = layers.Conv2D(1, 1, kernel_initializer=init(), dtype="float32", name="goal_logits")(feats)
    return feats, TilePlanes(name=PLANES_LAYER)([agent, goal])


def _vin(inputs, grid, obs_shape, n_actions, cfg, init, name) -> keras.Model:
    if len(obs_shape) != 3 or obs_shape[-1] != 3:
        raise ValueError(f"a vin needs the maze's grid observations (H, W, 3) = walls/agent/goal planes (or "
                         f"RGB frames with network.patch), got shape {obs_shape}")
    if n_actions != 4:
        raise ValueError(f"a vin scores the 4 moves N, E, S, W; this env has {n_actions} actions")
    if cfg.patch:  # pixels: the planes are learned from the frames
        x, grid = _pixel_encoder(grid, cfg, init)
    else:
        x = SelectPlanes([WALLS, GOAL], name="walls_goal")(grid)
    for i, filters in enumerate(cfg.conv_filters):
        x = layers.Conv2D(filters, cfg.kernel_size, padding="same", activation=cfg.activation,
                          kernel_initializer=init(), name=f"map_conv{i}")(x)
    maps = layers.Conv2D(2, cfg.kernel_size, padding="same", kernel_initializer=init(), dtype="float32",
                         name=MAPS_LAYER)(x)
    k = vin_iterations(cfg, obs_shape)
    rows, cols = tile_grid(cfg, obs_shape)
    tiles = rows * cols
    planned = ValueIteration(k, goal_gain=2.0 * tiles, name="value_iteration")([maps, grid])
    at_agent = TileReadout(AGENT, name="at_agent")([planned, grid])
    at_goal = TileReadout(GOAL, name="at_goal")([planned, grid])
    # (B, 4, 2): the head below is shared by the 4 moves
    x = MoveFeatures(scale=k, name="moves")([at_agent, at_goal])
    for i, units in enumerate(cfg.hidden):
        x = layers.Dense(units, activation=cfg.activation, kernel_initializer=init(), name=f"dense{i}")(x)
    x = layers.Dense(1, kernel_initializer=init(), dtype="float32", name="move_q")(x)
    q = layers.Reshape((n_actions,), dtype="float32", name="q_values")(x)
    return keras.Model(inputs, q, name=name)
