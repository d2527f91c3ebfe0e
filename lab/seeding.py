"""One seed per scenario, and named random streams drawn from it.

Every random part of a run draws from a *named stream*: ``stream(seed, "replay")``,
``stream(seed, "epoch", epoch)``, ``stream(seed, "folds", fold)``. A stream depends only on the scenario's
seed, its name and its keys (whole numbers: an epoch, a fold, a worker's rank), never on what other parts
drew before it, so adding a random part to a task leaves the others' numbers alone, and a resumed run
draws what a run that never stopped draws. Names say what the numbers are for; there are no integer
offsets (``seed + 1``, ``[seed, 7777]``) to collide.

:func:`seed_everything` seeds Python, NumPy's global generator and Keras for the code that does not take
a generator (Keras' initialisers with no seed of their own).
"""

from __future__ import annotations

import random
import zlib

import numpy as np


def entropy(seed: int, name: str, *keys: int) -> list[int]:
    """The seed material of a stream: the scenario's seed, the name's CRC-32 and the keys."""
    if not name:
        raise ValueError("a random stream needs a name")
    if any(int(k) < 0 for k in keys):
        raise ValueError(f"stream {name!r}: keys are whole numbers >= 0 (got {keys})")
    return [int(seed), zlib.crc32(name.encode("utf-8")), *(int(k) for k in keys)]


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    """The NumPy generator of the stream ``name`` (and ``keys``) of a run seeded with ``seed``."""
    return np.random.default_rng(entropy(seed, name, *keys))


def stream_seed(seed: int, name: str, *keys: int) -> int:
    """A whole-number seed in [0, 2**31) for a library that takes one (a Keras layer or initialiser, a
    Gymnasium reset, a maze generator), from the stream ``name``."""
    return int(np.random.SeedSequence(entropy(seed, name, *keys)).generate_state(1)[0] % 2**31)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy's global generator and Keras; with ``deterministic``, TensorFlow's op
    determinism."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":  # JAX on a CPU is deterministic already
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def reseed_generators(model, seed: int, name: str, *keys: int) -> int:
    """Set the state of every Keras ``SeedGenerator`` of ``model`` (dropout, random flips and crops,
    sampling layers) from the stream ``name`` and ``keys``, the generator's place in the model last;
    returns how many there were. ``.keras`` files do not save these states: the epoch loop calls this at
    the start of every epoch, so a resumed run draws the masks a run that never stopped draws."""
    import keras

    count = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", []):
            state = generator.state
            value = [stream_seed(seed, name, *keys, count), 0]
            state.assign(keras.ops.cast(keras.ops.convert_to_tensor(value), state.dtype))
            count += 1
    return count
