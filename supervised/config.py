"""Scenario models of the book's first lessons (no TensorFlow imported here)."""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lab.schema import Activation, Scenario, Section, Supports, Widths

LESSONS = Supports(xla="never", xla_why="the lessons' graphs are tiny: compiling them costs more than running them")

# Keras 3 optimizer classes that take a learning rate and train on their own (the wrappers
# LossScaleOptimizer and MultiOptimizer are left out). Checked against keras.optimizers by the tests,
# so scenarios are validated without importing Keras.
KERAS_OPTIMIZERS = (
    "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lamb", "Lion", "Muon", "Nadam",
    "RMSprop", "SGD", "ScheduleFreeAdamW",
)
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class GraphConfig(Section):
    x: float = Field(2.0, description="First scalar of the chapter-1 addition (x + y).")
    y: float = Field(2.5, description="Second scalar of the chapter-1 addition (x + y).")
    weights: list[list[float]] = Field([[0.9, 0.7], [0.4, 0.2]], description="Matrix W of W.x and W.x + b.")
    vector: list[float] = Field([5.0, 7.0], description="Vector x of W.x and W.x + b.")
    bias: float = Field(3.0, description="Scalar b added in W.x + b.")

    @model_validator(mode="after")
    def _shapes_agree(self):
        widths = {len(row) for row in self.weights}
        if not self.weights or widths == {0}:
            raise ValueError("weights must be a non-empty matrix (a list of rows)")
        if len(widths) != 1:
            raise ValueError(f"weights must be rectangular: its rows have {sorted(widths)} entries")
        (cols,) = widths
        if cols != len(self.vector):
            raise ValueError(f"W.x needs as many entries in vector ({len(self.vector)}) as columns in weights ({cols})")
        return self


class GraphBasicsScenario(Scenario):
    supports = LESSONS
    graph: GraphConfig = Field(default_factory=GraphConfig, description="The values of the chapter-1 programs.")


class FirstNetworkTrainingConfig(Section):
    learning_rate: float = Field(1.0, gt=0, le=100, description="Step size of plain gradient descent (above 0, at most 100).")
    max_epochs: int = Field(10000, ge=1, le=1_000_000, description="Upper bound on full-batch gradient steps.")
    target_loss: float = Field(0.01, gt=0, description="Stop once the mean squared error is below this (and predictions round to y).")
    loss: Literal["mse", "binary_crossentropy"] = Field("mse", description="Loss minimised by gradient descent.")
    use_bias: bool = Field(False, description="Add a bias to the layer (the book's X already carries a constant-1 column as its bias).")


class ActivationsConfig(Section):
    functions: list[Literal["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "softmax", "selu", "swish"]] = Field(
        ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "softmax"],
        description="Activation functions drawn in the gallery (value and derivative).",
    )
    x_range: tuple[float, float] = Field((-5.0, 5.0), description="Input range plotted.")

    @field_validator("x_range")
    @classmethod
    def _increasing(cls, value):
        if not value[0] < value[1]:
            raise ValueError(f"x_range must be (low, high) with low < high, got {tuple(value)}")
        return value


class FirstNetworkScenario(Scenario):
    supports = LESSONS
    training: FirstNetworkTrainingConfig = Field(default_factory=FirstNetworkTrainingConfig, description="How the single layer is trained.")
    activations: ActivationsConfig = Field(default_factory=ActivationsConfig, description="The activation gallery.")


class OptimizerConfig(Section):
    name: str = Field(description="Label in figures and summary keys (letters, digits, '_', '.', '-').")
    optimizer: str = Field(description="Keras optimizer class name, e.g. SGD, Adam, RMSprop, Adagrad, Nadam, AdamW (case does not matter).")
    learning_rate: float = Field(0.001, gt=0, le=100, description="Learning rate on the 2-D surfaces (above 0, at most 100).")
    network_learning_rate: float | None = Field(
        None, gt=0, le=100, description="Learning rate on the small network (default: the same as learning_rate; at most 100)."
    )
    options: dict[str, float | bool | int] = Field(default_factory=dict, description="Extra keyword arguments, e.g. momentum: 0.9, nesterov: true.")

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        if not LABEL_PATTERN.match(value):
            raise ValueError(f"must be a short label of letters, digits, '_', '.' or '-' (it names summary keys), got {value!r}")
        return value

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, value: str) -> str:
        by_lower = {n.lower(): n for n in KERAS_OPTIMIZERS}
        if value.lower() in by_lower:
            return by_lower[value.lower()]
        guess = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.5)
        hint = f"did you mean `{by_lower[guess[0]]}`? " if guess else ""
        raise ValueError(f"unknown Keras optimizer {value!r}; {hint}valid names: {', '.join(KERAS_OPTIMIZERS)}")

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
    functions: list[Literal["rosenbrock", "beale"]] = Field(["rosenbrock", "beale"], description="2-D test surfaces.")
    steps: int = Field(2000, ge=1, le=200_000, description="Optimizer steps on each surface (same budget for all).")
    rosenbrock_start: tuple[float, float] = Field((-1.5, 2.0), description="Starting point (x, y) on Rosenbrock (minimum at (1, 1)).")
    beale_start: tuple[float, float] = Field((1.0, 1.5), description="Starting point (x, y) on Beale (minimum at (3, 0.5)).")


class NetworkProblemConfig(Section):
    samples: int = Field(512, ge=8, le=100_000, description="Points of the synthetic two-moons classification problem.")
    hidden: Widths = Field([16, 16], description="Hidden layer widths of the small network.")
    activation: Activation = Field("tanh", description="Activation of the hidden layers.")
    epochs: int = Field(200, ge=1, le=10_000, description="Full-batch epochs per optimizer (same budget for all).")
    noise: float = Field(0.15, ge=0, le=2, description="Gaussian noise on the two moons.")


class OptimizersScenario(Scenario):
    supports = LESSONS
    optimizers: list[OptimizerConfig] = Field(default_factory=_default_optimizers, description="Optimizers compared (any Keras optimizer).")
    surfaces: SurfacesConfig = Field(default_factory=SurfacesConfig, description="The 2-D test surfaces.")
    network: NetworkProblemConfig = Field(default_factory=NetworkProblemConfig, description="The small network problem.")

    @field_validator("optimizers")
    @classmethod
    def _distinct(cls, value: list[OptimizerConfig]) -> list[OptimizerConfig]:
        if not value:
            raise ValueError("name at least one optimizer")
        names = [o.name for o in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"optimizer names must differ (they name summary keys): {', '.join(twice)} appear twice")
        return value
