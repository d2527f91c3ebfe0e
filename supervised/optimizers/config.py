"""The ``optimizers`` scenario: which Keras optimizers to compare, on which surfaces and network (no
TensorFlow imported here)."""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import Field, field_validator

from lab.schema import Activation, Scenario, Section, Supports, Widths

# Keras 3 optimizer classes that take a learning rate and train on their own (the wrappers
# LossScaleOptimizer and MultiOptimizer are left out). Checked against keras.optimizers by the tests,
# so scenarios are validated without importing Keras.
KERAS_OPTIMIZERS = (
    "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lamb", "Lion", "Muon", "Nadam",
    "RMSprop", "SGD", "ScheduleFreeAdamW",
)
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class OptimizerConfig(Section):
    name: str = Field(description="Label in figures and summary keys (letters, digits, '_', '.', '-').")
    optimizer: str = Field(description="Keras optimizer class name, e.g. SGD, Adam, RMSprop, Adagrad, Nadam, "
                                       "AdamW (case does not matter).")
    learning_rate: float = Field(0.001, gt=0, le=100,
                                 description="Learning rate on the 2-D surfaces (above 0, at most 100).")
    network_learning_rate: float | None = Field(
        None, gt=0, le=100,
        description="Learning rate on the small network (default: the same as learning_rate; at most 100).",
    )
    options: dict[str, float | bool | int] = Field(
        default_factory=dict, description="Extra keyword arguments, e.g. momentum: 0.9, nesterov: true.")

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        if not LABEL_PATTERN.match(value):
            raise ValueError("must be a short label of letters, digits, '_', '.' or '-' (it names summary "
                             f"keys), got {value!r}")
        return value

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, value: str) -> str:
        by_lower = {n.lower(): n for n in KERAS_OPTIMIZERS}
        if value.lower() in by_lower:
            return by_lower[value.lower()]
        guess = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.5)
        hint = f"did you mean `{by_lower[guess[0]]}`? " if guess else ""
        names = ", ".join(KERAS_OPTIMIZERS)
        raise ValueError(f"unknown Keras optimizer {value!r}; {hint}valid names: {names}")

    @field_validator("options")
    @classmethod
    def _no_learning_rate(cls, value: dict) -> dict:
        if "learning_rate" in value:
            raise ValueError("set learning_rate (and network_learning_rate) as fields, not in options")
        return value

    @property
    def net_lr(self) -> float:
        return self.network_learning_rate if self.network_learning_rate is not None else self.learning_rate


def _default_optimizers() -> list[OptimizerConfig]:
    # Each at a learning rate that suits it (tuned by hand on these problems: plain GD at 0.001 is at
    # its stability limit on Rosenbrock from (-1.5, 2), where the curvature is about 1900), so that
    # the comparison is between methods rather than between badly chosen step sizes.
    return [
        OptimizerConfig(name="gd", optimizer="SGD", learning_rate=0.001, network_learning_rate=1.0),
        OptimizerConfig(name="momentum", optimizer="SGD", learning_rate=0.001, network_learning_rate=0.1,
                        options={"momentum": 0.9}),
        OptimizerConfig(name="nesterov", optimizer="SGD", learning_rate=0.001, network_learning_rate=0.1,
                        options={"momentum": 0.9, "nesterov": True}),
        OptimizerConfig(name="adagrad", optimizer="Adagrad", learning_rate=1.0, network_learning_rate=0.3),
        OptimizerConfig(name="rmsprop", optimizer="RMSprop", learning_rate=0.005, network_learning_rate=0.01),
        OptimizerConfig(name="adam", optimizer="Adam", learning_rate=0.05, network_learning_rate=0.01),
    ]


class SurfacesConfig(Section):
    functions: list[Literal["rosenbrock", "beale"]] = Field(["rosenbrock", "beale"],
                                                            description="2-D test surfaces.")
    steps: int = Field(2000, ge=1, le=200_000,
                       description="Optimizer steps on each surface (same budget for all).")
    rosenbrock_start: tuple[float, float] = Field(
        (-1.5, 2.0), description="Starting point (x, y) on Rosenbrock (minimum at (1, 1)).")
    beale_start: tuple[float, float] = Field(
        (1.0, 1.5), description="Starting point (x, y) on Beale (minimum at (3, 0.5)).")


class NetworkProblemConfig(Section):
    samples: int = Field(512, ge=8, le=100_000,
                         description="Points of the synthetic two-moons classification problem.")
    hidden: Widths = Field([16, 16], description="Hidden layer widths of the small network.")
    activation: Activation = Field("tanh", description="Activation of the hidden layers.")
    epochs: int = Field(200, ge=1, le=10_000,
                        description="Full-batch epochs per optimizer (same budget for all).")
    noise: float = Field(0.15, ge=0, le=2, description="Gaussian noise on the two moons.")


class OptimizersScenario(Scenario):
    supports = Supports(strategies=("auto", "cpu", "gpu"), xla="never",
                        why="2-D points and a small network: each descent is one compiled loop on one device",
                        xla_why="the problems are tiny: compiling each loop costs more than running it")
    optimizers: list[OptimizerConfig] = Field(default_factory=_default_optimizers,
                                              description="Optimizers compared (any Keras optimizer).")
    surfaces: SurfacesConfig = Field(default_factory=SurfacesConfig, description="The 2-D test surfaces.")
    network: NetworkProblemConfig = Field(default_factory=NetworkProblemConfig,
                                          description="The small network problem.")

    @field_validator("optimizers")
    @classmethod
    def _distinct(cls, value: list[OptimizerConfig]) -> list[OptimizerConfig]:
        if not value:
            raise ValueError("name at least one optimizer")
        names = [o.name for o in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"optimizer names must differ (they name summary keys): {', '.join(twice)} "
                             "appear twice")
        return value
