"""The ``bench:`` section of a bench scenario: which devices, sizes, batches, dtypes and engines are measured,
and how many repeats make each figure. Pure pydantic, no TensorFlow or Keras import.

``quick: true`` is a preset: every field below that the scenario does not set takes its quick value (fewer,
smaller sizes, fewer repeats, shorter timed loops); what the scenario sets is kept. The run folder's
``scenario.yaml`` records the values used.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from lab.schema import Scenario, Section, Supports

MAX_SIZE = 16_384
MAX_BATCH = 65_536
MAX_REPEATS = 1_000

DTYPES = ("float32", "float16", "bfloat16")
ENGINES = ("eager", "xla", "numpy")
MODELS = ("mnist_mlp", "cifar_cnn")

QUICK: dict[str, Any] = {"sizes": [256, 512, 1024, 2048], "batch_sizes": [32, 128], "repeats": 3,
                         "conv_batch": 32, "min_repeat_seconds": 0.08, "train_warmup_steps": 2}
"""The values ``quick: true`` gives the fields the scenario leaves out."""


class BenchConfig(Section):
    """What one bench measures, and how long it tries to spend on each figure."""

    devices: Literal["all", "cpu", "gpu"] = Field(
        "all", description="Which devices to measure: all (the CPU and every GPU the Keras backend sees), "
        "cpu, or gpu (an error when there is none).")
    quick: bool = Field(
        False, description="The short bench: the fields left out take their quick values (sizes 256 ... "
        "2048, batch sizes 32 and 128, 3 repeats, conv batch 32, 0.08 s loops, 2 warm-up steps).")
    sizes: list[int] = Field(
        [256, 512, 1024, 2048, 4096], min_length=1, max_length=64,
        description=f"Matrix sizes n of the n x n @ n x n products (1 ... {MAX_SIZE}; measured in increasing "
        "order, duplicates dropped).")
    batch_sizes: list[int] = Field(
        [32, 128, 512], min_length=1, max_length=64,
        description=f"Batch sizes of the timed training steps (1 ... {MAX_BATCH}; increasing, duplicates "
        "dropped).")
    repeats: int = Field(5, ge=1, le=MAX_REPEATS, description="Timed repeats per figure: the median is "
                         "reported, the min and max beside it.")
    dtypes: list[Literal[DTYPES]] = Field(
        list(DTYPES), min_length=1, description="Dtypes of the products and the conv2d layer; a device that "
        "does not compute one natively skips it and says why (a CPU needs avx512_bf16/amx_bf16 for bfloat16, "
        "avx512_fp16/amx_fp16 for float16).")
    engines: list[Literal[ENGINES]] = Field(
        list(ENGINES), min_length=1, description="How products are computed: eager (the keras.ops call), xla "
        "(compiled by XLA; TensorFlow only, JAX's call is compiled already), numpy (numpy.matmul's BLAS on "
        "the CPU, float32: a reference). conv2d uses eager and xla.")
    models: list[Literal[MODELS]] = Field(
        list(MODELS), description="Models whose training steps are timed: mnist_mlp (the book's "
        "784-300-100-10 network), cifar_cnn (its chapter-6 CIFAR-10 convnet); [] times none.")
    conv_batch: int = Field(64, ge=1, le=MAX_BATCH, description="Images per conv2d call (32 x 32 x 64).")
    min_repeat_seconds: float = Field(0.2, gt=0, le=60, description="Each repeat loops the measured call "
                                      "until it lasts about this long (seconds).")
    train_warmup_steps: int = Field(3, ge=1, le=1_000, description="Training steps before the timed ones "
                                    "(the first traces, compiles and allocates).")

    @model_validator(mode="before")
    @classmethod
    def _quick_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("quick") is True:
            return {**QUICK, **data}
        return data

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        return _increasing(value, MAX_SIZE, "matrix sizes")

    @field_validator("batch_sizes")
    @classmethod
    def _batches(cls, value: list[int]) -> list[int]:
        return _increasing(value, MAX_BATCH, "batch sizes")


def _increasing(values: list[int], largest: int, what: str) -> list[int]:
    bad = [v for v in values if not 1 <= v <= largest]
    if bad:
        raise ValueError(f"{what} are 1 ... {largest}, not {bad[0]}")
    return sorted(set(values))


class BenchScenario(Scenario):
    """A scenario of the bench task: the common keys and the ``bench:`` section."""

    supports: ClassVar[Supports] = Supports(
        strategies=("auto",), precisions=("float32",),
        why="the bench places every measurement on each device itself (bench.devices) and measures each "
            "dtype itself (bench.dtypes)")

    bench: BenchConfig = Field(default_factory=BenchConfig,
                                 description="What is measured, and how long.")
