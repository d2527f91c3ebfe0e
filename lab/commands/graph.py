"""``lab graph RUN [--model NAME] [--format dot|png|svg]``: draw the Keras models of a run."""

USES_TENSORFLOW = True
HELP = "draw the Keras models saved in a run as Graphviz DOT (and PNG/SVG when dot is installed)"
DESCRIPTION = """Draw every Keras model (.keras) saved in a run folder (checkpoints/, artifacts/ and its other
folders, such as a DQN run's final_agent/): one box per layer, the tensor shapes on the edges. Writes
artifacts/graph-<model>.dot in the run folder and, for --format png or svg, the picture too when
Graphviz's `dot` program is installed (apt-get install graphviz); without it the DOT file is written and
a note says so. Prints the paths written."""


def add_arguments(p):
    p.add_argument("run", help="a run folder (runs/<time>-<name>)")
    p.add_argument("--model", metavar="NAME",
                   help="draw only this model: the name printed in the list of models (a checkpoint's name, e.g. "
                        "vae), or its file name with or without .keras (default: every model of the run)")
    p.add_argument("--format", choices=("dot", "png", "svg"), default="png",
                   help="png or svg: draw with Graphviz's dot when installed (DOT is always written); dot: DOT only "
                        "(default: png)")


def find_models(run) -> list:
    """``(name, path)`` of the .keras files of a run, at any depth: checkpoints/ first, then artifacts/,
    then the run's other folders (the DQN's ``final_agent/``).

    A checkpoint's model is named after its checkpoint (``checkpoints/vae-00003/model.keras`` -> ``vae``;
    other parts keep their own name: ``checkpoints/dqn-00002/agent/q_network.keras`` ->
    ``dqn-agent-q_network``); models of another folder are prefixed with it (``artifacts-other``,
    ``final_agent-q_network``); hidden files and folders (a checkpoint being written) are skipped.
    """
    import re

    found = []
    others = sorted(p for p in run.path.iterdir() if p.is_dir() and not p.name.startswith(".")
                    and p not in (run.checkpoints, run.artifacts, run.tensorboard)) if run.path.is_dir() else []
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


def main(args) -> int:
    import sys

    from lab.errors import RunError
    from lab.runs import RunDir

    run = RunDir.open(args.run)
    models = find_models(run)
    if not models:
        raise RunError(f"{run.path}: this run saved no Keras model (.keras) in checkpoints/, artifacts/ or another "
                       "of its folders, so there is nothing to draw")
    if args.model:
        wanted = args.model.removesuffix(".keras")
        chosen = [(n, p) for n, p in models if wanted in (n, p.stem, n.removeprefix("artifacts-"))]
        if len({p for _, p in chosen}) > 1 and any(n == wanted for n, _ in chosen):
            chosen = [(n, p) for n, p in chosen if n == wanted]  # the full name beats a file name shared by others
        if not chosen:
            raise RunError(f"{run.path}: no model named {args.model!r}; this run has: "
                           f"{', '.join(sorted(n for n, _ in models))}")
        models = chosen

    import importlib

    import keras

    from lab import registry
    from lab.dot import keras_model_to_dot, render_dot

    # The task's runner module registers the custom layers and models its runs save (Keras looks them
    # up by name when loading), so import it first.
    if run.task in registry.TASKS:
        try:
            importlib.import_module(registry.spec(run.task).runner.partition(":")[0])
        except ImportError as exc:  # then only built-in Keras classes can be loaded
            print(f"note: could not import the {run.task} task's module ({exc}); drawing built-in layers only",
                  file=sys.stderr)

    notes = set()
    for name, path in models:
        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # a corrupt file or a class this Keras cannot rebuild safely
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RunError(f"{path}: cannot load this model with safe_mode=True: {first}") from None
        where = path.relative_to(run.path).parent.as_posix()
        stem = f"graph-{name}"
        try:
            params = f", {model.count_params():,} parameters"
        except ValueError:  # a model that was never built
            params = ""
        text = keras_model_to_dot(model, title=f"{model.name} ({type(model).__name__}{params}) from {where}/{path.name}")
        target = run.artifact(f"{stem}.{args.format}")
        rendered = render_dot(text, target)
        print(rendered.dot)
        if rendered.image is not None:
            print(rendered.image)
        if rendered.note:
            notes.add(rendered.note)
    for note in sorted(notes):
        print(f"note: {note}", file=sys.stderr)
    return 0
