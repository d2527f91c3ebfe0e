"""The ``maze-dqn`` runner: Double DQN collecting from ``MazeVectorEnv``, evaluated greedily on a fixed
set of mazes, with checkpoints, ``--resume`` and metrics; :func:`run` reads top to bottom.

The loop, per vector step of N envs: one batched compiled ``act`` call, one NumPy env step, one replay
``add`` (n-step returns; NEXT_STEP autoreset steps skipped); every ``train_freq`` env steps,
``gradient_steps`` updates fused in one compiled call; evaluation every ``eval_every`` env steps. In
:meth:`Trainer.train` these are ``_collect``, ``_update``, ``_evaluate``, then ``_maybe_checkpoint`` and
``_should_stop``; each evaluation is an :class:`EvalRecord`.

Random streams (:mod:`lab.seeding`, all of the scenario's ``seed``): ``"explore"`` for the epsilon-greedy
draws, ``"replay"`` for the replay buffer's sampling, ``"env-reset"`` (keyed by the env step at which the
envs start: 0, or the checkpoint's step on resume) for the vector env's reset, ``"q-network"`` for the
initial weights (:func:`agents.dqn.model.build_q_network`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from agents.dqn import report
from agents.dqn.agent import AGENT_DIR, CHECKPOINT, FINAL_DIR, REPLAY_FILE, DQNAgent
from agents.dqn.evaluate import Evaluator, baselines
from agents.dqn.live import LiveView
from agents.dqn.memoryless import train_memoryless
from agents.dqn.model import beta_at, epsilon_at, updates_due
from agents.dqn.recurrent import agent_class, load_agent, state_sizes
from agents.dqn.replay import PrioritizedReplayBuffer, ReplayBuffer
from agents.dqn.sequences import SequenceReplay
from agents.dqn.stacking import FrameStack, agent_observation_space
from envs.maze import render as rnd
from envs.maze.make import make_vector_env
from lab.checkpoints import NOT_RESUMABLE, CheckpointStore
from lab.errors import RunError, StopRequested
from lab.runs import CORRUPT_FILE_ERRORS, reading
from lab.seeding import stream, stream_seed

# The figures of an evaluation that metrics.csv and summary.json prefix with ``eval_``.
_EVAL_FIGURES = ("success_rate", "path_ratio", "optimal_share")


def run(cfg, ctx) -> dict:
    """Runner of the ``maze-dqn`` task: train (from the last checkpoint on ``--resume``) until the budget,
    a stopping rule or the time limit; save the final agent; evaluate it on the evaluation mazes and on the
    held-out test mazes; write the report. Returns the figures of ``summary.json``."""
    trainer = Trainer(cfg, ctx, jit_compile=ctx.jit_compile)
    if ctx.resume and trainer.try_resume():
        ctx.log(f"resuming from env step {trainer.env_steps:,} ({trainer.episodes:,} episodes)")
    stop_reason = train_watched(trainer, cfg, ctx)
    trainer.save_checkpoint()
    trainer.agent.save(ctx.run.path / FINAL_DIR, extra={"env_steps": trainer.env_steps})

    final = trainer.evaluate()
    test_seeds = cfg.test_seeds()
    test = Evaluator(cfg.env, test_seeds).run(trainer.agent.greedy_policy()) if test_seeds else None
    walkers = baselines(cfg.env, test_seeds or cfg.eval_seeds(), cfg.training.baselines)
    walkers |= train_memoryless(cfg, trainer.env_steps, test_seeds or cfg.eval_seeds(),
                                lambda variant: Trainer(variant, jit_compile=ctx.jit_compile), ctx.log)
    report.learning_curves(ctx, cfg, trainer.history)
    report.policy_picture(ctx, cfg, trainer.agent, trainer.evaluator.maze_seeds)
    report.final_evaluation(ctx, final, trainer.evaluator.size, test, len(test_seeds), walkers)

    env_steps, seconds = trainer.env_steps, trainer.train_seconds
    summary = {
        **final.as_dict("eval"), "eval_mazes": trainer.evaluator.size,
        "env_steps": env_steps, "episodes": trainer.episodes, "updates": trainer.agent.updates,
        **({} if test is None else {**test.as_dict("test"), "test_mazes": len(test_seeds),
                                    "test_seeds": [test_seeds[0], test_seeds[-1] + 1]}),
        **walkers, "stop_reason": stop_reason,
        "train_seconds": round(seconds, 3),
        "env_steps_per_second": round(env_steps / max(seconds, 1e-9), 1),
    }
    # A path ratio over no solved maze is not measurable: null in summary.json, not NaN (which the driver
    # refuses as a result that went wrong).
    return {k: None if k.endswith(("path_ratio", "mean_steps")) and isinstance(v, float) and math.isnan(v)
            else v for k, v in summary.items()}


@dataclass
class EvalRecord:
    """One greedy evaluation during training: an entry of :attr:`Trainer.history` and a row of metrics.csv.

    ``loss``, ``train_return`` and ``train_success`` average what training did since the previous
    evaluation (NaN when it did nothing of the kind: no update yet, no episode ended).
    """

    env_steps: int
    success_rate: float
    path_ratio: float
    optimal_share: float
    epsilon: float
    loss: float = math.nan
    train_return: float = math.nan
    train_success: float = math.nan
    episodes: int = 0
    updates: int = 0
    train_seconds: float = math.nan

    @property
    def perfect(self) -> bool:
        """Every maze solved at exactly its BFS-optimal length."""
        return self.optimal_share == 1.0

    def as_row(self) -> dict:
        """The record under the names of metrics.csv (and of checkpoints' history): ``env_steps``,
        ``eval_success_rate``, ``eval_path_ratio``, ``eval_optimal_share``, then the other fields."""
        return {f"eval_{k}" if k in _EVAL_FIGURES else k: v for k, v in asdict(self).items()}

    @classmethod
    def from_row(cls, row: dict) -> EvalRecord:
        """Back from :meth:`as_row` (a checkpoint's history); figures the row lacks are NaN."""
        names = {f.name for f in fields(cls)}
        return cls(**{k.removeprefix("eval_"): v for k, v in row.items() if k.removeprefix("eval_") in names})


@dataclass
class _Loop:
    """What one call of :meth:`Trainer.train` keeps that checkpoints do not: the envs' current observations,
    the returns of the episodes in flight and what happened since the last evaluation."""

    obs: np.ndarray
    ep_return: np.ndarray  # (N,) return so far of each env's episode
    resetting: np.ndarray  # (N,) bool: NEXT_STEP autoreset, the next step only resets these envs
    first: np.ndarray  # (N,) bool: the current observation opens an episode (a recurrent state restarts)
    next_eval: int
    next_ckpt: int
    t0: float  # perf_counter() when training started, less the training time of earlier sessions
    epsilon: float  # of the last collect step
    returns: list[float] = field(default_factory=list)  # of the episodes ended since the last evaluation
    successes: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # of the update rounds since the last evaluation

    def seconds(self) -> float:
        return time.perf_counter() - self.t0


def train_watched(trainer, cfg, ctx) -> str:
    """:meth:`Trainer.train` with a progress bar and, when ``ctx.live`` asks for one, the live view (whose
    time-lapse is written also when Esc or Ctrl-C stops the run)."""
    live = open_live_view(cfg, ctx)
    if live is not None:
        live.warm_up(trainer.agent)
    try:
        with ctx.progress(cfg.training.env_steps, f"{cfg.name} (DQN)", unit="step") as bar:
            bar.update(trainer.env_steps)
            stop_reason = trainer.train(bar, live)
    except KeyboardInterrupt:
        if live is not None and trainer.last_loop is not None:
            live.finish(trainer, trainer.last_loop, ctx)
        raise
    finally:
        if live is not None:
            live.close()
    if live is not None:
        live.finish(trainer, trainer.last_loop, ctx)
    return stop_reason


def open_live_view(cfg, ctx) -> LiveView | None:
    """The live view ``ctx.live`` asks for (None: none): a window where there is a display (NoDisplayError
    when one was demanded and there is none), else a time-lapse only."""
    if ctx.live is None:
        return None
    want = ctx.live.window
    window = None
    if want or (want is None and rnd.display_problem() is None):
        rnd.require_display("lab run --live", hint="Run it where there is a display, or without a window "
                            "(--no-window): the time-lapse goes to artifacts/learning.gif.")
        window = rnd.Window(f"lab: {cfg.name} learning", fps=60, max_size=(1280, 900))
    return LiveView(cfg, ctx.live, ctx.run.artifacts, window)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def build_agent(cfg, obs_space, jit_compile: bool) -> DQNAgent:
    high = float(np.max(obs_space.high)) if np.all(np.isfinite(obs_space.high)) else None
    make = agent_class(cfg.agent.network.kind)
    return make(obs_space.shape, 4, cfg.agent, obs_dtype=obs_space.dtype, obs_high=high, seed=cfg.seed,
                jit_compile=jit_compile)


def build_buffer(cfg, obs_space, num_envs: int) -> ReplayBuffer | SequenceReplay:
    r, a = cfg.agent.replay, cfg.agent
    if a.network.kind == "recurrent":
        q = a.sequence
        return SequenceReplay(r.capacity, obs_space.shape, obs_space.dtype, n_envs=num_envs, length=q.length,
                              burn_in=q.burn_in, n_step=a.n_step, gamma=a.gamma,
                              state_sizes=state_sizes(a.network), stored_state=q.stored_state,
                              seed=stream(cfg.seed, "replay"))
    common = dict(n_envs=num_envs, n_step=a.n_step, gamma=a.gamma, seed=stream(cfg.seed, "replay"))
    if r.prioritized:
        return PrioritizedReplayBuffer(r.capacity, obs_space.shape, obs_space.dtype, alpha=r.alpha, eps=r.eps,
                                       **common)
    return ReplayBuffer(r.capacity, obs_space.shape, obs_space.dtype, **common)


class Trainer:
    """Owns the loop; :func:`run` wires it to a run folder (``ctx``; None: no checkpoints, no metrics).
    ``jit_compile``: XLA for the agent's update (a run passes ``ctx.jit_compile``)."""

    def __init__(self, cfg, ctx=None, *, jit_compile: bool):
        self.cfg = cfg
        self.ctx = ctx
        t = cfg.training
        self.envs = make_vector_env(cfg.env, t.num_envs)
        self.obs_space = agent_observation_space(cfg)
        k = cfg.agent.frame_stack  # (frames stacked here, before the agent and the replay see them)
        self.stack = FrameStack(k, t.num_envs, self.envs.single_observation_space.shape,
                                self.obs_space.dtype) if k > 1 else None
        self.agent = build_agent(cfg, self.obs_space, jit_compile)
        self.buffer = build_buffer(cfg, self.obs_space, t.num_envs)
        self.evaluator = Evaluator(cfg.env, cfg.eval_seeds())
        self.rng = stream(cfg.seed, "explore")  # the epsilon-greedy draws
        self.env_steps = 0
        self.episodes = 0
        self.perfect_streak = 0
        self.train_seconds = 0.0
        self.history: list[EvalRecord] = []
        self.reset_seed = stream_seed(cfg.seed, "env-reset", 0)
        self.last_loop: _Loop | None = None  # the state of the last call of train()

    # ---- state for checkpoints ------------------------------------------------------------------
    def state(self) -> dict:
        """The loop's counters, RNG states and history (JSON), saved with the agent in each checkpoint."""
        return {"env_steps": self.env_steps, "episodes": self.episodes, "perfect_streak": self.perfect_streak,
                "train_seconds": self.train_seconds, "history": [r.as_row() for r in self.history],
                "rng": self.rng.bit_generator.state, "buffer_rng": self.buffer.rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        """Put back what :meth:`state` saved; the envs will restart with the seed of :meth:`try_resume`.
        (ValueError, KeyError, TypeError or AttributeError on a state that is not what :meth:`state`
        wrote.)"""
        if (not isinstance(state.get("history"), list) or
                not all(isinstance(r, dict) for r in state["history"])):
            raise ValueError("history is not a list of evaluations")
        self.env_steps = int(state["env_steps"])
        self.episodes = int(state["episodes"])
        self.perfect_streak = int(state["perfect_streak"])
        self.train_seconds = float(state["train_seconds"])
        self.history = [EvalRecord.from_row(row) for row in state["history"]]
        self.rng.bit_generator.state = state["rng"]
        self.buffer.rng.bit_generator.state = state["buffer_rng"]
        self.reset_seed = stream_seed(self.cfg.seed, "env-reset", self.env_steps)

    def save_checkpoint(self) -> None:
        """The agent, the replay buffer (``training.save_replay``) and :meth:`state`, as ONE checkpoint of
        ``checkpoints/`` (:class:`lab.checkpoints.CheckpointStore` named :data:`agents.dqn.agent.CHECKPOINT`):
        the parts are written into a hidden folder and become current together when the manifest ``dqn.json``
        names it, so a kill at any instant leaves the previous checkpoint whole (never a new agent with an old
        buffer)."""
        self.agent.env_steps = self.env_steps
        state = self.state()
        parts = {AGENT_DIR: lambda path: self.agent.save(path, extra={"env_steps": self.env_steps})}
        if self.cfg.training.save_replay:
            state["replay_added"] = self.buffer.added  # checked on resume: the buffer is the one of this step
            parts[REPLAY_FILE] = self.buffer.save
        CheckpointStore(self.ctx.run.checkpoints, CHECKPOINT).save(state, parts)

    def try_resume(self) -> bool:
        """Continue from the run folder's last checkpoint, if it has one (False when it has none).

        Restored: the agent (online and target networks, the optimizer's state, its update counter), the
        replay buffer (when ``training.save_replay``, else it starts empty; its unfinished n-step windows
        are dropped), the counters (env steps, episodes, perfect-evaluation streak, training seconds), the
        acting and replay RNG states and the evaluation history; metrics.csv loses the rows logged after
        the checkpoint. The agent, the buffer and the counters are parts of one checkpoint and are checked
        to belong to the same env step: anything else is a RunError naming the file.

        Not restored: the episodes in flight. The envs start fresh episodes, reset from the stream
        ``"env-reset"`` keyed by the checkpoint's env step, so that a resumed run does not replay the mazes
        and starts of its first episodes. A resumed run is therefore a valid continuation of the interrupted
        one, with the same budget, schedules and evaluation points, but not bit-identical to a run that was
        never interrupted (its transitions from here on differ).
        """
        run = self.ctx.run
        store = CheckpointStore(run.checkpoints, CHECKPOINT)
        checkpoint = store.load()
        if checkpoint is None:
            return False
        state, parts = checkpoint
        if AGENT_DIR not in parts:
            raise RunError(f"{store.manifest}: corrupt checkpoint manifest (no {AGENT_DIR} part); "
                           f"{NOT_RESUMABLE}")
        agent = load_agent(parts[AGENT_DIR], obs_shape=self.obs_space.shape,
                              obs_dtype=self.obs_space.dtype, n_actions=4, jit_compile=self.agent.jit_compile)
        if agent.env_steps != state.get("env_steps"):
            raise RunError(f"{parts[AGENT_DIR]}: the agent is of env step {agent.env_steps}, the checkpoint "
                           f"{store.manifest} of env step {state.get('env_steps')!r}; {NOT_RESUMABLE}")
        if REPLAY_FILE in parts:
            self.buffer.load(parts[REPLAY_FILE])
            if self.buffer.added != state.get("replay_added"):
                raise RunError(f"{parts[REPLAY_FILE]}: the replay buffer holds {self.buffer.added} "
                               f"transitions, the checkpoint {store.manifest} says "
                               f"{state.get('replay_added')!r}; {NOT_RESUMABLE}")
        self.agent = agent
        with reading(store.manifest, "DQN checkpoint state", hint=NOT_RESUMABLE,
                     catch=CORRUPT_FILE_ERRORS + (AttributeError,)):
            self.load_state(state)
        self.ctx.metrics.truncate_after(self.env_steps)
        return True

    # ---- the loop -----------------------------------------------------------------------------------
    def evaluate(self):
        """The greedy policy on the evaluation mazes (an :class:`agents.dqn.evaluate.EvalResult`)."""
        return self.evaluator.run(self.agent.greedy_policy())

    def train(self, progress=None, live: LiveView | None = None) -> str:
        """Collect and learn until the budget of env steps, a stopping rule or the time limit; returns why
        it stopped. ``progress``: a bar (``update(n)``, ``set(**figures)``); ``live``: a
        :class:`agents.dqn.live.LiveView`, ticked after every vector step (when it asks to stop, a
        checkpoint is saved and :class:`lab.errors.StopRequested` raised). Continues from the counters of
        :meth:`try_resume`, if it was called."""
        loop = self.last_loop = self._start()
        stop_reason = None
        while stop_reason is None and self.env_steps < self.cfg.training.env_steps:
            self._collect(loop, progress)
            self._update(loop)
            record = self._evaluate(loop, progress)
            self._maybe_checkpoint(loop)
            stop_reason = self._should_stop(record, loop)
            if live is not None and live.tick(self, loop):
                self._stop_now(loop)
        if not self.history or self.history[-1].env_steps != self.env_steps:
            self.history.append(self._record(loop))  # the time limit struck between two evaluations
        self.train_seconds = loop.seconds()
        return stop_reason or "budget"

    def _stop_now(self, loop: _Loop) -> None:
        """The person watching asked to stop: a checkpoint of this very step, then StopRequested."""
        self.train_seconds = loop.seconds()
        if self.ctx is not None:
            self.save_checkpoint()
        raise StopRequested(f"stopped at env step {self.env_steps:,}")

    def _start(self) -> _Loop:
        """Fresh episodes in every env (on resume too: see :meth:`try_resume`) and the next due steps."""
        t = self.cfg.training
        obs, _ = self.envs.reset(seed=self.reset_seed)
        # n-step windows never join episodes across this reset (matters on resume)
        self.buffer.reset_pending()
        return _Loop(obs=obs, ep_return=np.zeros(t.num_envs), resetting=np.zeros(t.num_envs, dtype=bool),
                     first=np.ones(t.num_envs, dtype=bool),
                     next_eval=(self.env_steps // t.eval_every + 1) * t.eval_every,
                     next_ckpt=(self.env_steps // t.checkpoint_every + 1) * t.checkpoint_every,
                     t0=time.perf_counter() - self.train_seconds,
                     epsilon=epsilon_at(self.env_steps, self.cfg.agent.epsilon, t.env_steps))

    def _collect(self, loop: _Loop, progress) -> None:
        """One epsilon-greedy step of every env into the replay buffer, and the episodes that ended."""
        n = self.cfg.training.num_envs
        loop.epsilon = epsilon_at(self.env_steps, self.cfg.agent.epsilon, self.cfg.training.env_steps)
        recurrent = isinstance(self.buffer, SequenceReplay)
        obs = self.stack.push(loop.obs, loop.first) if self.stack is not None else loop.obs
        actions = (self.agent.act(obs, loop.epsilon, self.rng, first=loop.first) if recurrent else
                   self.agent.act(obs, loop.epsilon, self.rng))
        next_obs, rewards, terminated, truncated, _ = self.envs.step(actions)
        if recurrent:
            self.buffer.add(obs, actions, rewards, next_obs, terminated, truncated, first=loop.first,
                            states=self.agent.acted_states, next_states=self.agent.states,
                            skip=loop.resetting)
        else:
            after = self.stack.peek(next_obs) if self.stack is not None else next_obs
            self.buffer.add(obs, actions, rewards, after, terminated, truncated)
        loop.first = loop.resetting.copy()  # after an autoreset step, the observation opens an episode
        live = ~loop.resetting  # an autoreset step belongs to no episode
        loop.ep_return += np.where(live, rewards, 0.0)
        ended = (terminated | truncated) & live
        if ended.any():
            loop.returns.extend(loop.ep_return[ended].tolist())
            loop.successes.extend(terminated[ended].astype(float).tolist())
            self.episodes += int(ended.sum())
            loop.ep_return[ended] = 0.0
        loop.resetting = terminated | truncated
        loop.obs = next_obs
        self.env_steps += n
        if progress is not None:
            progress.update(n)

    def _update(self, loop: _Loop) -> None:
        """The gradient steps due after the last collect step, fused in one compiled call."""
        a, buffer = self.cfg.agent, self.buffer
        k = updates_due(self.env_steps - self.cfg.training.num_envs, self.env_steps, a.learning_starts,
                        a.train_freq, a.gradient_steps)
        if not k or len(buffer) < a.batch_size:
            return
        batch = buffer.sample(a.batch_size, n_batches=k,
                              beta=beta_at(self.env_steps, a.replay.beta0, a.replay.beta_steps))
        out = self.agent.train_step(batch)
        if buffer.prioritized:
            buffer.update_priorities(batch["indices"], out["td_errors"])
        loop.losses.append(out["loss"])

    def _evaluate(self, loop: _Loop, progress) -> EvalRecord | None:
        """Every ``eval_every`` env steps and at the end of the budget: a greedy evaluation, kept in the
        history and logged (metrics.csv, the progress bar); None when none is due."""
        t = self.cfg.training
        if self.env_steps < loop.next_eval and self.env_steps < t.env_steps:
            return None
        loop.next_eval += t.eval_every
        record = self._record(loop)
        self.history.append(record)
        self.perfect_streak = self.perfect_streak + 1 if record.perfect else 0
        loop.losses.clear()
        loop.returns.clear()
        loop.successes.clear()
        if self.ctx is not None:
            row = record.as_row()
            self.ctx.log_metrics(row.pop("env_steps"), **row)
        if progress is not None:
            progress.set(success=record.success_rate, path_ratio=record.path_ratio, eps=record.epsilon)
        return record

    def _record(self, loop: _Loop) -> EvalRecord:
        """Evaluate the greedy policy now, with the figures of training since the last evaluation."""
        self.train_seconds = loop.seconds()
        result = self.evaluate()
        return EvalRecord(
            env_steps=self.env_steps, success_rate=result.success_rate, path_ratio=result.path_ratio,
            optimal_share=result.optimal_share, epsilon=loop.epsilon, loss=_mean(loop.losses),
            train_return=_mean(loop.returns), train_success=_mean(loop.successes), episodes=self.episodes,
            updates=self.agent.updates, train_seconds=round(self.train_seconds, 3))

    def _maybe_checkpoint(self, loop: _Loop) -> None:
        """Every ``checkpoint_every`` env steps (with a run folder): agent, replay buffer and counters."""
        if self.ctx is None or self.env_steps < loop.next_ckpt:
            return
        loop.next_ckpt += self.cfg.training.checkpoint_every
        self.train_seconds = loop.seconds()
        self.save_checkpoint()

    def _should_stop(self, record: EvalRecord | None, loop: _Loop) -> str | None:
        """Why training stops now (None: it goes on). ``record``: this step's evaluation, if there was one."""
        t = self.cfg.training
        if record is not None:
            if t.stop_after_perfect and self.perfect_streak >= t.stop_after_perfect:
                return f"perfect in {self.perfect_streak} evaluations in a row"
            if (t.stop_at_success is not None and record.success_rate >= t.stop_at_success
                    and record.path_ratio <= t.stop_at_path_ratio):
                return f"success {record.success_rate:.3f} >= {t.stop_at_success}"
        if t.time_limit_seconds is not None and loop.seconds() >= t.time_limit_seconds:
            return f"time limit {t.time_limit_seconds:.0f} s"
        return None
