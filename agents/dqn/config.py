"""The ``maze-dqn`` scenario: the maze (``env:``), the Double-DQN agent (``agent:``) and the training loop
(``training:``).

Pure pydantic, no TensorFlow import (``lab validate`` must stay fast). Every field has a description
and a default that works for small mazes (a few hundred cells, a few thousand to a few tens of
thousands of env steps).

Units: ``learning_starts``, ``train_freq``, ``replay.beta_steps`` and the epsilon schedule count
**env steps** (one transition of one sub-env; a vector step of N envs is N env steps).
``target.every`` counts **gradient updates**, so it means the same whatever ``train_freq`` and the
number of envs are.
"""

from __future__ import annotations

import warnings
from typing import Literal

from pydantic import Field, field_validator, model_validator

from envs.maze.config import MazeEnvConfig
from lab.schema import Activation, Figure, Scenario, Section, Supports, Widths


class NetworkConfig(Section):
    """The Q-network: an MLP for vector observations, a small CNN for (H, W, C) grids, or a value iteration
    network (vin) that plans on the maze's walls/agent/goal planes."""

    kind: Literal["auto", "mlp", "cnn", "vin", "recurrent"] = Field(
        "auto", description="Network type: auto (cnn for 2-D/3-D grid observations, mlp for vectors), mlp, "
        "cnn, vin (value iteration network on the maze's (H, W, 3) walls/agent/goal grid: plans, so it "
        "generalises to unseen mazes), or recurrent (dense layers, then an LSTM or GRU over the episode's "
        "observations: a memory, for windows that show part of the maze; trained on replayed sequences)."
    )
    cell: Literal["lstm", "gru"] = Field("lstm", description="recurrent only: the recurrent cell.")
    units: int = Field(128, ge=1, le=4096, description="recurrent only: the size of the cell's state.")
    previous_action: bool = Field(
        True, description="recurrent only: the network also reads the action taken before each observation "
        "(one-hot, as R2D2 does), so it knows which way it went when exploration overrode its choice.")
    hidden: Widths = Field(
        [256, 256], description="Sizes of the dense hidden layers (after the convolutions for a cnn; the "
        "head after the read-out for a vin)."
    )
    conv_filters: Widths = Field(
        [16, 32], description="Filters of each 'same'-padded convolution of the cnn, or of the vin's "
        "convolutions that turn the walls and goal planes into its reward (and cost) maps (ignored by the "
        "mlp)."
    )
    kernel_size: int = Field(3, ge=1, le=9, description="Side of the square convolution kernels of the cnn "
                                                        "and of the vin's maps.")
    patch: int | None = Field(
        None, ge=1, le=16,
        description="cnn (or vin on pixels): the first convolution reads non-overlapping patches of this "
        "many pixels (kernel = stride = patch), so with env.pixel_tile each tile of a pixel frame becomes "
        "one feature vector (null: env.pixel_tile for pixel observations, no patch layer otherwise).",
    )
    vin_iterations: int | None = Field(
        None, ge=1, le=1_000,
        description="vin only. Value iteration steps K: values travel one tile per step, so K must reach the "
        "longest route from the goal to any start (null: rows * cols // 2, enough for any perfect maze on "
        "the grid, e.g. 112 for 7 x 7 cells).",
    )
    activation: Activation = Field(
        "relu", description="Activation of every hidden layer."
    )
    dueling: bool = Field(False,
                          description="Dueling head: Q = V + A - mean(A) instead of one dense Q layer.")
    input_scale: Literal["auto"] | float = Field(
        "auto",
        description="Observations are multiplied by this before the first layer; auto divides by the "
        "observation space's upper bound when it is above 1 (e.g. 1/255 for 0..255 images), else 1.",
    )

    @model_validator(mode="after")
    def _vin_has_no_dueling_head(self):
        if self.kind == "vin" and self.dueling:
            raise ValueError("dueling does not apply to a vin: its head scores each move from that move's "
                             "neighbour value, one small head shared by the 4 actions; set dueling: false")
        return self


    @field_validator("input_scale")
    @classmethod
    def _positive_scale(cls, value):
        if value != "auto" and not value > 0:
            raise ValueError(f"must be 'auto' or a positive number, got {value}")
        return value


