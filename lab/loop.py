"""The shared epoch loop: what every epoch-based task repeats, written once.

A runner of an epoch-based task (autoencoder, VAE, RBM, classifiers, language models) reads::

    t = cfg.training                                     # a lab.schema.EpochTraining section
    loop = EpochLoop(ctx, "vae", t, seed=cfg.seed, terms=vae_terms)
    model = loop.restore(build=make_and_compile)        # the checkpoint's model on --resume
    for epoch in loop:                                   # epoch.index (0-based), epoch.number, epoch.rng
        train = loop.fit((x_epoch,), t.batch_size)       # Keras fit, or the multi-worker loop
        test = loop.evaluate((x_test,), 1000)
        loop.end_epoch({"loss": train["loss"], "test_elbo": test["elbo"]}, show=("loss", "test_elbo"))
    summary.update(loop.finish())                        # timing figures (and early stopping's)

What the loop owns, so that no task writes it again:

* **the epoch counter and resume**: :meth:`restore` loads the last checkpoint's model (with its
  optimizer state: ``.keras`` files carry it) and the loop's state when the run is resumed, or calls
  ``build()``; iteration continues after the checkpoint's epoch; rows of ``metrics.csv`` logged after
  that checkpoint (epochs that ran but were never checkpointed) are dropped, so the file reads as if
  the run had never stopped.
* **a random generator per epoch**, the named stream ``lab.seeding.stream(seed, "<name>/epoch",
  *rng_key, epoch)``: it depends only on the seed and the epoch, so a resumed run draws the same
  shuffles and noise as one that never stopped, and the two end with the same numbers (the tests check
  it for every task). The same holds inside the model: at the start of every epoch the state of each
  Keras ``SeedGenerator`` (dropout, random flips and crops...) is set from the stream
  ``"<name>/layers"`` — ``.keras`` files do not save those states, so without this a resumed run would
  draw other dropout masks.
* **one or many workers**: :meth:`fit` and :meth:`evaluate` run Keras ``fit`` / ``evaluate`` in one
  process, and under ``strategy: multi-worker`` (where Keras 3's ``fit`` fails) the custom loop of
  :class:`lab.distributed.ReplicaTrainer` on the task's per-example ``terms``: the loop creates it,
  gives every worker the chief's weights after :meth:`restore`, gives each worker its own random
  streams per epoch and makes the chief's decision to stop everybody's.
* **checkpoints** every ``checkpoint_every`` epochs and after the last one: the model, the loop's
  state, the task's JSON ``extra`` and any files the task registers in ``parts`` — one atomic unit
  (:mod:`lab.checkpoints`).
* **the progress bar** (epochs, with the figures named in ``show``), **timing figures**
  (``train_seconds``, ``train_cpu_seconds``, ``epoch_seconds``, ``samples_per_second``: time spent in
  :meth:`timed` blocks only, summed over resumes), **the time limit** (``time_limit_seconds``: no
  epoch starts that would pass it, judged by the mean epoch) and **a NaN guard**: a figure that is NaN
  or infinite stops the run with a :class:`TrainingError` naming the figure and the epoch (the last
  checkpoint, from before it, stays).
* **early stopping** (:class:`EarlyStopping`): the best epoch of a monitored figure, its weights kept
  (and checkpointed), training stopped after ``patience`` epochs without improvement, the best
  weights restored by :meth:`finish`.
* **Ctrl-C**: a ``KeyboardInterrupt`` leaves the last checkpoint whole; the loop says which epoch a
  resume starts after, and the driver marks the run ``interrupted``.

Tests interrupt a run at a chosen point by replacing :func:`after_checkpoint` (the fixture
``interrupt_after`` in ``tests/conftest.py`` does it): it is called after every checkpoint with the
loop and the epoch number just saved, and raising ``KeyboardInterrupt`` there is exactly a Ctrl-C
between two epochs.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lab.checkpoints import NOT_RESUMABLE, CheckpointStore, Writer
from lab.distributed import ReplicaTrainer, transplant
from lab.errors import RunError, TrainingError
from lab.runs import KERAS_LOAD_ERRORS, reading
from lab.seeding import reseed_generators, stream

MODEL_PART = "model.keras"
BEST_PART = "best_weights.npz"  # the model's weights only (an .h5 would carry the optimizer's too)


def after_checkpoint(loop: EpochLoop, epoch: int) -> None:
    """Called after every checkpoint with the epoch number just saved. Does nothing; tests replace it
    to interrupt a run at a chosen point (``raise KeyboardInterrupt`` = Ctrl-C between epochs)."""


@dataclass
class EarlyStopping:
    """Keep the best epoch of ``monitor``; stop after ``patience`` epochs without improvement."""

    monitor: str
    mode: Literal["min", "max"] = "min"
    patience: int | None = None  # None: never stop early, only keep (and restore) the best weights
    min_delta: float = 0.0
    restore_best: bool = True

    def improved(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best - self.min_delta if self.mode == "min" else value > best + self.min_delta


@dataclass
class Epoch:
    index: int  # 0-based
    rng: np.random.Generator

    @property
    def number(self) -> int:
        """1-based: the epoch's row in metrics.csv (plus the loop's step offset)."""
        return self.index + 1


@dataclass
class LoopState:
    """What a checkpoint records about the loop itself (the task's own state goes in ``extra``)."""

    stage: str = ""
    epoch: int = 0  # epochs finished
    train_seconds: float = 0.0
    train_cpu_seconds: float = 0.0
    samples: int = 0
    best_value: float | None = None
    best_epoch: int = 0
    best_seconds: float = 0.0
    stopped_early: bool = False
    stop_reason: str = ""  # why training ended before `epochs` (early stopping, a time limit...)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict, source: Path) -> LoopState:
        """The state a checkpoint manifest recorded; a RunError naming the manifest when it is not what
        :meth:`EpochLoop.checkpoint` writes (unknown or missing fields, a field of the wrong type)."""
        def bad(why: str) -> RunError:
            return RunError(f"{source}: corrupt loop state in the checkpoint manifest ({why}); this run "
                            f"cannot be resumed (start it again)")

        if not isinstance(data, dict):
            raise bad("not a mapping")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise bad(f"unknown field {unknown[0]!r}")
        for name, value in data.items():
            kinds = _STATE_TYPES[name]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise bad(f"{name} is {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise bad(f"{name} is {value!r}")
            if isinstance(value, int) and not isinstance(value, bool) and value < 0 and name != "best_value":
                raise bad(f"{name} is {value!r}")
        return cls(**data)


_STATE_TYPES: dict[str, tuple[type, ...]] = {
    "stage": (str,), "epoch": (int,), "train_seconds": (int, float), "train_cpu_seconds": (int, float),
    "samples": (int,), "best_value": (int, float, type(None)), "best_epoch": (int,),
    "best_seconds": (int, float), "stopped_early": (bool,), "stop_reason": (str,), "extra": (dict,),
}


class EpochLoop:
    """One task's epochs: see the module docstring.

    Args:
        ctx: the runner's :class:`~lab.context.RunContext`.
        name: names the checkpoint (``checkpoints/<name>.json``), the progress bar and the random streams.
        training: the task's :class:`lab.schema.EpochTraining` section: ``epochs`` (in all, resumed runs
            included), ``checkpoint_every`` (the last epoch is always checkpointed) and
            ``time_limit_seconds``.
        seed: the scenario's seed (per-epoch generators).
        stage: for runners with several loops in a row under one name (folds): a checkpoint of another
            stage is not resumed from.
        rng_key: extra whole numbers of the per-epoch streams (e.g. the fold).
        step_offset: added to the epoch number for metrics.csv rows (e.g. fold x epochs).
        early_stopping: keep the best epoch of a figure and stop when it stops improving.
        describe: text of the progress bar (default: ``name``).
        reseed: set the model's Keras seed generators from ``(seed, epoch)`` at the start of each epoch
            (off for a model that keeps its random state in its own weights, like the RBM).
        terms: ``terms(model, batch, training) -> {name: per-example float32 tensor}`` for
            :meth:`fit` and :meth:`evaluate` under ``strategy: multi-worker`` (see
            :class:`lab.distributed.ReplicaTrainer`); tasks that do not give it refuse that strategy.
    """

    def __init__(self, ctx, name: str, training, *, seed: int, stage: str = "", rng_key: tuple[int, ...] = (),
                 step_offset: int = 0, early_stopping: EarlyStopping | None = None,
                 describe: str | None = None, reseed: bool = True, terms: Callable | None = None):
        self.ctx = ctx
        self.name = name
        self.epochs = int(training.epochs)
        self.checkpoint_every = max(1, int(training.checkpoint_every))
        self.time_limit = training.time_limit_seconds
        self.seed = int(seed)
        self.stage = stage
        self.rng_key = tuple(rng_key)
        self.step_offset = int(step_offset)
        self.early_stopping = early_stopping
        self.describe = describe or name
        self.reseed = reseed
        self.terms = terms
        self.trainer: ReplicaTrainer | None = None
        self.store = CheckpointStore(ctx.run.checkpoints, name)
        self.state = LoopState(stage=stage)
        self.model = None
        self.files: dict[str, Path] = {}  # the parts of the checkpoint resumed from
        self.parts: dict[str, Writer] = {}  # the task's extra files, written at every checkpoint
        self.resumed = False
        self._best_weights: list | None = None
        self._best_file: Path | None = None
        self._bar = None
        self._open_epoch: int | None = None
        self._last_checkpoint = 0

    # the task's own JSON state, saved with every checkpoint ---------------------------------------
    @property
    def extra(self) -> dict:
        return self.state.extra

    # resume ----------------------------------------------------------------------------------------
    def restore(self, build: Callable[[], Any], load: Callable[[Path], Any] | None = None):
        """The model to train: on ``--resume`` the last checkpoint's (``load(path)``, by default
        ``keras.models.load_model(path, safe_mode=True)``), else ``build()``. Both run in the strategy's
        scope. Under ``multi-worker`` every worker then holds the chief's weights and loop state.
        Returns the model (also kept as ``loop.model``)."""
        checkpoint = self.store.load() if self.ctx.resume else None
        usable = (checkpoint is not None and checkpoint[0].get("stage", "") == self.stage and
                  MODEL_PART in checkpoint[1])
        # Under multi-worker, creating variables in the strategy's scope is collective: a checkpoint (the
        # chief's alone) is loaded outside it and copied into a model every worker builds inside it.
        saved = _load(load, checkpoint[1][MODEL_PART]) if usable and self.ctx.multi_worker else None
        with self.ctx.model_scope():
            self.model = self._resume(checkpoint, build, load, saved) if usable else build()
        if self.ctx.resume:
            self.ctx.metrics.truncate_after(self.step_offset + self.state.epoch)
        if self.ctx.multi_worker:
            if self.terms is None:
                raise RuntimeError(f"{self.name}: multi-worker training needs the task's per-example terms")
            self.trainer = ReplicaTrainer(self.ctx.strategy, self.model, self.terms)
            self.trainer.sync_from_chief(self)
        return self.model

    def _resume(self, checkpoint, build, load, saved):
        state, files = checkpoint
        self.state = LoopState.from_dict(state, self.store.manifest)
        self.files = files
        if saved is not None:
            model = build()
            transplant(saved, model)
        else:
            model = _load(load, files[MODEL_PART])
        self.resumed = True
        self._last_checkpoint = self.state.epoch
        if BEST_PART in files:
            self._best_file = files[BEST_PART]
            self._best_weights = _read_weights(files[BEST_PART])
        self.ctx.log(f"{self.describe}: resuming after epoch {self.state.epoch} of {self.epochs}")
        return model

    # the epochs ------------------------------------------------------------------------------------
    def stream(self, name: str, epoch: int, *keys: int) -> np.random.Generator:
        """The named stream ``<loop name>/<name>`` of ``epoch`` (0-based): for what an epoch draws besides
        :attr:`Epoch.rng` (which is ``stream("epoch", epoch)``)."""
        return stream(self.seed, f"{self.name}/{name}", *self.rng_key, epoch, *keys)

    @property
    def done(self) -> bool:
        return self.state.epoch >= self.epochs or bool(self.state.stop_reason)

    def stop(self, reason: str) -> None:
        """End training after the current epoch (call it after ``end_epoch``); ``reason`` goes in
        summary.json. The stop is checkpointed, so a resumed run does not train on."""
        if not self.state.stop_reason:
            self.state.stop_reason = reason
            self.ctx.log(f"{self.describe}: stopping after epoch {self.state.epoch}: {reason}")
            self.checkpoint()  # with the reason: a resumed run must not train on

    def _time_is_up(self) -> str:
        """Why to stop now: another epoch, as long as the mean one so far, would take the training time past
        the time limit ("" when there is none, or time is left)."""
        if self.time_limit is None or not self.state.epoch:
            return ""
        per_epoch = self.state.train_seconds / self.state.epoch
        if self.state.train_seconds + per_epoch <= self.time_limit:
            return ""
        return f"time limit {self.time_limit:g} s: another epoch (about {per_epoch:.0f} s) would pass it"

    def __iter__(self):
        if self.model is None:
            raise RuntimeError("call EpochLoop.restore(build) before iterating")
        with self.ctx.progress(self.epochs, self.describe, unit="epoch") as bar:
            self._bar = bar
            bar.update(self.state.epoch)
            try:
                while not self.done:
                    self._open_epoch = self.state.epoch
                    self._reseed(self.state.epoch)
                    yield Epoch(self.state.epoch, self.stream("epoch", self.state.epoch))
                    if self._open_epoch is not None:
                        raise RuntimeError(f"{self.name}: end_epoch() was not called for epoch "
                                           f"{self._open_epoch + 1}")
            except KeyboardInterrupt:
                self.ctx.log(f"{self.describe}: interrupted during epoch {self.state.epoch + 1}; a resume "
                             f"starts after epoch {self._last_checkpoint}")
                raise
            finally:
                self._bar = None

    def _reseed(self, epoch: int) -> None:
        """The model's Keras seed generators from ``(seed, epoch)``; each worker of a multi-worker run other
        than the chief gets its own (workers see different rows)."""
        if not self.reseed:
            return
        rank = self.trainer.role.rank if self.trainer is not None else 0
        if rank:
            reseed_generators(self.model, self.seed, f"{self.name}/layers/worker", *self.rng_key, epoch, rank)
        else:
            reseed_generators(self.model, self.seed, f"{self.name}/layers", *self.rng_key, epoch)

    # training on one process or many ------------------------------------------------------------------
    def fit(self, arrays: tuple[np.ndarray, ...], batch_size: int) -> dict[str, float]:
        """One pass over ``arrays`` (inputs, and targets when the model has them; already in the epoch's
        order), timed: Keras ``fit`` in one process, the multi-worker loop under ``multi-worker``. Returns
        each metric's value for the epoch (Keras' names: ``loss``, ``accuracy``...)."""
        with self.timed(samples=len(arrays[0])):
            if self.trainer is not None:
                return self.trainer.train_epoch(arrays, batch_size)
            x, y = arrays[0], (arrays[1] if len(arrays) > 1 else None)
            history = self.model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return {k: float(v[-1]) for k, v in history.history.items()}

    def evaluate(self, arrays: tuple[np.ndarray, ...], batch_size: int = 500) -> dict[str, float]:
        """Each metric's mean over ``arrays`` without training (every worker computes the chief's figures)."""
        if self.trainer is not None:
            return self.trainer.evaluate(arrays, batch_size)
        x, y = arrays[0], (arrays[1] if len(arrays) > 1 else None)
        figures = self.model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return {k: float(v) for k, v in figures.items()}

    @contextlib.contextmanager
    def timed(self, samples: int = 0):
        """Count the time of the block as training time (wall and CPU) and ``samples`` as processed."""
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.state.train_seconds += time.perf_counter() - t0
            self.state.train_cpu_seconds += time.process_time() - c0
            self.state.samples += int(samples)

    def end_epoch(self, figures: dict[str, float], show: tuple[str, ...] = ()) -> None:
        """Finish the current epoch: check the figures, log them, keep the best, checkpoint when due."""
        if self._open_epoch is None:
            raise RuntimeError(f"{self.name}: end_epoch() outside an epoch")
        number = self._open_epoch + 1
        figures = {k: _plain(v) for k, v in figures.items()}
        bad = {k: v for k, v in figures.items() if isinstance(v, float) and not math.isfinite(v)}
        if bad:
            what = ", ".join(f"{k} = {v}" for k, v in bad.items())
            raise TrainingError(
                f"{self.describe}: {what} at epoch {number}: training diverged. Lower the learning rate (or "
                f"clip gradients) and start again; the last checkpoint (after epoch {self._last_checkpoint}) "
                f"is kept")
        self.state.epoch = number
        self._open_epoch = None
        if self.early_stopping is not None:
            self._track_best(figures, number)
        if not self.done and self._time_is_up():
            self.state.stop_reason = self._time_is_up()
            self.ctx.log(f"{self.describe}: stopping after epoch {number}: {self.state.stop_reason}")
        self.ctx.log_metrics(self.step_offset + number, **figures)
        if number % self.checkpoint_every == 0 or self.done:
            self.checkpoint()
        if self._bar is not None:
            self._bar.update(1, **{k: figures[k] for k in show if k in figures})
        if self.trainer is not None:
            self.trainer.follow_chief(self)  # the chief's decision to stop is everybody's

    def _track_best(self, figures: dict, number: int) -> None:
        es = self.early_stopping
        if es.monitor not in figures:
            raise RuntimeError(f"{self.name}: early stopping monitors {es.monitor!r}, which the epoch did "
                               f"not report")
        value = float(figures[es.monitor])
        if es.improved(value, self.state.best_value):
            self.state.best_value, self.state.best_epoch = value, number
            self.state.best_seconds = self.state.train_seconds
            self._best_weights = self.model.get_weights()
            self._best_file = None  # changed: written again at the next checkpoint
        elif es.patience is not None and number - self.state.best_epoch >= es.patience:
            self.state.stopped_early = True
            self.state.stop_reason = (f"early stopping: {es.monitor} has not improved for {es.patience} "
                                      f"epochs (best {self.state.best_value:.5g} at epoch "
                                      f"{self.state.best_epoch})")
            self.ctx.log(f"{self.describe}: {self.state.stop_reason}")

    def checkpoint(self) -> None:
        """Save the model, the loop state, ``extra`` and ``parts`` as one checkpoint (the chief's job:
        other workers of a multi-worker run write none)."""
        if not self.ctx.is_chief:
            self._last_checkpoint = self.state.epoch
            return
        parts: dict[str, Writer | Path] = {MODEL_PART: self.model.save, **self.parts}
        if self._best_weights is not None:
            parts[BEST_PART] = self._best_file if self._best_file is not None else self._write_best
        written = self.store.save(asdict(self.state), parts)
        if BEST_PART in written:
            self._best_file = written[BEST_PART]
        self._last_checkpoint = self.state.epoch
        after_checkpoint(self, self.state.epoch)

    def _write_best(self, path: Path) -> None:
        np.savez(path, *self._best_weights)

    # the end ---------------------------------------------------------------------------------------
    def finish(self) -> dict:
        """Restore the best weights (early stopping) and return the loop's figures for summary.json."""
        es = self.early_stopping
        if es is not None and es.restore_best and self._best_weights is not None:
            self.model.set_weights(self._best_weights)
        return self.figures()

    def figures(self) -> dict:
        s = self.state
        out = {"epochs_run": s.epoch, "train_seconds": round(s.train_seconds, 3),
               # all threads: compare with cores x wall time
               "train_cpu_seconds": round(s.train_cpu_seconds, 3),
               "epoch_seconds": round(s.train_seconds / max(1, s.epoch), 3)}
        if s.samples:
            out["samples_per_second"] = round(s.samples / max(s.train_seconds, 1e-9), 1)
        if s.stop_reason:
            out["stop_reason"] = s.stop_reason
        if self.early_stopping is not None and s.best_value is not None:
            out.update({f"best_{self.early_stopping.monitor}": s.best_value, "best_epoch": s.best_epoch,
                        "best_epoch_train_seconds": round(s.best_seconds, 3),
                        "stopped_early": s.stopped_early})
        return out


def _load(load, path: Path):
    if load is None:
        import keras

        def load(p):
            return keras.models.load_model(p, safe_mode=True)
    with reading(path, "checkpoint model", hint=NOT_RESUMABLE, catch=KERAS_LOAD_ERRORS):
        return load(path)


def _read_weights(path: Path) -> list[np.ndarray]:
    with reading(path, "checkpoint of the best weights", hint=NOT_RESUMABLE):
        with np.load(path, allow_pickle=False) as f:
            return [f[f"arr_{i}"] for i in range(len(f.files))]


def _plain(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, (np.floating,)):
        v = float(v)
    return v
