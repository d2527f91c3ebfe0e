"""Where things are (no heavy imports)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scenarios_dir() -> Path:
    """The folder of scenarios shipped with the lab (``scenarios/`` beside the packages)."""
    return ROOT / "scenarios"


def shared_datasets() -> Path:
    """``../shared/datasets`` beside the lab's folder: offline copies of public data sets (never
    committed)."""
    return ROOT.parent / "shared" / "datasets"