class ReplayConfig(Section):
    """The replay buffer: uniform or prioritized (proportional, sum-tree)."""

    capacity: int = Field(50_000, ge=1,
                          description="Transitions kept; the oldest are overwritten (ring buffer).")
    prioritized: bool = Field(False, description="Prioritized replay: sample transitions in proportion to "
                                                 "|TD error|^alpha.")
    alpha: float = Field(0.6, ge=0.0, le=1.0,
                         description="Prioritization exponent: 0 is uniform, 1 fully proportional.")
    beta0: float = Field(0.4, ge=0.0, le=1.0,
                         description="Importance-sampling exponent at the start; annealed linearly to 1.")
    beta_steps: int = Field(50_000, ge=1, description="Env steps over which beta goes from beta0 to 1.")
    eps: float = Field(1e-6, gt=0.0, le=1.0,
                       description="Added to |TD error| so that no transition gets priority 0 (at most 1).")


class TargetConfig(Section):
    """How the target network follows the online network."""

    update: Literal["hard", "soft"] = Field(
        "hard", description="hard: copy the online weights every `every` updates; soft: Polyak-average with "
                            "`tau` after every update."
    )
    every: int = Field(250, ge=1, description="Hard updates: gradient updates between two copies.")
    tau: float = Field(0.005, gt=0.0, le=1.0, description="Soft updates: target <- tau * online + (1 - tau) "
                                                          "* target after each update.")


