"""Scenario model of the ``classifier`` task: MNIST or CIFAR-10 images -> mlp | convnet | cnn | resnet.

No TensorFlow imported here (``lab validate`` stays fast).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lab.schema import Activation, Figure, Scenario, Section, Supports, Widths, epoch_training


class ImageDataConfig(Section):
    dataset: Literal["mnist", "cifar10"] = Field("mnist", description="mnist (28 x 28 grey digits) or "
                                                 "cifar10 (32 x 32 colour photos in ten classes).")
    path: str | None = Field(
        None, description="mnist: a Keras-layout .npz or a folder of IDX files; cifar10: the folder of the "
        "binary batches (data_batch_N.bin, test_batch.bin, batches.meta.txt) or cifar-10-binary.tar.gz. "
        "null: the copy beside the lab (../shared/datasets/mnist.npz or cifar10-subset/) when there is one, "
        "else the download (mnist through keras.datasets; cifar10 needs download: true).")
    download: bool = Field(False, description="cifar10 with path null and no copy beside the lab: download "
                           "the official cifar-10-binary.tar.gz (163 MB, checksummed) into "
                           "~/.cache/lab/datasets.")
    train_limit: int | None = Field(None, ge=1,
                                    description="Use only the first N training images (null: all).")
    test_limit: int | None = Field(None, ge=1, description="Use only the first N test images (null: all).")
    validation: float = Field(0.1, ge=0, lt=0.5, description="Share of the training images held out (drawn "
                              "by seed) for validation: early stopping and the best epoch read it; 0: none.")


class ClassifierModelConfig(Section):
    kind: Literal["mlp", "convnet", "cnn", "resnet"] = Field(
        "mlp", description="mlp: dense layers of `hidden` widths (the book's 784-300-100-10); convnet: "
        "blocks of convs_per_block 3x3 convolutions and 2x2 max-pooling with `filters` per block, then "
        "`hidden` dense layers (Keras' MNIST convnet: filters [32, 64], convs_per_block 1); cnn: the book's "
        "chapter-6 layout (3x3 convolutions of 32, 64, 128 filters, each max-pooled with dropout 0.2, a "
        "dense layer of 625 with dropout 0.55); resnet: a residual network for small images after the "
        "DAWNBench ResNet-9 (a 3x3 prep convolution of filters[0], then per further entry of `filters` a "
        "stage: 3x3 convolution, 2x2 max-pooling, `blocks` residual blocks of two 3x3 convolutions with "
        "batch norm; global max-pooling).")
    hidden: Widths = Field([300, 100], description="mlp: widths of the hidden layers; convnet and cnn: the "
                           "dense layers after the convolutions (cnn: [625] in the book); resnet: ignored.")
    filters: Widths = Field([32, 64], min_length=1, description="convnet: filters of each block; cnn: of "
                            "each convolution ([32, 64, 128] in the book); resnet: the prep convolution, "
                            "then each stage (e.g. [16, 32, 64, 128]).")
    convs_per_block: int = Field(1, ge=1, le=4,
                                 description="convnet: 3x3 convolutions per block before its pooling.")
    blocks: int = Field(1, ge=0, le=16, description="resnet: residual blocks per stage (0: a plain network).")
    activation: Activation = Field("relu", description="Activation of the hidden layers and convolutions.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout after each hidden dense layer (mlp, "
                           "convnet, cnn) and before the output layer of a convnet (Keras' MNIST convnet: "
                           "0.5).")
    conv_dropout: float = Field(0.0, ge=0, lt=1, description="convnet and cnn: dropout after each pooling "
                                "(the book's cnn: 0.2; Keras' cifar10_cnn: 0.25).")
    batch_norm: bool = Field(False, description="convnet and cnn: batch normalisation after each convolution "
                             "(a resnet always has it).")


class AugmentConfig(Section):
    flip: bool = Field(False, description="Mirror training images left-right at random (photos; not digits).")
    crop_padding: int = Field(0, ge=0, le=16, description="Random crop after zero-padding by this many "
                              "pixels: each training image is shifted by up to this many pixels in each "
                              "direction, the uncovered border filled with zeros (0: off).")
    test_flip: bool = Field(False, description="Test-time augmentation: the test predictions (and the saved "
                            "model's, which `lab predict` uses) average each image and its mirror image "
                            "(photos).")


class ClassifierTrainingConfig(epoch_training("ClassifierEpochs", monitor="val_loss", epochs=20,
                                              batch_size=128, learning_rate=1e-3)):
    """How the classifier learns; early stopping watches the validation loss."""

    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = Field("adam", description="The Keras optimizer.")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd: momentum (Nesterov); rmsprop: its momentum "
                            "term is not used (rho stays Keras' 0.9).")
    weight_decay: float = Field(0.0, ge=0, le=1, description="Decoupled weight decay of adamw and sgd "
                                "(Keras' `weight_decay`), 0: none.")
    label_smoothing: float = Field(0.0, ge=0, lt=1,
                                   description="Label smoothing of the cross-entropy (0: none).")


class ClassifierReportConfig(Section):
    book_outputs: bool = Field(False, description="Write the book's outputs: artifacts/csv/ (one file per "
                               "test batch: each image's label, prediction and class probabilities) and "
                               "artifacts/images/ (one PNG per test image, "
                               "<batch>_<index>_<label>_<prediction>.png).")
    book_batch_size: int = Field(100, ge=1, le=10_000, description="Test images per csv file (and per batch "
                                 "number in the image names).")
    book_images: int = Field(100, ge=0, le=100_000, description="At most this many PNGs in artifacts/images/ "
                             "(the first test images), so a run never writes 10,000 files unasked.")
    gallery: int = Field(24, ge=0, le=400, description="The most confident mistakes shown in the report.")


class ClassifierScenario(Scenario):
    supports = Supports(strategies=("auto", "cpu", "gpu", "mirrored", "multi-worker"))
    figures = {
        "test_accuracy": Figure("higher", "val_accuracy"),
        "test_loss": Figure("lower", "val_loss"),
        # tune on these: the test digits stay unseen (val_accuracy of the weights kept, the best epoch's;
        # best_val_loss includes label smoothing's own loss, so it favours less smoothing for its own sake)
        "val_accuracy": Figure("higher", "val_accuracy"),
        "best_val_loss": Figure("lower", "val_loss"),
        "class_accuracy_min": Figure("higher", "val_accuracy"),
    }
    data: ImageDataConfig = Field(default_factory=ImageDataConfig, description="The images.")
    model: ClassifierModelConfig = Field(default_factory=ClassifierModelConfig, description="The network.")
    augment: AugmentConfig = Field(default_factory=AugmentConfig,
                                   description="Random changes to training images.")
    training: ClassifierTrainingConfig = Field(default_factory=ClassifierTrainingConfig,
                                               description="How it learns.")
    report: ClassifierReportConfig = Field(default_factory=ClassifierReportConfig, description="What the run "
                                           "writes beside the figures.")

    @model_validator(mode="after")
    def _consistent(self):
        if self.training.patience is not None and self.data.validation == 0:
            raise ValueError("training.patience needs a validation split to watch: set data.validation (e.g. "
                             "0.1) or training.patience: null")
        if self.model.kind == "cnn" and len(self.model.filters) > 5:
            raise ValueError("model.filters: the cnn pools after every convolution, so at most 5 fit a 32 x "
                             "32 image")
        if self.model.kind == "resnet" and not 2 <= len(self.model.filters) <= 6:
            raise ValueError("model.filters: a resnet needs the prep convolution's filters and at least one "
                             "stage's; each stage halves the image, so at most 5 stages")
        return self
