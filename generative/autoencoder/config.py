"""Scenario model of the ``autoencoder`` task (no TensorFlow imported here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lab.data.mnist import MnistDataConfig
from lab.schema import Activation, Figure, Scenario, Section, Supports, Widths, epoch_training

AutoencoderTrainingConfig = epoch_training("AutoencoderTrainingConfig", epochs=30, batch_size=128,
                                           learning_rate=1e-3)
"""How the autoencoder trains (Adam; no validation split, so no early stopping)."""


class DenoisingConfig(Section):
    noise: Literal["none", "gaussian", "masking"] = Field(
        "none", description="Corruption of the training inputs: none, gaussian (added N(0, amount^2), "
        "clipped to [0, 1]) or masking (each pixel zeroed with probability amount). The target stays the "
        "clean digit.")
    amount: float = Field(0.3, ge=0, le=1,
                          description="Standard deviation (gaussian) or drop probability (masking).")


class AutoencoderModelConfig(Section):
    hidden: Widths = Field(
        [128], description="Widths of the encoder's hidden layers; the decoder mirrors them (the book's "
        "784-128-64-128-784 is hidden [128], code_size 64).")
    code_size: int = Field(64, ge=1, le=784, description="Width of the code (bottleneck) layer; also the PCA "
                           "baseline's number of components.")
    activation: Activation = Field("relu", description="Activation of the hidden layers.")
    code_activation: Activation = Field("linear", description="Activation of the code layer.")
    output_activation: Literal["sigmoid", "linear"] = Field("sigmoid",
                                                            description="Activation of the 784 outputs.")
    loss: Literal["bce", "mse"] = Field(
        "bce", description="Training loss: binary cross-entropy or mean squared error per pixel (both are "
        "reported on the test digits).")
    denoising: DenoisingConfig = Field(default_factory=DenoisingConfig,
                                       description="Optional input corruption (a denoising autoencoder).")

    @model_validator(mode="after")
    def _bce_needs_sigmoid(self):
        if self.loss == "bce" and self.output_activation != "sigmoid":
            raise ValueError("loss bce needs output_activation sigmoid (outputs must lie in (0, 1))")
        return self


class AutoencoderPicturesConfig(Section):
    strip_digits: int = Field(
        10, ge=1, le=64, description="Test digits of the fixed batch reconstructed after every epoch (one "
        "strip per epoch in training_strips.png).")
    pairs: int = Field(32, ge=1, le=512, description="Test digits shown beside their reconstructions in "
                       "reconstructions.png at the end.")


class AutoencoderScenario(Scenario):
    # Keras fit: mirrored works, multi-worker does not (see lab/strategy.py)
    supports = Supports(strategies=("auto", "cpu", "gpu", "mirrored"),
                        why="it trains with Keras fit, which fails under MultiWorkerMirroredStrategy")
    figures = {
        "test_mse": Figure("lower", "test_mse"),
        "test_bce": Figure("lower", "test_bce"),
        "mse_ratio_vs_pca": Figure("lower", "test_mse"),
    }
    data: MnistDataConfig = Field(
        default_factory=MnistDataConfig, description="Where the MNIST digits come from.")
    model: AutoencoderModelConfig = Field(default_factory=AutoencoderModelConfig,
                                          description="The autoencoder's layers and loss.")
    training: AutoencoderTrainingConfig = Field(default_factory=AutoencoderTrainingConfig,
                                                description="How the autoencoder is trained.")
    pictures: AutoencoderPicturesConfig = Field(default_factory=AutoencoderPicturesConfig,
                                                description="What the training and final pictures show.")
