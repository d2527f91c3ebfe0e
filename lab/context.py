"""What a runner gets: the run folder, the strategy, progress bars, metrics, checkpoints and the report.

Runners never parse YAML and models never write files: a runner takes ``(cfg, ctx)``, uses ``ctx`` for
everything that touches the run folder, and returns its final figures as a flat dict.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.plots import pyplot
from lab.progress import Progress
from lab.runs import MetricsCSV, RunDir, atomic_path, atomic_write_json, atomic_write_text, read_json


@dataclass
class Report:
    """Sections of ``report.md`` that a runner adds; the driver writes the file."""

    sections: list[tuple[str, list[str]]] = field(default_factory=list)

    def section(self, title: str) -> list[str]:
        lines: list[str] = []
        self.sections.append((title, lines))
        return lines

    def text(self, title: str, text: str) -> None:
        self.section(title).append(text)

    def table(self, title: str, rows: list[dict[str, Any]], note: str = "") -> None:
        lines = self.section(title)
        if note:
            lines += [note, ""]
        lines += markdown_table(rows)

    def image(self, title: str, relpath: str, caption: str = "") -> None:
        lines = self.section(title)
        lines.append(f"![{caption or title}]({relpath})")
        if caption:
            lines += ["", caption]


def markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(no rows)"]
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]

    def cell(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|")

    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return out


@dataclass(frozen=True)
class LiveSettings:
    """What ``lab run --live`` / ``lab watch --live`` ask of a task that can show its learning live
    (``maze-dqn``): a window (None: where there is a display), a time-lapse in the run folder (always when no
    window shows; with ``record`` also beside a window), its copy to ``copy_to``, and frames per second."""

    window: bool | None = None
    record: bool = False
    copy_to: Path | None = None
    fps: float = 4.0


class RunContext:
    def __init__(self, run: RunDir, strategy=None, strategy_info=None, quiet: bool = False,
                 resume: bool = False, is_chief: bool = True, on_metrics=None,
                 live: LiveSettings | None = None):
        self.run = run
        self.live = live  # None: no live view asked for
        # on_metrics(step, figures): called after each metrics row (a study's pruner; it may raise Pruned)
        self.on_metrics = on_metrics
        self.is_chief = is_chief  # False on the other workers of a multi-worker run: they write no files
        self.strategy = strategy
        self.strategy_info = strategy_info
        self.quiet = quiet
        self.resume = resume
        self.report = Report()
        self.metrics = MetricsCSV(run.metrics_path)
        self._tb = None

    # devices ---------------------------------------------------------------------------------------
    @property
    def jit_compile(self) -> bool:
        """XLA for the task's compiled steps, as :func:`lab.strategy.resolve_jit_compile` decided it once for
        the run (``env.json`` and the report say why); False without a strategy (tests, tools)."""
        return bool(self.strategy_info is not None and self.strategy_info.jit_compile)

    @property
    def distributed(self) -> bool:
        """True when the strategy spans several replicas (mirrored, multi-worker)."""
        return self.strategy_info is not None and self.strategy_info.chosen in ("mirrored", "multi-worker")

    @property
    def multi_worker(self) -> bool:
        """True under ``strategy: multi-worker``: the task trains with
        :class:`lab.distributed.ReplicaTrainer`."""
        return self.strategy_info is not None and self.strategy_info.chosen == "multi-worker"

    def device_scope(self):
        """``tf.device`` of the chosen single device; for distributed strategies the runner opens
        ``ctx.strategy.scope()`` itself where it builds models (Keras ``fit`` handles the rest)."""
        if self.strategy_info is None or self.distributed or self.strategy is None:
            return contextlib.nullcontext()  # (no strategy: another Keras backend, on its default device)
        import tensorflow as tf

        return tf.device(self.strategy_info.devices[0])

    def model_scope(self):
        """Where to build models and optimizers: the strategy's scope when distributed, else nothing."""
        return self.strategy.scope() if self.distributed else contextlib.nullcontext()

    # messages and progress -------------------------------------------------------------------------
    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def progress(self, total: int | None, desc: str, unit: str = "it") -> Progress:
        return Progress(total, desc, quiet=self.quiet or not self.is_chief, unit=unit)

    # metrics ---------------------------------------------------------------------------------------
    def log_metrics(self, step: int, **values) -> None:
        """One row of metrics.csv and the same scalars in TensorBoard."""
        self.metrics.log({"step": int(step), **values})
        writer = self._tensorboard()
        if writer is not None:
            import tensorflow as tf

            with writer.as_default(step=int(step)):
                for k, v in values.items():
                    if isinstance(v, (int, float)) or hasattr(v, "item"):
                        tf.summary.scalar(k, float(v))
        if self.on_metrics is not None:
            self.on_metrics(int(step), values)

    def _tensorboard(self):
        if self._tb is None:
            if "tensorflow" not in sys.modules:
                return None
            import tensorflow as tf

            self._tb = tf.summary.create_file_writer(str(self.run.tensorboard))
        return self._tb

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()

    # files -----------------------------------------------------------------------------------------
    def artifact(self, name: str) -> Path:
        return self.run.artifact(name)

    def save_figure(self, fig, name: str, dpi: int = 110) -> Path:
        """Save a matplotlib figure into artifacts/ atomically and close it."""
        plt = pyplot()

        try:
            path = self.artifact(name)
            with atomic_path(path) as tmp:  # a full disk: a RunError naming the file, the old one kept
                fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        finally:
            plt.close(fig)
        return path

    def write_artifact_text(self, name: str, text: str) -> Path:
        return atomic_write_text(self.artifact(name), text)

    def save_model(self, model, name: str, where: str = "checkpoints") -> Path:
        """Save a Keras model as ``.keras`` atomically (checkpoints/ by default)."""
        path = (self.run.checkpoint(name) if where == "checkpoints" else self.artifact(name))
        with atomic_path(path, suffix=".keras") as tmp:
            model.save(tmp)
        return path

    def record_env(self, key: str, value) -> None:
        """Add what the task learnt about its environment (e.g. which kernels its layers use) to env.json."""
        path = self.run.env_path
        env = read_json(path, "environment record", dict) if path.exists() else {}
        env[key] = value
        atomic_write_json(path, env)

    def save_state(self, name: str, state: dict) -> Path:
        """Small JSON state in checkpoints/ (schedules, counters, RNG states...)."""
        return atomic_write_json(self.run.checkpoint(name), state)

    def load_state(self, name: str) -> dict | None:
        """What :meth:`save_state` wrote (None when nothing was); a RunError naming the file when it is
        damaged."""
        path = self.run.checkpoints / name
        if not path.exists():
            return None
        return read_json(path, "checkpoint state", dict, hint="this run cannot be resumed (start it again)")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
