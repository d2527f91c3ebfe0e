"""Scenario models of the book's first lessons (no TensorFlow imported here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lab.scenario import Scenario, Section


class GraphSection(Section):
    x: float = Field(2.0, description="First scalar of the chapter-1 addition (x + y).")
    y: float = Field(2.5, description="Second scalar of the chapter-1 addition (x + y).")
    weights: list[list[float]] = Field([[0.9, 0.7], [0.4, 0.2]], description="Matrix W of W.x and W.x + b.")
    vector: list[float] = Field([5.0, 7.0], description="Vector x of W.x and W.x + b.")
    bias: float = Field(3.0, description="Scalar b added in W.x + b.")


class GraphBasicsScenario(Scenario):
    graph: GraphSection = Field(default_factory=GraphSection, description="The values of the chapter-1 programs.")


class FirstNetworkTraining(Section):
    learning_rate: float = Field(1.0, gt=0, description="Step size of plain gradient descent.")
    max_epochs: int = Field(10000, ge=1, le=1_000_000, description="Upper bound on full-batch gradient steps.")
    target_loss: float = Field(0.01, gt=0, description="Stop once the mean squared error is below this (and predictions round to y).")
    loss: Literal["mse", "binary_crossentropy"] = Field("mse", description="Loss minimised by gradient descent.")


class ActivationsSection(Section):
    functions: list[Literal["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "softmax", "selu", "swish"]] = Field(
        ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "softmax"],
        description="Activation functions drawn in the gallery (value and derivative).",
    )
    x_range: tuple[float, float] = Field((-5.0, 5.0), description="Input range plotted.")


class FirstNetworkScenario(Scenario):
    training: FirstNetworkTraining = Field(default_factory=FirstNetworkTraining, description="How the single layer is trained.")
    activations: ActivationsSection = Field(default_factory=ActivationsSection, description="The activation gallery.")


class OptimizerSpec(Section):
    name: str = Field(description="Label in figures and summary.")
    optimizer: str = Field(description="Keras optimizer class name, e.g. SGD, Adam, RMSprop, Adagrad, Nadam, AdamW.")
    learning_rate: float = Field(0.001, gt=0, description="Learning rate.")
    options: dict[str, float | bool | int] = Field(default_factory=dict, description="Extra keyword arguments, e.g. momentum: 0.9, nesterov: true.")


def _default_optimizers() -> list[OptimizerSpec]:
    return [
        OptimizerSpec(name="gd", optimizer="SGD", learning_rate=0.001),
        OptimizerSpec(name="momentum", optimizer="SGD", learning_rate=0.001, options={"momentum": 0.9}),
        OptimizerSpec(name="nesterov", optimizer="SGD", learning_rate=0.001, options={"momentum": 0.9, "nesterov": True}),
        OptimizerSpec(name="adagrad", optimizer="Adagrad", learning_rate=0.5),
        OptimizerSpec(name="rmsprop", optimizer="RMSprop", learning_rate=0.01),
        OptimizerSpec(name="adam", optimizer="Adam", learning_rate=0.05),
    ]


class SurfaceSection(Section):
    functions: list[Literal["rosenbrock", "beale"]] = Field(["rosenbrock", "beale"], description="2-D test surfaces.")
    steps: int = Field(2000, ge=1, le=200_000, description="Optimizer steps on each surface (same budget for all).")


class NetworkProblem(Section):
    samples: int = Field(512, ge=8, le=100_000, description="Points of the synthetic two-moons classification problem.")
    hidden: list[int] = Field([16, 16], description="Hidden layer widths of the small network.")
    epochs: int = Field(100, ge=1, le=10_000, description="Full-batch epochs per optimizer.")
    noise: float = Field(0.15, ge=0, le=2, description="Gaussian noise on the two moons.")


class OptimizersScenario(Scenario):
    optimizers: list[OptimizerSpec] = Field(default_factory=_default_optimizers, description="Optimizers compared (any Keras optimizer).")
    surfaces: SurfaceSection = Field(default_factory=SurfaceSection, description="The 2-D test surfaces.")
    network: NetworkProblem = Field(default_factory=NetworkProblem, description="The small network problem.")
