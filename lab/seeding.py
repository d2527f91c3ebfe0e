"""One seed for Python, NumPy, Keras and TensorFlow; optional op determinism."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":  # JAX on a CPU is deterministic already
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
