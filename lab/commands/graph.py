"""``lab graph RUN [--model NAME] [--format dot|png|svg]``: draw the Keras models of a run."""

import sys

from lab.graphviz import draw_run_models
from lab.runs import RunDir

USES_TENSORFLOW = True
DESCRIPTION = """Draw every Keras model (.keras) saved in a run folder (checkpoints/, artifacts/ and its other
folders, such as a DQN run's final_agent/) as Keras draws it (keras.utils.model_to_dot): one box per layer,
its activation and shapes. Writes artifacts/graph-<model>.dot in the run folder and, for --format png or svg,
the picture too when Graphviz's `dot` program is installed (apt-get install graphviz); without it the DOT
file is written and a note says so. Prints the paths written."""


def add_arguments(p):
    p.add_argument("run", help="a run folder (runs/<time>-<name>)")
    p.add_argument("--model", metavar="NAME",
                   help="draw only this model: the name printed in the list of models (a checkpoint's name, "
                        "e.g. vae), or its file name with or without .keras (default: every model of the "
                        "run)")
    p.add_argument("--format", choices=("dot", "png", "svg"), default="png",
                   help="png or svg: draw with Graphviz's dot when installed (DOT is always written); "
                        "dot: DOT only (default: png)")


def main(args) -> int:
    written, notes = draw_run_models(RunDir.open(args.run), args.model, args.format)
    for rendered in written:
        print(rendered.dot)
        if rendered.image is not None:
            print(rendered.image)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
