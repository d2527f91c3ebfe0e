"""Scenario model of the ``vae`` task (no TensorFlow imported here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lab.data.mnist import MnistDataConfig
from lab.schema import Activation, Figure, Scenario, Section, Supports, Widths, epoch_training


class VaeDataConfig(MnistDataConfig):
    binarize: Literal["dynamic", "static", "threshold"] = Field(
        "dynamic",
        description="How grey digits become the binary pixels of the Bernoulli likelihood: dynamic (a fresh "
        "Bernoulli draw of every training digit each epoch, one seeded draw of the test digits), static (one "
        "seeded draw of each) or threshold (pixel > 0.5).",
    )


class VaeModelConfig(Section):
    kind: Literal["dense", "conv"] = Field(
        "dense", description="dense: the book's 784-256-128 encoder and 128-256-784 decoder; conv: strided "
        "convolutions and transposed convolutions.")
    latent_size: int = Field(8, ge=1, le=512, description="Dimensions of the latent code z.")
    hidden: Widths = Field(
        [256, 128], min_length=1, description="dense: widths of the encoder's hidden layers (the decoder "
        "mirrors them); conv: width of the dense layer after the convolutions (first entry).")
    filters: Widths = Field(
        [16, 32], min_length=2, max_length=2, description="conv: filters of the two stride-2 convolutions "
        "of the encoder; the decoder mirrors them.")
    activation: Activation = Field("relu", description="Activation of the hidden layers.")
    prior: Literal["standard", "mog", "vamp"] = Field(
        "standard", description="p(z): standard (N(0, I), closed-form KL), mog (a mixture of "
        "prior_components diagonal Gaussians with trainable means, variances and weights) or vamp (the "
        "VampPrior: the mixture of the encoder's posteriors at prior_components trainable pseudo-inputs). "
        "Learned priors are trained with the model (KL by Monte Carlo); the ELBO, log p(x) and the samples "
        "all use the same prior.")
    prior_components: int = Field(
        10, ge=1, le=1000, description="Components of a mog prior, or pseudo-inputs of a vamp prior "
        "(ignored by standard).")


class VaeTrainingConfig(epoch_training("VaeEpochs", epochs=30, batch_size=128, learning_rate=1e-3,
                                       final_learning_rate_fraction=0.05)):
    """How the VAE trains (Adam; no validation split, so no early stopping)."""

    beta: float = Field(1.0, ge=0, le=1000, description="Weight of the KL term in the training loss (1: the "
                        "ELBO; the reported ELBO always uses 1).")
    kl_warmup_epochs: int = Field(0, ge=0, le=10_000, description="Epochs over which the KL weight rises "
                                  "linearly from beta/warmup to beta (0: no warm-up).")


class VaeEvaluationConfig(Section):
    iw_samples: int = Field(500, ge=1, le=100_000, description="k of the importance-weighted estimate of "
                            "log p(x) (samples of q(z|x) per test digit).")
    iw_digits: int | None = Field(
        None, ge=1, description="Test digits used for the ELBO and log p(x) estimates (null: all).")
    batch_digits: int = Field(
        50, ge=1, le=10_000, description="Test digits per batch of the estimate (memory: batch_digits x "
        "iw_samples decodes at once).")


class VaeSamplingConfig(Section):
    grid: int = Field(64, ge=1, le=1024, description="Samples from the prior drawn in samples.png.")
    temperature: float = Field(
        1.0, gt=0, le=10, description="Scale of the prior's standard deviations for sampling: z ~ N(0, "
        "temperature^2 I) for the standard prior; for a mixture, each component's.")


class VaeQualityConfig(Section):
    enabled: bool = Field(
        True, description="Score samples with a small MNIST classifier (trained in the run).")
    samples: int = Field(2000, ge=10, le=100_000, description="Prior samples scored.")
    confidence: float = Field(
        0.9, gt=0, lt=1, description="A sample counts as confident when the classifier's top probability "
        "is at least this.")
    classifier_epochs: int = Field(
        8, ge=1, le=200, description="Epochs of the scoring classifier (trained once per run on the "
        "training digits and cached in checkpoints/classifier.keras).")


class VaeScenario(Scenario):
    supports = Supports(strategies=("auto", "cpu", "gpu", "mirrored", "multi-worker"))
    figures = {
        "test_elbo": Figure("higher", "test_elbo"),
        "test_log_likelihood_iw": Figure("higher", "test_elbo"),
        "sample_confident_share": Figure("higher"),
        "sample_frechet_distance": Figure("lower"),
    }
    data: VaeDataConfig = Field(default_factory=VaeDataConfig,
                                description="Where the MNIST digits come from and how they are binarised.")
    model: VaeModelConfig = Field(
        default_factory=VaeModelConfig, description="Encoder and decoder architecture.")
    training: VaeTrainingConfig = Field(
        default_factory=VaeTrainingConfig, description="How the VAE is trained.")
    evaluation: VaeEvaluationConfig = Field(default_factory=VaeEvaluationConfig,
                                            description="Test ELBO and importance-weighted log-likelihood.")
    sampling: VaeSamplingConfig = Field(
        default_factory=VaeSamplingConfig, description="The grid of prior samples.")
    quality: VaeQualityConfig = Field(default_factory=VaeQualityConfig,
                                      description="Sample quality measured by a classifier.")