class EpsilonConfig(Section):
    """Epsilon-greedy exploration over env steps."""

    schedule: Literal["linear", "exponential"] = Field(
        "linear",
        description="linear: straight line from start to end over decay_steps; exponential: the gap to end "
        "shrinks by e every decay_steps / ln(100) steps, i.e. to 1% of it at decay_steps.",
    )
    start: float = Field(1.0, ge=0.0, le=1.0, description="Epsilon at env step 0.")
    end: float = Field(0.05, ge=0.0, le=1.0, description="Epsilon after the decay (kept from then on).")
    decay_steps: int = Field(10_000, ge=1, description="Env steps of the decay (when `fraction` is not set).")
    fraction: float | None = Field(
        None, gt=0.0, le=1.0,
        description="When set, decay over this fraction of the training budget instead of decay_steps."
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


class SequenceConfig(Section):
    """recurrent networks only: how replay cuts each env's stream of steps into sequences (R2D2,
    Kapturowski et al. 2019): each sequence starts from the recurrent state the agent had when it acted,
    unrolls ``burn_in`` steps without learning from them (the state catches up with the weights of now),
    then learns on ``length`` steps, and looks ``n_step`` steps further for their targets."""

    length: int = Field(20, ge=1, le=1000, description="Steps learned from per sequence (a new sequence "
                                                      "every `length` steps of an env).")
    burn_in: int = Field(10, ge=0, le=1000, description="Steps unrolled before them, without gradient.")
    stored_state: bool = Field(True, description="Start each sequence from the state stored when acting "
                                                 "(false: from zeros, as DRQN did).")


class DQNConfig(Section):
    """Double DQN with n-step returns, optional prioritized replay and a dueling head."""

    network: NetworkConfig = Field(default_factory=NetworkConfig, description="The Q-network.")
    replay: ReplayConfig = Field(default_factory=ReplayConfig, description="The replay buffer.")
    target: TargetConfig = Field(default_factory=TargetConfig, description="Target network updates.")
    sequence: SequenceConfig = Field(default_factory=SequenceConfig,
                                     description="recurrent only: replayed sequences (R2D2).")
    epsilon: EpsilonConfig = Field(default_factory=EpsilonConfig,
                                   description="Epsilon-greedy exploration schedule.")
    frame_stack: int = Field(
        1, ge=1, le=16, description="mlp or cnn: the network reads the last k observations of the episode "
        "side by side (zeros before its start): a short memory without recurrence; 1: the observation alone.")
    gamma: float = Field(0.99, ge=0.0, lt=1.0, description="Discount factor, in [0, 1).")
    n_step: int = Field(3, ge=1, le=100,
                        description="Steps summed in each return before bootstrapping (1 = plain DQN).")
    double_dqn: bool = Field(True, description="Double DQN: the online net picks the next action, the target "
                                               "net values it.")
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    adam_epsilon: float = Field(1e-7, gt=0.0, le=1.0,
                                description="Adam's epsilon (numerical stability term; above 0, at most 1).")
    batch_size: int = Field(64, ge=1, description="Transitions per gradient update.")
    learning_starts: int = Field(1_000, ge=0, description="Env steps collected before the first update.")
    train_freq: int = Field(4, ge=1,
                            description="Env steps between two rounds of updates (counted over all envs).")
    gradient_steps: int = Field(1, ge=1,
                                description="Gradient updates per round (fused into one compiled call).")
    huber_delta: float = Field(1.0, gt=0.0,
                               description="Huber loss threshold: quadratic below it, linear above.")
    max_grad_norm: float | None = Field(10.0, gt=0.0, description="Clip the global gradient norm to this "
                                                                  "(null: no clipping).")
    localisation_loss: float = Field(
        1.0, ge=0.0,
        description="vin on pixels only: weight of the self-supervised loss that teaches its agent and goal "
        "planes from the frames (the agent is what moves; the goal is where episodes end).",
    )
    passability_loss: float = Field(
        1.0, ge=0.0,
        description="vin only: weight of the auxiliary loss that teaches the planner's passability map from "
        "the agent's own moves (a move that left the agent where it was hit something: its target tile is "
        "blocked). Needs n_step 1 (a move's own outcome). 0 turns it off.",
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
    def _recurrent_settings_fit(self):
        recurrent = self.network.kind == "recurrent"
        if recurrent and self.replay.prioritized:
            raise ValueError("a recurrent network replays sequences uniformly: set replay.prioritized: false")
        if self.frame_stack > 1 and self.network.kind in ("recurrent", "vin"):
            raise ValueError(f"frame_stack {self.frame_stack} is a feed-forward network's memory; a "
                             f"{self.network.kind} network reads one observation per step: set "
                             f"frame_stack: 1")
        if recurrent and self.network.dueling:
            raise ValueError("a recurrent network has one Q head: set network.dueling: false")
        if not recurrent:
            # (compared with the defaults: a run folder's scenario.yaml writes every field out)
            net = {f"network.{k}" for k in ("cell", "units", "previous_action")
                   if getattr(self.network, k) != NetworkConfig.model_fields[k].default}
            changed = sorted(net | {f"sequence.{k}" for k, v in self.sequence if v !=
                                    SequenceConfig.model_fields[k].default})
            if changed:
                raise ValueError(f"{', '.join(changed)}: settings of a recurrent network, and this one is a "
                                 f"{self.network.kind}: set network.kind: recurrent, or remove them")
        return self

    @model_validator(mode="after")
    def _batch_fits(self):
        if self.batch_size > self.replay.capacity:
            raise ValueError(
                f"batch_size ({self.batch_size}) is larger than replay.capacity ({self.replay.capacity}): "
                f"a batch is drawn from the buffer, so raise replay.capacity or lower batch_size"
            )
        return self


MAX_SEED = 2**32 - 1


class DQNTrainingConfig(Section):
    """Budget, vector env, evaluation and checkpoints of a maze DQN run."""

    env_steps: int = Field(50_000, ge=1, le=100_000_000,
                           description="Training budget in env steps (transitions of all envs together).")
    num_envs: int = Field(8, ge=1, le=4096,
                          description="Mazes stepped at once by the vector env (acting is one batched call).")
    time_limit_seconds: float | None = Field(
        None, gt=0, description="Stop training after this many seconds of training even if env_steps is not "
                                "reached (null: no limit).")
    eval_every: int = Field(2_000, ge=1, description="Env steps between two greedy evaluations.")
    eval_mazes: int = Field(1, ge=1, le=10_000, description="Evaluation mazes: 1 for a fixed maze; for "
                            "random mazes, that many unseen maze seeds starting at eval_seed_start.")
    eval_seed_start: int | None = Field(
        None, ge=0, description="First maze seed of the evaluation set (default: env.train_maze_seeds' end, "
                                "so never seen in training).")
    test_mazes: int = Field(
        0, ge=0, le=100_000, description="Random mazes only: after training, evaluate the final policy once "
        "on this many further unseen maze seeds, right after the evaluation set's (never used to stop or to "
        "pick anything, so an honest held-out figure: test_success_rate / test_path_ratio in summary.json); "
        "0: none.")
    baselines: list[Literal["random", "wall_follower", "frontier", "optimum", "feedforward",
                            "frame_stack"]] = (
        Field([], description="References played after training on the same mazes as the final agent (the "
              "test mazes, else the evaluation mazes). Walkers that learn nothing: random (a random walk), "
              "wall_follower (right hand), frontier (remembers what its local_size window showed, walks to "
              "the nearest unseen tile), optimum (BFS with the map). A recurrent network's own layers "
              "without its memory, trained in this run for as many env steps: feedforward (the window "
              "alone), frame_stack (the last 4 windows). summary.json gets baseline_<name>_success_rate "
              "and _mean_steps."))
    stop_after_perfect: int = Field(
        3, ge=0, description="Stop once this many evaluations in a row are perfect (every maze solved at the "
                             "BFS-optimal length); 0: never.")
    stop_at_success: float | None = Field(
        None, gt=0, le=1, description="Also stop once the success rate reaches this with path ratio <= "
                                      "stop_at_path_ratio (null: off).")
    stop_at_path_ratio: float = Field(1.10, ge=1, description="Path-ratio bound used with stop_at_success.")
    checkpoint_every: int = Field(10_000, ge=1, description="Env steps between two checkpoints (agent, "
                                                            "replay buffer, counters).")
    save_replay: bool = Field(True, description="Include the replay buffer in checkpoints, so --resume "
                                                "continues exactly where it was.")


def _check_unseen_seeds(what: str, start: int, end: int, train: tuple[int, int], fix: str,
                        where: str = "") -> None:
    """ValueError when the maze seeds [start, end) overlap the training seeds or pass the largest seed."""
    lo, hi = train
    if start < hi and end > lo:
        raise ValueError(f"{what} [{start}, {end}){where} overlap env.train_maze_seeds [{lo}, {hi}): {fix}")
    if end - 1 > MAX_SEED:
        raise ValueError(f"{what} [{start}, {end}) go past the largest maze seed {MAX_SEED}")


class MazeDQNScenario(Scenario):
    """A ``task: maze-dqn`` scenario: the maze, the agent, the training loop and its evaluation sets."""

    supports = Supports(strategies=("auto", "cpu", "gpu"), xla="always",
                        why="one agent acts and learns on one device",
                        xla_why="measured: XLA cut the CPU time of its fused updates by 40-50%")
    figures = {
        "eval_success_rate": Figure("higher", "eval_success_rate"),
        "eval_path_ratio": Figure("lower", "eval_path_ratio"),
        "test_success_rate": Figure("higher", "eval_success_rate"),
        "test_path_ratio": Figure("lower", "eval_path_ratio"),
        "env_steps": Figure("lower"),
    }
    env: MazeEnvConfig = Field(default_factory=MazeEnvConfig,
                               description="The maze (shared by every maze task).")
    agent: DQNConfig = Field(default_factory=DQNConfig, description="The Double-DQN agent.")
    training: DQNTrainingConfig = Field(default_factory=DQNTrainingConfig,
                                        description="The training loop and its evaluation.")

    @model_validator(mode="after")
    def _evaluation_fits(self):
        t, env = self.training, self.env
        if env.mazes == "fixed" or env.has_layout:
            if t.eval_mazes != 1:
                raise ValueError(
                    f"training.eval_mazes is {t.eval_mazes}, but env.mazes is fixed: there is only one maze "
                    f"to evaluate on; set training.eval_mazes: 1 or env.mazes: random")
            if t.eval_seed_start is not None:
                raise ValueError("training.eval_seed_start is only used with env.mazes: random")
            if t.test_mazes:
                raise ValueError("training.test_mazes is only used with env.mazes: random (a fixed maze has "
                                 "no unseen mazes to test on); set it to 0")
        else:
            lo, hi = env.train_maze_seeds
            start = hi if t.eval_seed_start is None else t.eval_seed_start
            end = start + t.eval_mazes
            _check_unseen_seeds("the evaluation seeds", start, end, (lo, hi),
                                "the agent would be evaluated on mazes it may have trained on; use "
                                f"training.eval_seed_start >= {hi}")
            if t.test_mazes:
                _check_unseen_seeds("the test seeds", end, end + t.test_mazes, (lo, hi),
                                    "move training.eval_seed_start so that both sets lie outside the "
                                    "training seeds",
                                    where=" (right after the evaluation seeds)")
        if t.eval_every > t.env_steps:
            raise ValueError(f"training.eval_every ({t.eval_every}) is larger than training.env_steps "
                             f"({t.env_steps}): the run would never be evaluated")
        if self.agent.learning_starts >= t.env_steps:
            raise ValueError(f"agent.learning_starts ({self.agent.learning_starts}) is not below "
                             f"training.env_steps ({t.env_steps}): the agent would never learn")
        return self

    @model_validator(mode="after")
    def _network_baselines_need_a_memory(self):
        named = [n for n in self.training.baselines if n in ("feedforward", "frame_stack")]
        if named and self.agent.network.kind != "recurrent":
            raise ValueError(f"training.baselines {', '.join(named)}: a recurrent network's layers without "
                             f"its memory, and this network is a {self.agent.network.kind}: set "
                             f"agent.network.kind: recurrent, or remove {', '.join(named)}")
        return self

    @model_validator(mode="after")
    def _patch_fits_the_frame(self):
        """Pixel frames: a cnn's patch defaults to the tile's pixels and must tile the frame."""
        net, env = self.agent.network, self.env
        if net.patch is not None and net.kind == "mlp":
            raise ValueError("agent.network.patch is for a cnn or a vin on pixels; an mlp has no patch "
                             "layer: remove patch, or set network.kind: cnn")
        if net.patch is not None and net.kind == "vin" and env.observation != "pixels":
            raise ValueError("agent.network.patch: a vin reads patches of pixel frames only; remove it, or "
                             "set env.observation: pixels")
        if env.observation != "pixels":
            return self
        if net.patch is None and net.kind in ("auto", "cnn", "vin"):
            net.patch = env.pixel_tile
        if net.kind == "vin" and net.patch != env.pixel_tile:
            raise ValueError(f"a vin on pixels reads one tile per patch: set agent.network.patch to "
                             f"env.pixel_tile ({env.pixel_tile}), or leave it out")
        if net.patch is not None and env.pixel_tile % net.patch:
            raise ValueError(f"agent.network.patch {net.patch} does not divide env.pixel_tile "
                             f"{env.pixel_tile}: patches would straddle tiles; use {env.pixel_tile} (one "
                             f"tile per patch) or one of its divisors")
        return self

    @model_validator(mode="after")
    def _shaping_matches_the_discount(self):
        """Potential-based shaping F = scale * (gamma_s * phi(s') - phi(s)) keeps the optimal policy when
        gamma_s is the agent's discount (Ng, Harada & Russell 1999): the env's shaping terms then telescope
        under the agent's discounting. gamma_s = 1 is also safe with this env's potential (minus the BFS
        distance): F is then +scale for a step towards the goal and -scale (or 0 into a wall) otherwise,
        so the shortest route earns the largest reward at every step and reaches the goal first, which
        keeps it optimal for any agent discount (and F telescopes exactly over an episode). The shipped
        maze scenarios use 1.0: with 0.99 the far side of big mazes paid agents to step away and back.
        Any other gamma_s is allowed, but the guarantee is gone, so the user is told."""
        r = self.env.rewards
        if r.shaping and r.shaping_gamma not in (self.agent.gamma, 1.0):
            warnings.warn(
                "potential-based shaping keeps the optimal policy only when its gamma equals the agent's (or "
                f"is 1 with this env's BFS potential); env.rewards.shaping_gamma is {r.shaping_gamma}, "
                f"agent.gamma is {self.agent.gamma}; set them equal",
                UserWarning, stacklevel=2)
        return self

    def eval_seeds(self) -> list[int] | None:
        """Maze seeds of the evaluation set (None: the fixed maze)."""
        if self.env.mazes == "fixed" or self.env.has_layout:
            return None
        start = (self.env.train_maze_seeds[1] if self.training.eval_seed_start is None
                 else self.training.eval_seed_start)
        return list(range(start, start + self.training.eval_mazes))

    def test_seeds(self) -> list[int]:
        """Maze seeds of the held-out test set: right after the evaluation set's (empty when test_mazes is
        0)."""
        seeds = self.eval_seeds()
        if seeds is None or not self.training.test_mazes:
            return []
        return list(range(seeds[-1] + 1, seeds[-1] + 1 + self.training.test_mazes))
