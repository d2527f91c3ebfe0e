"""The schema vocabulary of scenario files: sections, the common keys, shared field types and the one
epoch-training section.

Every task's ``config.py`` builds its scenario model from these. This module imports nothing else of the
lab (only pydantic and the standard library), so the maze env's configuration and any task's schema can use
it without pulling in YAML loading, the registry or TensorFlow. Reading and validating YAML files is
:mod:`lab.scenario`'s job.
"""

from __future__ import annotations

import difflib
import re
import typing
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class Section(BaseModel):
    """Base of every configuration section: unknown keys are errors, assignments are validated, every float
    must be finite (YAML's ``.inf`` and ``.nan`` are refused: no setting of the lab means infinity), every
    whole number fits 64 bits and no text holds a NUL character (no file name can)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _plain_values(cls, value: Any) -> Any:
        problem = _value_problem(value)
        if problem:
            raise ValueError(problem)
        return value


INT64 = 2**63
"""Whole numbers are 64-bit: a larger one would only overflow in NumPy or TensorFlow at run time."""


def _value_problem(value: Any) -> str | None:
    """What no setting can be, at any depth of lists and mappings: text with a NUL character, a whole number
    beyond 64 bits."""
    if isinstance(value, str):
        return ("holds a NUL character (\\0), which no setting (and no file name) can hold" if "\x00" in value
                else None)
    if isinstance(value, int) and not isinstance(value, bool):
        return (None if -INT64 <= value < INT64
                else f"is too large: {value:.3g} is outside the 64-bit range of whole numbers")
    if isinstance(value, (list, tuple)):
        return next((p for p in map(_value_problem, value) if p), None)
    if isinstance(value, dict):
        return next((p for v in value.items() for p in map(_value_problem, v) if p), None)
    return None


# --------------------------------------------------------------------------------------------------
# The schema vocabulary every task's config shares

Width = Annotated[int, Field(ge=1, le=65_536)]
Widths = Annotated[list[Width], Field(max_length=64)]
"""Widths of a stack of layers (units or filters): each 1 ... 65536, at most 64 layers."""
Activation = Literal["relu", "sigmoid", "tanh", "elu", "gelu", "selu", "softplus", "silu", "swish",
                     "leaky_relu", "linear"]
"""A Keras activation by name."""

STRATEGIES = ("auto", "cpu", "gpu", "mirrored", "multi-worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class Supports:
    """What a task can honour of the common fields. A scenario asking for anything else is refused at
    validation, naming what the task supports and why; nothing is silently ignored.

    ``xla`` is what ``jit_compile: auto`` means for the task (:func:`lab.strategy.resolve_jit_compile`
    applies it): ``gpu`` (the rule: XLA on a single GPU, off on the CPU and under distribution),
    ``always`` or ``never``. ``why`` says why a task refuses a strategy or precision, ``xla_why`` why its
    ``auto`` differs from the rule.
    """

    strategies: tuple[str, ...] = ("auto", "cpu", "gpu")
    precisions: tuple[str, ...] = PRECISIONS
    xla: Literal["gpu", "always", "never"] = "gpu"
    why: str = ""  # why some strategies or precisions are refused
    xla_why: str = ""  # why `auto` differs from the rule

    def describe(self) -> str:
        xla = XLA_RULES[self.xla] + (f" ({self.xla_why})" if self.xla_why else "")
        refused = ([s for s in STRATEGIES if s not in self.strategies] +
                   [p for p in PRECISIONS if p not in self.precisions])
        why = f"; refuses {', '.join(refused)}" + (f": {self.why}" if self.why else "") if refused else ""
        return (f"strategy {' | '.join(self.strategies)}; precision {' | '.join(self.precisions)}; "
                f"jit_compile auto: {xla}{why}")


@dataclass(frozen=True)
class Figure:
    """A summary figure worth tuning on or comparing: which way is better, and the metrics.csv column that
    shows it while the run trains (what `lab sweep` reports to its pruner after each epoch or evaluation;
    None where no column does). The column may be better the other way (a lower val_loss for a higher
    test_accuracy): ``progress_better`` says which."""

    better: Literal["higher", "lower"]
    progress: str | None = None
    progress_better: Literal["higher", "lower"] | None = None  # None: as ``better``

    @property
    def progress_sign(self) -> int:
        """+1 when the progress column moves the figure's way, -1 when it moves the other way."""
        return 1 if (self.progress_better or self.better) == self.better else -1


