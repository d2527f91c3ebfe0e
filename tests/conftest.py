"""Shared test settings: no display, no GPU, quiet TensorFlow, Agg plots."""

import os
import sys
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MNIST10K = ROOT.parent / "shared" / "datasets" / "mnist10k.npz"


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def lab_cmd():
    """The `lab` command as a subprocess argv prefix (same interpreter as the tests)."""
    return [sys.executable, "-m", "lab"]


@pytest.fixture
def mnist10k() -> Path:
    if not MNIST10K.exists():
        pytest.skip(f"{MNIST10K} is absent (the shared offline MNIST subset)")
    return MNIST10K
