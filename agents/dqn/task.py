"""The ``maze-dqn`` scenario: the maze (``env:``), the agent (``agent:``) and the training loop
(``training:``). No TensorFlow import here (``lab validate`` stays fast)."""

from __future__ import annotations

import warnings

from pydantic import Field, model_validator

from agents.dqn.config import DQNConfig
from envs.maze.config import MazeEnvConfig
from lab.schema import Scenario, Section, Supports

MAX_SEED = 2**32 - 1


class DQNTrainingConfig(Section):
    """Budget, vector env, evaluation and checkpoints of a maze DQN run."""

    env_steps: int = Field(50_000, ge=1, le=100_000_000, description="Training budget in env steps (transitions of all envs together).")
    num_envs: int = Field(8, ge=1, le=4096, description="Mazes stepped at once by the vector env (acting is one batched call).")
    time_limit_seconds: float | None = Field(
        None, gt=0, description="Stop training after this many seconds of training even if env_steps is not reached (null: no limit).")
    eval_every: int = Field(2_000, ge=1, description="Env steps between two greedy evaluations.")
    eval_mazes: int = Field(1, ge=1, le=10_000, description="Evaluation mazes: 1 for a fixed maze; for random mazes, that many "
                            "unseen maze seeds starting at eval_seed_start.")
    eval_seed_start: int | None = Field(
        None, ge=0, description="First maze seed of the evaluation set (default: env.train_maze_seeds' end, so never seen in training).")
    test_mazes: int = Field(
        0, ge=0, le=100_000, description="Random mazes only: after training, evaluate the final policy once on this many "
        "further unseen maze seeds, right after the evaluation set's (never used to stop or to pick anything, so an honest "
        "held-out figure: test_success_rate / test_path_ratio in summary.json); 0: none.")
    stop_after_perfect: int = Field(
        3, ge=0, description="Stop once this many evaluations in a row are perfect (every maze solved at the BFS-optimal length); 0: never.")
    stop_at_success: float | None = Field(
        None, gt=0, le=1, description="Also stop once the success rate reaches this with path ratio <= stop_at_path_ratio (null: off).")
    stop_at_path_ratio: float = Field(1.10, ge=1, description="Path-ratio bound used with stop_at_success.")
    checkpoint_every: int = Field(10_000, ge=1, description="Env steps between two checkpoints (agent, replay buffer, counters).")
    save_replay: bool = Field(True, description="Include the replay buffer in checkpoints, so --resume continues exactly where it was.")


def _check_unseen_seeds(what: str, start: int, end: int, train: tuple[int, int], fix: str, where: str = "") -> None:
    """ValueError when the maze seeds [start, end) overlap the training seeds or pass the largest seed."""
    lo, hi = train
    if start < hi and end > lo:
        raise ValueError(f"{what} [{start}, {end}){where} overlap env.train_maze_seeds [{lo}, {hi}): {fix}")
    if end - 1 > MAX_SEED:
        raise ValueError(f"{what} [{start}, {end}) go past the largest maze seed {MAX_SEED}")


class MazeDQNScenario(Scenario):
    supports = Supports(strategies=("auto", "cpu", "gpu"), xla="always", why="one agent acts and learns on one device",
                        xla_why="measured: XLA cut the CPU time of its fused updates by 40-50%")
    env: MazeEnvConfig = Field(default_factory=MazeEnvConfig, description="The maze (shared by every maze task).")
    agent: DQNConfig = Field(default_factory=DQNConfig, description="The Double-DQN agent.")
    training: DQNTrainingConfig = Field(default_factory=DQNTrainingConfig, description="The training loop and its evaluation.")

    @model_validator(mode="after")
    def _evaluation_fits(self):
        t, env = self.training, self.env
        if env.mazes == "fixed" or env.has_layout:
            if t.eval_mazes != 1:
                raise ValueError(
                    f"training.eval_mazes is {t.eval_mazes}, but env.mazes is fixed: there is only one maze to evaluate "
                    "on; set training.eval_mazes: 1 or env.mazes: random")
            if t.eval_seed_start is not None:
                raise ValueError("training.eval_seed_start is only used with env.mazes: random")
            if t.test_mazes:
                raise ValueError("training.test_mazes is only used with env.mazes: random (a fixed maze has no unseen "
                                 "mazes to test on); set it to 0")
        else:
            lo, hi = env.train_maze_seeds
            start = hi if t.eval_seed_start is None else t.eval_seed_start
            end = start + t.eval_mazes
            _check_unseen_seeds("the evaluation seeds", start, end, (lo, hi),
                                "the agent would be evaluated on mazes it may have trained on; use "
                                f"training.eval_seed_start >= {hi}")
            if t.test_mazes:
                _check_unseen_seeds("the test seeds", end, end + t.test_mazes, (lo, hi),
                                    "move training.eval_seed_start so that both sets lie outside the training seeds",
                                    where=" (right after the evaluation seeds)")
        if t.eval_every > t.env_steps:
            raise ValueError(f"training.eval_every ({t.eval_every}) is larger than training.env_steps ({t.env_steps}): "
                             "the run would never be evaluated")
        if self.agent.learning_starts >= t.env_steps:
            raise ValueError(f"agent.learning_starts ({self.agent.learning_starts}) is not below training.env_steps "
                             f"({t.env_steps}): the agent would never learn")
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
                "potential-based shaping keeps the optimal policy only when its gamma equals the agent's (or is 1 "
                f"with this env's BFS potential); env.rewards.shaping_gamma is {r.shaping_gamma}, agent.gamma is "
                f"{self.agent.gamma}; set them equal",
                UserWarning, stacklevel=2)
        return self

    def eval_seeds(self) -> list[int] | None:
        """Maze seeds of the evaluation set (None: the fixed maze)."""
        if self.env.mazes == "fixed" or self.env.has_layout:
            return None
        start = self.env.train_maze_seeds[1] if self.training.eval_seed_start is None else self.training.eval_seed_start
        return list(range(start, start + self.training.eval_mazes))

    def test_seeds(self) -> list[int]:
        """Maze seeds of the held-out test set: right after the evaluation set's (empty when test_mazes is 0)."""
        seeds = self.eval_seeds()
        if seeds is None or not self.training.test_mazes:
            return []
        return list(range(seeds[-1] + 1, seeds[-1] + 1 + self.training.test_mazes))
