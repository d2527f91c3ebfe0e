"""Which Keras backend this process runs, and starting TensorFlow quietly.

Kept apart from :mod:`lab.strategy` (which needs the scenario schema, and so pydantic) so that the ``lab``
command can start TensorFlow for the commands that need it while ``lab --help`` imports next to nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys


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
