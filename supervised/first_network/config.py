"""The ``first-network`` scenario: the book's single sigmoid layer and the activation gallery (no TensorFlow
imported here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lab.schema import Figure, Scenario, Section, Supports

GalleryActivation = Literal["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "softmax",
                            "selu", "swish"]


class FirstNetworkTrainingConfig(Section):
    learning_rate: float = Field(1.0, gt=0, le=100,
                                 description="Step size of plain gradient descent (above 0, at most 100).")
    max_epochs: int = Field(10000, ge=1, le=1_000_000,
                            description="Upper bound on full-batch gradient steps.")
    target_loss: float = Field(
        0.01, gt=0, description="Stop once the mean squared error is below this (and predictions round to "
                                "y).")
    loss: Literal["mse", "binary_crossentropy"] = Field("mse",
                                                        description="Loss minimised by gradient descent.")
    use_bias: bool = Field(False, description="Add a bias to the layer (the book's X already carries a "
                                              "constant-1 column as its bias).")


class ActivationsConfig(Section):
    functions: list[GalleryActivation] = Field(
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
    supports = Supports(strategies=("auto", "cpu", "gpu"), xla="never",
                        why="one unit trained on four examples, on one device",
                        xla_why="the network is tiny: compiling it costs more than running it")
    figures = {
        "final_loss": Figure("lower", "loss"),
        "epochs": Figure("lower"),
    }
    training: FirstNetworkTrainingConfig = Field(default_factory=FirstNetworkTrainingConfig,
                                                 description="How the single layer is trained.")
    activations: ActivationsConfig = Field(default_factory=ActivationsConfig,
                                           description="The activation gallery.")