XLA_RULES = {"gpu": "XLA on one GPU, off on the CPU and when distributed",
             "always": "XLA on, also on the CPU", "never": "XLA off"}


class Scenario(Section):
    """The keys every scenario has. Task models subclass this and add their sections; a task that
    cannot honour every strategy or precision says so in its ``supports``."""

    supports: ClassVar[Supports] = Supports()
    # The summary figures a study can tune on and `lab compare` marks the best of; the first is the
    # task's headline (`lab sweep`'s default --metric). Empty: a task with nothing to tune.
    figures: ClassVar[dict[str, Figure]] = {}

    name: str = Field(description="Short name of the experiment; the run folder is runs/<UTC time>-<name>.")
    description: str = Field("", description="One line saying what the scenario does (shown by `lab list`).")
    task: str = Field(description="Which task runs this scenario (see `lab list --tasks`).")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seeds Python, NumPy, Keras and every random part "
                      "of the task (0 ... 4294967295).")
    strategy: Literal[STRATEGIES] = Field(
        "auto", description="Device strategy: auto (GPU when present), cpu, gpu, mirrored (local GPUs), "
                            "multi-worker (TF_CONFIG)."
    )
    precision: Literal[PRECISIONS] = Field(
        "float32", description="Keras dtype policy for every model of the task."
    )
    jit_compile: Literal["auto"] | bool = Field(
        "auto", description="XLA compilation of compiled steps: true, false, or auto (the task's rule: `lab "
                            "list --tasks`)."
    )
    deterministic: bool = Field(False, description="Turn on TensorFlow's op determinism (slower, bit-exact).")
    output: str = Field("runs", description="Folder under which the run folder is created.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(
                "must be a plain name of letters, digits, '.', '_' or '-' (at most 80, not starting with '.' "
                f"or '-'), not a path: got {shown(value, 100)}"
            )
        return value

    @field_validator("output")
    @classmethod
    def _output_folder(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty: name the folder under which run folders are made (default runs), "
                             "e.g. output: runs, or `.` for the current folder")
        if len(value) > 4096:
            raise ValueError(f"is {len(value):,} characters long; a folder name is at most 4096")
        return value

    @field_validator("strategy")
    @classmethod
    def _supported_strategy(cls, value: str) -> str:
        return _supported(cls, "strategy", value, cls.supports.strategies)

    @field_validator("precision")
    @classmethod
    def _supported_precision(cls, value: str) -> str:
        return _supported(cls, "precision", value, cls.supports.precisions)


