"""The lab: a Keras 3 (TensorFlow) laboratory for reinforcement learning and generative models.

Importing ``lab`` is cheap: it never imports TensorFlow. Heavy imports happen inside the runner that needs
them.
"""

import os as _os

_os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# pygame windows only blit NumPy frames: no OpenGL needed. With OpenGL, SDL loads Mesa's llvmpipe on
# machines without a GPU driver (Xvfb, VMs), whose LLVM symbols clash with TensorFlow's bundled LLVM:
# a segmentation fault at set_mode once TensorFlow is imported.
_os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")

__version__ = "0.1.0"
