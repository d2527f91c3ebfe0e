"""Which Keras backend this process runs, and starting TensorFlow quietly.

Kept apart from :mod:`lab.strategy` (which needs the scenario schema, and so pydantic) so that the ``lab``
command can start TensorFlow for the commands that need it while ``lab --help`` imports next to nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
from pathlib import Path


def choose_backend() -> str | None:
    """Pick JAX for Keras when TensorFlow, the backend Keras would take, is not installed (``pip install
    '.[jax]'``): when ``KERAS_BACKEND`` is unset, Keras is not imported yet, the backend Keras' own
    ``keras.json`` names (Keras writes one on first import; default tensorflow) cannot be found, and JAX
    can, set ``KERAS_BACKEND=jax``. Returns the backend it set, or None. Without it Keras would try
    TensorFlow and fail on import."""
    if os.environ.get("KERAS_BACKEND") or "keras" in sys.modules:
        return None
    config = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "keras.json"
    try:
        named = json.loads(config.read_text()).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        named = "tensorflow"  # no config (or an unreadable one, which Keras ignores too)
    if importlib.util.find_spec(named) is None and importlib.util.find_spec("jax") is not None:
        os.environ["KERAS_BACKEND"] = "jax"
        return "jax"
    return None


def keras_backend() -> str:
    """The Keras backend this process runs (``KERAS_BACKEND``, as Keras reads it; default tensorflow)."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def start_tensorflow() -> None:
    """Import TensorFlow and initialise its devices quietly (for commands that need it outside `lab run`);
    under another Keras backend, nothing."""
    if keras_backend() != "tensorflow":
        return
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what TensorFlow's C++ side prints while it starts ("Could not find cuda drivers", "failed
    call to cuInit" on CPU-only machines): the file descriptor 2 goes to /dev/null meanwhile. Python
    exceptions are unaffected; set LAB_TF_LOGS=1 to see the messages."""
    if os.environ.get("LAB_TF_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
