"""``lab version [--write FILE]``: the installed lab's version (no TensorFlow)."""

from pathlib import Path

from lab import __version__, pipeline
from lab.runs import atomic_write_text, writing

DESCRIPTION = """Print the installed lab's version. With --write FILE, write it as YAML (lab_version: X):
the file DVC pipelines written by `lab pipeline` read, so that a new lab re-runs their stages."""


def add_arguments(p):
    p.add_argument("--write", metavar="FILE", help="write `lab_version: X` (YAML) to FILE")


def main(args) -> int:
    if args.write:
        path = Path(args.write)
        with writing(path, "version file"):
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, pipeline.version_params())
        return 0
    print(f"lab {__version__}")
    return 0
