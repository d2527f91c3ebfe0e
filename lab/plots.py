"""Matplotlib for files. The lab draws figures only into files (PNG in a run folder), never in a window,
so this is the one place that picks matplotlib's Agg backend, before pyplot is first imported: every
module asks :func:`pyplot` for ``matplotlib.pyplot`` instead of importing it."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: matplotlib is slow to import)."""
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
