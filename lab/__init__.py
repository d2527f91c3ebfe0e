"""The lab: a Keras 3 (TensorFlow) laboratory for reinforcement learning and generative models.

Importing ``lab`` is cheap: it never imports TensorFlow. Heavy imports happen inside the runner that needs them.
"""

import os as _os

_os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