def _supported(model: type[Scenario], what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        why = f" ({model.supports.why})" if model.supports.why else ""
        raise ValueError(f"this task supports {what} {' | '.join(allowed)}, not {value!r}{why}")
    return value




def closest(word: str, choices: typing.Iterable[str]) -> str | None:
    """The choice nearest to ``word`` (for "did you mean"), or None when none is near."""
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def shown(value: Any, limit: int = 200) -> str:
    """A value as the user wrote it, cut to ``limit`` characters (a 1 MB string is not echoed whole)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


# --------------------------------------------------------------------------------------------------
# The one epoch-training section

SCHEDULES = ("constant", "cosine", "one_cycle", "step")


class EpochTraining(Section):
    """How an epoch-based task trains: the ``training:`` section of the autoencoder, the VAE, the RBM, the
    classifiers and the language models. Declared once here; a task gives its own defaults with
    :func:`epoch_training` and adds the fields only it has in a subclass. The shared epoch loop
    (:class:`lab.loop.EpochLoop`) reads ``epochs``, ``checkpoint_every``, ``patience`` and
    ``time_limit_seconds``; :mod:`lab.schedules` turns the schedule fields into a learning rate."""

    monitor: ClassVar[str | None] = None
    """The figure early stopping watches (a validation figure, lower is better); None: the task has no
    validation figure, so ``patience`` is refused."""

    epochs: int = Field(20, ge=1, le=10_000, description="Passes over the training data (fewer when early "
                        "stopping or the time limit ends training first).")
    batch_size: int = Field(128, ge=1, le=65_536, description="Examples per gradient step.")
    learning_rate: float = Field(1e-3, gt=0, le=100, description="Peak learning rate (constant, or the top "
                                 "of the schedule).")
    schedule: Literal[SCHEDULES] = Field(
        "constant", description="Learning rate over training: constant; cosine (linear warm-up over "
        "warmup_epochs, then a half cosine down to learning_rate x final_learning_rate_fraction at the last "
        "step); one_cycle (linear rise from lr/25 to lr over warmup_epochs, then linear fall to lr/2500, "
        "Smith's); step (the full rate for decay_after epochs, then times decay_factor each epoch, as "
        "Zaremba et al.).")
    warmup_epochs: float = Field(0.0, ge=0, le=1000, description="cosine and one_cycle: epochs of warm-up "
                                 "(fractions allowed).")
    final_learning_rate_fraction: float = Field(0.0, ge=0, le=1, description="cosine: the rate at the last "
                                                "step as a fraction of learning_rate.")
    decay_after: int = Field(4, ge=0, le=10_000, description="step: epochs at the full rate.")
    decay_factor: float = Field(0.5, gt=0, le=1, description="step: the rate is multiplied by this each "
                                "epoch after decay_after.")
    checkpoint_every: int = Field(1, ge=1, le=10_000, description="Epochs between checkpoints (the last is "
                                  "always saved).")
    patience: int | None = Field(None, ge=1, le=10_000, description="Early stopping: stop after this many "
                                 "epochs without a better validation figure (null: train every epoch); tasks "
                                 "without a validation figure refuse it.")
    time_limit_seconds: float | None = Field(None, gt=0, description="Stop before an epoch that would take "
                                             "the training time past this, judged by the mean epoch so far "
                                             "(null: no limit); the schedule still assumes `epochs`.")

    @model_validator(mode="after")
    def _consistent(self):
        if self.patience is not None and self.monitor is None:
            raise ValueError("training.patience: this task has no validation figure to watch, so it cannot "
                             "stop early; set training.patience: null")
        if self.schedule in ("cosine", "one_cycle") and self.warmup_epochs >= self.epochs:
            raise ValueError(f"training.warmup_epochs ({self.warmup_epochs:g}) must be below training.epochs "
                             f"({self.epochs})")
        return self


def epoch_training(name: str, *, monitor: str | None = None, **defaults: Any) -> type[EpochTraining]:
    """:class:`EpochTraining` with a task's own defaults (the bounds and descriptions stay the shared ones);
    ``monitor`` names the figure early stopping watches. Subclass the result to add the task's own fields::

        class VaeTraining(epoch_training("VaeEpochs", epochs=30, batch_size=100)):
            beta: float = Field(1.0, ...)
    """
    unknown = sorted(set(defaults) - set(EpochTraining.model_fields))
    if unknown:
        raise TypeError(f"epoch_training: {', '.join(unknown)} are not fields of EpochTraining")
    fields = {key: (EpochTraining.model_fields[key].annotation,
                    FieldInfo.merge_field_infos(EpochTraining.model_fields[key], default=value))
              for key, value in defaults.items()}
    section = create_model(name, __base__=EpochTraining, __module__=EpochTraining.__module__, **fields)
    section.monitor = monitor
    return section
