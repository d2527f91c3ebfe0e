"""Graphviz pictures: DOT text drawn as PNG/SVG by Graphviz's ``dot`` program, and the Keras models of a run
drawn as DOT (``lab graph``).

:func:`render_dot` writes the DOT file and, when ``dot`` is installed, the picture (with a time limit; a
note says so when Graphviz is missing or fails). :func:`model_dot` is Keras' own drawing of a model
(``keras.utils.model_to_dot``, which needs pydot). :func:`draw_run_models` finds every ``.keras`` file of
a run folder and draws it into the run's ``artifacts/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab import registry
from lab.errors import RunError
from lab.runs import RunDir, atomic_path, atomic_write_text, load_run_model

DOT_MISSING_NOTE = "Graphviz's dot is not installed: apt-get install graphviz; wrote DOT only"


# --------------------------------------------------------------------------------------------------
# Rendering


@dataclass
class Rendered:
    """What :func:`render_dot` wrote: the DOT file always, the image when ``dot`` could draw it."""

    dot: Path
    image: Path | None = None
    note: str | None = None


class _DotFailed(Exception):
    pass


def dot_program() -> str | None:
    """Path of Graphviz's ``dot``, or None when it is not installed."""
    return shutil.which("dot")


def render_dot(dot_text: str, path: str | Path, timeout: float = 60) -> Rendered:
    """Write ``dot_text`` beside ``path`` (as ``.dot``) and, for a ``.png``, ``.svg`` or ``.pdf`` path, draw
    it with Graphviz's ``dot`` when installed. Without ``dot`` (or when it fails or takes longer than
    ``timeout`` seconds) the result carries a note saying so, and only the DOT file is written. Files are
    written atomically.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    dot_path = path if fmt in ("dot", "gv") else path.with_suffix(".dot")
    atomic_write_text(dot_path, dot_text)
    if fmt in ("dot", "gv"):
        return Rendered(dot_path)
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"{path}: can draw .png, .svg or .pdf (or write .dot), not .{fmt}")
    exe = dot_program()
    if exe is None:
        return Rendered(dot_path, note=DOT_MISSING_NOTE)
    try:
        with atomic_path(path) as tmp:  # an exception inside discards the temporary file
            try:
                proc = subprocess.run([exe, f"-T{fmt}", "-o", str(tmp), str(dot_path)], capture_output=True,
                                      text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise _DotFailed(f"no picture after {timeout:g} s") from None
            if proc.returncode != 0:
                raise _DotFailed((proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[0])
    except _DotFailed as exc:
        return Rendered(dot_path, note=f"Graphviz's dot failed on {dot_path.name} ({exc}); wrote DOT only")
    return Rendered(dot_path, image=path)


# --------------------------------------------------------------------------------------------------
# Keras models


def model_dot(model, title: str | None = None) -> str:
    """A built Keras model as DOT text, drawn by Keras (``keras.utils.model_to_dot``): one box per layer with
    its activation and input/output shapes; ``title`` above the picture."""
    import keras

    graph = keras.utils.model_to_dot(model, show_shapes=True, show_layer_activations=True)
    if title:
        graph.set("label", title)
        graph.set("labelloc", "t")
        graph.set("fontname", "Helvetica")
    return graph.to_string()


def find_models(run: RunDir) -> list[tuple[str, Path]]:
    """``(name, path)`` of the .keras files of a run, at any depth: checkpoints/ first, then artifacts/,
    then the run's other folders (the DQN's ``final_agent/``).

    A checkpoint's model is named after its checkpoint (``checkpoints/vae-00003/model.keras`` -> ``vae``;
    other parts keep their own name: ``checkpoints/dqn-00002/agent/q_network.keras`` ->
    ``dqn-agent-q_network``); models of another folder are prefixed with it (``artifacts-other``,
    ``final_agent-q_network``); hidden files and folders (a checkpoint being written) are skipped.
    """
    found = []
    special = (run.checkpoints, run.artifacts, run.tensorboard)
    others = sorted(p for p in run.path.iterdir() if p.is_dir() and not p.name.startswith(".")
                    and p not in special) if run.path.is_dir() else []
    for folder in (run.checkpoints, run.artifacts, *others):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.keras")):
            rel = path.relative_to(folder)
            if not path.is_file() or any(part.startswith(".") for part in rel.parts):
                continue
            parts = [re.sub(r"-\d{5}$", "", p) for p in rel.parent.parts]
            if path.stem != "model" or not parts:
                parts.append(path.stem)
            name = "-".join(parts)
            found.append((name if folder == run.checkpoints else f"{folder.name}-{name}", path))
    return found


def choose_models(run: RunDir, wanted: str | None = None) -> list[tuple[str, Path]]:
    """The models of :func:`find_models` named ``wanted`` (its name, or its file name with or without
    .keras; every model when None); a RunError when the run has none or none of that name."""
    models = find_models(run)
    if not models:
        raise RunError(f"{run.path}: this run saved no Keras model (.keras) in checkpoints/, artifacts/ or "
                       "another of its folders, so there is nothing to draw")
    if not wanted:
        return models
    stem = wanted.removesuffix(".keras")
    chosen = [(n, p) for n, p in models if stem in (n, p.stem, n.removeprefix("artifacts-"))]
    if len({p for _, p in chosen}) > 1 and any(n == stem for n, _ in chosen):
        chosen = [(n, p) for n, p in chosen if n == stem]  # the full name beats a file name shared by others
    if not chosen:
        names = ", ".join(sorted(n for n, _ in models))
        raise RunError(f"{run.path}: no model named {wanted!r}; this run has: {names}")
    return chosen


def draw_run_models(run: RunDir, wanted: str | None = None,
                    fmt: str = "png") -> tuple[list[Rendered], list[str]]:
    """Draw the run's models (:func:`choose_models`) as ``artifacts/graph-<name>.dot`` and, for ``fmt`` png
    or svg, the picture when Graphviz is installed. Returns what was written and the notes to show
    (Graphviz missing, the task's module not importable)."""
    chosen = choose_models(run, wanted)
    notes: list[str] = []
    # The task's runner module registers the custom layers and models its runs save (Keras looks them up
    # by name when loading), so import it first.
    if run.task in registry.TASKS:
        try:
            registry.runner(run.task)
        except ImportError as exc:  # then only built-in Keras classes can be loaded
            notes.append(f"could not import the {run.task} task's module ({exc}); drawing built-in layers "
                         "only")
    written = []
    for name, path in chosen:
        model = load_run_model(path)
        where = path.relative_to(run.path).parent.as_posix()
        try:
            params = f", {model.count_params():,} parameters"
        except ValueError:  # a model that was never built
            raise RunError(f"{path}: {model.name!r} was never built, so Keras cannot draw it") from None
        title = f"{model.name} ({type(model).__name__}{params}) from {where}/{path.name}"
        written.append(render_dot(model_dot(model, title), run.artifact(f"graph-{name}.{fmt}")))
    notes += sorted({r.note for r in written if r.note})
    return written, notes
